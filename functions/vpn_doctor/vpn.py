"""A VPN connection's configuration and telemetry, read from ``DescribeVpnConnections``.

``DescribeVpnConnections`` returns every tunnel's pre-shared key and the customer gateway
configuration XML (which holds the keys too). :func:`connection_from_api` is the one place that
reads that response, and it copies only what the rest of the product needs: no field of these
models can carry a key. AWS defaults are defined once here (``AWS_DEFAULTS``) because the API
omits options that were never set explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from vpn_doctor.models import TunnelState


def log_group_name(log_group: str) -> str:
    """A log group's name from its name or ARN (``arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]``)."""
    if log_group.startswith("arn:"):
        _, _, name = log_group.partition(":log-group:")
        return name.removesuffix(":*")
    return log_group


# Keys of the DescribeVpnConnections response that hold secrets: never copied anywhere.
SECRET_FIELDS: Final = frozenset({"PreSharedKey", "CustomerGatewayConfiguration", "PreSharedKeyArn"})


@dataclass(frozen=True, slots=True)
class AwsTunnelDefaults:
    """AWS's values for tunnel options that were never set (EC2 API reference, tunnel options)."""

    dpd_timeout_action: str = "clear"
    dpd_timeout_seconds: int = 30  # CreateVpnConnection's default; the minimum is 30
    startup_action: str = "add"
    phase1_lifetime_seconds: int = 28_800
    phase2_lifetime_seconds: int = 3_600
    rekey_margin_time_seconds: int = 270  # SDK model; the user guide says 540: read the real value
    rekey_fuzz_percentage: int = 100
    replay_window_size: int = 1_024
    ike_versions: tuple[str, ...] = ("ikev1", "ikev2")
    phase1_encryption: tuple[str, ...] = ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")
    phase2_encryption: tuple[str, ...] = ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")
    phase1_integrity: tuple[str, ...] = ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")
    phase2_integrity: tuple[str, ...] = ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")
    phase1_dh_groups: tuple[int, ...] = (2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
    phase2_dh_groups: tuple[int, ...] = (2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
    phase1_lifetime_range: tuple[int, int] = (900, 28_800)
    phase2_lifetime_range: tuple[int, int] = (900, 3_600)


AWS_DEFAULTS: Final = AwsTunnelDefaults()


@dataclass(frozen=True, slots=True)
class TunnelLogging:
    """Tunnel activity / BGP logging to CloudWatch Logs."""

    enabled: bool = False
    log_group_arn: str | None = None
    output_format: str | None = None
    bgp_enabled: bool = False
    bgp_log_group_arn: str | None = None
    bgp_output_format: str | None = None


@dataclass(frozen=True, slots=True)
class TunnelTelemetry:
    """``VgwTelemetry`` for one tunnel."""

    status: TunnelState
    status_message: str | None = None
    last_status_change: datetime | None = None
    accepted_route_count: int | None = None
    # The tunnel's customer gateway certificate (certificate-authenticated tunnels only; ACM ARN).
    certificate_arn: str | None = None


@dataclass(frozen=True, slots=True)
class TunnelConfig:
    """One tunnel's options (AWS defaults filled in where the API omitted them) and telemetry.

    ``explicit`` lists the options the API actually returned, so a check can say "default".
    """

    outside_ip: str
    inside_cidr: str | None = None
    dpd_timeout_action: str = AWS_DEFAULTS.dpd_timeout_action
    dpd_timeout_seconds: int = AWS_DEFAULTS.dpd_timeout_seconds
    startup_action: str = AWS_DEFAULTS.startup_action
    phase1_lifetime_seconds: int = AWS_DEFAULTS.phase1_lifetime_seconds
    phase2_lifetime_seconds: int = AWS_DEFAULTS.phase2_lifetime_seconds
    rekey_margin_time_seconds: int = AWS_DEFAULTS.rekey_margin_time_seconds
    rekey_fuzz_percentage: int = AWS_DEFAULTS.rekey_fuzz_percentage
    replay_window_size: int = AWS_DEFAULTS.replay_window_size
    ike_versions: tuple[str, ...] = AWS_DEFAULTS.ike_versions
    phase1_encryption: tuple[str, ...] = AWS_DEFAULTS.phase1_encryption
    phase2_encryption: tuple[str, ...] = AWS_DEFAULTS.phase2_encryption
    phase1_integrity: tuple[str, ...] = AWS_DEFAULTS.phase1_integrity
    phase2_integrity: tuple[str, ...] = AWS_DEFAULTS.phase2_integrity
    phase1_dh_groups: tuple[int, ...] = AWS_DEFAULTS.phase1_dh_groups
    phase2_dh_groups: tuple[int, ...] = AWS_DEFAULTS.phase2_dh_groups
    lifecycle_control: bool = False
    logging: TunnelLogging = field(default_factory=TunnelLogging)
    telemetry: TunnelTelemetry | None = None
    explicit: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class VpnConnectionInfo:
    """A VPN connection as vpn-doctor sees it: no pre-shared key, no customer gateway config."""

    vpn_connection_id: str
    state: str
    tunnels: tuple[TunnelConfig, ...]
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    customer_gateway_id: str | None = None
    vpn_gateway_id: str | None = None
    transit_gateway_id: str | None = None
    static_routes_only: bool = False
    enable_acceleration: bool = False
    local_ipv4_cidr: str | None = None
    remote_ipv4_cidr: str | None = None
    local_ipv6_cidr: str | None = None
    remote_ipv6_cidr: str | None = None
    tunnel_inside_ip_version: str | None = None
    category: str | None = None
    # The customer gateway's DeviceName (DescribeCustomerGateways), for vendor hints; filled by the adapter.
    customer_gateway_device_name: str | None = None
    # The customer gateway's IpAddress (DescribeCustomerGateways), to attribute its lines; filled by the adapter.
    customer_gateway_ip: str | None = None

    def tunnel(self, outside_ip: str | None) -> TunnelConfig | None:
        """The tunnel with this outside IP."""
        return next((tunnel for tunnel in self.tunnels if tunnel.outside_ip == outside_ip), None)

    def sibling(self, outside_ip: str | None) -> TunnelConfig | None:
        """The other tunnel of the connection."""
        return next((tunnel for tunnel in self.tunnels if tunnel.outside_ip != outside_ip), None)

    def tunnel_number(self, outside_ip: str | None) -> int | None:
        """1 or 2, in the order AWS lists the tunnels (what consoles call "Tunnel 1/2")."""
        for index, tunnel in enumerate(self.tunnels, start=1):
            if tunnel.outside_ip == outside_ip:
                return index
        return None


def connection_from_api(item: Mapping[str, Any]) -> VpnConnectionInfo:
    """Read one ``VpnConnections[]`` item. Secrets are never read, so they cannot travel further."""
    options = item.get("Options") or {}
    telemetry = {
        entry.get("OutsideIpAddress"): _telemetry(entry)
        for entry in item.get("VgwTelemetry") or ()
        if entry.get("OutsideIpAddress")
    }
    tunnels = tuple(
        _tunnel(option, telemetry.get(option.get("OutsideIpAddress")))
        for option in options.get("TunnelOptions") or ()
        if option.get("OutsideIpAddress")
    )
    if not tunnels:
        # Options without tunnel details (older connections, partial responses): telemetry still names them.
        tunnels = tuple(TunnelConfig(outside_ip=ip, telemetry=state) for ip, state in telemetry.items())
    tags = {tag["Key"]: tag.get("Value", "") for tag in item.get("Tags") or () if "Key" in tag}
    return VpnConnectionInfo(
        vpn_connection_id=item["VpnConnectionId"],
        state=str(item.get("State", "unknown")),
        tunnels=tunnels,
        name=tags.get("Name"),
        tags=tags,
        customer_gateway_id=item.get("CustomerGatewayId"),
        vpn_gateway_id=item.get("VpnGatewayId"),
        transit_gateway_id=item.get("TransitGatewayId"),
        static_routes_only=bool(options.get("StaticRoutesOnly", False)),
        enable_acceleration=bool(options.get("EnableAcceleration", False)),
        local_ipv4_cidr=options.get("LocalIpv4NetworkCidr"),
        remote_ipv4_cidr=options.get("RemoteIpv4NetworkCidr"),
        local_ipv6_cidr=options.get("LocalIpv6NetworkCidr"),
        remote_ipv6_cidr=options.get("RemoteIpv6NetworkCidr"),
        tunnel_inside_ip_version=options.get("TunnelInsideIpVersion"),
        category=item.get("Category"),
    )


def _telemetry(entry: Mapping[str, Any]) -> TunnelTelemetry:
    status = str(entry.get("Status", "")).upper()
    last = entry.get("LastStatusChange")
    if isinstance(last, datetime) and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return TunnelTelemetry(
        status=TunnelState(status) if status in ("UP", "DOWN") else TunnelState.UNKNOWN,
        status_message=entry.get("StatusMessage"),
        last_status_change=last if isinstance(last, datetime) else None,
        accepted_route_count=entry.get("AcceptedRouteCount"),
        certificate_arn=entry.get("CertificateArn") or None,
    )


# API name of each option -> (our field, reader). The API omits options never set explicitly.
def _values(key: str) -> Any:
    return lambda option: tuple(entry["Value"] for entry in option.get(key) or () if "Value" in entry)


_OPTION_READERS: dict[str, tuple[str, Any]] = {
    "DpdTimeoutAction": ("dpd_timeout_action", lambda option: str(option["DpdTimeoutAction"])),
    "DpdTimeoutSeconds": ("dpd_timeout_seconds", lambda option: int(option["DpdTimeoutSeconds"])),
    "StartupAction": ("startup_action", lambda option: str(option["StartupAction"])),
    "Phase1LifetimeSeconds": ("phase1_lifetime_seconds", lambda option: int(option["Phase1LifetimeSeconds"])),
    "Phase2LifetimeSeconds": ("phase2_lifetime_seconds", lambda option: int(option["Phase2LifetimeSeconds"])),
    "RekeyMarginTimeSeconds": ("rekey_margin_time_seconds", lambda option: int(option["RekeyMarginTimeSeconds"])),
    "RekeyFuzzPercentage": ("rekey_fuzz_percentage", lambda option: int(option["RekeyFuzzPercentage"])),
    "ReplayWindowSize": ("replay_window_size", lambda option: int(option["ReplayWindowSize"])),
    "IkeVersions": ("ike_versions", _values("IkeVersions")),
    "Phase1EncryptionAlgorithms": ("phase1_encryption", _values("Phase1EncryptionAlgorithms")),
    "Phase2EncryptionAlgorithms": ("phase2_encryption", _values("Phase2EncryptionAlgorithms")),
    "Phase1IntegrityAlgorithms": ("phase1_integrity", _values("Phase1IntegrityAlgorithms")),
    "Phase2IntegrityAlgorithms": ("phase2_integrity", _values("Phase2IntegrityAlgorithms")),
    "Phase1DHGroupNumbers": ("phase1_dh_groups", _values("Phase1DHGroupNumbers")),
    "Phase2DHGroupNumbers": ("phase2_dh_groups", _values("Phase2DHGroupNumbers")),
    "EnableTunnelLifecycleControl": ("lifecycle_control", lambda option: bool(option["EnableTunnelLifecycleControl"])),
}


def _tunnel(option: Mapping[str, Any], telemetry: TunnelTelemetry | None) -> TunnelConfig:
    values: dict[str, Any] = {}
    explicit: set[str] = set()
    for api_name, (name, read) in _OPTION_READERS.items():
        if option.get(api_name) in (None, [], ()):
            continue
        values[name] = read(option)
        explicit.add(name)
    cloudwatch = (option.get("LogOptions") or {}).get("CloudWatchLogOptions") or {}
    logging = TunnelLogging(
        enabled=bool(cloudwatch.get("LogEnabled", False)),
        log_group_arn=cloudwatch.get("LogGroupArn"),
        output_format=cloudwatch.get("LogOutputFormat"),
        bgp_enabled=bool(cloudwatch.get("BgpLogEnabled", False)),
        bgp_log_group_arn=cloudwatch.get("BgpLogGroupArn"),
        bgp_output_format=cloudwatch.get("BgpLogOutputFormat"),
    )
    return TunnelConfig(
        outside_ip=str(option["OutsideIpAddress"]),
        inside_cidr=option.get("TunnelInsideCidr"),
        logging=logging,
        telemetry=telemetry,
        explicit=frozenset(explicit),
        **values,
    )


def connections_from_api(response: Mapping[str, Any]) -> list[VpnConnectionInfo]:
    """Every connection of a ``DescribeVpnConnections`` response."""
    items: Sequence[Mapping[str, Any]] = response.get("VpnConnections") or ()
    return [connection_from_api(item) for item in items]
