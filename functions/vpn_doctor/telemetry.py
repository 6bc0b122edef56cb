"""Poller logic (pure): ``VgwTelemetry`` against the last stored state -> state changes; silence.

AWS sends no tunnel-state events for virtual-private-gateway VPNs: the poller reads
``DescribeVpnConnections`` every minute and emits a :class:`TunnelStateChange` whenever a tunnel's
status differs from what vpn-doctor last stored for it. Event ids are derived from the telemetry
(status + ``LastStatusChange``), so polling the same status twice is the same event (no second
transition), and a stale poll is ignored by the incident rules' timestamp ordering.

Silence: a tunnel that stays UP while no byte crossed it for ``quiet`` is at risk of an idle
timeout; :func:`silent_tunnels` reports it as an UP change marked ``details["silent"] = "true"``
(published for people and dashboards; it does not open an incident by itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from vpn_doctor.diagnosis import TunnelTraffic
from vpn_doctor.incidents import TunnelRecord
from vpn_doctor.models import StateSource, TunnelState, TunnelStateChange, iso
from vpn_doctor.vpn import VpnConnectionInfo


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


def silent_tunnels(
    connection: VpnConnectionInfo,
    traffic: Mapping[str, TunnelTraffic],
    *,
    quiet: timedelta,
    now: datetime,
) -> list[TunnelStateChange]:
    """UP tunnels with no data in either direction over the observed window (at least ``quiet`` long)."""
    silent: list[TunnelStateChange] = []
    for tunnel in connection.tunnels:
        observed = traffic.get(tunnel.outside_ip)
        telemetry = tunnel.telemetry
        if observed is None or telemetry is None or telemetry.status is not TunnelState.UP or not observed.idle:
            continue
        if observed.minutes < int(quiet.total_seconds() // 60):
            continue
        bucket = int(now.timestamp() // max(quiet.total_seconds(), 60))
        silent.append(
            TunnelStateChange(
                vpn_connection_id=connection.vpn_connection_id,
                tunnel_ip=tunnel.outside_ip,
                state=TunnelState.UP,
                source=StateSource.TELEMETRY_POLL,
                observed_at=now,
                event_id=f"silence:{connection.vpn_connection_id}:{tunnel.outside_ip}:{bucket}",
                reason=f"Tunnel UP but no data in either direction for {observed.minutes} minutes: "
                "at risk of an idle timeout",
                status_message=telemetry.status_message,
                details={"silent": "true", "quiet_minutes": str(observed.minutes)},
            )
        )
    return silent
