"""The connection roll-up and storm rules (vpn_doctor.rollup): pure, no AWS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vpn_doctor.constants import CONNECTION_SCOPE
from vpn_doctor.models import (
    Alert,
    ConnectionChangeKind,
    ConnectionState,
    Hold,
    Incident,
    IncidentStatus,
    IncidentTransition,
    StormMember,
    TransitionKind,
    TunnelPart,
    TunnelState,
)
from vpn_doctor.rollup import (
    ConnectionRecord,
    RollupPolicy,
    StormOutcome,
    StormRecord,
    Verdict,
    apply_alert,
    common_factors,
    derive_state,
    on_failure,
    storm_over,
    storm_release,
)
from vpn_doctor.taxonomy import Category, Cause, Severity

VPN = "vpn-0123456789abcdef0"
T1, T2 = "203.0.113.5", "203.0.113.6"
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
POLICY = RollupPolicy()


def _alert(
    tunnel: str,
    kind: TransitionKind = TransitionKind.OPENED,
    *,
    at: int = 0,
    state: TunnelState = TunnelState.DOWN,
    others_down: tuple[str, ...] = (),
    severity: Severity = Severity.CRITICAL,
    held: bool = False,
    vpn: str = VPN,
    generation: int = 0,
) -> Alert:
    resolved = kind is TransitionKind.RESOLVED
    incident = Incident(
        incident_id=f"inc-{vpn}-{tunnel}-{generation}",
        vpn_connection_id=vpn,
        tunnel_ip=tunnel,
        status=IncidentStatus.RESOLVED if resolved else IncidentStatus.OPEN,
        category=Category.DPD_TIMEOUT,
        cause=Cause.PEER_NOT_RESPONSIVE,
        severity=severity,
        summary="Peer stopped answering DPD",
        opened_at=T0,
        updated_at=T0 + timedelta(seconds=at),
        last_state=TunnelState.UP if resolved else state,
    )
    moment = T0 + timedelta(seconds=at)
    transition = IncidentTransition(kind, incident, moment, f"evt-{tunnel}-{kind.value}-{at}")
    hold = Hold("silenced", moment + timedelta(hours=1), moment) if held else None
    return Alert(transition=transition, tunnels=(T1, T2), other_tunnels_down=others_down, held=hold)


def _run(*alerts: Alert, record: ConnectionRecord | None = None) -> tuple[ConnectionRecord, list[tuple[str, str]]]:
    """Apply alerts in order; what was decided: (verdict, state) per alert."""
    current = record or ConnectionRecord(VPN)
    decided: list[tuple[str, str]] = []
    for alert in alerts:
        new, decision = apply_alert(current, alert, now=alert.transition.at, policy=POLICY)
        current = new or current
        decided.append((decision.verdict.value, decision.change.state.value if decision.change else ""))
    return current, decided


def test_one_tunnel_down_is_redundancy_lost_and_both_down_an_outage() -> None:
    record, decided = _run(_alert(T1), _alert(T2, at=30))
    assert decided == [("send", "redundancy_lost"), ("send", "outage")]
    assert record.told is ConnectionState.OUTAGE
    change = apply_alert(ConnectionRecord(VPN), _alert(T1), now=T0, policy=POLICY)[1].change
    assert change is not None
    assert change.severity is Severity.WARNING


def test_the_second_tunnel_already_reported_down_by_ec2_adds_no_message() -> None:
    # Two tunnels failing at once: the first alert carries EC2's view of the other one.
    record, decided = _run(_alert(T1, others_down=(T2,)), _alert(T2, at=1, others_down=(T1,)))
    assert decided == [("send", "outage"), ("rolled_up", "")]
    assert {part.tunnel_ip: part.incident_id is not None for part in record.parts} == {T1: True, T2: True}


def test_recovery_steps_down_then_resolves_one_connection_incident() -> None:
    record, _ = _run(_alert(T1, others_down=(T2,)), _alert(T2, at=1))
    opened_id = record.incident_id
    record, decided = _run(
        _alert(T1, TransitionKind.RESOLVED, at=600, others_down=(T2,)),
        _alert(T2, TransitionKind.RESOLVED, at=900),
        record=record,
    )
    assert decided == [("send", "redundancy_lost"), ("send", "ok")]
    last = record.decisions[-1].change
    assert last is not None
    assert last.kind is ConnectionChangeKind.RESOLVED
    assert last.incident_id == opened_id  # one connection-level incident from outage to recovery
    assert last.severity is Severity.CRITICAL  # routed as the worst it told: whoever was paged hears it ended
    assert record.incident_id is None
    assert record.told is ConnectionState.OK


def test_news_in_the_same_state_is_an_update_and_a_repeat_is_the_stored_decision() -> None:
    record, _ = _run(_alert(T1))
    flapping = _alert(T1, TransitionKind.FLAPPING, at=60)
    record, decided = _run(flapping, record=record)
    assert decided == [("send", "redundancy_lost")]
    assert record.decisions[-1].change is not None
    assert record.decisions[-1].change.kind is ConnectionChangeKind.UPDATED
    again, decision = apply_alert(record, flapping, now=T0, policy=POLICY)
    assert again is None
    assert decision == record.decisions[-1]


def test_an_older_alert_of_a_tunnel_is_stale() -> None:
    record, _ = _run(_alert(T1, at=100))
    _, decided = _run(_alert(T1, TransitionKind.UPDATED, at=50), record=record)
    assert decided == [("stale", "")]


def test_log_only_incident_on_an_up_tunnel_impairs_with_its_own_severity() -> None:
    record, decided = _run(_alert(T1, state=TunnelState.UP, severity=Severity.WARNING))
    assert decided == [("send", "impaired")]
    change = record.decisions[-1].change
    assert change is not None
    assert change.severity is Severity.WARNING


def test_connection_level_traffic_incident_is_never_counted_as_a_tunnel() -> None:
    parts = [TunnelPart(CONNECTION_SCOPE, TunnelState.UNKNOWN, "inc-x"), TunnelPart(T1, TunnelState.DOWN, "inc-y")]
    assert derive_state(parts, (T1, T2)) is ConnectionState.REDUNDANCY_LOST
    assert derive_state(parts[:1], (T1, T2)) is ConnectionState.IMPAIRED


def test_a_held_alert_changes_the_state_but_tells_nobody_until_its_release() -> None:
    record, decided = _run(_alert(T1, held=True))
    assert decided == [("held", "")]
    assert (record.state, record.told) == (ConnectionState.REDUNDANCY_LOST, ConnectionState.OK)
    released = replace(_alert(T1, at=3600), held=None)
    _, decided = _run(released, record=record)
    assert decided == [("send", "redundancy_lost")]


def test_a_storm_holds_its_members_and_its_release_tells_their_state() -> None:
    record = replace(ConnectionRecord(VPN), storm_id="storm-1")
    record, decided = _run(_alert(T1), record=record)
    assert decided == [("storm_held", "")]
    released = storm_release(record, "storm-1", now=T0)
    assert released is not None
    assert (released.told, released.storm_id) == (ConnectionState.REDUNDANCY_LOST, None)
    assert released.incident_id is not None
    assert storm_release(released, "storm-1", now=T0) is None


def _member(n: int, at: int, gateway: str = "198.51.100.7") -> StormMember:
    return StormMember(f"vpn-{n:017x}", T0 + timedelta(seconds=at), "111122223333", "eu-west-1", gateway)


def test_the_fifth_failure_within_the_window_opens_one_storm_and_later_ones_join() -> None:
    detector = StormRecord()
    outcomes = []
    for n in range(7):
        member = _member(n, 10 * n)
        new, outcome = on_failure(detector, member, key=f"k{n}", policy=POLICY, now=member.at)
        detector = new or detector
        outcomes.append(outcome)
    assert outcomes == [StormOutcome.ALONE] * 4 + [StormOutcome.OPENED] + [StormOutcome.JOINED] * 2
    assert detector.notice is not None
    assert detector.notice.count == 5
    assert [m.vpn_connection_id for m in detector.notice.members] == [f"vpn-{n:017x}" for n in range(5)]
    # A retry of the failure that opened it opens it again (same notice); another window later it is over.
    assert on_failure(detector, _member(4, 40), key="k4", policy=POLICY, now=T0) == (None, StormOutcome.OPENED)
    assert not storm_over(detector, policy=POLICY, now=T0 + timedelta(seconds=60 + 119))
    assert storm_over(detector, policy=POLICY, now=T0 + timedelta(seconds=60 + 120))


def test_failures_spread_wider_than_the_window_never_make_a_storm() -> None:
    detector = StormRecord()
    for n in range(10):
        member = _member(n, 31 * n)  # four within any 120 s
        new, outcome = on_failure(detector, member, key=f"k{n}", policy=POLICY, now=member.at)
        detector = new or detector
        assert outcome is StormOutcome.ALONE


def test_failures_are_grouped_by_when_they_happened_not_when_their_alerts_arrive() -> None:
    # Five connections failed together; their alerts reach the hub ten minutes later, out of order (a hub catching
    # up): still one storm. Spread wider than the window, the same late arrival makes none.
    late = T0 + timedelta(minutes=10)
    for spread, expected in ((0, StormOutcome.OPENED), (31, StormOutcome.ALONE)):
        detector, outcome = StormRecord(), StormOutcome.ALONE
        for n in (3, 0, 4, 1, 2):
            new, outcome = on_failure(detector, _member(n, spread * n), key=f"k{n}", policy=POLICY, now=late)
            detector = new or detector
        assert outcome is expected


def test_common_factors_name_what_all_or_most_members_share() -> None:
    members = [_member(1, 0), _member(2, 0), _member(3, 0, gateway="192.0.2.1")]
    assert common_factors(members) == (
        "customer gateway IP 198.51.100.7 (2 of 3)",
        "account 111122223333",
        "region eu-west-1",
    )


# --- the roll-up as a property --------------------------------------------------------------------

_KINDS = st.sampled_from([TransitionKind.OPENED, TransitionKind.UPDATED, TransitionKind.RESOLVED])
_STEPS = st.lists(
    st.tuples(st.sampled_from([T1, T2]), _KINDS, st.sampled_from([TunnelState.DOWN, TunnelState.UP]), st.booleans()),
    max_size=12,
)


@settings(max_examples=50, deadline=None)
@given(_STEPS)
def test_messages_follow_every_change_of_the_connections_state_exactly_once(
    steps: list[tuple[str, TransitionKind, TunnelState, bool]],
) -> None:
    """Whatever order the tunnels' alerts come in: the state follows the tunnels, a message is sent exactly when
    the told state changes (or news in a problem state), each send's previous state is the last one told, and a
    repeated alert changes nothing."""
    record = ConnectionRecord(VPN)
    told = ConnectionState.OK
    generation = {T1: 0, T2: 0}  # a failure after a resolution is a new incident
    for at, (tunnel, kind, state, other_down) in enumerate(steps):
        other = T2 if tunnel == T1 else T1
        others = (other,) if other_down else ()
        alert = _alert(tunnel, kind, at=at, state=state, others_down=others, generation=generation[tunnel])
        if kind is TransitionKind.RESOLVED:
            generation[tunnel] += 1
        new, decision = apply_alert(record, alert, now=alert.transition.at, policy=POLICY)
        assert new is not None
        down = {p.tunnel_ip for p in new.parts if p.state is TunnelState.DOWN}
        expected = (
            ConnectionState.OUTAGE
            if down == {T1, T2}
            else ConnectionState.REDUNDANCY_LOST
            if down
            else ConnectionState.IMPAIRED
            if any(p.incident_id for p in new.parts)
            else ConnectionState.OK
        )
        assert new.state is expected
        changed = expected is not told
        news = kind is TransitionKind.UPDATED and expected is not ConnectionState.OK
        assert (decision.verdict is Verdict.SEND) == (changed or news)
        if decision.change is not None:
            assert decision.change.previous is told
            told = decision.change.state
        assert new.told is told
        assert apply_alert(new, alert, now=alert.transition.at, policy=POLICY) == (None, decision)
        record = new


def test_joiners_write_the_storm_record_only_when_its_last_failure_moves_on() -> None:
    detector = StormRecord(storm_id="storm-1", last_failure_at=T0, notice=None)
    soon = on_failure(detector, _member(1, 1), key="a", policy=POLICY, now=T0 + timedelta(seconds=1))
    assert soon == (None, StormOutcome.JOINED)  # thousands of joiners in a burst: no write each
    later = on_failure(detector, _member(2, 10), key="b", policy=POLICY, now=T0 + timedelta(seconds=10))
    assert later[0] is not None
    assert later[0].last_failure_at == T0 + timedelta(seconds=10)


def test_a_late_alert_of_a_resolved_incident_never_reopens_its_tunnel() -> None:
    record, _ = _run(_alert(T1), _alert(T1, TransitionKind.RESOLVED, at=300))
    _, decided = _run(_alert(T1, TransitionKind.UPDATED, at=300), record=record)
    assert decided == [("stale", "")]
