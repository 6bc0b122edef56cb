"""Reads the incident history and the remediation audit for the history and the report (read-only).

The incidents table is keyed per tunnel (``TUNNEL#<vpn id>#<tunnel ip>``: the record ``STATE`` and the resolved
incidents ``INCIDENT#<opened at>#<id>``, see ``aws/incident_store.py``) and has no secondary index, so "every
tunnel", or "every tunnel of one connection" (the tunnel's outside IP is part of the key), cannot be a ``Query``:
it is one paginated ``Scan`` with a projection (``pk``, ``sk``, ``doc``) and a filter keeping those two kinds of
item. A filter does not lower the cost: a Scan is billed for every item it reads before the filter
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.FilterExpression), here the
whole table, one read request unit per 4 KB read, half that for the eventually consistent reads used here
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html). The table holds
one record per tunnel, its incidents of the last 90 days, and short-lived event and outbox items: a few
hundred kilobytes for hundreds of tunnels, well under a cent per read. Adding an index for a weekly read would
cost a write on every save instead.

The audits are keyed per connection: the remediation audit (remediation table, ``AUDIT#<vpn id>``, sort key
``<iso time>#...``) and the on-boarding audit (incidents table, ``ONBOARD#<vpn id>``, sort key
``AUDIT#<iso time>#...``, see ``aws/onboarding_store.py``): one ``Query`` each per connection, from the window's
start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.aws.incident_store import STATE_SK
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.incidents import TunnelRecord
from vpn_doctor.models import Incident, iso, load
from vpn_doctor.redact import redact, redact_model
from vpn_doctor.report import Change, TunnelHistory

# How long the store keeps resolved incidents (DynamoDbIncidentStore's ``history_ttl``): before now minus this,
# an absence of incidents proves nothing.
HISTORY_RETENTION: Final = timedelta(days=90)
_TUNNEL: Final = "TUNNEL#"
_INCIDENT: Final = "INCIDENT#"


class ReportReader:
    """The tunnels' histories (incidents table) and the remediation decisions (remediation table)."""

    def __init__(self, incidents_table: str, remediation_table: str | None, client: Any | None = None) -> None:
        self.incidents_table = incidents_table
        self.remediation_table = remediation_table
        self._client = client
        # Items of the last read that could not be read (written by another version, or damaged): left out of
        # the report, counted here for the caller to say so, instead of failing the whole report on one item.
        self.unreadable = 0

    @property
    def client(self) -> Any:
        """The DynamoDB client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    def tunnels(self, vpn_connection_id: str | None = None) -> list[TunnelHistory]:
        """Every tunnel the store knows (or those of one connection), with its state and incidents."""
        prefix = f"{_TUNNEL}{vpn_connection_id}#" if vpn_connection_id else _TUNNEL
        request: dict[str, Any] = {
            "TableName": self.incidents_table,
            "ProjectionExpression": "#pk, #sk, #doc",
            "FilterExpression": "begins_with(#pk, :tunnel) AND (#sk = :state OR begins_with(#sk, :incident))",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK, "#doc": "doc"},
            "ExpressionAttributeValues": {
                ":tunnel": {"S": prefix},
                ":state": {"S": STATE_SK},
                ":incident": {"S": _INCIDENT},
            },
        }
        records: dict[tuple[str, str], TunnelRecord] = {}
        incidents: dict[tuple[str, str], dict[str, Incident]] = {}
        self.unreadable = 0
        for item in self._pages("Scan", request):
            try:
                _, vpn, ip = item[PK]["S"].split("#", 2)
                document = json.loads(item["doc"]["S"])
                if item[SK]["S"] == STATE_SK:
                    record = load(TunnelRecord, {**document, "version": 0})
                    open_incident = record.incident and redact_model(record.incident)[0]
                    records[(vpn, ip)] = replace(record, incident=open_incident)
                else:
                    # An incident's texts came from logs and AWS errors: no key-like value leaves in a report.
                    incident, _ = redact_model(load(Incident, document))
                    incidents.setdefault((vpn, ip), {})[incident.incident_id] = incident
            except (KeyError, ValueError, TypeError):  # pydantic's ValidationError is a ValueError
                self.unreadable += 1
        histories = []
        for key in sorted({*records, *incidents}):
            kept = records.get(key)
            found = incidents.get(key, {})
            if kept is not None and kept.incident is not None:
                found.setdefault(kept.incident.incident_id, kept.incident)
            histories.append(
                TunnelHistory(
                    vpn_connection_id=key[0],
                    tunnel_ip=key[1],
                    incidents=tuple(sorted(found.values(), key=lambda incident: incident.opened_at)),
                    last_state=kept.last_state if kept else None,
                    state_since=kept.state_since if kept else None,
                )
            )
        return histories

    def changes(self, vpn_connection_ids: Iterable[str], *, since: datetime) -> list[Change]:
        """What vpn-doctor decided to change on these connections since ``since``: the remediation decisions (when
        there is a remediation table) and the on-boarding steps (switching tunnel logging on), oldest first."""
        changes = []
        for vpn in dict.fromkeys(vpn_connection_ids):
            if self.remediation_table is not None:
                remediation = {
                    "TableName": self.remediation_table,
                    "KeyConditionExpression": "#pk = :pk AND #sk >= :since",
                    "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
                    "ExpressionAttributeValues": {":pk": {"S": f"AUDIT#{vpn}"}, ":since": {"S": iso(since) or ""}},
                }
                changes += self._read(_change, self._pages("Query", remediation))
            # On-boarding writes its times with isoformat() ("+00:00"): compared in that form.
            onboarding = {
                "TableName": self.incidents_table,
                "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :since AND :last",
                "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"ONBOARD#{vpn}"},
                    ":since": {"S": f"AUDIT#{since.astimezone(UTC).isoformat()}"},
                    ":last": {"S": "AUDIT#~"},  # "~" sorts after every character of an ISO time
                },
            }
            changes += self._read(_logging_change, self._pages("Query", onboarding))
        return sorted(changes, key=lambda change: change.decided_at)

    def _read(self, read: Callable[[dict[str, Any]], Change], items: Iterable[dict[str, Any]]) -> list[Change]:
        """Each readable item as a change; the others counted in ``unreadable``."""
        changes = []
        for item in items:
            try:
                change = read(item)
                changes.append(replace(change, reason=redact(change.reason)[0]))
            except (KeyError, ValueError, TypeError):
                self.unreadable += 1
        return changes

    def _pages(self, operation: str, request: dict[str, Any]) -> list[dict[str, Any]]:
        method = self.client.scan if operation == "Scan" else self.client.query
        items: list[dict[str, Any]] = []
        while True:
            try:
                response = method(**request)
            except (ClientError, BotoCoreError) as exc:
                raise translate(operation, exc) from None
            items += response.get("Items") or ()
            if not response.get("LastEvaluatedKey"):
                return items
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}


def _logging_change(item: dict[str, Any]) -> Change:
    """An on-boarding audit line as a change: tunnel logging switched on (``sent``, ``confirmed``, ``failed``...)."""
    return Change(
        vpn_connection_id=item["vpn_connection_id"]["S"],
        tunnel_ip=item["tunnel_ip"]["S"],
        decided_at=datetime.fromisoformat(item["at"]["S"]),
        status=f"logging {item['what']['S']}",
        reason=item.get("reason", {}).get("S", ""),
        actor=item.get("actor", {}).get("S", ""),
        action="enable_tunnel_logging",
    )


def _change(item: dict[str, Any]) -> Change:
    outcome = json.loads(item.get("outcome", {}).get("S", "{}"))
    return Change(
        vpn_connection_id=item["vpn_connection_id"]["S"],
        tunnel_ip=item["tunnel_ip"]["S"],
        decided_at=datetime.fromisoformat(item["decided_at"]["S"].replace("Z", "+00:00")),
        status=item["status"]["S"],
        reason=item.get("reason", {}).get("S", ""),
        actor=item.get("actor", {}).get("S", ""),
        incident_id=item.get("incident_id", {}).get("S", ""),
        action=outcome.get("action"),
    )
