"""An in-process extension of moto's EC2 VPN model: what AWS returns and moto does not.

moto creates VPN connections but returns no tunnel options, no ``VgwTelemetry`` and has no
``ModifyVpnTunnelOptions``. :class:`VpnEmulation` patches moto's EC2 response class while it is
installed (and restores it afterwards) so that, over moto's real HTTP server:

- ``CreateVpnConnection`` reads the request's ``Options`` and gives each tunnel realistic options
  (outside IP, inside CIDR, a fake pre-shared key, lifetimes, algorithms, DPD and startup actions,
  log options) and telemetry (``DOWN`` until the demo says otherwise, as a new AWS tunnel is);
- ``DescribeVpnConnections`` returns them (``Options.TunnelOptions``, ``VgwTelemetry``, ``Tags``)
  and understands the ``vpn-connection-id`` filter (moto has not implemented it);
- ``ModifyVpnTunnelOptions`` validates the request like AWS (known connection, the tunnel's
  outside IP, documented ranges, connection ``available`` else ``IncorrectState``), honours
  ``DryRun`` (``DryRunOperation``), applies the options, sets the connection ``modifying`` for a
  while and returns the connection;
- ``ReplaceVpnTunnel`` validates the same way and marks the tunnel replaced (with ``ApplyPendingMaintenance``, the
  tunnel's pending maintenance is applied: ``LastMaintenanceApplied`` is now and nothing is pending);
- ``GetVpnTunnelReplacementStatus`` returns the tunnel's ``MaintenanceDetails`` (what the demo set with
  :meth:`VpnEmulation.set_pending_maintenance`; nothing pending otherwise).

Every modify/replace request is recorded (without any pre-shared key) for the demo to show.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.vpn_connections import VPNConnection
from moto.ec2.responses import EC2Response

# Read-back spelling of each ModifyVpnTunnelOptions / CreateVpnConnection request option.
_READ_BACK_NAMES: Final = {
    "DPDTimeoutSeconds": "DpdTimeoutSeconds",
    "DPDTimeoutAction": "DpdTimeoutAction",
    "IKEVersions": "IkeVersions",
}
_LIST_OPTIONS: Final = frozenset(
    {
        "Phase1EncryptionAlgorithms",
        "Phase2EncryptionAlgorithms",
        "Phase1IntegrityAlgorithms",
        "Phase2IntegrityAlgorithms",
        "Phase1DHGroupNumbers",
        "Phase2DHGroupNumbers",
        "IKEVersions",
    }
)
_SCALAR_OPTIONS: Final = frozenset(
    {
        "TunnelInsideCidr",
        "TunnelInsideIpv6Cidr",
        "Phase1LifetimeSeconds",
        "Phase2LifetimeSeconds",
        "RekeyMarginTimeSeconds",
        "RekeyFuzzPercentage",
        "ReplayWindowSize",
        "DPDTimeoutSeconds",
        "DPDTimeoutAction",
        "StartupAction",
        "EnableTunnelLifecycleControl",
    }
)
# Ranges from the EC2 API reference (ModifyVpnTunnelOptionsSpecification).
_RANGES: Final = {
    "Phase1LifetimeSeconds": (900, 28_800),
    "Phase2LifetimeSeconds": (900, 3_600),
    "DPDTimeoutSeconds": (30, 2_147_483_647),
    "RekeyFuzzPercentage": (0, 100),
    "ReplayWindowSize": (64, 2_048),
    "RekeyMarginTimeSeconds": (60, 2_147_483_647),
}
_CHOICES: Final = {
    "DPDTimeoutAction": frozenset({"clear", "none", "restart"}),
    "StartupAction": frozenset({"add", "start"}),
    "LogOutputFormat": frozenset({"json", "text"}),
}
# What a freshly created tunnel reports (AWS returns these values explicitly today).
_DEFAULT_TUNNEL_OPTIONS: Final[Mapping[str, Any]] = {
    "Phase1LifetimeSeconds": 28_800,
    "Phase2LifetimeSeconds": 3_600,
    "RekeyMarginTimeSeconds": 270,
    "RekeyFuzzPercentage": 100,
    "ReplayWindowSize": 1_024,
    "DpdTimeoutSeconds": 30,
    "DpdTimeoutAction": "clear",
    "StartupAction": "add",
    "Phase1EncryptionAlgorithms": [{"Value": v} for v in ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")],
    "Phase2EncryptionAlgorithms": [{"Value": v} for v in ("AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16")],
    "Phase1IntegrityAlgorithms": [{"Value": v} for v in ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")],
    "Phase2IntegrityAlgorithms": [{"Value": v} for v in ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512")],
    "Phase1DHGroupNumbers": [{"Value": v} for v in (2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)],
    "Phase2DHGroupNumbers": [{"Value": v} for v in (2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)],
    "IkeVersions": [{"Value": "ikev1"}, {"Value": "ikev2"}],
    "EnableTunnelLifecycleControl": False,
}
_REDACTED: Final = "***"


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One tunnel-changing request as the emulator received it (never with a pre-shared key)."""

    action: str
    vpn_connection_id: str
    tunnel_ip: str
    parameters: Mapping[str, Any]
    dry_run: bool
    outcome: str  # "applied", "dry_run" or the error code
    at: datetime


