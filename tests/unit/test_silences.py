"""Silences and maintenance windows: what a silence covers, when it holds, recurring windows' edges."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

import tests.unit.test_remediation as remediation_tests
from handlers.respond_runtime import RespondSettings
from tests.unit.test_app import AUTO, Respond
from vpn_doctor.app.respond import respond_to_transition
from vpn_doctor.app.silences import RELEASED_SUFFIX, released_alert
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_MAINTENANCE_WINDOWS, ENV_REMEDIATION_MODE
from vpn_doctor.models import Alert, RemediationStatus
from vpn_doctor.silences import (
    MAINTENANCE_TAG,
    Scope,
    Silence,
    hold_for,
    new_silence,
    parse_duration,
    parse_windows,
    still_held,
)
from vpn_doctor.vpn import VpnConnectionInfo

NOW = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)  # a Sunday
VPN = "vpn-0a1b2c3d4e5f60718"
ARN = "arn:aws:sts::123456789012:assumed-role/NetOps/alice"


def connection(tags: dict[str, str] | None = None, cgw: str = "cgw-0123456789abcdef0") -> VpnConnectionInfo:
    return VpnConnectionInfo(
        vpn_connection_id=VPN, state="available", tunnels=(), tags=tags or {}, customer_gateway_id=cgw
    )


def silence(scope: Scope, value: str, *, hours: float = 2, gateways: tuple[str, ...] = ()) -> Silence:
    return new_silence(
        scope,
        value,
        duration=timedelta(hours=hours),
        reason="firewall upgrade",
        created_by=ARN,
        now=NOW - timedelta(minutes=30),
        customer_gateway_ids=gateways,
    )


@pytest.mark.parametrize(
    ("made", "covered"),
    [
        (lambda: silence(Scope.VPN, VPN), True),
        (lambda: silence(Scope.VPN, "vpn-0fffffffffffffff0"), False),
        (lambda: silence(Scope.TAG, "site=paris"), True),
        (lambda: silence(Scope.TAG, "site=lyon"), False),
        (lambda: silence(Scope.TAG, "team=paris"), False),
        (lambda: silence(Scope.CGW, "192.0.2.1", gateways=("cgw-0123456789abcdef0",)), True),
        (lambda: silence(Scope.CGW, "192.0.2.2", gateways=("cgw-0fedcba9876543210",)), False),
    ],
    ids=["vpn", "other vpn", "tag", "tag other value", "other key", "cgw", "other cgw"],
)
def test_a_silence_holds_the_connections_it_names_by_id_tag_or_customer_gateway(made: object, covered: bool) -> None:
    target = connection({"site": "paris"})
    hold = hold_for(VPN, target, [made()], now=NOW)  # type: ignore[operator]
    assert (hold is not None) is covered
    if hold is not None:
        assert hold.reason == f"silenced by {ARN}: firewall upgrade"
        assert hold.until == NOW + timedelta(hours=1, minutes=30)
        assert hold.held_at == NOW


def test_without_the_connection_only_a_silence_by_id_can_hold() -> None:
    by_tag, by_id = silence(Scope.TAG, "site=paris"), silence(Scope.VPN, VPN)
    assert hold_for(VPN, None, [by_tag], now=NOW) is None
    assert hold_for(VPN, None, [by_id], now=NOW) is not None


def test_a_silence_holds_until_it_expires_and_no_longer_once_lifted() -> None:
    made = silence(Scope.VPN, VPN, hours=1)
    assert made.active(NOW)
    assert not made.active(made.ends_at)  # expired at its end
    assert hold_for(VPN, connection(), [made], now=made.ends_at) is None
    lifted = made.lifted(by=ARN, at=NOW)
    assert not lifted.active(NOW)
    assert lifted.ended_at == NOW
    assert lifted.ends_at == made.ends_at  # the audit keeps what was asked
    held = hold_for(VPN, connection(), [made], now=NOW)
    assert held is not None
    assert still_held(held, [made], now=NOW)
    assert not still_held(held, [lifted], now=NOW)
    assert not still_held(held, [], now=NOW)  # expired and gone from the query


def test_the_longest_of_several_covering_silences_holds() -> None:
    short, long = silence(Scope.VPN, VPN, hours=1), silence(Scope.TAG, "site=paris", hours=5)
    hold = hold_for(VPN, connection({"site": "paris"}), [short, long], now=NOW)
    assert hold is not None
    assert hold.silence_id == long.silence_id


@pytest.mark.parametrize(
    ("window", "moment", "until"),
    [
        ("SUN 02:00-04:00 UTC", datetime(2026, 12, 6, 2, 0, tzinfo=UTC), datetime(2026, 12, 6, 4, 0, tzinfo=UTC)),
        ("SUN 02:00-04:00 UTC", datetime(2026, 12, 6, 3, 59, tzinfo=UTC), datetime(2026, 12, 6, 4, 0, tzinfo=UTC)),
        ("SUN 02:00-04:00 UTC", datetime(2026, 12, 6, 4, 0, tzinfo=UTC), None),  # closed at its end
        ("SUN 02:00-04:00 UTC", datetime(2026, 12, 7, 2, 30, tzinfo=UTC), None),  # a Monday
        ("02:00-04:00", datetime(2026, 12, 9, 2, 30, tzinfo=UTC), datetime(2026, 12, 9, 4, 0, tzinfo=UTC)),  # daily
        # Across midnight: belongs to the day it opens on.
        ("sat 23:00-01:00", datetime(2026, 12, 5, 23, 30, tzinfo=UTC), datetime(2026, 12, 6, 1, 0, tzinfo=UTC)),
        ("sat 23:00-01:00", datetime(2026, 12, 6, 0, 30, tzinfo=UTC), datetime(2026, 12, 6, 1, 0, tzinfo=UTC)),
        ("sat 23:00-01:00", datetime(2026, 12, 6, 23, 30, tzinfo=UTC), None),  # Sunday evening is not Saturday's
        # Across the week's end: Sunday night into Monday.
        ("sun 22:00-03:00", datetime(2026, 12, 7, 2, 59, tzinfo=UTC), datetime(2026, 12, 7, 3, 0, tzinfo=UTC)),
        ("sun 22:00-03:00", datetime(2026, 12, 8, 1, 0, tzinfo=UTC), None),  # Monday night into Tuesday
    ],
)
def test_a_maintenance_tag_holds_inside_its_recurring_window_until_it_closes(
    window: str, moment: datetime, until: datetime | None
) -> None:
    hold = hold_for(VPN, connection({MAINTENANCE_TAG: window}), [], now=moment)
    assert (hold.until if hold else None) == until
    if hold is not None:
        assert hold.silence_id is None
        assert MAINTENANCE_TAG in hold.reason
        assert still_held(hold, [], now=until - timedelta(seconds=1))  # type: ignore[operator]
        assert not still_held(hold, [], now=until)  # type: ignore[arg-type]


def test_a_malformed_maintenance_tag_holds_nothing() -> None:
    assert hold_for(VPN, connection({MAINTENANCE_TAG: "sundays at 2"}), [], now=NOW) is None


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("2h", timedelta(hours=2)),
        ("90m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
    ],
)
def test_durations_are_days_hours_minutes(text: str, length: timedelta) -> None:
    assert parse_duration(text) == length


@pytest.mark.parametrize("text", ["", "2", "2 hours", "h", "-1h"])
def test_a_bad_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not like 2h"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("scope", "value", "length", "reason", "error"),
    [
        (Scope.VPN, VPN, timedelta(0), "x", "more than 0"),
        (Scope.VPN, VPN, timedelta(days=31), "x", "at most 30 days"),
        (Scope.VPN, VPN, timedelta(hours=1), " ", "needs a reason"),
        (Scope.VPN, "Branch-1", timedelta(hours=1), "x", "not a VPN connection id"),
        (Scope.TAG, "=x", timedelta(hours=1), "x", "not KEY=VALUE"),
        (Scope.CGW, "192.0.2.9", timedelta(hours=1), "x", "no customer gateway has the IP"),
    ],
)
def test_a_silence_that_cannot_work_is_refused_with_the_reason(
    scope: Scope, value: str, length: timedelta, reason: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        new_silence(scope, value, duration=length, reason=reason, created_by=ARN, now=NOW)


@dataclass
class Silences:
    """The stored silences, or a refusal."""

    stored: list[Silence]
    refuse: bool = False

    def silences(self, *, ended_after: datetime | None = None) -> list[Silence]:
        if self.refuse:
            raise AwsCallFailed("Query", "ProvisionedThroughputExceededException", "slow down")
        return self.stored


@pytest.mark.parametrize("refused", [False, True], ids=["silences read", "silences unreadable"])
def test_respond_holds_a_silenced_connections_alert_and_changes_nothing(refused: bool) -> None:
    fakes = Respond()
    the_silence = new_silence(
        Scope.VPN,
        remediation_tests.VPN,
        duration=timedelta(hours=2),
        reason="upgrade",
        created_by=ARN,
        now=remediation_tests.NOW - timedelta(minutes=5),
    )
    ports = replace(fakes.ports(), silences=Silences([the_silence], refuse=refused))
    response = respond_to_transition(remediation_tests.transition(), ports, config=AUTO, now=remediation_tests.NOW)
    assert response.alert is not None
    if refused:  # a page too many rather than a silenced outage nobody hears of
        assert response.alert.held is None
        assert fakes.modifier.calls
    else:
        assert response.alert.held is not None
        assert response.alert.held.silence_id == the_silence.silence_id
        assert response.outcome.status is RemediationStatus.BLOCKED
        assert fakes.modifier.calls == []


def test_the_release_says_until_when_it_was_really_held() -> None:
    # A silence lifted early held until its lift, not its planned expiry; a maintenance window until it closed.
    made = silence(Scope.VPN, VPN, hours=2)
    held = hold_for(VPN, connection(), [made], now=NOW)
    assert held is not None
    alert = Alert(transition=remediation_tests.transition(), held=held)
    lifted = made.lifted(by=ARN, at=NOW + timedelta(minutes=10))
    released = released_alert(alert, [lifted])
    assert released.held is None
    assert released.released_from == replace(held, until=NOW + timedelta(minutes=10))
    assert released.transition.event_id == alert.transition.event_id + RELEASED_SUFFIX
    assert released_alert(alert, []).released_from == held  # expired and gone from the query: its expiry
    window = hold_for(VPN, connection({MAINTENANCE_TAG: "SUN 02:00-04:00"}), [], now=NOW)
    assert window is not None
    assert released_alert(replace(alert, held=window), [lifted]).released_from == window


def test_configured_windows_select_by_id_tag_or_star_and_hold_like_the_tag() -> None:
    windows = parse_windows(
        {
            "*": "SUN 02:00-03:00 UTC",
            "site=paris": ["sun 01:00-05:00", "wed 12:00-13:00"],
            VPN: "02:00-02:45",
            "vpn-0fffffffffffffff0": "00:00-23:00",
        }
    )
    # Every window open at NOW (Sunday 02:30) that names the connection; the hold lasts until the last one closes.
    hold = hold_for(VPN, connection({"site": "paris"}), [], now=NOW, windows=windows)
    assert hold is not None
    assert hold.until == datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    assert hold.reason == "maintenance window sun 01:00-05:00 UTC (maintenance_windows site=paris)"
    assert hold.silence_id is None
    assert still_held(hold, [], now=hold.until - timedelta(seconds=1))
    other_site = hold_for(VPN, connection({"site": "lyon"}), [], now=NOW, windows=windows)
    assert other_site is not None
    assert other_site.until == datetime(2026, 12, 6, 3, 0, tzinfo=UTC)  # "*" outlasts the connection's own
    # Without the connection read, selectors by id and * still hold; a tag selector cannot.
    unread = hold_for(VPN, None, [], now=NOW, windows={"site=paris": windows["site=paris"]})
    assert unread is None
    assert hold_for(VPN, None, [], now=NOW, windows={VPN: windows[VPN]}) is not None
    # The tag's window and the configured ones together: the later closing one holds.
    tagged = hold_for(VPN, connection({MAINTENANCE_TAG: "sun 02:00-06:00"}), [], now=NOW, windows=windows)
    assert tagged is not None
    assert tagged.until == datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
    assert f"({MAINTENANCE_TAG} tag)" in tagged.reason
    # Outside every window: nothing holds; a silence still takes precedence inside one.
    assert hold_for(VPN, connection({"site": "paris"}), [], now=NOW + timedelta(hours=3), windows=windows) is None
    silenced = hold_for(VPN, connection(), [silence(Scope.VPN, VPN)], now=NOW, windows=windows)
    assert silenced is not None
    assert silenced.silence_id is not None


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"paris": "sun 02:00-04:00"}, "'paris': not a VPN connection id (vpn-...), a tag KEY=VALUE or *"),
        ({"=paris": "sun 02:00-04:00"}, "'=paris': not a VPN connection id"),
        ({"*": "sundays"}, "*: maintenance window 'sundays' is not like"),
        ({"*": ["sun 02:00-04:00", 5]}, "*: expected a window like 'SUN 02:00-04:00 UTC' or a list of them"),
        ({"*": "sun 02:00-02:00"}, "*: a maintenance window needs different start and end times"),
        (["*"], "expected an object mapping a VPN id, KEY=VALUE or * to windows"),
    ],
)
def test_a_bad_configured_window_is_refused_naming_its_selector(document: object, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_windows(document)


def test_respond_holds_an_alert_inside_a_configured_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # The function's settings read the stack's JSON with the same parser; respond holds and changes nothing.
    monkeypatch.setenv(ENV_MAINTENANCE_WINDOWS, json.dumps({remediation_tests.VPN: "00:00-23:59"}))
    monkeypatch.setenv(ENV_EVENT_BUS_NAME, "vpn-doctor")
    monkeypatch.setenv(ENV_REMEDIATION_MODE, "off")
    config = replace(RespondSettings.model_validate(dict(os.environ)).config(), policy=AUTO.policy)
    fakes = Respond()
    response = respond_to_transition(
        remediation_tests.transition(), fakes.ports(), config=config, now=remediation_tests.NOW
    )
    assert response.alert is not None
    assert response.alert.held is not None
    assert response.alert.held.reason == f"maintenance window 00:00-23:59 UTC (maintenance_windows {VPN})"
    assert response.outcome.status is RemediationStatus.BLOCKED
    assert fakes.modifier.calls == []
    monkeypatch.setenv(ENV_MAINTENANCE_WINDOWS, json.dumps({"*": "someday"}))
    with pytest.raises(ValueError, match=re.escape("*: maintenance window 'someday' is not like")):
        RespondSettings.model_validate(dict(os.environ))
