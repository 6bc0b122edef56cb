"""The ports the use cases call out through: small protocols that the ``vpn_doctor.aws`` adapters
implement in Lambda, the emulator-backed adapters in the demo, and plain fakes in unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vpn_doctor.attribution import ConnectionMap
    from vpn_doctor.diagnosis import TunnelTraffic
    from vpn_doctor.models import TunnelEvent
    from vpn_doctor.replacement import MaintenanceStatus
    from vpn_doctor.vpn import VpnConnectionInfo


class Connections(Protocol):
    """Reads VPN connections (``DescribeVpnConnections``); raises ``AwsCallFailed`` when EC2 refuses."""

    def connection(self, vpn_connection_id: str) -> VpnConnectionInfo | None:
        """One connection, or ``None`` when it does not exist."""
        ...

    def connections(
        self, vpn_ids: Sequence[str] = (), *, tag_key: str | None = None, tag_value: str | None = None
    ) -> list[VpnConnectionInfo]:
        """Live connections: all, those listed, or those carrying a tag."""
        ...


class ConnectionMapReader(Protocol):
    """Reads the connection map gateway lines are attributed with (the poller's, never EC2)."""

    def load(self) -> ConnectionMap:
        """The stored map; raises ``AwsCallFailed`` when it cannot be read."""
        ...


class ConnectionMapWriter(Protocol):
    """Stores the connection map (the poller, after reading EC2)."""

    def save(self, connection_map: ConnectionMap) -> bool:
        """Store the map when it changed; ``True`` when written. Raises ``AwsCallFailed``."""
        ...


class TunnelLogReader(Protocol):
    """Reads a tunnel's earlier log records (``FilterLogEvents``)."""

    def lookback(
        self, log_group: str, vpn_connection_id: str, tunnel_ip: str, *, start: datetime, end: datetime
    ) -> list[TunnelEvent]:
        """The tunnel's records between ``start`` and ``end``, oldest first."""
        ...


class TrafficReader(Protocol):
    """Reads tunnels' bytes in and out (``AWS/VPN`` TunnelDataIn/TunnelDataOut), many tunnels per call."""

    def traffic(
        self, tunnels: Sequence[tuple[str, str]], *, start: datetime, end: datetime, period: int = 300
    ) -> Mapping[tuple[str, str], TunnelTraffic]:
        """Per (VPN connection id, tunnel outside IP): its traffic over the window."""
        ...


class PostCheckScheduling(Protocol):
    """Creates the one-time post-check schedule; the same key twice is one schedule."""

    def schedule(self, key: str, at: datetime, payload: Mapping[str, Any]) -> str:
        """Schedule the post-check at ``at``; returns the schedule's name (already existing is success)."""
        ...


class ReplacementStatuses(Protocol):
    """Reads one tunnel's pending endpoint maintenance (``GetVpnTunnelReplacementStatus``)."""

    def status(self, vpn_connection_id: str, tunnel_ip: str) -> MaintenanceStatus:
        """The tunnel's maintenance details; raises ``AwsCallFailed`` when EC2 refuses."""
        ...


class CertificateExpiries(Protocol):
    """Reads a certificate's expiry (ACM ``DescribeCertificate`` ``NotAfter``)."""

    def not_after(self, certificate_arn: str) -> datetime | None:
        """When it expires (``None``: not said); raises ``AwsCallFailed`` when ACM refuses."""
        ...
