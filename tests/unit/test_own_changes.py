"""Which AWS Health notices vpn-doctor's own changes explain (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vpn_doctor.models import StateSource, TunnelState, TunnelStateChange
from vpn_doctor.own_changes import CLOCK_SLACK, OWN_CHANGE_WINDOW, OwnChange, change_behind, could_be_ours

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
