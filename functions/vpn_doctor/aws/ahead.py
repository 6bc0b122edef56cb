"""Read-only adapters for the warnings ahead of time (:mod:`vpn_doctor.replacement`).

- ``ec2:GetVpnTunnelReplacementStatus`` (one tunnel a call; EC2 API reference,
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetVpnTunnelReplacementStatus.html):
  ``MaintenanceDetails`` (``PendingMaintenance``, ``MaintenanceAutoAppliedAfter``, ``LastMaintenanceApplied``,
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_MaintenanceDetails.html). Nothing else of the
  response is kept.
- ``acm:DescribeCertificate``: the certificate's ``NotAfter`` (its expiry), nothing else.

Both translate AWS errors into :class:`vpn_doctor.aws.AwsCallFailed` with AWS's code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.replacement import MaintenanceStatus


class ReplacementStatusReader:
    """``GetVpnTunnelReplacementStatus`` -> :class:`MaintenanceStatus`."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """The EC2 client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("ec2")
        return self._client

    def status(self, vpn_connection_id: str, tunnel_ip: str) -> MaintenanceStatus:
        """The tunnel's maintenance details; raises :class:`AwsCallFailed` when EC2 refuses."""
        try:
            response = self.client.get_vpn_tunnel_replacement_status(
                VpnConnectionId=vpn_connection_id, VpnTunnelOutsideIpAddress=tunnel_ip
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetVpnTunnelReplacementStatus", exc) from None
        details = response.get("MaintenanceDetails") or {}
        pending = details.get("PendingMaintenance")
        return MaintenanceStatus(
            tunnel_ip=tunnel_ip,
            pending_maintenance=str(pending) if pending is not None else None,
            auto_applied_after=_utc(details.get("MaintenanceAutoAppliedAfter")),
            last_applied=_utc(details.get("LastMaintenanceApplied")),
        )


class CertificateExpiry:
    """``DescribeCertificate`` -> the certificate's ``NotAfter``."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """The ACM client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("acm")
        return self._client

    def not_after(self, certificate_arn: str) -> datetime | None:
        """When the certificate expires (``None``: ACM does not say, e.g. not issued yet)."""
        try:
            response = self.client.describe_certificate(CertificateArn=certificate_arn)
        except (ClientError, BotoCoreError) as exc:
            raise translate("DescribeCertificate", exc) from None
        return _utc((response.get("Certificate") or {}).get("NotAfter"))


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
