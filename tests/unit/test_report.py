"""The report's rules: availability from the store's records, unknown before the first evidence, the roll-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vpn_doctor.models import Incident, IncidentStatus, TunnelState
from vpn_doctor.report import (
    Availability,
    Change,
    TunnelHistory,
    build_report,
    incident_lines,
    render_text,
    report_to_dict,
)
from vpn_doctor.taxonomy import Category, Cause, Severity

START = datetime(2026, 11, 23, tzinfo=UTC)
END = START + timedelta(days=7)
HORIZON = END - timedelta(days=90)
VPN = "vpn-0123456789abcdef0"
IP1, IP2 = "203.0.113.10", "203.0.113.20"


def incident(
    ip: str,
    opened: timedelta,
    lasted: timedelta | None,
    *,
    vpn: str = VPN,
    cause: Cause | None = Cause.PSK_MISMATCH,
    flips: int = 0,
    status: IncidentStatus | None = None,
    incident_id: str | None = None,
) -> Incident:
    opened_at = START + opened
    resolved_at = None if lasted is None else opened_at + lasted
    return Incident(
        incident_id=incident_id or f"inc-{vpn}-{ip}-{int(opened.total_seconds())}",
        vpn_connection_id=vpn,
        tunnel_ip=ip,
        status=status or (IncidentStatus.OPEN if lasted is None else IncidentStatus.RESOLVED),
        category=Category.IKE_PHASE1_FAILURE,
        cause=cause,
        severity=Severity.CRITICAL,
        summary="IKE fails",
        opened_at=opened_at,
        updated_at=opened_at,
        resolved_at=resolved_at,
        state_flips=tuple(opened_at + timedelta(minutes=n) for n in range(flips)),
    )


def up_since(ip: str, since: datetime, *incidents: Incident, vpn: str = VPN) -> TunnelHistory:
    return TunnelHistory(vpn, ip, incidents, TunnelState.UP, since)


def report(histories: list[TunnelHistory], changes: list[Change] | None = None):  # type: ignore[no-untyped-def]
    return build_report(histories, changes or [], start=START, end=END, horizon=HORIZON, flap_transitions=4)


def test_a_tunnel_is_unknown_before_its_first_evidence_and_never_counted_as_up() -> None:
    first = START + timedelta(days=3)
    result = report([up_since(IP1, first), up_since(IP2, first)])
    (connection,) = result.connections
    assert connection.any_up[Availability.UNKNOWN] == timedelta(days=3)
    assert connection.any_up[Availability.UP] == timedelta(days=4)
    assert connection.any_up_ratio == 1.0
    assert connection.timeline[0].state is Availability.UNKNOWN
    assert "unknown 3d 0h" in render_text(result)


def test_nothing_before_the_store_horizon_is_known_even_with_an_old_state() -> None:
    horizon = START + timedelta(days=1)
    result = build_report(
        [up_since(IP1, START - timedelta(days=200))], [], start=START, end=END, horizon=horizon, flap_transitions=4
    )
    assert result.connections[0].any_up[Availability.UNKNOWN] == timedelta(days=1)


def test_both_tunnels_and_at_least_one_tunnel_differ_when_one_tunnel_is_down() -> None:
    long_before = START - timedelta(days=30)
    down = incident(IP1, timedelta(days=1), timedelta(hours=12))
    result = report([up_since(IP1, long_before, down), up_since(IP2, long_before)])
    (connection,) = result.connections
    assert connection.both_up[Availability.DOWN] == timedelta(hours=12)
    assert connection.any_up[Availability.DOWN] == timedelta(0)
    assert connection.both_up_ratio == pytest.approx(1 - 0.5 / 7)
    assert connection.any_up_ratio == 1.0


def test_an_unknown_tunnel_makes_both_tunnels_unknown_but_not_at_least_one_when_the_other_is_up() -> None:
    result = report([up_since(IP1, START - timedelta(days=1)), up_since(IP2, START + timedelta(days=2))])
    (connection,) = result.connections
    assert connection.both_up[Availability.UNKNOWN] == timedelta(days=2)
    assert connection.any_up[Availability.UNKNOWN] == timedelta(0)


def test_a_record_saying_unknown_is_unknown_from_then_on() -> None:
    history = TunnelHistory(VPN, IP1, (), TunnelState.UNKNOWN, START + timedelta(days=5))
    older = incident(IP1, timedelta(days=-10), timedelta(hours=1))
    result = report([TunnelHistory(VPN, IP1, (older,), TunnelState.UNKNOWN, history.state_since)])
    assert result.connections[0].any_up[Availability.UNKNOWN] == timedelta(days=2)
    assert result.connections[0].any_up[Availability.UP] == timedelta(days=5)


def test_incidents_by_cause_and_time_to_recovery_use_the_window() -> None:
    incidents = [
        incident(IP1, timedelta(hours=h), timedelta(minutes=m), cause=c)
        for h, m, c in [(1, 10, Cause.PSK_MISMATCH), (5, 20, Cause.PSK_MISMATCH), (9, 30, None), (30, 90, None)]
    ]
    before = incident(IP1, timedelta(days=-3), timedelta(minutes=5))
    result = report([up_since(IP1, START - timedelta(days=10), before, *incidents)])
    assert result.by_cause == {"psk_mismatch": 2, "ike_phase1_failure": 2}
    assert result.recovery_median == timedelta(minutes=20)
    assert result.recovery_p90 == timedelta(minutes=90)
    assert result.repeat_offenders == {VPN: 4}


def test_flapping_tunnels_are_those_whose_incident_counted_enough_flips() -> None:
    calm = incident(IP1, timedelta(hours=1), timedelta(hours=1), flips=3)
    flapping = incident(IP2, timedelta(hours=1), timedelta(hours=1), flips=4)
    result = report([up_since(IP1, START, calm), up_since(IP2, START, flapping)])
    assert result.flapping == ((VPN, IP2),)


def test_a_connection_with_no_tunnel_up_for_more_than_a_week_is_listed_as_billed() -> None:
    other = "vpn-0fedcba9876543210"
    histories = [
        TunnelHistory(other, IP1, (incident(IP1, timedelta(days=-2), None, vpn=other),), TunnelState.DOWN, START),
        TunnelHistory(other, IP2, (incident(IP2, timedelta(days=-1), None, vpn=other),), TunnelState.DOWN, START),
        up_since(IP1, START - timedelta(days=30)),
    ]
    result = report(histories)
    assert result.long_down == {other: timedelta(days=8)}
    assert "192 connection-hours" in render_text(result)
    assert report_to_dict(result)["down_more_than_a_week"] == {other: 8 * 86400}


def test_a_connection_down_less_than_a_week_is_not_listed() -> None:
    down = incident(IP1, timedelta(days=1), None)
    result = report([TunnelHistory(VPN, IP1, (down,), TunnelState.DOWN, START + timedelta(days=1))])
    assert result.long_down == {}
    assert result.connections[0].down_since == START + timedelta(days=1)


def test_changes_are_joined_by_incident_id_or_by_tunnel_and_time() -> None:
    one = incident(IP1, timedelta(hours=1), timedelta(hours=2), incident_id="inc-1")
    applied = Change(VPN, IP1, START + timedelta(hours=2), "applied", "DPD restart", incident_id="inc-1")
    untied = Change(VPN, IP1, START + timedelta(hours=1, minutes=30), "dry_run", "would restart")
    elsewhere = Change(VPN, IP2, START + timedelta(hours=2), "applied", "other tunnel")
    later = Change(VPN, IP1, START + timedelta(hours=5), "applied", "after the incident")
    (line,) = incident_lines([up_since(IP1, START, one)], [applied, untied, elsewhere, later], since=START)
    assert line.changes == (untied, applied)
    result = report([up_since(IP1, START, one)], [applied, untied, elsewhere, later])
    assert len(result.changes) == 4
    assert "applied" in render_text(result)


def test_a_window_that_does_not_end_after_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="end after"):
        build_report([], [], start=END, end=END, horizon=HORIZON, flap_transitions=4)


def test_an_empty_store_says_so() -> None:
    assert "no connection has any record" in render_text(report([]))
