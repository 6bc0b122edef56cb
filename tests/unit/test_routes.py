"""BGP routes lost (pure): the baseline of a tunnel's AcceptedRouteCount, the hold, recovery, re-learning, and the
incident rule that applies it (``apply_routes``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vpn_doctor.diagnosis import diagnose
from vpn_doctor.incidents import (
    IncidentPolicy,
    TunnelRecord,
    apply_routes,
    apply_state,
    apply_tick,
    chained,
)
from vpn_doctor.models import IncidentStatus, StateSource, TransitionKind, TunnelState, TunnelStateChange, Verdict
from vpn_doctor.routes import RouteNews, RouteObservation, RoutePolicy, RouteState, is_low, judge_routes
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.vpn import TunnelConfig, VpnConnectionInfo

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = RoutePolicy()
MINUTE = timedelta(minutes=1)
VPN, IP = "vpn-0a1b2c3d4e5f60718", "203.0.113.20"


def up(count: int | None) -> RouteObservation:
    return RouteObservation(up=True, count=count)


def run(counts: list[int], *, start: RouteState | None = None, every: timedelta = MINUTE) -> list[RouteNews]:
    """One poll a minute (``every``) from T0, each seeing the next count on an UP tunnel; the news of each."""
    state, news = start or RouteState(), []
    for index, count in enumerate(counts):
        verdict = judge_routes(state, up(count), policy=POLICY, now=T0 + index * every)
        state, news = verdict.state, [*news, verdict.news]
    return news


def learned(baseline: int, at: datetime = T0) -> RouteState:
    return RouteState(baseline=baseline, baseline_at=at)


# --- the baseline -------------------------------------------------------------------------------


def test_the_first_non_zero_count_is_the_baseline_and_a_higher_one_raises_it() -> None:
    assert judge_routes(RouteState(), up(0), policy=POLICY, now=T0).state == RouteState()  # nothing to learn
    first = judge_routes(RouteState(), up(4), policy=POLICY, now=T0).state
    assert first == learned(4)
    assert judge_routes(first, up(9), policy=POLICY, now=T0 + MINUTE).state == learned(9, T0 + MINUTE)


def test_a_steady_count_changes_nothing_so_nothing_is_written() -> None:
    state = learned(10)
    for count in (10, 9, 6):  # below the baseline but not low, baseline still fresh
        verdict = judge_routes(state, up(count), policy=POLICY, now=T0 + 10 * MINUTE)
        assert (verdict.state, verdict.news) == (state, RouteNews.NONE)


def test_an_old_baseline_follows_a_lower_count_down_once_per_window() -> None:
    later = T0 + POLICY.relearn
    decayed = judge_routes(learned(20), up(12), policy=POLICY, now=later)
    assert (decayed.state, decayed.news) == (learned(12, later), RouteNews.NONE)
    # Within the new window the baseline stands: a lower, not low, count changes nothing.
    assert judge_routes(decayed.state, up(7), policy=POLICY, now=later + MINUTE).state == decayed.state


def test_low_is_zero_or_at_least_the_drop_percent_of_the_baseline_gone() -> None:
    assert [is_low(count, 10, POLICY) for count in (0, 4, 5, 6, 10)] == [True, True, True, False, False]
    assert not is_low(0, None, POLICY)  # no baseline, no verdict
    only_zero = RoutePolicy(drop_percent=100)
    assert [is_low(count, 10, only_zero) for count in (0, 1)] == [True, False]


# --- lost, recovered, re-learned --------------------------------------------------------------


def test_a_drop_to_zero_held_for_five_minutes_is_lost_once_and_names_the_trend() -> None:
    state = learned(8)
    news = []
    for minute in range(8):
        verdict = judge_routes(state, up(0), policy=POLICY, now=T0 + (10 + minute) * MINUTE)
        state, news = verdict.state, [*news, verdict.news]
        if verdict.news is RouteNews.LOST:
            lost = verdict
    assert news == [RouteNews.NONE] * 5 + [RouteNews.LOST] + [RouteNews.NONE] * 2  # at 5 minutes, once
    assert lost.zero
    assert "fell from 8 to 0" in lost.summary
    assert "since 12:10 UTC" in lost.summary


def test_a_flap_shorter_than_the_hold_is_nothing() -> None:
    news = run([6, 6, 0, 0, 0, 0, 6, 6, 0, 0, 6])  # 4 minutes low, then 2 minutes low
    assert RouteNews.LOST not in news


def test_halving_is_lost_as_a_warning_and_the_recovery_is_news() -> None:
    news = run([10] + [5] * 6 + [6])
    assert news.count(RouteNews.LOST) == 1
    assert news[-1] is RouteNews.RECOVERED
    verdict = judge_routes(replace(learned(10), low_since=T0, low_count=5), up(5), policy=POLICY, now=T0 + 5 * MINUTE)
    assert not verdict.zero
    assert "fell from 10 to 5 (50% fewer)" in verdict.summary


def test_a_down_tunnel_is_not_routes_lost_and_is_judged_afresh_once_up() -> None:
    low = replace(learned(4), low_since=T0, low_count=0)
    down = judge_routes(low, RouteObservation(up=False, count=0), policy=POLICY, now=T0 + 10 * MINUTE)
    assert (down.state, down.news) == (learned(4), RouteNews.NONE)
    # Back UP with no route yet: the hold starts now, BGP gets its time to re-learn.
    back = judge_routes(down.state, up(0), policy=POLICY, now=T0 + 11 * MINUTE)
    assert (back.state.low_since, back.news) == (T0 + 11 * MINUTE, RouteNews.NONE)


def test_routes_low_for_the_relearn_window_become_the_new_baseline_and_no_further_alert() -> None:
    state = replace(learned(10), low_since=T0, low_count=3, alerted=True)
    relearned = judge_routes(state, up(3), policy=POLICY, now=T0 + POLICY.relearn)
    assert relearned.news is RouteNews.RELEARNED
    assert relearned.state == learned(3, T0 + POLICY.relearn)
    assert "3 is now this tunnel's baseline" in relearned.summary
    assert RouteNews.LOST not in run([3] * 30, start=relearned.state)


def test_an_unknown_count_changes_nothing() -> None:
    state = replace(learned(4), low_since=T0, low_count=0)
    verdict = judge_routes(state, up(None), policy=POLICY, now=T0 + 10 * MINUTE)  # past the hold, yet no verdict
    assert (verdict.state, verdict.news) == (state, RouteNews.NONE)


@settings(max_examples=200, deadline=None)
@given(
    baseline=st.integers(min_value=1, max_value=500),
    counts=st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=40),
    gaps=st.lists(st.integers(min_value=0, max_value=400), min_size=40, max_size=40),
)
def test_lost_only_after_the_whole_hold_low_once_per_low_spell_and_judging_twice_changes_nothing(
    baseline: int, counts: list[int], gaps: list[int]
) -> None:
    state, now = learned(baseline), T0
    spell_start: datetime | None = None
    alerted_in_spell = False
    for count, gap in zip(counts, gaps, strict=False):
        now += timedelta(minutes=gap)
        before = state
        verdict = judge_routes(state, up(count), policy=POLICY, now=now)
        low = before.baseline is not None and count <= before.baseline and is_low(count, before.baseline, POLICY)
        spell_start = (spell_start or now) if low else None
        if verdict.news is RouteNews.LOST:
            assert low
            assert spell_start is not None
            assert now - spell_start >= POLICY.hold
            assert not alerted_in_spell
            alerted_in_spell = True
        if not low:
            alerted_in_spell = False
        if verdict.news is RouteNews.RELEARNED:
            alerted_in_spell, spell_start = False, None
        # The same observation at the same moment again: no news, nothing to write.
        again = judge_routes(verdict.state, up(count), policy=POLICY, now=now)
        assert (again.state, again.news) == (verdict.state, RouteNews.NONE)
        state = verdict.state


# --- the incident rule ----------------------------------------------------------------------------

INCIDENTS = IncidentPolicy()


def up_record(routes: RouteState, *, since: datetime = T0 - timedelta(hours=2)) -> TunnelRecord:
    return TunnelRecord(VPN, IP, last_state=TunnelState.UP, state_since=since, state_at=since, routes=routes)


def test_routes_low_for_the_hold_open_a_routes_lost_incident_that_the_clear_delay_does_not_resolve() -> None:
    record = up_record(replace(learned(6), low_since=T0, low_count=0))
    outcome = apply_routes(record, up(0), policy=INCIDENTS, now=T0 + 5 * MINUTE)
    [opened] = outcome.transitions
    assert opened.kind is TransitionKind.OPENED
    incident = opened.incident
    assert (incident.category, incident.cause, incident.severity) == (
        Category.BGP_SESSION,
        Cause.ROUTES_LOST,
        Severity.CRITICAL,
    )
    assert "fell from 6 to 0" in incident.summary
    assert outcome.record is not None
    assert outcome.record.routes.alerted
    # Long after: the tunnel is UP and nothing new failed, but the routes are still gone.
    later = T0 + timedelta(hours=1)
    assert apply_tick(outcome.record, policy=INCIDENTS, now=later).record is None
    assert apply_routes(outcome.record, up(0), policy=INCIDENTS, now=later).record is None  # and no write


def test_the_routes_recovering_resolve_the_incident() -> None:
    record = up_record(replace(learned(6), low_since=T0, low_count=0))
    opened = apply_routes(record, up(0), policy=INCIDENTS, now=T0 + 5 * MINUTE).record
    assert opened is not None
    outcome = apply_routes(opened, up(6), policy=INCIDENTS, now=T0 + 20 * MINUTE)
    [resolved] = outcome.transitions
    assert resolved.kind is TransitionKind.RESOLVED
    assert resolved.incident.status is IncidentStatus.RESOLVED
    assert "back to 6 (baseline 6)" in resolved.reason
    assert outcome.record is not None
    assert (outcome.record.incident, outcome.record.routes) == (None, learned(6))


def test_the_routes_of_a_tunnel_going_down_are_its_down_incident_in_one_write() -> None:
    record = up_record(replace(learned(6), low_since=T0, low_count=0))
    change = TunnelStateChange(
        vpn_connection_id=VPN,
        tunnel_ip=IP,
        state=TunnelState.DOWN,
        source=StateSource.TELEMETRY_POLL,
        observed_at=T0 + 2 * MINUTE,
        event_id="poll:down",
        reason="IPSEC IS DOWN",
    )
    now = T0 + 10 * MINUTE
    first = apply_state(record, change, policy=INCIDENTS, now=now)
    outcome = chained(
        record, first, lambda r: apply_routes(r, RouteObservation(up=False, count=0), policy=INCIDENTS, now=now)
    )
    assert [t.incident.category for t in outcome.transitions] == [Category.UNKNOWN]  # the DOWN incident only
    assert outcome.record is not None
    assert outcome.record.routes == learned(6)  # no low spell across the outage
    assert outcome.record.last_state is TunnelState.DOWN


def test_the_diagnosis_of_routes_lost_says_what_to_check_on_the_gateway() -> None:
    record = up_record(replace(learned(6), low_since=T0, low_count=0))
    opened = apply_routes(record, up(0), policy=INCIDENTS, now=T0 + 5 * MINUTE).transitions[0].incident
    connection = VpnConnectionInfo(VPN, "available", (TunnelConfig(IP),))
    verdict = diagnose(opened, connection, now=T0 + 6 * MINUTE)
    assert verdict.verdict is Verdict.UNDETERMINED
    assert "advertises" in verdict.verdict_reason
    assert "routes_relearn_hours" in verdict.verdict_reason
