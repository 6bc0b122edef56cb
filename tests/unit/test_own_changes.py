"""Which AWS Health notices vpn-doctor's own changes explain (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vpn_doctor.models import StateSource, TunnelState, TunnelStateChange
from vpn_doctor.own_changes import (
    CLOCK_SLACK,
    EXPECTED_OUTAGE,
    OWN_CHANGE_WINDOW,
    OwnChange,
    change_behind,
    could_be_ours,
)

VPN, T1, T2 = "vpn-0a1b2c3d4e5f60718", "198.51.100.10", "203.0.113.20"
AT = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def notice(
    tunnel_ip: str | None = T1, *, category: str = "accountNotification", maintenance: bool = True
) -> TunnelStateChange:
    return TunnelStateChange(
        vpn_connection_id=VPN,
        tunnel_ip=tunnel_ip,
        state=TunnelState.UNKNOWN,
        source=StateSource.AWS_HEALTH,
        observed_at=AT,
        event_id="health-1",
        reason="endpoint replaced",
        maintenance=maintenance,
        details={"event_type_category": category},
    )


def change(tunnel_ip: str = T1, before: timedelta = timedelta(minutes=5), ref: str = "a") -> OwnChange:
    return OwnChange(VPN, tunnel_ip, AT - before, "vpn-doctor respond", ref)


def test_only_unscheduled_health_maintenance_notices_can_be_ours() -> None:
    assert could_be_ours(notice())
    assert not could_be_ours(notice(category="scheduledChange"))
    assert not could_be_ours(notice(maintenance=False))


@pytest.mark.parametrize(
    ("before", "ours"),
    [
        (OWN_CHANGE_WINDOW, True),
        (OWN_CHANGE_WINDOW + timedelta(seconds=1), False),
        (-CLOCK_SLACK, True),
        (-CLOCK_SLACK - timedelta(seconds=1), False),
    ],
)
def test_a_change_explains_a_notice_only_within_the_window(before: timedelta, ours: bool) -> None:
    assert (change_behind(notice(), [change(before=before)]) is not None) is ours


def test_a_notice_naming_a_tunnel_is_explained_only_by_a_change_to_that_tunnel() -> None:
    assert change_behind(notice(T1), [change(T2)]) is None
    assert change_behind(notice(None), [change(T2)]) == change(T2)


def test_the_latest_matching_change_is_named() -> None:
    older, newer = change(before=timedelta(minutes=50), ref="old"), change(before=timedelta(minutes=8), ref="new")
    assert change_behind(notice(), [newer, older]) == newer


def down(source: StateSource = StateSource.TELEMETRY_POLL, tunnel_ip: str | None = T1) -> TunnelStateChange:
    return TunnelStateChange(VPN, tunnel_ip, TunnelState.DOWN, source, AT, "poll-1", "IPSEC IS DOWN")


def test_a_down_from_the_poll_an_alarm_or_network_manager_can_be_a_changes_own_outage() -> None:
    for source in (StateSource.TELEMETRY_POLL, StateSource.CLOUDWATCH_ALARM, StateSource.NETWORK_MANAGER):
        assert could_be_ours(down(source))
    assert not could_be_ours(down(tunnel_ip=None))  # a connection-level change names no tunnel of ours
    up = TunnelStateChange(VPN, T1, TunnelState.UP, StateSource.TELEMETRY_POLL, AT, "poll-2", "IPSEC IS UP")
    assert not could_be_ours(up)


@pytest.mark.parametrize(
    ("before", "ours"),
    [
        (timedelta(minutes=1), True),
        (EXPECTED_OUTAGE, True),
        (EXPECTED_OUTAGE + timedelta(seconds=1), False),  # went down long after the change: not its outage
        (-CLOCK_SLACK, True),
    ],
)
def test_a_down_is_the_outage_of_a_change_made_shortly_before_it(before: timedelta, ours: bool) -> None:
    assert (change_behind(down(), [change(before=before)]) is not None) is ours


def test_a_tunnel_still_down_when_the_expected_outage_is_over_is_no_longer_excused() -> None:
    made = change(before=timedelta(minutes=2))
    assert change_behind(down(), [made], now=AT + timedelta(minutes=20)) == made
    assert change_behind(down(), [made], now=made.changed_at + EXPECTED_OUTAGE + timedelta(seconds=1)) is None


def test_a_down_of_the_other_tunnel_is_not_excused_by_a_change_to_this_one() -> None:
    assert change_behind(down(tunnel_ip=T2), [change(T1)]) is None
