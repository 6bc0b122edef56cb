"""Traffic-aware detection: no traffic per connection, one-way traffic (ESP blocked or not), static asymmetry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.test_incidents import MemoryStore
from vpn_doctor.constants import CONNECTION_SCOPE
from vpn_doctor.diagnosis import TunnelTraffic, diagnose
from vpn_doctor.incidents import IncidentService
from vpn_doctor.models import CheckStatus, Source, TunnelState
from vpn_doctor.playbook import next_steps
from vpn_doctor.render.common import where
from vpn_doctor.taxonomy import Category, Cause
from vpn_doctor.traffic import traffic_findings
from vpn_doctor.vpn import TunnelConfig, TunnelTelemetry, VpnConnectionInfo

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
VPN = "vpn-0a1b2c3d4e5f60718"
T1, T2 = "198.51.100.10", "203.0.113.20"
LONG_AGO = NOW - timedelta(hours=3)
ZEROS = (0.0,) * 6


def connection(
    *, static: bool = False, t1: str = "UP", t2: str = "UP", since: datetime = LONG_AGO
) -> VpnConnectionInfo:
    def tunnel(ip: str, status: str) -> TunnelConfig:
        return TunnelConfig(ip, telemetry=TunnelTelemetry(TunnelState(status), last_status_change=since))

    return VpnConnectionInfo(VPN, "available", (tunnel(T1, t1), tunnel(T2, t2)), static_routes_only=static)


def flows(**tunnels: tuple[tuple[float, ...], tuple[float, ...]]) -> dict[str, TunnelTraffic]:
    ips = {"t1": T1, "t2": T2}
    return {ips[name]: TunnelTraffic(bytes_in, bytes_out) for name, (bytes_in, bytes_out) in tunnels.items()}


def never_asked() -> bool | None:
    pytest.fail("NAT-T is read only for one-way traffic")


def judge(
    vpn: VpnConnectionInfo, traffic: dict[str, TunnelTraffic], nat_t: bool | None = None
) -> list[tuple[Category, Cause | None]]:
    found = traffic_findings(vpn, traffic, window=WINDOW, now=NOW, nat_t=lambda: nat_t)
    return [(finding.category, finding.cause) for finding in found]


def test_a_connection_with_zero_bytes_both_ways_on_every_up_tunnel_has_no_traffic() -> None:
    [finding] = traffic_findings(
        connection(), flows(t1=(ZEROS, ZEROS), t2=(ZEROS, ZEROS)), window=WINDOW, now=NOW, nat_t=never_asked
    )
    assert (finding.category, finding.cause) == (Category.IDLE_TIMEOUT, Cause.NO_TRAFFIC)
    assert (finding.vpn_connection_id, finding.tunnel_ip) == (VPN, CONNECTION_SCOPE)
    assert "30 minutes" in finding.summary
    assert finding.event.source is Source.AWS_METRICS
    assert "keep traffic flowing" in " ".join(next_steps(finding.category, finding.cause)).lower()


def test_a_standby_tunnel_with_zero_bytes_is_not_no_traffic_while_its_sibling_carries_data() -> None:
    busy = ((10.0,) * 6, (20.0,) * 6)
    assert judge(connection(), flows(t1=busy, t2=(ZEROS, ZEROS))) == []


def test_a_missing_datapoint_is_no_data_never_no_traffic() -> None:
    gap = (0.0,) * 4  # two periods without a datapoint
    assert judge(connection(), flows(t1=(ZEROS, ZEROS), t2=(gap, ZEROS))) == []
    assert judge(connection(), flows(t1=((), ()), t2=((), ()))) == []
    assert judge(connection(), flows(t1=(ZEROS, ZEROS))) == []  # an UP tunnel not read at all


def test_a_down_tunnel_is_left_out_and_a_tunnel_up_for_less_than_the_window_is_not_judged() -> None:
    assert judge(connection(t2="DOWN"), flows(t1=(ZEROS, ZEROS))) == [(Category.IDLE_TIMEOUT, Cause.NO_TRAFFIC)]
    assert judge(connection(since=NOW - timedelta(minutes=10)), flows(t1=(ZEROS, ZEROS), t2=(ZEROS, ZEROS))) == []
    # A failover 10 minutes ago: the tunnel that took over carries the traffic, the old one is idle now.
    failover = replace(
        connection(),
        tunnels=(
            connection().tunnels[0],
            TunnelConfig(T2, telemetry=TunnelTelemetry(TunnelState.UP, last_status_change=NOW - timedelta(minutes=10))),
        ),
    )
    assert judge(failover, flows(t1=(ZEROS, ZEROS), t2=((900.0,) * 2, (900.0,) * 2))) == []


def test_static_routing_with_traffic_out_on_one_tunnel_and_back_on_the_other_is_asymmetry() -> None:
    out_only, in_only = (ZEROS, (500.0,) * 6), ((700.0,) * 6, ZEROS)
    [finding] = traffic_findings(
        connection(static=True), flows(t1=out_only, t2=in_only), window=WINDOW, now=NOW, nat_t=never_asked
    )
    assert (finding.category, finding.cause) == (Category.STATIC_ROUTING_ASYMMETRY, Cause.BOTH_TUNNELS_UP_STATIC)
    assert (T1 in finding.summary, T2 in finding.summary) == (True, True)
    assert any("BGP" in step for step in next_steps(finding.category, finding.cause))


def test_the_same_split_on_a_bgp_connection_is_neither_asymmetry_nor_one_way() -> None:
    out_only, in_only = (ZEROS, (500.0,) * 6), ((700.0,) * 6, ZEROS)
    assert judge(connection(static=False), flows(t1=out_only, t2=in_only)) == []


def test_one_way_traffic_without_nat_t_is_esp_blocked_with_the_firewall_advice() -> None:
    out_only = (ZEROS, (500.0,) * 6)
    [finding] = traffic_findings(connection(t2="DOWN"), flows(t1=out_only), window=WINDOW, now=NOW, nat_t=lambda: False)
    assert (finding.category, finding.cause) == (Category.CGW_NETWORK, Cause.ESP_BLOCKED)
    assert "from AWS to the customer gateway" in finding.summary
    advice = " ".join(next_steps(finding.category, finding.cause))
    assert ("IP protocol 50" in advice, "UDP 500" in advice) == (True, True)


def test_one_way_traffic_with_nat_t_lists_the_other_causes_and_unknown_nat_t_says_so() -> None:
    in_only = ((700.0,) * 6, ZEROS)
    assert judge(connection(t2="DOWN"), flows(t1=in_only), nat_t=True) == [
        (Category.CGW_NETWORK, Cause.ONE_WAY_TRAFFIC)
    ]
    advice = " ".join(next_steps(Category.CGW_NETWORK, Cause.ONE_WAY_TRAFFIC))
    assert ("security groups" in advice, "routing" in advice) == (True, True)
    [unknown] = traffic_findings(connection(t2="DOWN"), flows(t1=in_only), window=WINDOW, now=NOW, nat_t=lambda: None)
    assert unknown.cause is Cause.ONE_WAY_TRAFFIC
    assert "NAT-T unknown" in unknown.summary


def test_one_way_on_a_tunnel_whose_sibling_carries_the_reverse_is_not_loss() -> None:
    out_only, both = (ZEROS, (500.0,) * 6), ((700.0,) * 6, (10.0,) * 6)
    assert judge(connection(), flows(t1=out_only, t2=both), nat_t=False) == []


def test_bytes_seen_with_a_gap_still_count_as_traffic() -> None:
    gap_with_bytes = ((900.0, 0.0), ZEROS)  # bytes crossed: a gap elsewhere does not hide them
    assert judge(connection(t2="DOWN"), flows(t1=gap_with_bytes), nat_t=True) == [
        (Category.CGW_NETWORK, Cause.ONE_WAY_TRAFFIC)
    ]


def test_a_connection_level_incident_is_named_all_tunnels_and_its_diagnosis_does_not_call_a_tunnel_missing() -> None:
    [finding] = traffic_findings(
        connection(), flows(t1=(ZEROS, ZEROS), t2=(ZEROS, ZEROS)), window=WINDOW, now=NOW, nat_t=never_asked
    )
    [opened] = IncidentService(MemoryStore()).on_finding(finding, event_id="traffic-read-1", now=NOW)
    diagnosis = diagnose(opened.incident, connection(), now=NOW)
    [check] = [check for check in diagnosis.checks if check.check_id == "connection"]
    assert check.status is CheckStatus.PASS
    assert "connection-level" in check.reason
    assert where(opened.incident.tunnel_ip) == "all tunnels"
    assert where(T1) == f"tunnel {T1}"
