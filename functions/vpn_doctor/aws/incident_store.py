"""DynamoDB incident store (the incidents table: partition key ``pk``, sort key ``sk``, TTL ``expires_at``).

Items:

- ``pk = TUNNEL#<vpn id>#<tunnel ip>``, ``sk = STATE``: the tunnel's :class:`TunnelRecord` (last known
  state and the one open incident) as a JSON document ``doc``, with ``version`` for optimistic
  concurrency and, for people reading the table, ``vpn_connection_id``, ``tunnel_ip``,
  ``incident_id`` and ``incident_status``.
- ``pk = TUNNEL#<vpn id>#<tunnel ip>``, ``sk = INCIDENT#<opened at>#<incident id>``: a resolved incident.
- ``pk = OUTBOX``, ``sk = OUTBOX#TUNNEL#<vpn id>#<tunnel ip>#<key>``: a transition saved but not yet
  confirmed published (``doc``; key from :func:`vpn_doctor.incidents.outbox_key`, TTL ``event_ttl``).
  All outbox entries share one partition so that a poll finds every leftover with one ``Query``
  instead of a read per tunnel; the partition holds only unpublished transitions (written on a
  transition, deleted once published), far below a partition's 1,000 writes a second
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html).
- ``pk = OUTBOX``, ``sk = MOVED``: outbox entries left by the previous layout (``pk = TUNNEL#<vpn id>#<tunnel
  ip>``, ``sk = OUTBOX#<key>``, before the shared partition) were moved into the shared partition; until
  this marker exists, the first poll looks for such entries with one ``Scan`` and moves each (one
  transaction: put the new entry, delete the old one if it is still there), so an upgrade loses none and
  publishes each once.
- ``pk = EVENT#<event id>#<vpn id>#<tunnel ip>``, ``sk = EVENT``: an event already applied to a tunnel.
- ``pk = CONNECTION#<vpn id>``, ``sk = MAINTENANCE``: an endpoint-replacement notice that named no tunnel.
- ``pk = CONNECTION#<vpn id>``, ``sk = VANISHED``: a monitored connection found gone (reported once).

A save is one ``TransactWriteItems``: the record (conditional on its version), the event id
(conditional on not existing), the archived incident and the save's transitions into the outbox,
so an event is applied at most once per tunnel, two writers never both succeed and a transition is
never recorded without its outbox entry. A load is one consistent ``BatchGetItem`` (the record and
the connection's maintenance notice) and one consistent ``Query`` of the tunnel's outbox entries;
:meth:`DynamoDbIncidentStore.load_many` reads many tunnels' records (without their outboxes) with one
``BatchGetItem`` per 100 keys, and :meth:`DynamoDbIncidentStore.leftovers` every outbox entry with one
``Query``. Publishers delete outbox entries once published. No item holds a pre-shared key: the
models cannot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import AwsCallFailed, translate
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.constants import TABLE_TTL_ATTRIBUTE as TTL
from vpn_doctor.incidents import SaveResult, TunnelRecord, outbox_key
from vpn_doctor.models import Incident, IncidentTransition, dump, iso, load

STATE_SK: Final = "STATE"
EVENT_SK: Final = "EVENT"
MAINTENANCE_SK: Final = "MAINTENANCE"
VANISHED_SK: Final = "VANISHED"
OUTBOX_PK: Final = "OUTBOX"
OUTBOX_PREFIX: Final = "OUTBOX#"
MOVED_SK: Final = "MOVED"
# BatchGetItem reads at most 100 items a call and may return some keys unprocessed (throttling,
# 16 MB): those are asked again, with a short back-off, a bounded number of times.
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
_BATCH: Final = 100
_BATCH_ATTEMPTS: Final = 5


def tunnel_pk(vpn_connection_id: str, tunnel_ip: str) -> str:
    """Partition key of a tunnel's items."""
    return f"TUNNEL#{vpn_connection_id}#{tunnel_ip}"


