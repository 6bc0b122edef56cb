"""DynamoDB incident store (the incidents table: partition key ``pk``, sort key ``sk``, TTL ``expires_at``).

Items:

- ``pk = TUNNEL#<vpn id>#<tunnel ip>``, ``sk = STATE``: the tunnel's :class:`TunnelRecord` (last known
  state and the one open incident) as a JSON document ``doc``, with ``version`` for optimistic
  concurrency and, for people reading the table, ``vpn_connection_id``, ``tunnel_ip``,
  ``incident_id`` and ``incident_status``.
- ``pk = TUNNEL#<vpn id>#<tunnel ip>``, ``sk = INCIDENT#<opened at>#<incident id>``: a resolved incident.
- ``pk = TUNNEL#<vpn id>#<tunnel ip>``, ``sk = OUTBOX#<key>``: a transition saved but not yet
  confirmed published (``doc``; key from :func:`vpn_doctor.incidents.outbox_key`, TTL ``event_ttl``).
- ``pk = EVENT#<event id>#<vpn id>#<tunnel ip>``, ``sk = EVENT``: an event already applied to a tunnel.
- ``pk = CONNECTION#<vpn id>``, ``sk = MAINTENANCE``: an endpoint-replacement notice that named no tunnel.

A save is one ``TransactWriteItems``: the record (conditional on its version), the event id
(conditional on not existing), the archived incident and the save's transitions into the outbox,
so an event is applied at most once per tunnel, two writers never both succeed and a transition is
never recorded without its outbox entry. A load is one consistent ``Query`` over ``OUTBOX#`` ..
``STATE`` of the tunnel's partition: the record and its outbox together. Publishers delete
outbox entries once published. No item holds a pre-shared key: the models cannot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.constants import TABLE_TTL_ATTRIBUTE as TTL
from vpn_doctor.incidents import SaveResult, TunnelRecord, outbox_key
from vpn_doctor.models import Incident, IncidentTransition, dump, iso, load

STATE_SK: Final = "STATE"
EVENT_SK: Final = "EVENT"
MAINTENANCE_SK: Final = "MAINTENANCE"
OUTBOX_PREFIX: Final = "OUTBOX#"


def tunnel_pk(vpn_connection_id: str, tunnel_ip: str) -> str:
    """Partition key of a tunnel's items."""
    return f"TUNNEL#{vpn_connection_id}#{tunnel_ip}"


