"""Read-only EC2 adapter: VPN connections (tunnel options, telemetry, tags) and customer gateway names.

``DescribeVpnConnections`` returns every tunnel's pre-shared key and the customer gateway
configuration: the raw response never leaves this module; :func:`vpn_doctor.vpn.connection_from_api`
copies only what is safe. The API is not paginated (no NextToken): ids are requested in chunks.

Listed connections are asked for with the ``vpn-connection-id`` *filter*, not ``VpnConnectionIds``:
with ``VpnConnectionIds`` one id that no longer exists fails the whole call with
``InvalidVpnConnectionID.NotFound``, while a filter simply matches nothing for it (EC2 API reference,
DescribeVpnConnections, "Filters": ``vpn-connection-id``; "Common client errors":
``InvalidVpnConnectionID.NotFound``). A deleted connection stays visible as ``deleted`` for a while;
the state filter leaves it out like one already gone, so the caller sees both as missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.sample_config import DeviceType
from vpn_doctor.vpn import VpnConnectionInfo, connection_from_api

_NOT_FOUND: Final = frozenset({"InvalidVpnConnectionID.NotFound", "InvalidVpnConnectionId.NotFound"})
# Connections worth watching; deleted/deleting ones have no tunnels left to watch.
_LIVE_STATES: Final = ("pending", "available", "modifying")
_CHUNK: Final = 100


class Ec2Reader:
    """``DescribeVpnConnections`` / ``DescribeCustomerGateways`` -> :class:`VpnConnectionInfo`."""

    def __init__(self, client: Any | None = None, *, device_names: bool = True) -> None:
        self._client = client
        # False: no DescribeCustomerGateways (the onboard function's role holds only DescribeVpnConnections).
        self._device_names = device_names
        self._device_types: list[DeviceType] | None = None

    @property
    def client(self) -> Any:
        """The EC2 client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("ec2")
        return self._client

    def connections(
        self, vpn_ids: Sequence[str] = (), *, tag_key: str | None = None, tag_value: str | None = None
    ) -> list[VpnConnectionInfo]:
        """Live connections: all in the account/region, those listed, or those carrying a tag.

        A listed id that does not exist (deleted, or never did) is simply not in the result.
        Raises :class:`vpn_doctor.aws.AwsCallFailed` (with AWS's error code) when EC2 refuses.
        """
        filters: list[dict[str, Any]] = [{"Name": "state", "Values": list(_LIVE_STATES)}]
        if tag_key is not None:
            filters.append(
                {"Name": f"tag:{tag_key}", "Values": [tag_value]}
                if tag_value is not None
                else {"Name": "tag-key", "Values": [tag_key]}
            )
        items: list[dict[str, Any]] = []
        for chunk in _chunks(vpn_ids) if vpn_ids else [None]:
            chunk_filters = [*filters, {"Name": "vpn-connection-id", "Values": chunk}] if chunk else filters
            items.extend(self._describe({"Filters": chunk_filters}))
        return self._with_device_names([connection_from_api(item) for item in items])

    def connection(self, vpn_connection_id: str) -> VpnConnectionInfo | None:
        """One connection, or ``None`` when it does not exist."""
        try:
            items = self._describe({"VpnConnectionIds": [vpn_connection_id]})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise translate("DescribeVpnConnections", exc) from None
        found = [connection_from_api(item) for item in items if item.get("VpnConnectionId") == vpn_connection_id]
        return self._with_device_names(found)[0] if found else None

    def _describe(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            response = self.client.describe_vpn_connections(**request)
        except ClientError as exc:
            if "VpnConnectionIds" in request and exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                raise
            raise translate("DescribeVpnConnections", exc) from None
        except BotoCoreError as exc:
            raise translate("DescribeVpnConnections", exc) from None
        return list(response.get("VpnConnections") or [])

    def device_types(self) -> list[DeviceType]:
        """Every device type AWS has a sample configuration for (``GetVpnConnectionDeviceTypes``, paginated with
        ``NextToken``); read once per reader: the list changes with AWS's releases, not between invocations."""
        if self._device_types is None:
            found: list[DeviceType] = []
            request: dict[str, Any] = {"MaxResults": 200}  # the API's maximum page (botocore model: 200)
            try:
                while True:
                    response = self.client.get_vpn_connection_device_types(**request)
                    found.extend(
                        DeviceType(
                            device_type_id=str(item.get("VpnConnectionDeviceTypeId") or ""),
                            vendor=str(item.get("Vendor") or ""),
                            platform=str(item.get("Platform") or ""),
                            software=str(item.get("Software") or ""),
                        )
                        for item in response.get("VpnConnectionDeviceTypes") or ()
                        if item.get("VpnConnectionDeviceTypeId")
                    )
                    token = response.get("NextToken")
                    if not token:
                        break
                    request["NextToken"] = token
            except (ClientError, BotoCoreError) as exc:
                raise translate("GetVpnConnectionDeviceTypes", exc) from None
            self._device_types = found
        return list(self._device_types)

    def sample_configuration(self, vpn_connection_id: str, device_type_id: str, ike_version: str) -> str:
        """AWS's sample configuration for the connection on that device (``GetVpnConnectionDeviceSampleConfiguration``).

        The text holds the tunnels' pre-shared keys: callers quote from it (vpn_doctor.sample_config.quote) and
        drop it; it is never logged, stored or returned by anything else."""
        try:
            response = self.client.get_vpn_connection_device_sample_configuration(
                VpnConnectionId=vpn_connection_id,
                VpnConnectionDeviceTypeId=device_type_id,
                InternetKeyExchangeVersion=ike_version,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetVpnConnectionDeviceSampleConfiguration", exc) from None
        return str(response.get("VpnConnectionDeviceSampleConfiguration") or "")

    def _with_device_names(self, connections: list[VpnConnectionInfo]) -> list[VpnConnectionInfo]:
        ids = sorted({c.customer_gateway_id for c in connections if c.customer_gateway_id})
        if not ids or not self._device_names:
            return connections
        try:
            response = self.client.describe_customer_gateways(CustomerGatewayIds=ids)
        except (ClientError, BotoCoreError):
            # Device names only add vendor hints: a refusal here must not cost the diagnosis.
            return connections
        gateways = {
            gateway["CustomerGatewayId"]: gateway
            for gateway in response.get("CustomerGateways") or ()
            if gateway.get("CustomerGatewayId")
        }
        # DeviceName for vendor hints; IpAddress (the gateway's outside interface) to attribute its log lines.
        return [
            replace(
                c,
                customer_gateway_device_name=gateway.get("DeviceName") or None,
                customer_gateway_ip=gateway.get("IpAddress") or None,
            )
            if (gateway := gateways.get(c.customer_gateway_id or ""))
            else c
            for c in connections
        ]


def _chunks(values: Iterable[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(values))
    return [unique[index : index + _CHUNK] for index in range(0, len(unique), _CHUNK)]
