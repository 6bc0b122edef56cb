"""On-boarding progress and audit in the incidents table (DynamoDB), which every deployment has.

Keys (``pk`` / ``sk``; TTL attribute ``expires_at``, epoch seconds), all under ``ONBOARD#<vpn-id>`` so one
``Query`` reads a connection's whole progress:

- ``IN_FLIGHT``: the one change of the connection sent and not yet confirmed (``tunnel_ip``, ``changed_at``,
  ``was_up``, ``options``). Written with ``attribute_not_exists`` *before* the request goes to EC2, so two runs
  (an overlapping or duplicated schedule) can never both change a tunnel of the connection, and a run that dies
  after sending leaves the mark for the next run to check before the sibling is touched;
- ``TUNNEL#<ip>``: the tunnel's last settled change (``status`` done/failed, ``settled_at``, ``detail``,
  ``attempts``, ``retry_after``);
- ``AUDIT#<iso time>#<ip>#<what>``: one line per decision acted on (sent, confirmed, failed, refused for now),
  with the request's log options; kept 400 days. Other readers (the Health self-correlation, the CLI) find
  vpn-doctor's own changes here.

Nothing written can hold a pre-shared key: only log options and the core's reasons are stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.aws.own_changes import changes_recorded, own_change
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.constants import TABLE_TTL_ATTRIBUTE as TTL
from vpn_doctor.onboarding import ConnectionProgress, InFlight, ProgressStatus, TunnelProgress
from vpn_doctor.own_changes import OwnChange

_AUDIT_TTL: Final = timedelta(days=400)
_IN_FLIGHT: Final = "IN_FLIGHT"
_AUDIT: Final = "AUDIT#"
_SENT: Final = "sent"  # the audit line of a change sent to EC2 (the one that replaces the tunnel's endpoint)


def partition(vpn_connection_id: str) -> str:
    """The partition key of a connection's on-boarding items."""
    return f"ONBOARD#{vpn_connection_id}"


