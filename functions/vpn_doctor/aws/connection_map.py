"""The connection map in the incidents table: ``pk = CONNECTIONS``, ``sk = MAP``, the map as JSON ``doc``.

One item per deployment (account and region): the monitored connections' ids, tunnel outside IPs,
customer gateway IPs and names (:mod:`vpn_doctor.attribution`), ~150 bytes a connection, far below
DynamoDB's 400 KB item limit for the default quota of VPN connections per region
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items,
https://docs.aws.amazon.com/vpn/latest/s2svpn/vpn-limits.html). The poller writes it; the ingest
function reads it (its role may read only this item: ``dynamodb:LeadingKeys``), so ingest never
needs EC2. No pre-shared key is in it: :class:`~vpn_doctor.vpn.VpnConnectionInfo` holds none.
"""

from __future__ import annotations

import json
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.attribution import ConnectionMap, MapFormatError, map_from_dict
from vpn_doctor.aws import AwsCallFailed, translate
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK

MAP_PK: Final = "CONNECTIONS"
MAP_SK: Final = "MAP"


class DynamoDbConnectionMap:
    """Reads and writes the connection map item; remembers the last document seen, so a poll whose
    estate did not change writes nothing (and a warm poller does not even read)."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client
        self._known: str | None = None

    @property
    def client(self) -> Any:
        """The DynamoDB client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    def load(self) -> ConnectionMap:
        """The stored map (empty when none was written yet); one ``GetItem``.

        Raises :class:`~vpn_doctor.aws.AwsCallFailed` when DynamoDB refuses or the item cannot be read."""
        document = self._document()
        if document is None:
            return ConnectionMap()
        try:
            return map_from_dict(json.loads(document))
        except (json.JSONDecodeError, MapFormatError) as exc:
            raise AwsCallFailed("GetItem", "MalformedConnectionMap", str(exc)) from None

    def save(self, connection_map: ConnectionMap) -> bool:
        """Store the map when it differs from the stored one; ``True`` when written. The first call of a
        container reads the item (one ``GetItem``) to compare; later calls compare with what it knows."""
        document = json.dumps(connection_map.to_dict(), sort_keys=True, separators=(",", ":"))
        if self._known is None:
            self._known = self._document() or ""
        if document == self._known:
            return False
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={PK: {"S": MAP_PK}, SK: {"S": MAP_SK}, "doc": {"S": document}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("PutItem", exc) from None
        self._known = document
        return True

    def _document(self) -> str | None:
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key={PK: {"S": MAP_PK}, SK: {"S": MAP_SK}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetItem", exc) from None
        item = response.get("Item")
        return item["doc"]["S"] if item and "doc" in item else None
