"""The remediation table (DynamoDB): connection locks, per-tunnel counters, processed events, audit trail.

Keys (``pk`` / ``sk``; TTL attribute ``expires_at``, epoch seconds):

- ``CONN#<vpn-id>`` / ``LOCK``: the connection's lock (``owner``, ``lease_until``), taken with a
  conditional write that succeeds only when there is no lock, it is ours, or its lease ran out;
- ``CONN#<vpn-id>`` / ``TUNNEL#<ip>#LAST`` and ``TUNNEL#<ip>#DAY#<yyyy-mm-dd>``: last applied
  modification (cooldown, "never both tunnels") and the day's count (budget);
- ``EVENT#<event-id>`` / ``DECISION``: the outcome decided for an event (duplicates get it back) and
  the follow-ups done after it (``follow_ups``, a string set: post-check scheduled, alert published);
- ``AUDIT#<vpn-id>`` / ``<iso time>#<ip>#<event-id>``: who decided what, why, before/after, result.

Only values built from :mod:`vpn_doctor.models` and :mod:`vpn_doctor.vpn` are written: neither can hold
a pre-shared key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.constants import TABLE_TTL_ATTRIBUTE as TTL
from vpn_doctor.models import RemediationOutcome, dump, iso, load
from vpn_doctor.remediation import AuditRecord, TunnelHistory

_COUNTER_TTL: Final = timedelta(days=2)
_EVENT_TTL: Final = timedelta(days=7)
_AUDIT_TTL: Final = timedelta(days=400)


class DynamoDbRemediationStore:
    """Implements :class:`vpn_doctor.remediation.RemediationStore` on one table."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        """The DynamoDB client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    def outcome_for(self, event_id: str) -> RemediationOutcome | None:
        """The decision already recorded for this event."""
        item = self._decision(event_id)
        return load(RemediationOutcome, json.loads(item["outcome"]["S"])) if item else None

    def follow_ups(self, event_id: str) -> frozenset[str] | None:
        """The follow-ups done for the event's decision; ``None`` when no decision is recorded."""
        item = self._decision(event_id)
        return frozenset(item.get("follow_ups", {}).get("SS", ())) if item else None

    def _decision(self, event_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._call(
            "GetItem", TableName=self.table_name, Key=_key(f"EVENT#{event_id}", "DECISION"), ConsistentRead=True
        ).get("Item")
        return item

    def mark_followed_up(self, event_id: str, follow_up: str) -> None:
        """Add a follow-up to the event's decision; nothing when no decision is recorded (not final)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_key(f"EVENT#{event_id}", "DECISION"),
                UpdateExpression="ADD follow_ups :done",
                ConditionExpression=f"attribute_exists({PK})",
                ExpressionAttributeValues={":done": {"SS": [follow_up]}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate("UpdateItem", exc) from None
        except BotoCoreError as exc:
            raise translate("UpdateItem", exc) from None

    def history(self, vpn_connection_id: str, now: datetime) -> Mapping[str, TunnelHistory]:
        """Last modification and today's count per tunnel of the connection."""
        response = self._call(
            "Query",
            TableName=self.table_name,
            KeyConditionExpression=f"{PK} = :pk AND begins_with({SK}, :tunnel)",
            ExpressionAttributeValues={":pk": {"S": f"CONN#{vpn_connection_id}"}, ":tunnel": {"S": "TUNNEL#"}},
            ConsistentRead=True,
        )
        today = f"DAY#{now.astimezone(UTC):%Y-%m-%d}"
        last: dict[str, datetime] = {}
        counts: dict[str, int] = {}
        for item in response.get("Items") or ():
            _, ip, rest = item[SK]["S"].split("#", 2)
            if rest == "LAST":
                last[ip] = datetime.fromisoformat(item["modified_at"]["S"])
            elif rest == today:
                counts[ip] = int(item["count"]["N"])
        return {
            ip: TunnelHistory(last_modified_at=last.get(ip), modified_today=counts.get(ip, 0))
            for ip in {*last, *counts}
        }

    def acquire_lock(self, vpn_connection_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Conditional put: free or expired; False while any live lease is held (even by the same event id:
        two deliveries of one event must not both pass)."""
        until = int((now + lease).timestamp())
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    **_key(f"CONN#{vpn_connection_id}", "LOCK"),
                    "owner": {"S": owner},
                    "lease_until": {"N": str(until)},
                    TTL: {"N": str(until + 3600)},
                },
                ConditionExpression=f"attribute_not_exists({PK}) OR lease_until < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translate("PutItem", exc) from None
        except BotoCoreError as exc:
            raise translate("PutItem", exc) from None
        return True

    def lock_holder(self, vpn_connection_id: str) -> str | None:
        """The owner id of the connection's lock, if there is one."""
        item = self._call(
            "GetItem",
            TableName=self.table_name,
            Key=_key(f"CONN#{vpn_connection_id}", "LOCK"),
            ConsistentRead=True,
        ).get("Item")
        return str(item["owner"]["S"]) if item else None

    def release_lock(self, vpn_connection_id: str, owner: str) -> None:
        """Delete the lock if it is still ours (an expired lease may have passed to someone else)."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=_key(f"CONN#{vpn_connection_id}", "LOCK"),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate("DeleteItem", exc) from None
        except BotoCoreError as exc:
            raise translate("DeleteItem", exc) from None

    def record_modification(self, vpn_connection_id: str, tunnel_ip: str, now: datetime) -> None:
        """Remember the time (cooldown) and count the day's modifications (budget)."""
        pk = f"CONN#{vpn_connection_id}"
        expires = str(int((now + _COUNTER_TTL).timestamp()))
        self._call(
            "PutItem",
            TableName=self.table_name,
            Item={
                **_key(pk, f"TUNNEL#{tunnel_ip}#LAST"),
                "modified_at": {"S": now.astimezone(UTC).isoformat()},
                TTL: {"N": expires},
            },
        )
        self._call(
            "UpdateItem",
            TableName=self.table_name,
            Key=_key(pk, f"TUNNEL#{tunnel_ip}#DAY#{now.astimezone(UTC):%Y-%m-%d}"),
            UpdateExpression="ADD #count :one SET expires_at = :expires",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": expires}},
        )

    def record_decision(self, record: AuditRecord) -> None:
        """Write the audit record, then (final decisions only) the event's decision (first writer wins)."""
        outcome = json.dumps(dump(record.outcome), separators=(",", ":"), sort_keys=True)
        decided = iso(record.decided_at) or ""
        self._call(
            "PutItem",
            TableName=self.table_name,
            Item={
                **_key(f"AUDIT#{record.vpn_connection_id}", f"{decided}#{record.tunnel_ip}#{record.event_id}"),
                "event_id": {"S": record.event_id},
                "incident_id": {"S": record.incident_id},
                "vpn_connection_id": {"S": record.vpn_connection_id},
                "tunnel_ip": {"S": record.tunnel_ip},
                "mode": {"S": record.mode.value},
                "actor": {"S": record.actor},
                "status": {"S": record.outcome.status.value},
                "reason": {"S": record.outcome.reason},
                "outcome": {"S": outcome},
                "before": {"S": json.dumps(dict(record.before), sort_keys=True)},
                "after": {"S": json.dumps(dict(record.after), sort_keys=True)},
                "decided_at": {"S": decided},
                "final": {"BOOL": record.final},
                TTL: {"N": str(int((record.decided_at + _AUDIT_TTL).timestamp()))},
            },
        )
        if not record.final:
            return
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    **_key(f"EVENT#{record.event_id}", "DECISION"),
                    "outcome": {"S": outcome},
                    TTL: {"N": str(int((record.decided_at + _EVENT_TTL).timestamp()))},
                },
                ConditionExpression=f"attribute_not_exists({PK})",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate("PutItem", exc) from None
        except BotoCoreError as exc:
            raise translate("PutItem", exc) from None

    def audit_records(self, vpn_connection_id: str) -> list[dict[str, Any]]:
        """The connection's audit trail, oldest first (plain values, for people and tests)."""
        response = self._call(
            "Query",
            TableName=self.table_name,
            KeyConditionExpression=f"{PK} = :pk",
            ExpressionAttributeValues={":pk": {"S": f"AUDIT#{vpn_connection_id}"}},
        )
        return [
            {name: next(iter(value.values())) for name, value in item.items()} for item in response.get("Items") or ()
        ]

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        method = getattr(self.client, _snake(operation))
        try:
            return dict(method(**request))
        except (ClientError, BotoCoreError) as exc:
            raise translate(operation, exc) from None


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {PK: {"S": pk}, SK: {"S": sk}}


def _snake(operation: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in operation).lstrip("_")