class DynamoDbOnboardingStore:
    """Reads and writes a connection's on-boarding progress and audit trail."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        """The DynamoDB client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    def progress(self, vpn_connection_id: str) -> ConnectionProgress:
        """What earlier runs did on the connection (consistent read: the last run's marks count)."""
        items = self._query(vpn_connection_id, consistent=True)
        in_flight: InFlight | None = None
        tunnels: dict[str, TunnelProgress] = {}
        for item in items:
            sk = item[SK]["S"]
            if sk == _IN_FLIGHT:
                in_flight = InFlight(
                    tunnel_ip=item["tunnel_ip"]["S"],
                    changed_at=datetime.fromisoformat(item["changed_at"]["S"]),
                    was_up=item["was_up"]["BOOL"],
                    options=json.loads(item["options"]["S"]),
                )
            elif sk.startswith("TUNNEL#"):
                retry = item.get("retry_after", {}).get("S")
                tunnels[item["tunnel_ip"]["S"]] = TunnelProgress(
                    tunnel_ip=item["tunnel_ip"]["S"],
                    status=ProgressStatus(item["status"]["S"]),
                    settled_at=datetime.fromisoformat(item["settled_at"]["S"]),
                    detail=item.get("detail", {}).get("S", ""),
                    attempts=int(item.get("attempts", {}).get("N", "1")),
                    retry_after=datetime.fromisoformat(retry) if retry else None,
                )
        return ConnectionProgress(in_flight, tunnels)

    def begin(self, vpn_connection_id: str, flight: InFlight) -> bool:
        """Mark the change in flight; False when the connection already has one (another run got there first)."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    **_key(partition(vpn_connection_id), _IN_FLIGHT),
                    "tunnel_ip": {"S": flight.tunnel_ip},
                    "changed_at": {"S": flight.changed_at.isoformat()},
                    "was_up": {"BOOL": flight.was_up},
                    "options": {"S": json.dumps(dict(flight.options), sort_keys=True)},
                },
                ConditionExpression=f"attribute_not_exists({PK})",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translate("PutItem", exc) from None
        except BotoCoreError as exc:
            raise translate("PutItem", exc) from None
        return True

    def settle(self, vpn_connection_id: str, progress: TunnelProgress | None, tunnel_ip: str) -> None:
        """Record how the tunnel's change ended (``None``: it was never sent, e.g. EC2 said "try later"), then
        lift the connection's in-flight mark if it is this tunnel's."""
        if progress is not None:
            item: dict[str, Any] = {
                **_key(partition(vpn_connection_id), f"TUNNEL#{progress.tunnel_ip}"),
                "tunnel_ip": {"S": progress.tunnel_ip},
                "status": {"S": progress.status.value},
                "settled_at": {"S": progress.settled_at.isoformat()},
                "detail": {"S": progress.detail},
                "attempts": {"N": str(progress.attempts)},
            }
            if progress.retry_after is not None:
                item["retry_after"] = {"S": progress.retry_after.isoformat()}
            self._call("PutItem", TableName=self.table_name, Item=item)
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=_key(partition(vpn_connection_id), _IN_FLIGHT),
                ConditionExpression="tunnel_ip = :ip",
                ExpressionAttributeValues={":ip": {"S": tunnel_ip}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate("DeleteItem", exc) from None
        except BotoCoreError as exc:
            raise translate("DeleteItem", exc) from None

    def audit(
        self,
        vpn_connection_id: str,
        tunnel_ip: str,
        *,
        what: str,
        reason: str,
        at: datetime,
        options: Mapping[str, Any] | None = None,
        error_code: str | None = None,
    ) -> None:
        """Append one line to the connection's audit trail."""
        item: dict[str, Any] = {
            # The time in UTC first, so a Query can bound the trail by time (:meth:`changes`).
            **_key(partition(vpn_connection_id), f"{_AUDIT}{at.astimezone(UTC).isoformat()}#{tunnel_ip}#{what}"),
            "vpn_connection_id": {"S": vpn_connection_id},
            "tunnel_ip": {"S": tunnel_ip},
            "what": {"S": what},
            "reason": {"S": reason},
            "at": {"S": at.astimezone(UTC).isoformat()},
            "actor": {"S": "vpn-doctor onboard"},
            "options": {"S": json.dumps(dict(options or {}), sort_keys=True)},
            TTL: {"N": str(int((at + _AUDIT_TTL).timestamp()))},
        }
        if error_code:
            item["error_code"] = {"S": error_code}
        self._call("PutItem", TableName=self.table_name, Item=item)

    def changes(self, vpn_connection_id: str, *, since: datetime, until: datetime) -> list[OwnChange]:
        """The tunnel changes sent between ``since`` and ``until`` (whole seconds; the ``sent`` audit lines):
        :class:`vpn_doctor.own_changes.OwnChanges`, so the state function recognises the AWS Health notice a
        logging change causes as vpn-doctor's own. One ``Query``, bounded by time on the sort key."""
        items = changes_recorded(
            self.client,
            self.table_name,
            partition(vpn_connection_id),
            since=since,
            until=until,
            marked=("what", _SENT),
            sort_prefix=_AUDIT,
        )
        return [
            change
            for item in items
            if (change := own_change(vpn_connection_id, item, time_attribute="at", actor="vpn-doctor onboard"))
        ]

    def audit_records(self, vpn_connection_id: str) -> list[dict[str, Any]]:
        """The connection's audit trail, oldest first (plain values, for people and tests)."""
        return [
            {name: next(iter(value.values())) for name, value in item.items()}
            for item in self._query(vpn_connection_id, consistent=False)
            if item[SK]["S"].startswith(_AUDIT)
        ]

    def _query(self, vpn_connection_id: str, *, consistent: bool) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": f"{PK} = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition(vpn_connection_id)}},
            "ConsistentRead": consistent,
        }
        while True:
            response = self._call("Query", **request)
            items.extend(response.get("Items") or ())
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        method = getattr(self.client, "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_"))
        try:
            return dict(method(**request))
        except (ClientError, BotoCoreError) as exc:
            raise translate(operation, exc) from None


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {PK: {"S": pk}, SK: {"S": sk}}
