"""On-boarding: the plan per connection (one tunnel at a time, sibling UP long enough, window, scope) and whole runs
of the use case against an in-memory EC2 and store, until every tunnel logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpn_doctor.app.incidents import Monitoring
from vpn_doctor.app.onboard import OnboardPorts, onboard, status
from vpn_doctor.constants import LOGGING_TAG, MONITOR_TAG, LoggingScope, MonitorScope
from vpn_doctor.models import RemediationStatus, TunnelState
from vpn_doctor.onboarding import (
    ConnectionProgress,
    InFlight,
    MaintenanceWindow,
    OnboardingPolicy,
    ProgressStatus,
    Step,
    TunnelPlan,
    TunnelProgress,
    plan_connection,
)
from vpn_doctor.remediation import Change, Execution
from vpn_doctor.vpn import TunnelConfig, TunnelLogging, TunnelTelemetry, VpnConnectionInfo

VPN = "vpn-0a1b2c3d4e5f60718"
IP1, IP2 = "198.51.100.10", "203.0.113.20"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday
GROUP = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/vendedlogs/vpn-doctor/tunnels"
OTHER = "arn:aws:logs:eu-west-1:111122223333:log-group:/team/siem"
POLICY = OnboardingPolicy(log_group_arn=GROUP)
NO_PROGRESS = ConnectionProgress()


LOGGING_OFF = TunnelLogging()


def tunnel(
    ip: str,
    status: TunnelState = TunnelState.UP,
    since: timedelta = timedelta(hours=3),
    logging: TunnelLogging = LOGGING_OFF,
) -> TunnelConfig:
    return TunnelConfig(
        outside_ip=ip,
        logging=logging,
        telemetry=TunnelTelemetry(status=status, last_status_change=NOW - since),
    )


def connection(
    *tunnels: TunnelConfig, state: str = "available", static: bool = False, tags: Mapping[str, str] | None = None
) -> VpnConnectionInfo:
    return VpnConnectionInfo(
        vpn_connection_id=VPN,
        state=state,
        tunnels=tunnels or (tunnel(IP1), tunnel(IP2)),
        static_routes_only=static,
        tags=dict(tags or {}),
    )


def steps(plans: Sequence[TunnelPlan]) -> dict[str, Step]:
    return {plan.tunnel_ip: plan.step for plan in plans}


LOGGING_HERE = TunnelLogging(enabled=True, log_group_arn=GROUP, bgp_enabled=True, bgp_log_group_arn=GROUP)
TUNNEL_LOGS_ONLY = TunnelLogging(enabled=True, log_group_arn=GROUP)


# --- the plan ------------------------------------------------------------------------------------


def test_a_bgp_connection_gets_tunnel_and_bgp_logs_switched_on_one_tunnel_first() -> None:
    plans = plan_connection(connection(), NO_PROGRESS, POLICY, NOW)
    assert steps(plans) == {IP1: Step.CHANGE, IP2: Step.BLOCKED}
    assert dict(plans[0].options) == {
        "LogEnabled": True,
        "LogGroupArn": GROUP,
        "LogOutputFormat": "json",
        "BgpLogEnabled": True,
        "BgpLogGroupArn": GROUP,
        "BgpLogOutputFormat": "json",
    }
    assert "one tunnel at a time" in plans[1].reason


def test_a_static_connection_gets_tunnel_logs_only_and_keeps_its_bgp_settings_untouched() -> None:
    plans = plan_connection(connection(static=True), NO_PROGRESS, POLICY, NOW)
    assert dict(plans[0].options) == {"LogEnabled": True, "LogGroupArn": GROUP, "LogOutputFormat": "json"}
    no_bgp = plan_connection(connection(), NO_PROGRESS, replace(POLICY, bgp=False), NOW)
    assert "BgpLogEnabled" not in no_bgp[0].options


def test_tunnels_already_logging_to_the_group_are_left_alone() -> None:
    plans = plan_connection(
        connection(tunnel(IP1, logging=LOGGING_HERE), tunnel(IP2, logging=LOGGING_HERE)), NO_PROGRESS, POLICY, NOW
    )
    assert steps(plans) == {IP1: Step.LOGGING, IP2: Step.LOGGING}


def test_missing_bgp_logs_on_a_bgp_connection_are_a_gap() -> None:
    plans = plan_connection(
        connection(tunnel(IP1, logging=TUNNEL_LOGS_ONLY), tunnel(IP2, logging=LOGGING_HERE)), NO_PROGRESS, POLICY, NOW
    )
    assert steps(plans) == {IP1: Step.CHANGE, IP2: Step.LOGGING}
    assert plans[0].reason.startswith("BGP logging is off")


def test_a_tunnel_logging_to_another_group_is_reported_never_moved() -> None:
    plans = plan_connection(
        connection(tunnel(IP1, logging=TunnelLogging(enabled=True, log_group_arn=OTHER)), tunnel(IP2)),
        NO_PROGRESS,
        POLICY,
        NOW,
    )
    assert steps(plans) == {IP1: Step.BLOCKED, IP2: Step.CHANGE}
    assert OTHER in plans[0].reason
    assert "does not move it" in plans[0].reason


def test_an_up_tunnel_waits_until_its_sibling_has_been_up_for_the_remediation_minimum() -> None:
    fresh = connection(tunnel(IP1), tunnel(IP2, since=timedelta(minutes=4)))
    plans = plan_connection(fresh, NO_PROGRESS, POLICY, NOW)
    assert plans[0].step is Step.BLOCKED
    assert plans[0].next_eligible == NOW + timedelta(minutes=6)  # sibling UP 4 min; the minimum is 10
    # The sibling itself may go: its own sibling (tunnel 1) has been UP for hours.
    assert plans[1].step is Step.CHANGE


def test_no_up_tunnel_is_changed_while_its_sibling_is_down_but_a_down_tunnel_is() -> None:
    plans = plan_connection(connection(tunnel(IP1), tunnel(IP2, TunnelState.DOWN)), NO_PROGRESS, POLICY, NOW)
    assert steps(plans) == {IP1: Step.BLOCKED, IP2: Step.CHANGE}  # a down tunnel carries nothing to interrupt
    assert "sibling is not UP" in plans[0].reason


def test_nothing_changes_on_a_connection_that_is_not_available() -> None:
    plans = plan_connection(connection(state="pending"), NO_PROGRESS, POLICY, NOW)
    assert steps(plans) == {IP1: Step.BLOCKED, IP2: Step.BLOCKED}
    assert "'pending'" in plans[0].reason


def test_outside_the_maintenance_window_nothing_changes_and_the_next_opening_is_given() -> None:
    window = MaintenanceWindow.parse("sat,sun 02:00-05:00")
    plans = plan_connection(connection(), NO_PROGRESS, replace(POLICY, window=window), NOW)
    assert {plan.step for plan in plans} == {Step.BLOCKED}
    assert plans[0].next_eligible == datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # Saturday
    inside = plan_connection(
        connection(), NO_PROGRESS, replace(POLICY, window=window), datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    )
    assert steps(inside)[IP1] is Step.CHANGE


@pytest.mark.parametrize(
    ("text", "moment", "inside"),
    [
        ("02:00-05:00", datetime(2026, 12, 2, 2, 0, tzinfo=UTC), True),
        ("02:00-05:00", datetime(2026, 12, 2, 5, 0, tzinfo=UTC), False),
        ("sat 23:00-01:00", datetime(2026, 12, 6, 0, 30, tzinfo=UTC), True),  # Sunday 00:30: Saturday's window
        ("sat 23:00-01:00", datetime(2026, 12, 7, 0, 30, tzinfo=UTC), False),  # Monday 00:30: Sunday's, not listed
        ("sun 23:00-01:00", datetime(2026, 12, 6, 23, 30, tzinfo=UTC), True),
    ],
)
def test_a_maintenance_window_may_pass_midnight_and_belongs_to_the_day_it_opens(
    text: str, moment: datetime, inside: bool
) -> None:
    assert MaintenanceWindow.parse(text).contains(moment) is inside


@pytest.mark.parametrize("text", ["2:00-5:00", "sat 02:00", "fri,xyz 01:00-02:00", "03:00-03:00", "25:00-26:00"])
def test_a_malformed_maintenance_window_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"maintenance window|different start"):
        MaintenanceWindow.parse(text)


def test_scope_tagged_takes_only_connections_tagged_on_and_off_opts_out_of_all() -> None:
    tagged = replace(POLICY, scope=LoggingScope.TAGGED)
    assert {p.step for p in plan_connection(connection(), NO_PROGRESS, tagged, NOW)} == {Step.SKIPPED}
    on = connection(tags={LOGGING_TAG: "on"})
    assert steps(plan_connection(on, NO_PROGRESS, tagged, NOW))[IP1] is Step.CHANGE
    off = connection(tags={LOGGING_TAG: "off"})
    assert {p.step for p in plan_connection(off, NO_PROGRESS, POLICY, NOW)} == {Step.SKIPPED}


def test_a_tag_value_iam_would_not_match_is_left_alone_with_the_reason() -> None:
    odd = connection(tags={LOGGING_TAG: "On"})
    plans = plan_connection(odd, NO_PROGRESS, replace(POLICY, scope=LoggingScope.TAGGED), NOW)
    assert {p.step for p in plans} == {Step.SKIPPED}
    assert "exact, lower case" in plans[0].reason


def _flight(ip: str = IP1, ago: timedelta = timedelta(minutes=5), was_up: bool = True) -> ConnectionProgress:
    return ConnectionProgress(InFlight(ip, NOW - ago, was_up, {"LogEnabled": True, "LogGroupArn": GROUP}))


def test_while_a_change_is_in_flight_the_sibling_is_not_touched() -> None:
    plans = plan_connection(
        connection(tunnel(IP1, TunnelState.DOWN, since=timedelta(minutes=3))), _flight(), POLICY, NOW
    )
    assert steps(plans) == {IP1: Step.IN_FLIGHT}
    both = plan_connection(connection(tunnel(IP1, TunnelState.DOWN), tunnel(IP2)), _flight(), POLICY, NOW)
    assert steps(both) == {IP1: Step.IN_FLIGHT, IP2: Step.BLOCKED}
    assert "being changed" in both[1].reason


def test_a_change_in_flight_is_confirmed_when_it_reads_back_and_the_tunnel_is_up_again() -> None:
    back = connection(tunnel(IP1, since=timedelta(minutes=1), logging=LOGGING_HERE), tunnel(IP2))
    plans = plan_connection(back, _flight(), POLICY, NOW)
    assert steps(plans) == {IP1: Step.CONFIRMED, IP2: Step.BLOCKED}  # the sibling waits its turn
    assert plans[1].next_eligible == NOW + POLICY.sibling_up_minimum


def test_a_logging_tunnel_not_up_again_stays_in_flight_then_fails_after_the_timeout() -> None:
    down = connection(tunnel(IP1, TunnelState.DOWN, logging=LOGGING_HERE), tunnel(IP2))
    assert steps(plan_connection(down, _flight(), POLICY, NOW))[IP1] is Step.IN_FLIGHT
    late = plan_connection(down, _flight(ago=timedelta(minutes=31)), POLICY, NOW)
    assert late[0].step is Step.FAILED
    assert "not UP again" in late[0].reason
    # A tunnel that was down before the change only needs its options read back.
    assert steps(plan_connection(down, _flight(was_up=False), POLICY, NOW))[IP1] is Step.CONFIRMED


def test_a_failed_tunnel_waits_out_its_backoff() -> None:
    failed = ConnectionProgress(
        tunnels={
            IP1: TunnelProgress(
                IP1, ProgressStatus.FAILED, NOW - timedelta(hours=1), "refused", 1, NOW + timedelta(hours=5)
            )
        }
    )
    plans = plan_connection(connection(), failed, POLICY, NOW)
    assert steps(plans) == {IP1: Step.FAILED, IP2: Step.CHANGE}
    assert plans[0].next_eligible == NOW + timedelta(hours=5)


# --- properties ----------------------------------------------------------------------------------

_statuses = st.sampled_from([TunnelState.UP, TunnelState.DOWN, TunnelState.UNKNOWN])
_ages = st.integers(min_value=0, max_value=180).map(lambda minutes: timedelta(minutes=minutes))
_logging = st.sampled_from(
    [TunnelLogging(), LOGGING_HERE, TUNNEL_LOGS_ONLY, TunnelLogging(enabled=True, log_group_arn=OTHER)]
)
_tunnels = st.tuples(
    st.builds(lambda s, a, lg: tunnel(IP1, s, a, lg), _statuses, _ages, _logging),
    st.builds(lambda s, a, lg: tunnel(IP2, s, a, lg), _statuses, _ages, _logging),
)
_progress = st.one_of(
    st.just(NO_PROGRESS),
    st.builds(_flight, st.sampled_from([IP1, IP2]), _ages, st.booleans()),
    st.builds(
        lambda ip, ago: ConnectionProgress(tunnels={ip: TunnelProgress(ip, ProgressStatus.DONE, NOW - ago)}),
        st.sampled_from([IP1, IP2]),
        _ages,
    ),
)
_windows = st.one_of(
    st.none(), st.sampled_from(["02:00-05:00", "09:00-11:00", "sat,sun 22:00-02:00", "wed 08:00-12:00"])
)
_moments = st.integers(min_value=0, max_value=7 * 24 * 60).map(lambda minutes: NOW + timedelta(minutes=minutes))


@settings(max_examples=300, deadline=None)
@given(
    _tunnels,
    st.sampled_from(["available", "pending"]),
    _progress,
    _windows,
    _moments,
    st.sampled_from(list(LoggingScope)),
)
def test_never_two_tunnels_of_a_connection_in_flight_and_never_outside_the_window(  # noqa: PLR0917 - hypothesis
    tunnels: tuple[TunnelConfig, TunnelConfig],
    state: str,
    progress: ConnectionProgress,
    window: str | None,
    now: datetime,
    scope: LoggingScope,
) -> None:
    policy = replace(POLICY, scope=scope, window=MaintenanceWindow.parse(window) if window else None)
    plans = plan_connection(connection(*tunnels, state=state), progress, policy, now)
    changes = [plan for plan in plans if plan.step is Step.CHANGE]
    assert len(changes) <= 1
    if changes:
        assert progress.in_flight is None  # nothing else of the connection in flight
        assert state == "available"
        assert scope is not LoggingScope.NONE
        assert policy.window is None or policy.window.contains(now)
        changed = changes[0]
        other = next(t for t in tunnels if t.outside_ip != changed.tunnel_ip)
        mine = next(t for t in tunnels if t.outside_ip == changed.tunnel_ip)
        if mine.telemetry is not None and mine.telemetry.status is not TunnelState.DOWN:
            # An UP (or unknown) tunnel is only interrupted behind a sibling UP for the minimum.
            assert other.telemetry is not None
            assert other.telemetry.status is TunnelState.UP
            assert other.telemetry.last_status_change is not None
            assert now - other.telemetry.last_status_change >= policy.sibling_up_minimum


# --- whole runs: the use case against an in-memory EC2 and store ---------------------------------


@dataclass
class FakeEc2:
    """Connections whose tunnels drop for ``outage`` after a change (the endpoint is replaced), then come back."""

    connections: dict[str, VpnConnectionInfo]
    now: datetime = NOW
    outage: timedelta = timedelta(minutes=4)
    sent: list[tuple[datetime, str, str]] = field(default_factory=list)
    answer: RemediationStatus = RemediationStatus.APPLIED

    def list(
        self, vpn_ids: Sequence[str] = (), *, tag_key: str | None = None, tag_value: str | None = None
    ) -> list[VpnConnectionInfo]:
        return [self._seen(c) for c in self.connections.values()]

    def _seen(self, c: VpnConnectionInfo) -> VpnConnectionInfo:
        tunnels = []
        for seen in c.tunnels:
            changed = [at for at, vpn, ip in self.sent if vpn == c.vpn_connection_id and ip == seen.outside_ip]
            telemetry: TunnelTelemetry | None
            if changed and self.now - changed[-1] < self.outage:
                telemetry = TunnelTelemetry(TunnelState.DOWN, last_status_change=changed[-1])
            elif changed:
                telemetry = TunnelTelemetry(TunnelState.UP, last_status_change=changed[-1] + self.outage)
            else:
                telemetry = seen.telemetry
            tunnels.append(replace(seen, telemetry=telemetry))
        return replace(c, tunnels=tuple(tunnels))

    def modify(self, change: Change, *, dry_run: bool) -> Execution:
        assert not dry_run
        if self.answer is not RemediationStatus.APPLIED:
            return Execution(self.answer, "busy", "IncorrectState")
        c = self.connections[change.vpn_connection_id]
        options = change.tunnel_options["LogOptions"]["CloudWatchLogOptions"]
        logging = TunnelLogging(
            enabled=options["LogEnabled"],
            log_group_arn=options["LogGroupArn"],
            bgp_enabled=options.get("BgpLogEnabled", False),
            bgp_log_group_arn=options.get("BgpLogGroupArn"),
        )
        self.connections[change.vpn_connection_id] = replace(
            c, tunnels=tuple(replace(t, logging=logging) if t.outside_ip == change.tunnel_ip else t for t in c.tunnels)
        )
        self.sent.append((self.now, change.vpn_connection_id, change.tunnel_ip))
        return Execution(RemediationStatus.APPLIED, "accepted")


class _Lister:
    def __init__(self, ec2: FakeEc2) -> None:
        self.ec2 = ec2

    def connections(
        self, vpn_ids: Sequence[str] = (), *, tag_key: str | None = None, tag_value: str | None = None
    ) -> list[VpnConnectionInfo]:
        return self.ec2.list(vpn_ids, tag_key=tag_key, tag_value=tag_value)


@dataclass
class MemoryStore:
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    tunnels: dict[str, dict[str, TunnelProgress]] = field(default_factory=dict)
    audit_lines: list[dict[str, Any]] = field(default_factory=list)

    def progress(self, vpn_connection_id: str) -> ConnectionProgress:
        return ConnectionProgress(self.in_flight.get(vpn_connection_id), dict(self.tunnels.get(vpn_connection_id, {})))

    def begin(self, vpn_connection_id: str, flight: InFlight) -> bool:
        if vpn_connection_id in self.in_flight:
            return False
        self.in_flight[vpn_connection_id] = flight
        return True

    def settle(self, vpn_connection_id: str, progress: TunnelProgress | None, tunnel_ip: str) -> None:
        if progress is not None:
            self.tunnels.setdefault(vpn_connection_id, {})[progress.tunnel_ip] = progress
        if self.in_flight.get(vpn_connection_id, InFlight("", NOW, False)).tunnel_ip == tunnel_ip:
            del self.in_flight[vpn_connection_id]

    def audit(
        self,
        vpn_connection_id: str,
        tunnel_ip: str,
        *,
        what: str,
        reason: str,
        at: datetime,
        options: Mapping[str, Any] | None = None,
        error_code: str | None = None,
    ) -> None:
        self.audit_lines.append({"vpn": vpn_connection_id, "ip": tunnel_ip, "what": what, "at": at})


def _fleet(count: int) -> dict[str, VpnConnectionInfo]:
    fleet = {}
    for index in range(count):
        vpn = f"vpn-{index:017x}"
        fleet[vpn] = replace(
            connection(tunnel(f"198.51.100.{index}"), tunnel(f"203.0.113.{index}")), vpn_connection_id=vpn
        )
    return fleet


def _run(ec2: FakeEc2, store: MemoryStore, policy: OnboardingPolicy = POLICY) -> Any:
    ports = OnboardPorts(connections=_Lister(ec2), store=store, modifier=ec2)
    return onboard(ports, policy=policy, monitoring=Monitoring(), now=ec2.now)


def test_every_tunnel_of_every_connection_logs_within_the_documented_time_one_tunnel_at_a_time() -> None:
    # README "What happens after cdk deploy": runs every 5 minutes; per connection the first tunnel changes on the
    # first run (minute 0), is confirmed at the next run once back UP (minute 5), its sibling follows 10 minutes
    # after that (minute 15) and is confirmed at minute 20: every tunnel logs 20 minutes after the first run,
    # whatever the number of connections (each connection goes on its own).
    ec2, store = FakeEc2(_fleet(20)), MemoryStore()
    runs = []
    while ec2.now <= NOW + timedelta(minutes=25):
        runs.append(_run(ec2, store))
        ec2.now += timedelta(minutes=5)
    assert runs[-1].pending == 0
    assert runs[-1].logging == 40
    assert len(ec2.sent) == 40  # one change per tunnel, none repeated
    per_connection: dict[str, list[tuple[datetime, str]]] = {}
    for at, vpn, ip in ec2.sent:
        per_connection.setdefault(vpn, []).append((at, ip))
    for changes in per_connection.values():
        (first_at, first_ip), (second_at, second_ip) = changes
        assert first_ip != second_ip
        # The sibling was changed only after the first was UP again for the sibling-up minimum.
        assert second_at - (first_at + ec2.outage) >= POLICY.sibling_up_minimum
    assert [run.sent for run in runs] == [20, 0, 0, 20, 0, 0]
    assert [run.pending for run in runs] == [40, 20, 20, 20, 0, 0]  # minutes 0, 5, ..., 25
    assert sorted({line["what"] for line in store.audit_lines}) == ["confirmed", "sent"]
    # Idempotent: a run after everything logs changes nothing.
    again = _run(ec2, store)
    assert (again.sent, again.confirmed, again.pending, len(ec2.sent)) == (0, 0, 0, 40)


def test_a_refused_change_for_now_is_lifted_and_tried_again_next_run() -> None:
    ec2, store = FakeEc2(_fleet(1), answer=RemediationStatus.TRY_LATER), MemoryStore()
    first = _run(ec2, store)
    assert (first.sent, first.failed, store.in_flight) == (0, 0, {})
    assert [line["what"] for line in store.audit_lines] == ["try_later"]
    ec2.answer = RemediationStatus.APPLIED
    assert _run(ec2, store).sent == 1


def test_a_denied_change_is_failed_with_on_boardings_own_explanation_and_backs_off() -> None:
    ec2, store = FakeEc2(_fleet(1)), MemoryStore()

    def deny(change: Change, *, dry_run: bool) -> Execution:
        return Execution(RemediationStatus.FAILED, "Not allowed ... tagged for remediation", "UnauthorizedOperation")

    ports = OnboardPorts(
        connections=_Lister(ec2), store=store, modifier=type("Deny", (), {"modify": staticmethod(deny)})()
    )
    result = onboard(ports, policy=POLICY, monitoring=Monitoring(), now=NOW)
    assert result.failed == 1
    ((_vpn, progress),) = store.tunnels.items()
    failed = next(iter(progress.values()))
    assert failed.status is ProgressStatus.FAILED
    assert failed.retry_after == NOW + POLICY.retry_backoff
    assert "on-boarding scope" in failed.detail
    assert "remediation" not in failed.detail
    # The other tunnel goes next run; the failed one waits out its backoff.
    plans = status(_Lister(ec2), store, policy=POLICY, monitoring=Monitoring(), now=NOW + timedelta(minutes=5))
    assert [plan.step for plan in plans] == [Step.FAILED, Step.CHANGE]


def test_a_second_run_racing_the_first_sends_nothing_for_the_same_connection() -> None:
    ec2, store = FakeEc2(_fleet(1)), MemoryStore()
    vpn = next(iter(ec2.connections))
    store.in_flight[vpn] = InFlight("192.0.2.99", NOW, True)  # another run marked a change between read and send
    store_progress = store.progress

    def stale(vpn_connection_id: str) -> ConnectionProgress:
        return ConnectionProgress() if vpn_connection_id == vpn else store_progress(vpn_connection_id)

    store.progress = stale  # type: ignore[method-assign]
    assert _run(ec2, store).sent == 0
    assert ec2.sent == []


def test_a_window_of_one_hour_a_week_spreads_on_boarding_over_weeks_never_outside_it() -> None:
    window = MaintenanceWindow(time(2, 0), time(3, 0), frozenset({5}))  # Saturdays 02:00-03:00 UTC
    ec2, store = FakeEc2(_fleet(3)), MemoryStore()
    policy = replace(POLICY, window=window)
    while ec2.now <= NOW + timedelta(days=8):
        _run(ec2, store, policy)
        ec2.now += timedelta(minutes=5)
    assert ec2.sent
    assert all(window.contains(at) for at, _, _ in ec2.sent)
    assert len(ec2.sent) == 6  # both tunnels of each: the first at 02:00, the sibling once the first is back


@pytest.mark.parametrize(
    ("monitoring", "asked"),
    [
        (Monitoring(), ((), None)),
        (Monitoring(scope=MonitorScope.TAG), ((), MONITOR_TAG)),
        (Monitoring(scope=MonitorScope.LIST, vpn_ids=(VPN,)), ((VPN,), None)),
    ],
)
def test_only_the_monitored_connections_are_read(monitoring: Monitoring, asked: tuple[Any, str | None]) -> None:
    seen: list[tuple[Any, str | None]] = []

    class Lister:
        def connections(
            self, vpn_ids: Sequence[str] = (), *, tag_key: str | None = None, tag_value: str | None = None
        ) -> list[VpnConnectionInfo]:
            seen.append((tuple(vpn_ids), tag_key))
            return []

    assert status(Lister(), MemoryStore(), policy=POLICY, monitoring=monitoring, now=NOW) == []
    assert seen == [asked]
