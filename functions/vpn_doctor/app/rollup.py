"""Use cases of the roll-up (:mod:`vpn_doctor.rollup`): notify's decision about each alert, and the poller's end of
a storm.

**Decide** (notify, before any channel): apply the alert to its connection's record with a conditional write
(reload and decide again on a conflict, so two tunnels' alerts handled at once by two notify invocations make one
``outage`` change, not two); an ``opened`` change is then offered to the storm detector (conditional alike) and the
outcome stored with the decision (``storm_checked``), so a retry after a crash never offers it twice nor loses it. A
storm opened by this failure marks the connections that failed before it (held from then on) and records every
member.

**End** (the poller's schedule, like the release of silences): once a storm had no new failure for a whole window,
the detector is marked ``ending`` (new failures are told on their own again), one alert with the storm's summary is
published (notify sends it once per channel: its key is the storm's), every member is told its current state, and
the detector is cleared. A crash part-way resumes at the next poll: ``ending`` is remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Final, Protocol

from aws_lambda_powertools import Logger

from vpn_doctor.app.publishing import EventPublisher, publish_all
from vpn_doctor.constants import CONNECTION_SCOPE, DETAIL_TYPE_ALERT, SERVICE_NAME
from vpn_doctor.models import (
    Alert,
    ConnectionChangeKind,
    ConnectionState,
    Incident,
    IncidentStatus,
    IncidentTransition,
    StormKind,
    StormMember,
    StormNotice,
    TransitionKind,
    dump,
)
from vpn_doctor.rollup import (
    ConnectionRecord,
    Decision,
    RollupPolicy,
    StormOutcome,
    StormRecord,
    Verdict,
    apply_alert,
    on_failure,
    remember,
    storm_hold,
    storm_over,
    storm_release,
    storm_summary,
)
from vpn_doctor.taxonomy import Category, Severity

logger = Logger(service=SERVICE_NAME, child=True)

MAX_ATTEMPTS: Final = 8
STORM: Final = "storm"  # the vpn_connection_id of a storm's summary alert (it is about many)


class RollupStore(Protocol):
    """Connection records and the storm detector (vpn_doctor.aws.rollup_store)."""

    def connection(self, vpn_connection_id: str) -> ConnectionRecord:
        """The connection's record (version 0 when new)."""
        ...

    def connections(self, vpn_connection_ids: Iterable[str]) -> dict[str, ConnectionRecord]:
        """Many connections' records."""
        ...

    def save_connection(self, record: ConnectionRecord, *, expected_version: int, now: datetime) -> bool:
        """Conditional write; ``False``: someone else wrote first."""
        ...

    def storm(self) -> StormRecord:
        """The storm detector."""
        ...

    def save_storm(self, record: StormRecord, *, expected_version: int) -> bool:
        """Conditional write; ``False``: someone else wrote first."""
        ...

    def add_members(self, storm_id: str, members: Iterable[StormMember], *, now: datetime) -> None:
        """Remember storm members (idempotent)."""
        ...

    def members(self, storm_id: str) -> list[StormMember]:
        """A storm's members."""
        ...


class RollupContention(RuntimeError):
    """A record kept changing under us: the invocation fails and the event is delivered again."""


def decide(alert: Alert, store: RollupStore, *, policy: RollupPolicy, now: datetime) -> Decision:
    """The roll-up's decision about ``alert`` (stored first: a retry gets the same one)."""
    vpn = alert.transition.incident.vpn_connection_id
    record, decision = _update(store, vpn, lambda current: apply_alert(current, alert, now=now, policy=policy), now=now)
    change = decision.change
    if decision.verdict is not Verdict.SEND or change is None or change.kind is not ConnectionChangeKind.OPENED:
        return decision
    if decision.storm_checked:
        return decision
    member = StormMember(
        vpn_connection_id=vpn,
        at=change.at,
        account=record.account,
        region=record.region,
        customer_gateway_ip=record.customer_gateway_ip,
        state=change.state,
    )
    outcome, detector = _offer(store, member, key=decision.key, policy=policy, now=now)
    if outcome is StormOutcome.OPENED and detector.notice is not None and detector.storm_id is not None:
        checked = replace(decision, storm=detector.notice, storm_checked=True)
        _hold_earlier(store, detector, vpn, now=now)
        store.add_members(detector.storm_id, detector.notice.members, now=now)
    elif outcome is StormOutcome.JOINED and detector.storm_id is not None:
        checked = replace(decision, verdict=Verdict.STORM_HELD, storm_checked=True)
        store.add_members(detector.storm_id, [member], now=now)
    else:
        checked = replace(decision, storm_checked=True)
    storm_id = detector.storm_id if outcome is not StormOutcome.ALONE else None

    def record_outcome(current: ConnectionRecord) -> tuple[ConnectionRecord | None, Decision]:
        held = replace(current, storm_id=storm_id) if storm_id else current
        return remember(held, checked, policy), checked

    return _update(store, vpn, record_outcome, now=now)[1]


