"""Silences and held alerts in the incidents table (partition key ``pk``, sort key ``sk``, TTL ``expires_at``).

Items:

- ``pk = SILENCE``, ``sk = SILENCE#<silence id>``: a :class:`~vpn_doctor.silences.Silence` as JSON ``doc`` (its
  audit: who added it, when, why; who lifted it, when), ``ends_at`` (epoch seconds, for the filter) and a TTL
  :data:`AUDIT_KEPT` after its expiry, so the audit outlives the silence. One partition: respond finds every
  silence that may hold an alert with one ``Query`` (filtered to those not yet ended).
- ``pk = HELD``, ``sk = HELD#<incident id>``: an open incident's last held alert (``doc``), written by notify,
  deleted by notify when the incident recovers while held, or by the poller once announced
  (:mod:`vpn_doctor.app.silences`); TTL :data:`HELD_KEPT`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.constants import SILENCE_PARTITION
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.constants import TABLE_TTL_ATTRIBUTE as TTL
from vpn_doctor.models import Alert, dump, load
from vpn_doctor.silences import Silence

SILENCE_PK: Final = SILENCE_PARTITION
HELD_PK: Final = "HELD"
AUDIT_KEPT: Final = timedelta(days=90)  # as long as resolved incidents are kept
HELD_KEPT: Final = timedelta(days=35)  # past the longest silence


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class DynamoDbSilenceStore:
    """Reads and writes silences and held incidents; AWS failures are :class:`~vpn_doctor.aws.AwsCallFailed`."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._client = client if client is not None else boto3.client("dynamodb")

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(getattr(self._client, operation)(TableName=self._table, **kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise translate(operation, exc) from exc

    # --- silences ------------------------------------------------------------------------------

    def put(self, silence: Silence) -> None:
        """Store a silence (a new one, or one lifted)."""
        self._call(
            "put_item",
            Item={
                PK: {"S": SILENCE_PK},
                SK: {"S": f"SILENCE#{silence.silence_id}"},
                "doc": {"S": json.dumps(dump(silence))},
                "ends_at": {"N": str(_epoch(silence.ended_at))},
                TTL: {"N": str(_epoch(silence.ends_at + AUDIT_KEPT))},
            },
        )

    def silences(self, *, ended_after: datetime | None = None) -> list[Silence]:
        """Every stored silence (those ended after ``ended_after`` when given), one paginated ``Query``."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": {"S": SILENCE_PK}},
        }
        if ended_after is not None:
            kwargs["FilterExpression"] = "ends_at > :now"
            kwargs["ExpressionAttributeValues"][":now"] = {"N": str(_epoch(ended_after))}
        found: list[Silence] = []
        while True:
            page = self._call("query", **kwargs)
            found += [load(Silence, json.loads(item["doc"]["S"])) for item in page.get("Items") or ()]
            if not page.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def silence(self, silence_id: str) -> Silence | None:
        """One silence by id; ``None`` when unknown."""
        item = self._call(
            "get_item", Key={PK: {"S": SILENCE_PK}, SK: {"S": f"SILENCE#{silence_id}"}}, ConsistentRead=True
        ).get("Item")
        return load(Silence, json.loads(item["doc"]["S"])) if item else None

    # --- held incidents ------------------------------------------------------------------------

    def hold(self, alert: Alert, *, now: datetime) -> None:
        """Remember the incident's held alert (the latest replaces an earlier one)."""
        incident = alert.transition.incident
        self._call(
            "put_item",
            Item={
                PK: {"S": HELD_PK},
                SK: {"S": f"HELD#{incident.incident_id}"},
                "doc": {"S": json.dumps(dump(alert))},
                TTL: {"N": str(_epoch(now + HELD_KEPT))},
            },
        )

    def held(self) -> list[Alert]:
        """Every held incident's last held alert, one paginated ``Query``."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": {"S": HELD_PK}},
            "ConsistentRead": True,
        }
        found: list[Alert] = []
        while True:
            page = self._call("query", **kwargs)
            found += [load(Alert, json.loads(item["doc"]["S"])) for item in page.get("Items") or ()]
            if not page.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def release(self, incident_ids: Sequence[str]) -> None:
        """Forget held incidents (announced, or recovered meanwhile)."""
        for incident_id in incident_ids:
            self._call("delete_item", Key={PK: {"S": HELD_PK}, SK: {"S": f"HELD#{incident_id}"}})
