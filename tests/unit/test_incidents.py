"""Incident rules: one open incident per tunnel, hysteresis, flap roll-up, resolution, maintenance, order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from vpn_doctor.incidents import (
    IncidentPolicy,
    IncidentService,
    SaveResult,
    StoreContention,
    TunnelRecord,
    apply_finding,
    apply_state,
    apply_tick,
    outbox_key,
)
from vpn_doctor.models import (
    Alert,
    Finding,
    Incident,
    IncidentStatus,
    IncidentTransition,
    PhaseState,
    Source,
    StateSource,
    TransitionKind,
    TunnelEvent,
    TunnelState,
    TunnelStateChange,
)
from vpn_doctor.render.common import build_view
from vpn_doctor.taxonomy import Category, Cause, Severity

VPN = "vpn-0a1b2c3d4e5f60718"
IP = "198.51.100.10"
T0 = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)
POLICY = IncidentPolicy()


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _finding(
    minutes: float,
    category: Category = Category.DPD_TIMEOUT,
    cause: Cause | None = Cause.PEER_NOT_RESPONSIVE,
    severity: Severity = Severity.CRITICAL,
    tunnel_ip: str | None = IP,
    *,
    phases: PhaseState | None = None,
) -> Finding:
    event = TunnelEvent(
        source=Source.AWS_TUNNEL_JSON,
        message="AWS tunnel DPD timed out after 3 retransmits",
        raw="{}",
        vpn_connection_id=VPN,
        tunnel_ip=tunnel_ip,
        timestamp=_at(minutes),
        ike_phase1_state=phases,
        ike_phase2_state=phases,
    )
    return Finding(category, cause, severity, f"{category.value} summary", "rule", event)


def _state(minutes: float, state: TunnelState, event_id: str | None = None, **extra: object) -> TunnelStateChange:
    return TunnelStateChange(
        vpn_connection_id=VPN,
        tunnel_ip=IP,
        state=state,
        source=StateSource.CLOUDWATCH_ALARM,
        observed_at=_at(minutes),
        event_id=event_id or f"ev-{state.value}-{minutes}",
        reason="alarm",
        **extra,  # type: ignore[arg-type]
    )


class MemoryStore:
    """A plain in-memory IncidentStore with the same conditional semantics as the DynamoDB one.

    ``keep_outbox=False`` is a store whose transitions were all published at once (most rule
    tests); ``True`` keeps them until :meth:`delivered`, as the DynamoDB store does."""

    def __init__(self, *, keep_outbox: bool = False) -> None:
        self.records: dict[tuple[str, str], TunnelRecord] = {}
        self.events: set[str] = set()
        self.archived: list[Incident] = []
        self.conflicts_to_inject = 0
        self.keep_outbox = keep_outbox
        self.outbox: dict[str, IncidentTransition] = {}
        self.notices: dict[str, datetime] = {}
        self.vanished: set[str] = set()

    def load(self, vpn_connection_id: str, tunnel_ip: str) -> TunnelRecord:
        record = self.records.get((vpn_connection_id, tunnel_ip)) or TunnelRecord(vpn_connection_id, tunnel_ip)
        pending = tuple(
            self.outbox[key]
            for key in sorted(self.outbox)
            if (self.outbox[key].incident.vpn_connection_id, self.outbox[key].incident.tunnel_ip)
            == (vpn_connection_id, tunnel_ip)
        )
        return replace(record, outbox=pending)

    def load_many(self, tunnels: Iterable[tuple[str, str]]) -> dict[tuple[str, str], TunnelRecord]:
        return {tunnel: replace(self.load(*tunnel), outbox=()) for tunnel in tunnels}

    def leftovers(self) -> list[IncidentTransition]:
        return [self.outbox[key] for key in sorted(self.outbox)]

    def delivered(self, transitions: Sequence[IncidentTransition]) -> None:
        for transition in transitions:
            self.outbox.pop(outbox_key(transition), None)

    def mark_vanished(self, vpn_connection_ids: Sequence[str], *, now: datetime) -> list[str]:
        new = [vpn for vpn in dict.fromkeys(vpn_connection_ids) if vpn not in self.vanished]
        self.vanished.update(new)
        return new

    def save_connection_notice(self, vpn_connection_id: str, at: datetime, *, now: datetime, keep: timedelta) -> bool:
        if self.notices.get(vpn_connection_id, at - keep) >= at:
            return False
        self.notices[vpn_connection_id] = at
        return True

    def save(
        self,
        record: TunnelRecord,
        *,
        expected_version: int,
        event_key: str | None,
        archive: Incident | None,
        now: datetime,
        outbox: Sequence[IncidentTransition] = (),
    ) -> SaveResult:
        key = (record.vpn_connection_id, record.tunnel_ip)
        if event_key is not None and event_key in self.events:
            return SaveResult.DUPLICATE
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            current = self.load(*key)
            self.records[key] = replace(current, version=current.version + 1)
            return SaveResult.CONFLICT
        if self.load(*key).version != expected_version:
            return SaveResult.CONFLICT
        self.records[key] = replace(record, version=expected_version + 1)
        if event_key is not None:
            self.events.add(event_key)
        if archive is not None:
            self.archived.append(archive)
        if self.keep_outbox:
            self.outbox.update((outbox_key(transition), transition) for transition in outbox)
        return SaveResult.SAVED


@pytest.fixture
def service() -> IncidentService:
    return IncidentService(MemoryStore(), POLICY)


def _kinds(transitions: list[IncidentTransition]) -> list[TransitionKind]:
    return [t.kind for t in transitions]


def test_first_failure_finding_opens_an_incident_immediately(service: IncidentService) -> None:
    transitions = service.on_finding(_finding(0), event_id="log-1", now=_at(0.1))
    assert _kinds(transitions) == [TransitionKind.OPENED]
    incident = transitions[0].incident
    assert (incident.category, incident.cause, incident.severity) == (
        Category.DPD_TIMEOUT,
        Cause.PEER_NOT_RESPONSIVE,
        Severity.CRITICAL,
    )
    assert incident.opened_at == _at(0)
    assert incident.evidence[0].message.startswith("AWS tunnel DPD timed out")
    assert transitions[0].event_id == "log-1"


def test_healthy_findings_and_findings_without_a_tunnel_open_nothing(service: IncidentService) -> None:
    assert (
        service.on_finding(_finding(0, Category.HEALTHY, Cause.ESTABLISHED, Severity.INFO), event_id="a", now=T0) == []
    )
    assert service.on_finding(_finding(0, tunnel_ip=None), event_id="b", now=T0) == []


def test_a_raise_threshold_above_one_waits_for_enough_findings_in_the_window() -> None:
    service = IncidentService(MemoryStore(), IncidentPolicy(raise_after_findings=3, raise_window=timedelta(minutes=5)))
    assert service.on_finding(_finding(0), event_id="1", now=_at(0)) == []
    assert service.on_finding(_finding(6), event_id="2", now=_at(6)) == []  # the first one left the window
    assert service.on_finding(_finding(7), event_id="3", now=_at(7)) == []
    transitions = service.on_finding(_finding(8), event_id="4", now=_at(8))
    assert _kinds(transitions) == [TransitionKind.OPENED]
    assert transitions[0].incident.finding_count == 3


def test_later_findings_update_only_on_material_change(service: IncidentService) -> None:
    service.on_finding(_finding(0, severity=Severity.WARNING), event_id="1", now=_at(0))
    # Another line of the same burst (within the repeat gap) is not news.
    assert service.on_finding(_finding(0.5, severity=Severity.WARNING), event_id="2", now=_at(1)) == []
    worse = service.on_finding(_finding(2, severity=Severity.CRITICAL), event_id="3", now=_at(2))
    assert _kinds(worse) == [TransitionKind.UPDATED]
    assert "Severity rose to critical" in worse[0].reason
    lesser = _finding(3, Category.BGP_SESSION, Cause.SESSION_DOWN, Severity.WARNING)
    assert service.on_finding(lesser, event_id="4", now=_at(3)) == []
    assert service.record(VPN, IP).incident is not None
    assert service.record(VPN, IP).incident.finding_count == 4  # type: ignore[union-attr]


def test_a_failure_that_repeats_later_is_news_once(service: IncidentService) -> None:
    service.on_finding(_finding(0), event_id="1", now=_at(0))
    again = service.on_finding(_finding(3), event_id="2", now=_at(3))
    assert _kinds(again) == [TransitionKind.UPDATED]
    assert again[0].reason == "Dead peer detection timeout again: 2 times since 22:00 UTC"
    assert again[0].incident.finding_count == 2
    # The third and later repeats are counted, not announced.
    assert service.on_finding(_finding(6), event_id="3", now=_at(6)) == []
    assert service.record(VPN, IP).incident.finding_count == 3  # type: ignore[union-attr]


def test_down_opens_an_incident_and_a_second_source_saying_down_is_silent(service: IncidentService) -> None:
    opened = service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    assert _kinds(opened) == [TransitionKind.OPENED]
    assert opened[0].incident.category is Category.UNKNOWN
    assert opened[0].incident.last_state is TunnelState.DOWN
    assert service.on_state(_state(0.5, TunnelState.DOWN, "nm-1"), now=_at(0.5)) == []


def test_down_with_a_cause_from_the_log_lookback_is_categorised(service: IncidentService) -> None:
    opened = service.on_state(_state(0, TunnelState.DOWN), now=_at(0), cause=_finding(-2))
    assert opened[0].incident.category is Category.DPD_TIMEOUT
    assert opened[0].incident.evidence


def test_a_finding_after_a_bare_down_identifies_the_cause(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    updated = service.on_finding(_finding(0.5), event_id="log-1", now=_at(0.6))
    assert _kinds(updated) == [TransitionKind.UPDATED]
    assert "Cause identified" in updated[0].reason
    assert updated[0].incident.category is Category.DPD_TIMEOUT


def test_finding_then_down_is_one_update(service: IncidentService) -> None:
    service.on_finding(_finding(0), event_id="log-1", now=_at(0))
    updated = service.on_state(_state(1, TunnelState.DOWN), now=_at(1))
    assert _kinds(updated) == [TransitionKind.UPDATED]
    assert "now DOWN" in updated[0].reason


def test_down_confirming_what_the_logs_already_said_sends_no_second_message(service: IncidentService) -> None:
    # The opening message already read "DOWN" (phases logged Down): a state source agreeing a
    # minute later is no news, only a state to remember.
    service.on_state(_state(-30, TunnelState.UP), now=_at(-30))
    service.on_finding(_finding(0, phases=PhaseState.DOWN), event_id="log-1", now=_at(0))
    assert service.on_state(_state(1, TunnelState.DOWN), now=_at(1)) == []
    incident = service.record(VPN, IP).incident
    assert incident is not None
    assert incident.last_state is TunnelState.DOWN


def test_a_tunnel_that_was_up_when_the_finding_arrived_going_down_is_news(service: IncidentService) -> None:
    service.on_state(_state(-30, TunnelState.UP), now=_at(-30))
    service.on_finding(_finding(0), event_id="log-1", now=_at(0))
    updated = service.on_state(_state(1, TunnelState.DOWN), now=_at(1))
    assert _kinds(updated) == [TransitionKind.UPDATED]
    assert updated[0].incident.last_state is TunnelState.DOWN


def test_up_resolves_only_after_the_clear_delay_with_the_duration(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    assert service.on_state(_state(10, TunnelState.UP), now=_at(10)) == []
    assert service.tick(VPN, IP, now=_at(14)) == []  # UP for 4 minutes: not yet
    resolved = service.tick(VPN, IP, now=_at(15))
    assert _kinds(resolved) == [TransitionKind.RESOLVED]
    incident = resolved[0].incident
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.duration == timedelta(minutes=10)  # from DOWN to back UP
    assert service.record(VPN, IP).incident is None
    assert service.tick(VPN, IP, now=_at(20)) == []


def test_down_again_within_the_clear_delay_keeps_the_incident_open(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    service.on_state(_state(1, TunnelState.UP), now=_at(1))
    assert service.on_state(_state(3, TunnelState.DOWN), now=_at(3)) == []
    assert service.tick(VPN, IP, now=_at(9)) == []
    assert service.record(VPN, IP).incident is not None


def test_a_failure_while_up_restarts_the_clear_delay(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    service.on_state(_state(1, TunnelState.UP), now=_at(1))
    service.on_finding(_finding(5), event_id="log-1", now=_at(5))
    assert service.tick(VPN, IP, now=_at(7)) == []
    assert _kinds(service.tick(VPN, IP, now=_at(10))) == [TransitionKind.RESOLVED]


def test_zero_clear_delay_resolves_on_up() -> None:
    service = IncidentService(MemoryStore(), IncidentPolicy(clear_delay=timedelta(0)))
    service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    assert _kinds(service.on_state(_state(2, TunnelState.UP), now=_at(2))) == [TransitionKind.RESOLVED]


def test_incident_without_any_state_source_resolves_after_a_quiet_hour(service: IncidentService) -> None:
    service.on_finding(_finding(0), event_id="log-1", now=_at(0))
    assert service.tick(VPN, IP, now=_at(59)) == []
    resolved = service.tick(VPN, IP, now=_at(60))
    assert _kinds(resolved) == [TransitionKind.RESOLVED]
    assert "No failure for 60 minutes" in resolved[0].reason


def test_four_transitions_in_fifteen_minutes_roll_up_into_one_flapping_message(service: IncidentService) -> None:
    messages: list[IncidentTransition] = []
    for minute, state in enumerate([TunnelState.DOWN, TunnelState.UP] * 5):
        messages += service.on_state(_state(minute * 2, state), now=_at(minute * 2))
    assert _kinds(messages) == [TransitionKind.OPENED, TransitionKind.FLAPPING]
    assert messages[1].incident.status is IncidentStatus.FLAPPING
    assert "4 UP/DOWN transitions in 15 minutes" in messages[1].reason
    assert _kinds(service.tick(VPN, IP, now=_at(30))) == [TransitionKind.RESOLVED]


def test_slow_transitions_are_not_flapping() -> None:
    service = IncidentService(MemoryStore(), IncidentPolicy(clear_delay=timedelta(minutes=30)))
    messages: list[IncidentTransition] = []
    for index, state in enumerate([TunnelState.DOWN, TunnelState.UP] * 3):
        messages += service.on_state(_state(index * 6, state), now=_at(index * 6))
    assert TransitionKind.FLAPPING not in _kinds(messages)


def test_down_after_an_endpoint_replacement_notice_is_labelled_maintenance(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.UNKNOWN, "health-1", maintenance=True), now=_at(0))
    opened = service.on_state(_state(3, TunnelState.DOWN), now=_at(3))
    assert opened[0].incident.maintenance
    assert "endpoint replacement" in opened[0].incident.summary


def test_notice_arriving_after_the_down_labels_the_open_incident(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    updated = service.on_state(_state(2, TunnelState.UNKNOWN, "health-1", maintenance=True), now=_at(2))
    assert _kinds(updated) == [TransitionKind.UPDATED]
    assert updated[0].incident.maintenance
    assert service.on_state(_state(2, TunnelState.UNKNOWN, "health-2", maintenance=True), now=_at(3)) == []


def test_a_notice_long_before_the_down_is_not_maintenance(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.UNKNOWN, "health-1", maintenance=True), now=_at(0))
    opened = service.on_state(_state(180, TunnelState.DOWN), now=_at(180))
    assert not opened[0].incident.maintenance


def test_out_of_order_state_events_are_ignored_by_timestamp(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    service.on_state(_state(10, TunnelState.UP), now=_at(10))
    assert service.on_state(_state(5, TunnelState.DOWN, "late"), now=_at(11)) == []
    record = service.record(VPN, IP)
    assert record.last_state is TunnelState.UP
    assert _kinds(service.tick(VPN, IP, now=_at(15))) == [TransitionKind.RESOLVED]


def test_a_late_finding_from_before_the_resolution_does_not_reopen(service: IncidentService) -> None:
    service.on_state(_state(0, TunnelState.DOWN), now=_at(0))
    service.on_state(_state(2, TunnelState.UP), now=_at(2))
    service.tick(VPN, IP, now=_at(8))
    assert service.on_finding(_finding(1), event_id="late-log", now=_at(9)) == []
    assert _kinds(service.on_finding(_finding(9), event_id="new-log", now=_at(9))) == [TransitionKind.OPENED]


def test_duplicate_delivery_of_an_event_produces_no_second_transition(service: IncidentService) -> None:
    assert _kinds(service.on_finding(_finding(0), event_id="log-1", now=_at(0))) == [TransitionKind.OPENED]
    assert service.on_finding(_finding(0), event_id="log-1", now=_at(0.1)) == []
    assert service.record(VPN, IP).incident.finding_count == 1  # type: ignore[union-attr]
    down = _state(1, TunnelState.DOWN, "alarm-1")
    assert _kinds(service.on_state(down, now=_at(1))) == [TransitionKind.UPDATED]
    assert service.on_state(down, now=_at(1.5)) == []


def test_a_conflicting_write_is_retried_on_the_fresh_record() -> None:
    store = MemoryStore()
    store.conflicts_to_inject = 2
    service = IncidentService(store, POLICY)
    assert _kinds(service.on_finding(_finding(0), event_id="1", now=_at(0))) == [TransitionKind.OPENED]


def test_persistent_contention_is_reported_not_swallowed() -> None:
    store = MemoryStore()
    store.conflicts_to_inject = 100
    with pytest.raises(StoreContention):
        IncidentService(store, POLICY, max_attempts=3).on_finding(_finding(0), event_id="1", now=_at(0))


def test_rules_are_pure_functions_of_record_and_signal() -> None:
    record = TunnelRecord(VPN, IP)
    first = apply_finding(record, _finding(0), event_id="x", policy=POLICY, now=_at(0))
    again = apply_finding(record, _finding(0), event_id="x", policy=POLICY, now=_at(0))
    assert first == again
    assert first.record is not None
    assert first.record.incident is not None
    assert apply_tick(record, policy=POLICY, now=_at(0)).record is None
    assert apply_state(record, _state(0, TunnelState.UNKNOWN), policy=POLICY, now=_at(0)).record is None


# --- outbox -----------------------------------------------------------------------------------


def test_unconfirmed_transitions_are_returned_again_until_delivered() -> None:
    service = IncidentService(MemoryStore(keep_outbox=True), POLICY)
    opened = service.on_finding(_finding(0), event_id="log-1", now=_at(0))
    assert _kinds(opened) == [TransitionKind.OPENED]
    # The publish failed: the redelivered duplicate brings back exactly the lost transition ...
    assert service.on_finding(_finding(0), event_id="log-1", now=_at(0.1)) == opened
    # ... and so does any other touch of the tunnel, together with its own news.
    down = service.on_state(_state(1, TunnelState.DOWN), now=_at(1))
    assert _kinds(down) == [TransitionKind.OPENED, TransitionKind.UPDATED]
    service.delivered(down)
    assert service.on_finding(_finding(0), event_id="log-1", now=_at(2)) == []
    assert service.record(VPN, IP).outbox == ()


def test_a_tunnel_outbox_is_not_flushed_by_another_tunnel() -> None:
    service = IncidentService(MemoryStore(keep_outbox=True), POLICY)
    service.on_finding(_finding(0), event_id="log-1", now=_at(0))
    other = service.on_finding(_finding(0, tunnel_ip="198.51.100.20"), event_id="log-2", now=_at(0))
    assert [t.incident.tunnel_ip for t in other] == ["198.51.100.20"]


# --- recurrence across incidents --------------------------------------------------------------


def _dpd_incident_every_20_minutes(service: IncidentService, count: int) -> list[IncidentTransition]:
    """DPD timeout, DOWN, UP a minute later, resolved after the clear delay; again 20 minutes later."""
    opened: list[IncidentTransition] = []
    for index in range(count):
        start = index * 20
        opened += [
            t
            for t in service.on_finding(_finding(start), event_id=f"log-{index}", now=_at(start))
            if t.kind is TransitionKind.OPENED
        ]
        service.on_state(_state(start + 1, TunnelState.UP), now=_at(start + 1))
        assert _kinds(service.tick(VPN, IP, now=_at(start + 7))) == [TransitionKind.RESOLVED]
        service.on_state(_state(start + 8, TunnelState.DOWN), now=_at(start + 8))
        service.on_state(_state(start + 9, TunnelState.UP), now=_at(start + 9))
        service.tick(VPN, IP, now=_at(start + 15))
    return opened


def test_each_recurring_dpd_incident_counts_the_earlier_ones_of_the_last_24_hours(service: IncidentService) -> None:
    opened = _dpd_incident_every_20_minutes(service, 3)
    assert [t.incident.recurrence for t in opened] == [0, 1, 2]
    # The bare DOWNs in between are incidents of their own, but not DPD timeouts.
    assert all(t.incident.category is Category.DPD_TIMEOUT for t in opened)


def test_recurrence_forgets_incidents_older_than_the_window() -> None:
    service = IncidentService(MemoryStore(), IncidentPolicy(recurrence_window=timedelta(minutes=30)))
    opened = _dpd_incident_every_20_minutes(service, 3)
    # At minute 40 the incident resolved at minute 7 is out of the 30-minute window.
    assert [t.incident.recurrence for t in opened] == [0, 1, 1]


def test_the_record_keeps_a_bounded_list_of_recent_incidents() -> None:
    service = IncidentService(MemoryStore(), IncidentPolicy(max_recent=3))
    _dpd_incident_every_20_minutes(service, 4)
    recent = service.record(VPN, IP).recent
    assert len(recent) == 3
    assert recent[-1].category is Category.UNKNOWN  # the last bare DOWN, resolved last
    assert recent[-1].resolved_at > recent[0].resolved_at


def test_a_bare_down_gets_its_recurrence_when_its_cause_is_identified(service: IncidentService) -> None:
    _dpd_incident_every_20_minutes(service, 1)
    opened = service.on_state(_state(30, TunnelState.DOWN, "alarm-2"), now=_at(30))
    assert opened[0].incident.recurrence == 0  # a bare DOWN repeats no known cause
    updated = service.on_finding(_finding(30.5), event_id="log-9", now=_at(30.6))
    assert updated[0].incident.category is Category.DPD_TIMEOUT
    assert updated[0].incident.recurrence == 1


def test_the_opening_message_says_the_incident_recurs(service: IncidentService) -> None:
    opened = _dpd_incident_every_20_minutes(service, 3)[-1]
    view = build_view(Alert(transition=opened))
    assert view.reason == "dpd_timeout summary (3rd dpd_timeout incident on this tunnel in 24 h)"
    first = build_view(Alert(transition=_dpd_incident_every_20_minutes(IncidentService(MemoryStore()), 1)[0]))
    assert first.reason == "dpd_timeout summary"