def _update(
    store: RollupStore,
    vpn_connection_id: str,
    rule: Callable[[ConnectionRecord], tuple[ConnectionRecord | None, Decision]],
    *,
    now: datetime,
) -> tuple[ConnectionRecord, Decision]:
    for _ in range(MAX_ATTEMPTS):
        current = store.connection(vpn_connection_id)
        new, decision = rule(current)
        if new is None:
            return current, decision
        if store.save_connection(new, expected_version=current.version, now=now):
            return new, decision
    raise RollupContention(f"connection record {vpn_connection_id} kept changing")


def _offer(
    store: RollupStore, member: StormMember, *, key: str, policy: RollupPolicy, now: datetime
) -> tuple[StormOutcome, StormRecord]:
    for _ in range(MAX_ATTEMPTS):
        current = store.storm()
        new, outcome = on_failure(current, member, key=key, policy=policy, now=now)
        if new is None:
            return outcome, current
        if store.save_storm(new, expected_version=current.version):
            return outcome, new
    raise RollupContention("storm detector kept changing")


def _hold_earlier(store: RollupStore, detector: StormRecord, opener: str, *, now: datetime) -> None:
    """The members that failed before the storm opened: their later messages are held too."""
    storm_id = detector.storm_id
    if storm_id is None or detector.notice is None:
        return
    for member in detector.notice.members:
        if member.vpn_connection_id == opener:
            continue
        for _ in range(MAX_ATTEMPTS):
            current = store.connection(member.vpn_connection_id)
            new = storm_hold(current, storm_id)
            if new is None or store.save_connection(new, expected_version=current.version, now=now):
                break
        else:
            logger.warning("Storm member not marked held", vpn_connection_id=member.vpn_connection_id)


def end_storm(store: RollupStore, bus: EventPublisher, *, policy: RollupPolicy, now: datetime) -> StormNotice | None:
    """End the storm when it is over: publish its summary, tell each member its state, clear the detector.

    Raises :class:`~vpn_doctor.app.publishing.PublishFailed` when the bus refused (the next poll tries again)."""
    detector = store.storm()
    storm_id = detector.storm_id
    if not storm_over(detector, policy=policy, now=now) or storm_id is None:
        return None
    if not detector.ending:
        ending = replace(detector, ending=True)
        if not store.save_storm(ending, expected_version=detector.version):
            return None  # a failure joined meanwhile (or another poll ends it): the next poll looks again
        detector = replace(ending, version=detector.version + 1)
    members = store.members(storm_id)
    records = store.connections(m.vpn_connection_id for m in members)
    broken = [
        replace(m, state=records[m.vpn_connection_id].state)
        for m in members
        if records[m.vpn_connection_id].state is not ConnectionState.OK
    ]
    notice = storm_summary(detector, members, broken, policy=policy, now=now)
    publish_all(bus, DETAIL_TYPE_ALERT, [dump(storm_alert(notice))])
    for member in members:
        for _ in range(MAX_ATTEMPTS):
            current = store.connection(member.vpn_connection_id)
            new = storm_release(current, storm_id, now=now)
            if new is None or store.save_connection(new, expected_version=current.version, now=now):
                break
        else:
            raise RollupContention(f"storm member {member.vpn_connection_id} kept changing")
    # Ending: nobody joins it any more, so only another ending poll can have written it (it did the same).
    store.save_storm(StormRecord(version=detector.version), expected_version=detector.version)
    return notice


def storm_alert(notice: StormNotice) -> Alert:
    """The alert event that carries a storm's summary to notify (an alert is what notify takes in).

    Its transition names the storm, not a tunnel: ``incident_id`` is the storm's id, so notify's once-per-channel
    key sends the summary at most once per channel."""
    resolved = notice.kind is StormKind.ENDED and notice.broken_count == 0
    incident = Incident(
        incident_id=notice.storm_id,
        vpn_connection_id=STORM,
        tunnel_ip=CONNECTION_SCOPE,
        status=IncidentStatus.RESOLVED if resolved else IncidentStatus.OPEN,
        category=Category.UNKNOWN,
        cause=None,
        severity=Severity.CRITICAL,
        summary=f"{notice.count} connections failed within {notice.window_seconds} s",
        opened_at=notice.started_at,
        updated_at=notice.at,
        resolved_at=notice.at if resolved else None,
    )
    kind = TransitionKind.RESOLVED if resolved else TransitionKind.UPDATED
    transition = IncidentTransition(kind, incident, notice.at, f"{notice.storm_id}#{notice.kind.value}")
    return Alert(transition=transition, storm=notice)
