"""Poller logic (pure): ``VgwTelemetry`` against the last stored state -> state changes.

AWS sends no tunnel-state events for virtual-private-gateway VPNs: the poller reads
``DescribeVpnConnections`` every minute and emits a :class:`TunnelStateChange` whenever a tunnel's
status differs from what vpn-doctor last stored for it. Event ids are derived from the telemetry
(status + ``LastStatusChange``), so polling the same status twice is the same event (no second
transition), and a stale poll is ignored by the incident rules' timestamp ordering.

Traffic (no traffic, one-way traffic, static-routing asymmetry) is judged by :mod:`vpn_doctor.traffic`;
the accepted BGP routes of each tunnel (:func:`routes_observation`) by :mod:`vpn_doctor.routes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from vpn_doctor.incidents import TunnelRecord
from vpn_doctor.models import StateSource, TunnelState, TunnelStateChange, iso
from vpn_doctor.routes import RouteObservation
from vpn_doctor.vpn import TunnelConfig, VpnConnectionInfo


def routes_observation(connection: VpnConnectionInfo, tunnel: TunnelConfig) -> RouteObservation | None:
    """What the telemetry says of a tunnel's accepted routes; ``None`` for a connection with static routing
    (no BGP, so no routes accepted) or a tunnel without telemetry. Routes are judged only while the tunnel is
    UP: for a BGP connection AWS counts a tunnel UP only with BGP established (the ``TunnelState`` metric: "For
    BGP VPNs, 1 indicates ESTABLISHED and 0 is used for all other states",
    https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-cloudwatch-vpn.html); should the telemetry say UP
    with BGP down, the count is zero and the routes-lost rule's hold applies to it."""
    telemetry = tunnel.telemetry
    if connection.static_routes_only or telemetry is None:
        return None
    return RouteObservation(up=telemetry.status is TunnelState.UP, count=telemetry.accepted_route_count)


def telemetry_changes(
    connection: VpnConnectionInfo, records: Mapping[str, TunnelRecord], *, now: datetime
) -> list[TunnelStateChange]:
    """One change per tunnel whose telemetry status differs from its stored state (keyed by outside IP)."""
    changes: list[TunnelStateChange] = []
    for tunnel in connection.tunnels:
        telemetry = tunnel.telemetry
        if telemetry is None or telemetry.status is TunnelState.UNKNOWN:
            continue
        record = records.get(tunnel.outside_ip)
        if record is not None and record.last_state is telemetry.status:
            continue
        observed = telemetry.last_status_change or now
        observed = min(observed, now)  # clocks disagree: never record a change in the future
        stamp = iso(telemetry.last_status_change) or iso(now.replace(second=0, microsecond=0))
        changes.append(
            TunnelStateChange(
                vpn_connection_id=connection.vpn_connection_id,
                tunnel_ip=tunnel.outside_ip,
                state=telemetry.status,
                source=StateSource.TELEMETRY_POLL,
                observed_at=observed,
                event_id=f"poll:{connection.vpn_connection_id}:{tunnel.outside_ip}:{telemetry.status.value}:{stamp}",
                reason=telemetry.status_message or f"telemetry status {telemetry.status.value}",
                status_message=telemetry.status_message,
                details={"accepted_route_count": str(telemetry.accepted_route_count)}
                if telemetry.accepted_route_count is not None
                else {},
            )
        )
    return changes