class DynamoDbIncidentStore:
    """:class:`vpn_doctor.incidents.IncidentStore` on the incidents table."""

    def __init__(
        self,
        table_name: str,
        client: Any | None = None,
        *,
        record_ttl: timedelta = timedelta(days=30),
        event_ttl: timedelta = timedelta(days=2),
        history_ttl: timedelta = timedelta(days=90),
    ) -> None:
        self.table_name = table_name
        self._client = client
        self.record_ttl = record_ttl
        self.event_ttl = event_ttl
        self.history_ttl = history_ttl

    @property
    def client(self) -> Any:
        """The DynamoDB client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    def load(self, vpn_connection_id: str, tunnel_ip: str) -> TunnelRecord:
        """The tunnel's record with its outbox, merged with any connection-wide maintenance notice."""
        items = self._query_range(tunnel_pk(vpn_connection_id, tunnel_ip), OUTBOX_PREFIX, STATE_SK)
        state = next((item for item in items if item[SK]["S"] == STATE_SK), None)
        if state is None:
            record = TunnelRecord(vpn_connection_id, tunnel_ip)
        else:
            record = load(TunnelRecord, {**json.loads(state["doc"]["S"]), "version": int(state["version"]["N"])})
        outbox = tuple(
            load(IncidentTransition, json.loads(item["doc"]["S"]))
            for item in items
            if item[SK]["S"].startswith(OUTBOX_PREFIX)
        )
        record = replace(record, outbox=outbox)
        notice = self.connection_notice(vpn_connection_id)
        if notice is not None and (record.maintenance_notice_at is None or notice > record.maintenance_notice_at):
            record = replace(record, maintenance_notice_at=notice)
        return record

    def save(
        self,
        record: TunnelRecord,
        *,
        expected_version: int,
        event_key: str | None,
        archive: Incident | None,
        now: datetime,
        outbox: Sequence[IncidentTransition] = (),
    ) -> SaveResult:
        """Write the record if nobody else did since ``expected_version``; remember ``event_key``;
        put ``outbox`` into the tunnel's outbox, in the same transaction."""
        pk = tunnel_pk(record.vpn_connection_id, record.tunnel_ip)
        document = dump(replace(record, version=0, outbox=()))
        document.pop("version", None)
        document.pop("outbox", None)  # the outbox lives in its own items
        ttl = self.history_ttl if record.incident is not None else self.record_ttl
        item: dict[str, Any] = {
            PK: {"S": pk},
            SK: {"S": STATE_SK},
            "doc": {"S": json.dumps(document, separators=(",", ":"))},
            "version": {"N": str(expected_version + 1)},
            "vpn_connection_id": {"S": record.vpn_connection_id},
            "tunnel_ip": {"S": record.tunnel_ip},
            "last_state": {"S": record.last_state.value},
            "incident_status": {"S": record.incident.status.value if record.incident else "none"},
            TTL: {"N": str(_epoch(now + ttl))},
        }
        if record.incident is not None:
            item["incident_id"] = {"S": record.incident.incident_id}
        put_record: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        if expected_version == 0:
            put_record["ConditionExpression"] = f"attribute_not_exists({PK})"
        else:
            put_record["ConditionExpression"] = "version = :expected"
            put_record["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        actions: list[dict[str, Any]] = [{"Put": put_record}]
        if event_key is not None:
            actions.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            PK: {"S": f"EVENT#{event_key}"},
                            SK: {"S": EVENT_SK},
                            "processed_at": {"S": iso(now) or ""},
                            TTL: {"N": str(_epoch(now + self.event_ttl))},
                        },
                        "ConditionExpression": f"attribute_not_exists({PK})",
                    }
                }
            )
        if archive is not None:
            actions.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            PK: {"S": pk},
                            SK: {"S": f"INCIDENT#{iso(archive.opened_at)}#{archive.incident_id}"},
                            "doc": {"S": json.dumps(dump(archive), separators=(",", ":"))},
                            "incident_id": {"S": archive.incident_id},
                            TTL: {"N": str(_epoch(now + self.history_ttl))},
                        },
                    }
                }
            )
        for transition in outbox:
            actions.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            PK: {"S": pk},
                            SK: {"S": OUTBOX_PREFIX + outbox_key(transition)},
                            "doc": {"S": json.dumps(dump(transition), separators=(",", ":"))},
                            "incident_id": {"S": transition.incident.incident_id},
                            TTL: {"N": str(_epoch(now + self.event_ttl))},
                        },
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            return self._save_failure(exc, has_event=event_key is not None)
        except BotoCoreError as exc:
            raise translate("TransactWriteItems", exc) from None
        return SaveResult.SAVED

    def delivered(self, transitions: Sequence[IncidentTransition]) -> None:
        """Delete published transitions from their tunnels' outboxes (deleting an absent one is a no-op)."""
        for transition in transitions:
            incident = transition.incident
            key = {
                PK: {"S": tunnel_pk(incident.vpn_connection_id, incident.tunnel_ip)},
                SK: {"S": OUTBOX_PREFIX + outbox_key(transition)},
            }
            try:
                self.client.delete_item(TableName=self.table_name, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise translate("DeleteItem", exc) from None

    def connection_notice(self, vpn_connection_id: str) -> datetime | None:
        """When AWS last announced an endpoint replacement for the connection without naming a tunnel."""
        item = self._get(f"CONNECTION#{vpn_connection_id}", MAINTENANCE_SK)
        if item is None or "notice_at" not in item:
            return None
        return datetime.fromisoformat(item["notice_at"]["S"].replace("Z", "+00:00"))

    def save_connection_notice(self, vpn_connection_id: str, at: datetime, *, now: datetime, keep: timedelta) -> bool:
        """Remember a connection-wide maintenance notice (only if newer); True when stored."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    PK: {"S": f"CONNECTION#{vpn_connection_id}"},
                    SK: {"S": MAINTENANCE_SK},
                    "notice_at": {"S": iso(at) or ""},
                    "notice_epoch": {"N": str(_epoch(at))},
                    TTL: {"N": str(_epoch(now + keep))},
                },
                ConditionExpression=f"attribute_not_exists({PK}) OR notice_epoch < :at",
                ExpressionAttributeValues={":at": {"N": str(_epoch(at))}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translate("PutItem", exc) from None
        return True

    def history(self, vpn_connection_id: str, tunnel_ip: str) -> list[Incident]:
        """Resolved incidents of a tunnel, oldest first."""
        try:
            response = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression=f"{PK} = :pk AND begins_with({SK}, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": tunnel_pk(vpn_connection_id, tunnel_ip)},
                    ":prefix": {"S": "INCIDENT#"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("Query", exc) from None
        return [load(Incident, json.loads(item["doc"]["S"])) for item in response.get("Items") or ()]

    def _query_range(self, pk: str, low: str, high: str) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": f"{PK} = :pk AND {SK} BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":low": {"S": low}, ":high": {"S": high}},
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            try:
                response = self.client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise translate("Query", exc) from None
            items += response.get("Items") or ()
            if not response.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key={PK: {"S": pk}, SK: {"S": sk}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetItem", exc) from None
        item: dict[str, Any] | None = response.get("Item")
        return item

    @staticmethod
    def _save_failure(exc: ClientError, *, has_event: bool) -> SaveResult:
        code = exc.response.get("Error", {}).get("Code")
        if code == "TransactionCanceledException":
            reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or ()]
            if has_event and len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                return SaveResult.DUPLICATE
            if reasons and reasons[0] in ("ConditionalCheckFailed", "TransactionConflict"):
                return SaveResult.CONFLICT
            if not reasons or "TransactionConflict" in reasons:
                return SaveResult.CONFLICT
        if code == "TransactionConflictException":
            return SaveResult.CONFLICT
        raise translate("TransactWriteItems", exc) from None


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())