def outbox_sk(transition: IncidentTransition) -> str:
    """Sort key of a transition's outbox entry: its tunnel, then its outbox key."""
    incident = transition.incident
    return f"{OUTBOX_PREFIX}{tunnel_pk(incident.vpn_connection_id, incident.tunnel_ip)}#{outbox_key(transition)}"


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
        record = self.load_many([(vpn_connection_id, tunnel_ip)])[(vpn_connection_id, tunnel_ip)]
        prefix = f"{OUTBOX_PREFIX}{tunnel_pk(vpn_connection_id, tunnel_ip)}#"
        items = self._query({":pk": {"S": OUTBOX_PK}, ":prefix": {"S": prefix}}, consistent=True)
        return replace(record, outbox=tuple(_transition(item) for item in items))

    def load_many(self, tunnels: Iterable[tuple[str, str]]) -> dict[tuple[str, str], TunnelRecord]:
        """Many tunnels' records (``outbox`` left empty: see :meth:`leftovers`), each merged with its
        connection's maintenance notice: one consistent ``BatchGetItem`` per 100 keys."""
        wanted = list(dict.fromkeys(tunnels))
        keys = [(tunnel_pk(vpn, ip), STATE_SK) for vpn, ip in wanted]
        keys += [(f"CONNECTION#{vpn}", MAINTENANCE_SK) for vpn in dict.fromkeys(vpn for vpn, _ in wanted)]
        items = self._batch_get(keys)
        records: dict[tuple[str, str], TunnelRecord] = {}
        for vpn, ip in wanted:
            state = items.get((tunnel_pk(vpn, ip), STATE_SK))
            if state is None:
                record = TunnelRecord(vpn, ip)
            else:
                record = load(TunnelRecord, {**json.loads(state["doc"]["S"]), "version": int(state["version"]["N"])})
            notice_item = items.get((f"CONNECTION#{vpn}", MAINTENANCE_SK))
            notice = _notice(notice_item)
            if notice is not None and (record.maintenance_notice_at is None or notice > record.maintenance_notice_at):
                record = replace(record, maintenance_notice_at=notice)
            records[(vpn, ip)] = record
        return records

    def leftovers(self) -> list[IncidentTransition]:
        """Every transition still in an outbox (saved, not confirmed published), oldest first: one
        ``Query`` (paged) of the outbox partition, whichever tunnels they belong to."""
        items = self._query({":pk": {"S": OUTBOX_PK}}, consistent=True)
        if not any(item[SK]["S"] == MOVED_SK for item in items):
            # The first poll after the upgrade to the shared partition (and any later one until all
            # entries of the previous layout are moved): move them, then read the partition again.
            self._move_previous_outboxes()
            items = self._query({":pk": {"S": OUTBOX_PK}}, consistent=True)
        entries = (item for item in items if item[SK]["S"].startswith(OUTBOX_PREFIX))
        return sorted((_transition(item) for item in entries), key=outbox_key)

    def _move_previous_outboxes(self) -> None:
        """Move every outbox entry of the previous layout (``pk = TUNNEL#..``, ``sk = OUTBOX#<key>``)
        into the shared partition, each in one transaction whose delete is conditional on the old entry
        still existing (two polls moving at once move it once), then write the ``MOVED`` marker."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": f"begins_with({PK}, :tunnel) AND begins_with({SK}, :outbox)",
            "ExpressionAttributeValues": {":tunnel": {"S": "TUNNEL#"}, ":outbox": {"S": OUTBOX_PREFIX}},
            "ConsistentRead": True,
        }
        while True:
            try:
                response = self.client.scan(**request)
            except (ClientError, BotoCoreError) as exc:
                raise translate("Scan", exc) from None
            for item in response.get("Items") or ():
                self._move(item)
            if not response.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        try:
            self.client.put_item(TableName=self.table_name, Item={PK: {"S": OUTBOX_PK}, SK: {"S": MOVED_SK}})
        except (ClientError, BotoCoreError) as exc:
            raise translate("PutItem", exc) from None

    def _move(self, item: dict[str, Any]) -> None:
        old_key = {PK: item[PK], SK: item[SK]}
        new_sk = f"{OUTBOX_PREFIX}{item[PK]['S']}#{item[SK]['S'].removeprefix(OUTBOX_PREFIX)}"
        moved = {**item, PK: {"S": OUTBOX_PK}, SK: {"S": new_sk}}
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table_name, "Item": moved}},
                    {
                        "Delete": {
                            "TableName": self.table_name,
                            "Key": old_key,
                            "ConditionExpression": f"attribute_exists({PK})",
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or ()]
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return  # another poll moved it first
            raise translate("TransactWriteItems", exc) from None
        except BotoCoreError as exc:
            raise translate("TransactWriteItems", exc) from None

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
                            PK: {"S": OUTBOX_PK},
                            SK: {"S": outbox_sk(transition)},
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
            key = {PK: {"S": OUTBOX_PK}, SK: {"S": outbox_sk(transition)}}
            try:
                self.client.delete_item(TableName=self.table_name, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise translate("DeleteItem", exc) from None

    def mark_vanished(self, vpn_connection_ids: Sequence[str], *, now: datetime) -> list[str]:
        """Remember that these monitored connections are gone; returns those not remembered before
        (one ``BatchGetItem`` per 100, a conditional ``PutItem`` only for a new one). The mark
        expires after ``record_ttl``: a connection still listed then is reported again."""
        keys = [(f"CONNECTION#{vpn}", VANISHED_SK) for vpn in dict.fromkeys(vpn_connection_ids)]
        known = self._batch_get(keys)
        new: list[str] = []
        for key in keys:
            if key in known:
                continue
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item={
                        PK: {"S": key[0]},
                        SK: {"S": VANISHED_SK},
                        "vanished_at": {"S": iso(now) or ""},
                        TTL: {"N": str(_epoch(now + self.record_ttl))},
                    },
                    ConditionExpression=f"attribute_not_exists({PK})",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    continue  # another poll reported it first
                raise translate("PutItem", exc) from None
            except BotoCoreError as exc:
                raise translate("PutItem", exc) from None
            new.append(key[0].removeprefix("CONNECTION#"))
        return new

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
        items = self._query(
            {":pk": {"S": tunnel_pk(vpn_connection_id, tunnel_ip)}, ":prefix": {"S": "INCIDENT#"}}, consistent=False
        )
        return [load(Incident, json.loads(item["doc"]["S"])) for item in items]

    def _query(self, values: dict[str, Any], *, consistent: bool) -> list[dict[str, Any]]:
        """Every item of partition ``:pk`` whose sort key begins with ``:prefix`` when given (all pages)."""
        condition = f"{PK} = :pk AND begins_with({SK}, :prefix)" if ":prefix" in values else f"{PK} = :pk"
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": consistent,
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

    def items(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Any of the table's items by (partition, sort) key, those that exist: consistent ``BatchGetItem`` calls of
        100 keys (the roll-up store reads its connection records with it)."""
        return self._batch_get(keys)

    def _batch_get(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The items that exist among ``keys`` (partition, sort), by key; consistent reads."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH):
            pending: list[dict[str, Any]] = [
                {PK: {"S": pk}, SK: {"S": sk}} for pk, sk in unique[start : start + _BATCH]
            ]
            for attempt in range(_BATCH_ATTEMPTS):
                request = {self.table_name: {"Keys": pending, "ConsistentRead": True}}
                try:
                    response = self.client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise translate("BatchGetItem", exc) from None
                for item in (response.get("Responses") or {}).get(self.table_name) or ():
                    found[(item[PK]["S"], item[SK]["S"])] = item
                pending = ((response.get("UnprocessedKeys") or {}).get(self.table_name) or {}).get("Keys") or []
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                # What BatchGetItem returns unprocessed is throttled reads: the same retryable code.
                raise AwsCallFailed("BatchGetItem", "ProvisionedThroughputExceededException", "keys left unprocessed")
        return found

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


def _transition(item: dict[str, Any]) -> IncidentTransition:
    return load(IncidentTransition, json.loads(item["doc"]["S"]))


def _notice(item: dict[str, Any] | None) -> datetime | None:
    if item is None or "notice_at" not in item:
        return None
    return datetime.fromisoformat(item["notice_at"]["S"].replace("Z", "+00:00"))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())
