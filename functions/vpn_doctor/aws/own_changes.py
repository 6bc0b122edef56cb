"""vpn-doctor's applied tunnel changes, read from the audit records of the remediation table (DynamoDB).

Implements :class:`vpn_doctor.own_changes.OwnChanges`. Any writer's audit record counts when it has the
shape documented in ``docs/own-changes.md``: ``pk`` = ``AUDIT#<vpn-id>``, ``sk`` starting with the change's
ISO 8601 UTC time, and the attributes ``tunnel_ip``, ``decided_at``, ``actor`` and ``status`` = ``applied``
(remediation's :meth:`~vpn_doctor.aws.remediation_store.DynamoDbRemediationStore.record_decision` writes it;
the tunnel-logging on-boarding writes the same). One ``Query`` per notice, on the connection's audit
partition, bounded by time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.own_changes import OwnChange

AUDIT_PREFIX: Final = "AUDIT#"
APPLIED: Final = "applied"  # RemediationStatus.APPLIED: the tunnel was really modified (not dry-run, not refused)
# Sort keys begin with ``2026-11-27T02:00:00[.ffffff]Z#``: a bound without zone or fraction sorts before
# every key of its second, and "~" after every character a key's time part holds.
_SECOND: Final = "%Y-%m-%dT%H:%M:%S"


class AuditedChanges:
    """Applied tunnel changes from a table's audit records (clients created on first use)."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        """The DynamoDB client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    def changes(self, vpn_connection_id: str, *, since: datetime, until: datetime) -> list[OwnChange]:
        """The connection's applied changes recorded between ``since`` and ``until`` (whole seconds)."""
        items = changes_recorded(
            self.client,
            self.table_name,
            f"{AUDIT_PREFIX}{vpn_connection_id}",
            since=since,
            until=until,
            marked=("status", APPLIED),
        )
        return [change for item in items if (change := own_change(vpn_connection_id, item))]


def changes_recorded(
    client: Any,
    table_name: str,
    partition: str,
    *,
    since: datetime,
    until: datetime,
    marked: tuple[str, str],
    sort_prefix: str = "",
) -> list[dict[str, Any]]:
    """The audit items of ``partition`` whose sort key is ``sort_prefix`` and a UTC time between ``since`` and
    ``until`` (whole seconds), with the attribute ``marked[0]`` equal to ``marked[1]``: one paged ``Query``
    bounded by time (any audit writing its time first in the sort key, see ``docs/own-changes.md``)."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": f"{PK} = :pk AND {SK} BETWEEN :since AND :until",
        "FilterExpression": "#marked = :marked",
        "ExpressionAttributeNames": {"#marked": marked[0]},
        "ExpressionAttributeValues": {
            ":pk": {"S": partition},
            ":since": {"S": f"{sort_prefix}{since.astimezone(UTC).strftime(_SECOND)}"},
            ":until": {"S": f"{sort_prefix}{until.astimezone(UTC).strftime(_SECOND)}~"},
            ":marked": {"S": marked[1]},
        },
    }
    items: list[dict[str, Any]] = []
    while True:
        try:
            response = client.query(**request)
        except (ClientError, BotoCoreError) as exc:
            raise translate("Query", exc) from None
        items += response.get("Items") or ()
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def own_change(
    vpn_connection_id: str, item: dict[str, Any], *, time_attribute: str = "decided_at", actor: str = "vpn-doctor"
) -> OwnChange | None:
    """The record as a change; ``None`` for one without a tunnel or a readable time (it explains nothing)."""
    tunnel_ip = item.get("tunnel_ip", {}).get("S")
    try:
        changed_at = datetime.fromisoformat(item.get(time_attribute, {}).get("S", ""))
    except ValueError:
        return None
    if not tunnel_ip:
        return None
    return OwnChange(
        vpn_connection_id=vpn_connection_id,
        tunnel_ip=tunnel_ip,
        changed_at=changed_at if changed_at.tzinfo else changed_at.replace(tzinfo=UTC),
        actor=item.get("actor", {}).get("S", actor),
        ref=f"{item[PK]['S']}/{item[SK]['S']}",
    )
