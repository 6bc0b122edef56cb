"""The roll-up's records in the incidents table (partition key ``pk``, sort key ``sk``, TTL ``expires_at``).

Items:

- ``pk = ROLLUP#<vpn id>``, ``sk = CONNECTION``: a connection's :class:`~vpn_doctor.rollup.ConnectionRecord` as JSON
  ``doc`` with ``version`` (optimistic concurrency: a put conditional on the version read), and, for people reading
  the table, ``state`` and ``told``.
- ``pk = STORM``, ``sk = DETECTOR``: the storm detector (:class:`~vpn_doctor.rollup.StormRecord`), conditional alike.
- ``pk = STORM#<storm id>``, ``sk = MEMBER#<vpn id>``: a storm's member (``doc``, a
  :class:`~vpn_doctor.models.StormMember`); the storm's end reads them with one paginated ``Query``.

Every write is a ``PutItem`` (conditional for the two records), every read a consistent ``GetItem`` (notify) or
``BatchGetItem`` (the poller, ``batch_reads``) or ``Query``: the calls notify and the poller are already granted on
the table. A conditional put that finds
another version is a conflict (``ConditionalCheckFailedException``): the caller reloads and decides again
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.aws.incident_store import DynamoDbIncidentStore
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.constants import TABLE_TTL_ATTRIBUTE as TTL
from vpn_doctor.models import StormMember, dump, load
from vpn_doctor.rollup import ConnectionRecord, StormRecord

CONNECTION_SK: Final = "CONNECTION"
STORM_PK: Final = "STORM"
DETECTOR_SK: Final = "DETECTOR"
MEMBER_PREFIX: Final = "MEMBER#"
# A connection's record outlives its last alert by this much (a quiet connection is OK; its record is then empty).
RECORD_KEPT: Final = timedelta(days=90)
MEMBER_KEPT: Final = timedelta(days=7)
_T = TypeVar("_T")


def connection_pk(vpn_connection_id: str) -> str:
    """Partition key of a connection's roll-up record."""
    return f"ROLLUP#{vpn_connection_id}"


class DynamoDbRollupStore:
    """Connection records, the storm detector and storm members; AWS failures are ``AwsCallFailed``."""

    def __init__(self, table_name: str, client: Any | None = None, *, batch_reads: bool = False) -> None:
        self.table_name = table_name
        self._client = client if client is not None else boto3.client("dynamodb")
        self._items = DynamoDbIncidentStore(table_name, self._client)
        # The poller's role may GetItem the connection map alone (dynamodb:LeadingKeys): it reads with BatchGetItem,
        # which its incident store already uses; notify's role has GetItem and no BatchGetItem.
        self._batch_reads = batch_reads

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(getattr(self._client, operation)(TableName=self.table_name, **kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise translate(operation, exc) from exc

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        if self._batch_reads:
            return self._items.items([(pk, sk)]).get((pk, sk))
        item = self._call("get_item", Key={PK: {"S": pk}, SK: {"S": sk}}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def _put_versioned(self, pk: str, sk: str, document: dict[str, Any], version: int, extra: dict[str, Any]) -> bool:
        document.pop("version", None)
        item = {
            PK: {"S": pk},
            SK: {"S": sk},
            "doc": {"S": json.dumps(document, separators=(",", ":"))},
            "version": {"N": str(version + 1)},
            **extra,
        }
        condition: dict[str, Any] = (
            {"ConditionExpression": f"attribute_not_exists({PK})"}
            if version == 0
            else {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
        )
        try:
            self._client.put_item(TableName=self.table_name, Item=item, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translate("PutItem", exc) from exc
        except BotoCoreError as exc:
            raise translate("PutItem", exc) from exc
        return True

    # --- connections ---------------------------------------------------------------------------

    def connection(self, vpn_connection_id: str) -> ConnectionRecord:
        """The connection's record (a fresh one, version 0, when none is stored)."""
        item = self._get(connection_pk(vpn_connection_id), CONNECTION_SK)
        return _record(item) if item else ConnectionRecord(vpn_connection_id)

    def connections(self, vpn_connection_ids: Iterable[str]) -> dict[str, ConnectionRecord]:
        """Many connections' records (fresh ones for those not stored)."""
        wanted = list(dict.fromkeys(vpn_connection_ids))
        items = self._items.items([(connection_pk(vpn), CONNECTION_SK) for vpn in wanted])
        found = {vpn: items.get((connection_pk(vpn), CONNECTION_SK)) for vpn in wanted}
        return {vpn: _record(item) if item else ConnectionRecord(vpn) for vpn, item in found.items()}

    def save_connection(self, record: ConnectionRecord, *, expected_version: int, now: datetime) -> bool:
        """Write the record if its stored version is still ``expected_version``; ``False``: someone else wrote first."""
        extra = {
            "state": {"S": record.state.value},
            "told": {"S": record.told.value},
            TTL: {"N": str(int((now + RECORD_KEPT).timestamp()))},
        }
        return self._put_versioned(
            connection_pk(record.vpn_connection_id), CONNECTION_SK, dump(record), expected_version, extra
        )

    # --- storms --------------------------------------------------------------------------------

    def storm(self) -> StormRecord:
        """The storm detector (a fresh one when none is stored)."""
        item = self._get(STORM_PK, DETECTOR_SK)
        if not item:
            return StormRecord()
        return _versioned(StormRecord, item)

    def save_storm(self, record: StormRecord, *, expected_version: int) -> bool:
        """Write the detector if its stored version is still ``expected_version``."""
        return self._put_versioned(STORM_PK, DETECTOR_SK, dump(record), expected_version, {})

    def add_members(self, storm_id: str, members: Iterable[StormMember], *, now: datetime) -> None:
        """Remember storm members (a member put twice is one)."""
        for member in members:
            self._call(
                "put_item",
                Item={
                    PK: {"S": f"{STORM_PK}#{storm_id}"},
                    SK: {"S": f"{MEMBER_PREFIX}{member.vpn_connection_id}"},
                    "doc": {"S": json.dumps(dump(member), separators=(",", ":"))},
                    TTL: {"N": str(int((now + MEMBER_KEPT).timestamp()))},
                },
            )

    def members(self, storm_id: str) -> list[StormMember]:
        """A storm's members, oldest failure first (one paginated ``Query``)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": {"S": f"{STORM_PK}#{storm_id}"}},
            "ConsistentRead": True,
        }
        found: list[StormMember] = []
        while True:
            page = self._call("query", **kwargs)
            found += [load(StormMember, json.loads(item["doc"]["S"])) for item in page.get("Items") or ()]
            if not page.get("LastEvaluatedKey"):
                return sorted(found, key=lambda member: (member.at, member.vpn_connection_id))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _versioned(cls: type[_T], item: dict[str, Any]) -> _T:
    document = json.loads(item["doc"]["S"])
    document["version"] = int(item["version"]["N"])
    return load(cls, document)


def _record(item: dict[str, Any]) -> ConnectionRecord:
    return _versioned(ConnectionRecord, item)