@dataclass(slots=True)
class _ConnectionState:
    modifying_until: float | None = None


class VpnEmulation:
    """Installs the VPN extension into moto's EC2 responses, and lets a demo drive telemetry.

    ``modifying_seconds`` is how long a connection stays ``modifying`` after a successful
    ``ModifyVpnTunnelOptions`` (AWS takes minutes; a demo wants a second or two).
    """

    def __init__(self, *, modifying_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.modifying_seconds = modifying_seconds
        self._clock = clock
        self._lock = threading.RLock()
        self._connections: dict[str, Any] = {}
        self._state: dict[str, _ConnectionState] = {}
        self._calls: list[RecordedCall] = []
        # (connection, tunnel outside IP) -> MaintenanceDetails, as GetVpnTunnelReplacementStatus returns them.
        self._maintenance: dict[tuple[str, str], dict[str, Any]] = {}
        self._originals: dict[str, Any] = {}
        self._original_filter: Any = None
        self._addresses = itertools.count()

    # --- installation -------------------------------------------------------------------------

    def install(self) -> None:
        """Patch moto's EC2 response class (idempotent per instance)."""
        if self._originals:
            return
        emulation = self
        original_create = EC2Response.create_vpn_connection
        original_describe = EC2Response.describe_vpn_connections

        def create_vpn_connection(response: Any) -> Any:
            result = original_create(response)
            created = cast(Mapping[str, Any], result.result)["VpnConnection"]
            emulation._decorate(created, response._get_param("Options") or {})
            return result

        def describe_vpn_connections(response: Any) -> Any:
            emulation._refresh()
            return original_describe(response)

        def modify_vpn_tunnel_options(response: Any) -> Any:
            return emulation._modify(response)

        def replace_vpn_tunnel(response: Any) -> Any:
            return emulation._replace(response)

        def get_vpn_tunnel_replacement_status(response: Any) -> Any:
            return emulation._replacement_status(response)

        patches = {
            "create_vpn_connection": create_vpn_connection,
            "describe_vpn_connections": describe_vpn_connections,
            "modify_vpn_tunnel_options": modify_vpn_tunnel_options,
            "replace_vpn_tunnel": replace_vpn_tunnel,
            "get_vpn_tunnel_replacement_status": get_vpn_tunnel_replacement_status,
        }
        for name, function in patches.items():
            self._originals[name] = EC2Response.__dict__.get(name)
            setattr(EC2Response, name, function)
        original_filter = VPNConnection.get_filter_value

        def get_filter_value(connection: Any, filter_name: str, method_name: str | None = None) -> Any:
            if filter_name == "vpn-connection-id":
                return connection.id
            return original_filter(connection, filter_name, method_name)

        self._original_filter = original_filter
        VPNConnection.get_filter_value = get_filter_value  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        """Restore moto's EC2 response class exactly as it was."""
        for name, original in self._originals.items():
            if original is None:
                delattr(EC2Response, name)
            else:
                setattr(EC2Response, name, original)
        if self._originals:
            VPNConnection.get_filter_value = self._original_filter  # type: ignore[method-assign]
        self._originals.clear()

    @contextmanager
    def installed(self) -> Iterator[VpnEmulation]:
        """Install for the duration of a ``with`` block."""
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    # --- control (used by the demo and tests) ---------------------------------------------------

    def set_tunnel_status(
        self,
        vpn_connection_id: str,
        outside_ip: str,
        status: str,
        *,
        message: str | None = None,
        at: datetime | None = None,
        accepted_route_count: int | None = None,
    ) -> None:
        """Set one tunnel's ``VgwTelemetry`` (``UP``/``DOWN``), as AWS would report it."""
        if status not in ("UP", "DOWN"):
            raise ValueError(f"tunnel status must be UP or DOWN, not {status!r}")
        with self._lock:
            telemetry = self._telemetry_of(vpn_connection_id, outside_ip)
            if at is not None:
                telemetry["LastStatusChange"] = at
            elif telemetry["Status"] != status:
                # AWS reports LastStatusChange to the second: two changes in the same second would
                # look like one, so a quick demo gives each change its own second.
                previous = telemetry["LastStatusChange"]
                telemetry["LastStatusChange"] = max(
                    datetime.now(UTC).replace(microsecond=0), previous.replace(microsecond=0) + timedelta(seconds=1)
                )
            telemetry["Status"] = status
            telemetry["StatusMessage"] = message if message is not None else f"IPSEC IS {status}"
            if accepted_route_count is not None:
                telemetry["AcceptedRouteCount"] = accepted_route_count

    def set_pending_maintenance(self, vpn_connection_id: str, outside_ip: str, *, auto_applied_after: datetime) -> None:
        """Announce an endpoint replacement of one tunnel, as GetVpnTunnelReplacementStatus then reports it."""
        with self._lock:
            self._telemetry_of(vpn_connection_id, outside_ip)  # KeyError for an unknown tunnel
            details = self._maintenance.setdefault((vpn_connection_id, outside_ip), {})
            details.update(PendingMaintenance="Pending", MaintenanceAutoAppliedAfter=auto_applied_after)

    def set_accepted_routes(self, vpn_connection_id: str, outside_ip: str, count: int) -> None:
        """Set one tunnel's ``VgwTelemetry.AcceptedRouteCount`` (the routes AWS accepted over BGP), status unchanged:
        a BGP session can stay established while the gateway stops advertising its networks."""
        if count < 0:
            raise ValueError(f"an accepted route count is never negative, not {count}")
        with self._lock:
            self._telemetry_of(vpn_connection_id, outside_ip)["AcceptedRouteCount"] = count

    def tunnel_ips(self, vpn_connection_id: str) -> tuple[str, ...]:
        """The outside IPs of a connection's tunnels, in AWS's order."""
        with self._lock:
            connection = self._connection(vpn_connection_id)
            return tuple(option["OutsideIpAddress"] for option in connection.options["TunnelOptions"])

    def calls(self) -> list[RecordedCall]:
        """Every ModifyVpnTunnelOptions / ReplaceVpnTunnel request received so far."""
        with self._lock:
            return list(self._calls)

    # --- moto hooks -----------------------------------------------------------------------------

    def _decorate(self, connection: Any, requested: Mapping[str, Any]) -> None:
        with self._lock:
            self._connections[connection.id] = connection
            self._state[connection.id] = _ConnectionState()
            specs = list(requested.get("TunnelOptions") or [])
            while len(specs) < 2:
                specs.append({})
            tunnels = [self._new_tunnel(index, spec) for index, spec in enumerate(specs[:2])]
            static = bool(requested.get("StaticRoutesOnly", False))
            connection.options = {
                "EnableAcceleration": bool(requested.get("EnableAcceleration", False)),
                "StaticRoutesOnly": static,
                "LocalIpv4NetworkCidr": requested.get("LocalIpv4NetworkCidr", "0.0.0.0/0"),
                "RemoteIpv4NetworkCidr": requested.get("RemoteIpv4NetworkCidr", "0.0.0.0/0"),
                "OutsideIpAddressType": requested.get("OutsideIpAddressType", "PublicIpv4"),
                "TunnelInsideIpVersion": requested.get("TunnelInsideIpVersion", "ipv4"),
                "TunnelOptions": tunnels,
            }
            now = datetime.now(UTC)
            connection.vgw_telemetry = [
                {
                    "OutsideIpAddress": tunnel["OutsideIpAddress"],
                    "Status": "DOWN",
                    "StatusMessage": "",
                    "LastStatusChange": now,
                    "AcceptedRouteCount": 0,
                }
                for tunnel in tunnels
            ]
            connection.category = "VPN"
            connection.routes = []

    def _new_tunnel(self, index: int, spec: Mapping[str, Any]) -> dict[str, Any]:
        outside, inside = _tunnel_addresses(next(self._addresses), index)
        tunnel: dict[str, Any] = {
            "OutsideIpAddress": outside,
            "TunnelInsideCidr": spec.get("TunnelInsideCidr") or inside,
            "PreSharedKey": spec.get("PreSharedKey") or _fake_pre_shared_key(),
        }
        tunnel.update(copy.deepcopy(dict(_DEFAULT_TUNNEL_OPTIONS)))
        _apply_options(tunnel, spec)
        return tunnel

    def _refresh(self) -> None:
        with self._lock:
            now = self._clock()
            for vpn_id, state in self._state.items():
                if state.modifying_until is not None and now >= state.modifying_until:
                    state.modifying_until = None
                    connection = self._connections[vpn_id]
                    if connection.state == "modifying":
                        connection.state = "available"

    def _modify(self, response: Any) -> Any:
        vpn_id = response._get_param("VpnConnectionId")
        tunnel_ip = response._get_param("VpnTunnelOutsideIpAddress")
        options: Mapping[str, Any] = response._get_param("TunnelOptions") or {}
        dry_run = bool(response._get_param("DryRun", False))
        parameters = _redacted(options)
        if response._get_param("SkipTunnelReplacement") is not None:
            parameters["SkipTunnelReplacement"] = bool(response._get_param("SkipTunnelReplacement"))
        with self._lock:
            self._refresh()
            try:
                connection = self._known(response, vpn_id)
                tunnel = self._tunnel_of(connection, tunnel_ip)
                _validate(options)
                if dry_run:
                    raise _ec2_error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
                _require_available(connection)
            except Exception as exc:
                self._record("ModifyVpnTunnelOptions", vpn_id, tunnel_ip, parameters, dry_run, _code(exc))
                raise
            _apply_options(tunnel, options)
            self._start_modifying(connection)
            self._record("ModifyVpnTunnelOptions", vpn_id, tunnel_ip, parameters, dry_run, "applied")
            return ActionResult({"VpnConnection": connection})

    def _replace(self, response: Any) -> Any:
        vpn_id = response._get_param("VpnConnectionId")
        tunnel_ip = response._get_param("VpnTunnelOutsideIpAddress")
        dry_run = bool(response._get_param("DryRun", False))
        parameters = {"ApplyPendingMaintenance": bool(response._get_param("ApplyPendingMaintenance", False))}
        with self._lock:
            self._refresh()
            try:
                connection = self._known(response, vpn_id)
                self._tunnel_of(connection, tunnel_ip)
                if dry_run:
                    raise _ec2_error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
                _require_available(connection)
            except Exception as exc:
                self._record("ReplaceVpnTunnel", vpn_id, tunnel_ip, parameters, dry_run, _code(exc))
                raise
            telemetry = self._telemetry_of(vpn_id, tunnel_ip)
            telemetry.update(Status="DOWN", StatusMessage="", LastStatusChange=datetime.now(UTC))
            if parameters["ApplyPendingMaintenance"] and (vpn_id, tunnel_ip) in self._maintenance:
                self._maintenance[(vpn_id, tunnel_ip)] = {"LastMaintenanceApplied": datetime.now(UTC)}
            self._start_modifying(connection)
            self._record("ReplaceVpnTunnel", vpn_id, tunnel_ip, parameters, dry_run, "applied")
            return ActionResult({"Return": True})

    def _replacement_status(self, response: Any) -> Any:
        vpn_id = response._get_param("VpnConnectionId")
        tunnel_ip = response._get_param("VpnTunnelOutsideIpAddress")
        with self._lock:
            connection = self._known(response, vpn_id)
            self._tunnel_of(connection, tunnel_ip)
            if bool(response._get_param("DryRun", False)):
                raise _ec2_error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
            result: dict[str, Any] = {
                "VpnConnectionId": vpn_id,
                "VpnTunnelOutsideIpAddress": tunnel_ip,
                "MaintenanceDetails": dict(self._maintenance.get((vpn_id, tunnel_ip), {})),
            }
            for key, value in (
                ("CustomerGatewayId", getattr(connection, "customer_gateway_id", None)),
                ("VpnGatewayId", getattr(connection, "vpn_gateway_id", None)),
                ("TransitGatewayId", getattr(connection, "transit_gateway_id", None)),
            ):
                if value:
                    result[key] = value
            return ActionResult(result)

    # --- helpers --------------------------------------------------------------------------------

    def _known(self, response: Any, vpn_id: str) -> Any:
        # moto's own lookup raises InvalidVpnConnectionID.NotFound, as AWS does.
        connection = response.ec2_backend.describe_vpn_connections(vpn_connection_ids=[vpn_id])[0]
        if connection.state == "deleted":
            raise _ec2_error("InvalidVpnConnectionID.NotFound", f"The vpnConnection ID '{vpn_id}' does not exist")
        if connection.id not in self._connections:
            # Created before the extension was installed: give it tunnels now.
            self._decorate(connection, {})
        return connection

    def _tunnel_of(self, connection: Any, tunnel_ip: str | None) -> dict[str, Any]:
        for tunnel in connection.options["TunnelOptions"]:
            if tunnel["OutsideIpAddress"] == tunnel_ip:
                return cast(dict[str, Any], tunnel)
        raise _ec2_error(
            "InvalidParameterValue",
            f"The VPN tunnel outside IP address {tunnel_ip} is not associated with {connection.id}",
        )

    def _connection(self, vpn_connection_id: str) -> Any:
        try:
            return self._connections[vpn_connection_id]
        except KeyError:
            raise KeyError(f"unknown VPN connection {vpn_connection_id}") from None

    def _telemetry_of(self, vpn_connection_id: str, outside_ip: str) -> dict[str, Any]:
        connection = self._connection(vpn_connection_id)
        for telemetry in connection.vgw_telemetry:
            if telemetry["OutsideIpAddress"] == outside_ip:
                return cast(dict[str, Any], telemetry)
        raise KeyError(f"{vpn_connection_id} has no tunnel {outside_ip}")

    def _start_modifying(self, connection: Any) -> None:
        if self.modifying_seconds > 0:
            connection.state = "modifying"
            self._state[connection.id].modifying_until = self._clock() + self.modifying_seconds

    def _record(  # noqa: PLR0917 - one call shape, used four times just above
        self, action: str, vpn_id: str, tunnel_ip: str, parameters: Mapping[str, Any], dry_run: bool, outcome: str
    ) -> None:
        self._calls.append(
            RecordedCall(
                action=action,
                vpn_connection_id=vpn_id,
                tunnel_ip=tunnel_ip,
                parameters=parameters,
                dry_run=dry_run,
                outcome=outcome,
                at=datetime.now(UTC),
            )
        )


def _tunnel_addresses(number: int, index: int) -> tuple[str, str]:
    """The ``number``-th tunnel's outside IP and inside CIDR (``index``: its place in the connection).

    The first 240 are TEST-NET-2 (RFC 5737, documentation); an estate beyond that (a benchmark's
    thousands of tunnels) continues in 198.18.0.0/15 (RFC 2544, benchmarking): never routable either."""
    if number < 240:
        octet = 10 + number
        return f"198.51.100.{octet}", f"169.254.{octet}.{4 * index}/30"
    beyond = number - 240
    return f"198.18.{beyond // 250}.{beyond % 250 + 1}", f"169.254.{(beyond // 64) % 256}.{(beyond % 64) * 4}/30"


def _fake_pre_shared_key() -> str:
    # AWS keys: 8-64 characters, letters, digits, periods and underscores, not starting with 0.
    alphabet = string.ascii_letters + string.digits + "._"
    return "Fake" + "".join(secrets.choice(alphabet) for _ in range(28))


def _apply_options(tunnel: dict[str, Any], options: Mapping[str, Any]) -> None:
    """Apply request-spelled options to a read-back-spelled tunnel."""
    for name, value in options.items():
        if name == "PreSharedKey" and value:
            tunnel["PreSharedKey"] = value
        elif name in _LIST_OPTIONS:
            tunnel[_READ_BACK_NAMES.get(name, name)] = [{"Value": _list_value(item)} for item in value or ()]
        elif name in _SCALAR_OPTIONS:
            tunnel[_READ_BACK_NAMES.get(name, name)] = value
        elif name == "LogOptions":
            cloudwatch = dict((value or {}).get("CloudWatchLogOptions") or {})
            current = tunnel.setdefault("LogOptions", {}).setdefault("CloudWatchLogOptions", {})
            current.update(cloudwatch)


def _list_value(item: Any) -> Any:
    return item.get("Value") if isinstance(item, Mapping) else item


def _validate(options: Mapping[str, Any]) -> None:
    for name, (low, high) in _RANGES.items():
        value = options.get(name)
        if value is not None and not low <= int(value) <= high:
            raise _ec2_error("InvalidParameterValue", f"{name} must be between {low} and {high}, not {value}")
    for name in ("DPDTimeoutAction", "StartupAction"):
        value = options.get(name)
        if value is not None and value not in _CHOICES[name]:
            raise _ec2_error("InvalidParameterValue", f"Invalid value '{value}' for {name}")
    cloudwatch = (options.get("LogOptions") or {}).get("CloudWatchLogOptions") or {}
    for name in ("LogOutputFormat", "BgpLogOutputFormat"):
        value = cloudwatch.get(name)
        if value is not None and value not in _CHOICES["LogOutputFormat"]:
            raise _ec2_error("InvalidParameterValue", f"Invalid value '{value}' for {name}")
    if cloudwatch.get("LogEnabled") and not cloudwatch.get("LogGroupArn"):
        raise _ec2_error("InvalidParameterValue", "LogGroupArn is required when LogEnabled is true")


def _require_available(connection: Any) -> None:
    if connection.state != "available":
        raise _ec2_error(
            "IncorrectState",
            f"The VPN connection {connection.id} is in state '{connection.state}' and cannot be modified",
        )


def _redacted(options: Mapping[str, Any]) -> dict[str, Any]:
    """The request as the audit trail may show it: the pre-shared key never leaves the emulator."""
    parameters = copy.deepcopy(dict(options))
    if "PreSharedKey" in parameters:
        parameters["PreSharedKey"] = _REDACTED
    return parameters


def _ec2_error(code: str, message: str) -> Exception:
    return EC2ClientError(code, message)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "code", None) or type(exc).__name__)
