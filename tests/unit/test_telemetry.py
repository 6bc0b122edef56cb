"""The poller turns VgwTelemetry into state changes only when a tunnel's status really changed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vpn_doctor.incidents import TunnelRecord
from vpn_doctor.models import StateSource, TunnelState
from vpn_doctor.routes import RouteObservation
from vpn_doctor.telemetry import routes_observation, telemetry_changes
from vpn_doctor.vpn import VpnConnectionInfo, connection_from_api

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "ec2-describe-vpn-connections.json"
NOW = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
VPN = "vpn-0a1b2c3d4e5f60718"
T1, T2 = "198.51.100.10", "203.0.113.20"


def _connection(**statuses: str) -> VpnConnectionInfo:
    item: dict[str, Any] = json.loads(FIXTURE.read_text())["VpnConnections"][0]
    for entry in item["VgwTelemetry"]:
        entry["LastStatusChange"] = datetime.fromisoformat(entry["LastStatusChange"].replace("Z", "+00:00"))
        entry["Status"] = statuses.get(entry["OutsideIpAddress"].replace(".", "_"), entry["Status"])
    return connection_from_api(item)


def test_first_poll_reports_every_tunnel_with_its_last_status_change() -> None:
    changes = telemetry_changes(_connection(), {}, now=NOW)
    assert [(c.tunnel_ip, c.state) for c in changes] == [(T1, TunnelState.DOWN), (T2, TunnelState.UP)]
    down = changes[0]
    assert down.source is StateSource.TELEMETRY_POLL
    assert down.observed_at == datetime(2026, 11, 26, 22, 58, 12, tzinfo=UTC)
    assert down.reason == "IPSEC IS DOWN"
    assert down.event_id == f"poll:{VPN}:{T1}:DOWN:2026-11-26T22:58:12Z"


def test_unchanged_status_emits_nothing() -> None:
    records = {T1: TunnelRecord(VPN, T1, TunnelState.DOWN), T2: TunnelRecord(VPN, T2, TunnelState.UP)}
    assert telemetry_changes(_connection(), records, now=NOW) == []


def test_a_status_change_since_the_last_poll_is_reported_once_with_a_stable_event_id() -> None:
    records = {T1: TunnelRecord(VPN, T1, TunnelState.DOWN), T2: TunnelRecord(VPN, T2, TunnelState.UP)}
    first = telemetry_changes(_connection(**{"198_51_100_10": "UP"}), records, now=NOW)
    again = telemetry_changes(_connection(**{"198_51_100_10": "UP"}), records, now=NOW + timedelta(minutes=1))
    assert [(c.tunnel_ip, c.state) for c in first] == [(T1, TunnelState.UP)]
    assert first[0].event_id == again[0].event_id


def test_a_future_last_status_change_is_clamped_to_now() -> None:
    changes = telemetry_changes(_connection(), {}, now=datetime(2026, 11, 26, 21, 0, tzinfo=UTC))
    assert changes[0].observed_at == datetime(2026, 11, 26, 21, 0, tzinfo=UTC)


def test_a_bgp_connection_s_tunnels_report_their_accepted_routes_and_a_static_one_none() -> None:
    bgp = _connection()
    assert [routes_observation(bgp, tunnel) for tunnel in bgp.tunnels] == [
        RouteObservation(up=False, count=0),
        RouteObservation(up=True, count=3),
    ]
    static = replace(bgp, static_routes_only=True)
    assert [routes_observation(static, tunnel) for tunnel in static.tunnels] == [None, None]
    silent = replace(bgp.tunnels[1], telemetry=None)
    assert routes_observation(bgp, silent) is None
