"""Incident rules (pure) and the incident service that applies them through a store.

One record per tunnel (connection id + outside IP), :class:`TunnelRecord`, holds the tunnel's last
known state and its single open incident. The rules are pure functions of (record, signal, policy,
now) returning an :class:`Outcome` (the new record and the transitions worth a message):

- **open** on the first failure finding (``raise_after_findings``, default 1, within
  ``raise_window``) or on a DOWN state; a DOWN with no finding can be given the cause found by a
  log look-back (``cause=``);
- **update** only on a material change: a worse severity, the first real category of an incident
  opened by a bare DOWN, the tunnel going DOWN for the first time, an endpoint-replacement notice;
- **flapping**: ``flap_transitions`` UP/DOWN transitions within ``flap_window`` (default 4 in 15
  minutes) become one ``flapping`` transition; later flips are silent;
- **resolve** once the tunnel has been UP for ``clear_delay`` (default 5 minutes) with no newer
  failure (or, when no state source speaks for the tunnel, after ``quiet_resolve`` without a
  failure); the resolved incident carries ``resolved_at`` so its duration is known;
- **maintenance**: a DOWN within ``maintenance_window`` of an AWS endpoint-replacement notice is
  labelled as maintenance (whichever of the two arrives first);
- **out of order**: a state signal older than the newest applied one is ignored; a finding older
  than the last resolution does not reopen anything;
- **duplicates**: the store records ``event id + tunnel`` atomically with the record, so a second
  delivery of the same event produces no transition;
- **routes lost** (BGP connections, from the poller): a tunnel's accepted routes low for a hold open a
  ``bgp_session/routes_lost`` incident that resolves when they recover, not by the clear delay
  (:func:`apply_routes`, :mod:`vpn_doctor.routes`);
- **recurrence**: the record keeps the tunnel's recent resolved incidents (``max_recent`` within
  ``recurrence_window``, default 10 in 24 hours); an incident opens with ``recurrence`` = how many
  of them had its category (recomputed when the category is first identified).

Outbox: the transitions of a save are written in the same transaction into the tunnel's outbox
(:attr:`TunnelRecord.outbox` as loaded). Every service call returns the transitions to publish:
the new ones plus whatever the tunnel's outbox still held when it was loaded (a publish that
failed earlier, or one still in flight elsewhere: at-least-once), so a redelivered duplicate
publishes what was lost and any later touch of the tunnel flushes leftovers. After publishing,
the caller confirms with :meth:`IncidentService.delivered`, which removes them from the outbox.

Service API (used by the use cases in :mod:`vpn_doctor.app`)::

    service = IncidentService(store, policy)            # store: IncidentStore (aws.incident_store)
    service.on_finding(finding, event_id=..., now=...)  -> list[IncidentTransition]  # to publish
    service.on_state(change, now=..., cause=None)       -> list[IncidentTransition]  # to publish
    service.tick(vpn_connection_id, tunnel_ip, now=...) -> list[IncidentTransition]  # to publish
    service.on_routes(vpn_connection_id, tunnel_ip, observation, now=...) -> ...  # routes, then a tick
    service.delivered(transitions)                      # published: remove from the outbox
    service.record(vpn_connection_id, tunnel_ip)        -> TunnelRecord
    service.records(tunnels)                            -> {(vpn id, tunnel ip): TunnelRecord}  # no outbox
    service.leftovers()                                 -> list[IncidentTransition]  # every outbox entry

A caller that already read a tunnel's record (a poll reads them in batches) passes it as ``known=`` to
``on_state``/``tick``: the first attempt applies the rule to it without reading again, and no write
happens when the rule changes nothing (a conflicting save reloads, as always).

Concurrency: every save is conditional on the record's ``version``; on a conflict the service
reloads and re-applies (``max_attempts``), so concurrent Lambdas never open two incidents for one
tunnel. :class:`StoreContention` is raised when contention persists (the event is redelivered).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from vpn_doctor.models import (
    Finding,
    Incident,
    IncidentStatus,
    IncidentTransition,
    TransitionKind,
    TunnelState,
    TunnelStateChange,
)
from vpn_doctor.records import CLOCK_SKEW, Source, TunnelEvent, clock_skew_note, iso, usable_time
from vpn_doctor.routes import RouteNews, RouteObservation, RoutePolicy, RouteState, judge_routes
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.text import key_id, minutes


@dataclass(frozen=True, slots=True)
class IncidentPolicy:
    """Thresholds of the incident rules (deploy configuration; defaults from the issue)."""

    clear_delay: timedelta = timedelta(minutes=5)
    raise_after_findings: int = 1
    raise_window: timedelta = timedelta(minutes=10)
    flap_transitions: int = 4
    flap_window: timedelta = timedelta(minutes=15)
    maintenance_window: timedelta = timedelta(hours=2)
    quiet_resolve: timedelta = timedelta(hours=1)
    # A failure that repeats is news once: the ``repeat_notice``-th finding of the incident's own
    # category, at least ``repeat_gap`` after the opening (not the second line of one burst). It is
    # also what lets remediation act on "repeated DPD timeouts".
    repeat_notice: int = 2
    repeat_gap: timedelta = timedelta(minutes=1)
    max_evidence: int = 10
    max_flips: int = 32
    # Recurrence across incidents: how far back, and how many resolved incidents the record keeps.
    recurrence_window: timedelta = timedelta(hours=24)
    max_recent: int = 10
    # BGP routes lost, from the telemetry's AcceptedRouteCount (vpn_doctor.routes).
    routes: RoutePolicy = field(default_factory=RoutePolicy)


@dataclass(frozen=True, slots=True)
class PastIncident:
    """A resolved incident, as much as recurrence needs to know of it."""

    category: Category
    cause: Cause | None
    opened_at: datetime
    resolved_at: datetime


@dataclass(frozen=True, slots=True)
class TunnelRecord:
    """Everything vpn-doctor remembers about one tunnel (one store item)."""

    vpn_connection_id: str
    tunnel_ip: str
    last_state: TunnelState = TunnelState.UNKNOWN
    state_since: datetime | None = None  # when last_state began
    state_at: datetime | None = None  # newest applied state signal: older ones are out of order
    incident: Incident | None = None  # the open incident
    pending_findings: tuple[datetime, ...] = ()  # failure findings below the raise threshold
    maintenance_notice_at: datetime | None = None
    last_resolved_at: datetime | None = None
    recent: tuple[PastIncident, ...] = ()  # recently resolved incidents, oldest first (bounded)
    routes: RouteState = field(default_factory=RouteState)  # accepted BGP routes (vpn_doctor.routes)
    # Transitions saved but not yet confirmed published (filled by the store's load; never saved
    # from here: a save writes only its own new transitions into the outbox).
    outbox: tuple[IncidentTransition, ...] = ()
    version: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a rule decided: the new record (``None``: nothing to write), transitions, and why."""

    record: TunnelRecord | None
    transitions: tuple[IncidentTransition, ...] = ()
    resolved: Incident | None = None  # the incident closed by this outcome (to archive)
    note: str = ""


# --- rules ------------------------------------------------------------------------------------


def apply_finding(
    record: TunnelRecord, finding: Finding, *, event_id: str, policy: IncidentPolicy, now: datetime
) -> Outcome:
    """A classified log record for this tunnel."""
    if not finding.is_failure:
        return Outcome(None, note="not a failure")
    # Windows are subtracted from it: a time datetime cannot do that with is taken as now.
    at = finding.timestamp if usable_time(finding.timestamp) else now
    if record.last_resolved_at is not None and at <= record.last_resolved_at:
        return Outcome(None, note="finding older than the last resolution")
    evidence = finding.evidence
    incident = record.incident
    if incident is None:
        pending = (*(t for t in record.pending_findings if t > at - policy.raise_window), at)
        if len(pending) < policy.raise_after_findings:
            return Outcome(replace(record, pending_findings=pending), note="below the raise threshold")
        opened = Incident(
            incident_id=_incident_id(record, event_id),
            vpn_connection_id=record.vpn_connection_id,
            tunnel_ip=record.tunnel_ip,
            status=IncidentStatus.OPEN,
            category=finding.category,
            cause=finding.cause,
            severity=finding.severity,
            summary=finding.summary,
            opened_at=at,
            updated_at=now,
            last_state=record.last_state,
            state_since=record.state_since,
            evidence=evidence[-policy.max_evidence :],
            finding_count=len(pending),
            maintenance=record.last_state is TunnelState.DOWN and _near_notice(record, at, policy),
            recurrence=recurrence(record, finding.category, at, policy),
        )
        new = replace(record, incident=opened, pending_findings=())
        return Outcome(new, (IncidentTransition(TransitionKind.OPENED, opened, now, event_id, finding.summary),))
    merged = (*incident.evidence, *evidence)[-policy.max_evidence :]
    updated = replace(incident, evidence=merged, finding_count=incident.finding_count + 1, updated_at=now)
    reason = _material_finding(incident, finding)
    if reason is None and _repeats(updated, finding, policy):
        updated = replace(updated, repeat_noticed=True)
        reason = (
            f"{finding.category.label.capitalize()} again: {updated.finding_count} times since "
            f"{incident.opened_at:%H:%M} UTC"
        )
    if reason is None:
        return Outcome(replace(record, incident=updated), note="not a material change")
    updated = replace(
        updated, category=finding.category, cause=finding.cause, severity=finding.severity, summary=finding.summary
    )
    if finding.category is not incident.category:
        updated = replace(updated, recurrence=recurrence(record, finding.category, incident.opened_at, policy))
    new = replace(record, incident=updated)
    return Outcome(new, (IncidentTransition(TransitionKind.UPDATED, updated, now, event_id, reason),))


def apply_state(
    record: TunnelRecord,
    change: TunnelStateChange,
    *,
    policy: IncidentPolicy,
    now: datetime,
    cause: Finding | None = None,
) -> Outcome:
    """A state signal for this tunnel; ``cause`` is a failure finding found by a log look-back."""
    if not usable_time(change.observed_at):  # windows are subtracted from it (see apply_finding)
        change = replace(change, observed_at=now)
    at = change.observed_at
    if change.maintenance:
        return _maintenance_notice(record, change, policy, now)
    if change.state is TunnelState.UNKNOWN:
        return Outcome(None, note="state unknown")
    if record.state_at is not None and at < record.state_at:
        return Outcome(None, note="out of order: older than the last applied state")
    transitions: list[IncidentTransition] = []
    incident = record.incident
    changed_state = change.state is not record.last_state
    new = replace(
        record,
        last_state=change.state,
        state_since=at if changed_state else (record.state_since or at),
        state_at=at,
    )
    if change.state is TunnelState.DOWN:
        if incident is None:
            opened = _open_on_down(new, change, cause, policy, now)
            new = replace(new, incident=opened)
            transitions.append(IncidentTransition(TransitionKind.OPENED, opened, now, change.event_id, opened.summary))
        elif changed_state:
            # The first DOWN of an incident opened by a finding is news; later ones are flips ...
            first_down = not incident.state_flips
            flips = _flips(incident, at, policy) if not first_down else (*incident.state_flips, at)
            updated = replace(incident, last_state=TunnelState.DOWN, state_since=at, updated_at=now, state_flips=flips)
            if cause is not None and cause.is_failure and updated.category is Category.UNKNOWN:
                updated = replace(
                    updated,
                    category=cause.category,
                    cause=cause.cause,
                    summary=cause.summary,
                    recurrence=recurrence(record, cause.category, incident.opened_at, policy),
                )
            # ... unless its logs already said so: the opening message read "DOWN" then.
            if first_down and not incident.logs_say_down:
                reason = f"Tunnel is now DOWN ({change.reason or change.source.value})"
                transitions.append(IncidentTransition(TransitionKind.UPDATED, updated, now, change.event_id, reason))
            updated, flapping = _check_flapping(updated, change, policy, now)
            transitions.extend(flapping)
            new = replace(new, incident=updated)
    elif incident is not None and changed_state:
        flips = _flips(incident, at, policy) if incident.last_state is TunnelState.DOWN else incident.state_flips
        updated = replace(incident, last_state=TunnelState.UP, state_since=at, updated_at=now, state_flips=flips)
        updated, flapping = _check_flapping(updated, change, policy, now)
        transitions.extend(flapping)
        new = replace(new, incident=updated)
    resolved = _resolve_if_clear(new, policy, now, event_id=change.event_id)
    if resolved.record is not None:
        return Outcome(resolved.record, (*transitions, *resolved.transitions), resolved.resolved)
    return Outcome(new, tuple(transitions))


def apply_tick(record: TunnelRecord, *, policy: IncidentPolicy, now: datetime) -> Outcome:
    """Time passed: resolve an incident whose tunnel has been UP (or quiet) long enough."""
    if record.incident is None:
        return Outcome(None, note="no open incident")
    return _resolve_if_clear(record, policy, now, event_id=f"resolve:{record.incident.incident_id}")


def apply_routes(
    record: TunnelRecord, observation: RouteObservation, *, policy: IncidentPolicy, now: datetime
) -> Outcome:
    """A poll's view of the accepted BGP routes of a tunnel (dynamic routing only), then time passing
    (as :func:`apply_tick`): routes low for the hold open or add to an incident (``bgp_session/routes_lost``),
    their recovery or re-learning resolves a routes-lost incident; ``None`` record when nothing changed."""
    verdict = judge_routes(record.routes, observation, policy=policy.routes, now=now)
    new = replace(record, routes=verdict.state)
    news = verdict.news
    if news is RouteNews.LOST:
        finding = routes_lost_finding(record, verdict.summary, zero=verdict.zero, now=now)
        since = iso(verdict.state.low_since) or iso(now)
        opened = apply_finding(new, finding, event_id=f"routes:{since}", policy=policy, now=now)
        return Outcome(opened.record or new, opened.transitions, note=f"routes lost: {opened.note}")
    if news is not RouteNews.NONE and _routes_incident(record.incident):
        reason = verdict.summary
        return _close(new, policy, now, resolved_at=now, reason=reason, event_id=f"routes:{news.value}:{iso(now)}")
    if new.incident is not None:
        cleared = _resolve_if_clear(new, policy, now, event_id=f"resolve:{new.incident.incident_id}")
        if cleared.record is not None:
            return cleared
    if verdict.state == record.routes:
        return Outcome(None, note="routes unchanged")
    return Outcome(new, note=f"routes: {news.value}")


def routes_lost_finding(record: TunnelRecord, summary: str, *, zero: bool, now: datetime) -> Finding:
    """The finding a loss of accepted routes makes (critical when none is left: the tunnel carries nothing)."""
    event = TunnelEvent(
        source=Source.AWS_TELEMETRY,
        message=f"VgwTelemetry AcceptedRouteCount: {summary}",
        raw="",
        vpn_connection_id=record.vpn_connection_id,
        tunnel_ip=record.tunnel_ip,
        timestamp=now,
    )
    severity = Severity.CRITICAL if zero else Severity.WARNING
    return Finding(Category.BGP_SESSION, Cause.ROUTES_LOST, severity, summary, "telemetry.routes_lost", event)


def _routes_incident(incident: Incident | None) -> bool:
    return incident is not None and incident.category is Category.BGP_SESSION and incident.cause is Cause.ROUTES_LOST


def chained(record: TunnelRecord, first: Outcome, then: Callable[[TunnelRecord], Outcome]) -> Outcome:
    """``first``'s outcome followed by the rule ``then`` on its record: one record to write, both rules' news."""
    base = first.record or record
    second = then(base)
    if second.record is None:
        return first
    return Outcome(
        second.record,
        (*first.transitions, *second.transitions),
        second.resolved or first.resolved,
        note="; ".join(n for n in (first.note, second.note) if n),
    )


# --- rule helpers -----------------------------------------------------------------------------


def _open_on_down(
    record: TunnelRecord, change: TunnelStateChange, cause: Finding | None, policy: IncidentPolicy, now: datetime
) -> Incident:
    at = change.observed_at
    maintenance = _near_notice(record, at, policy)
    if cause is not None and cause.is_failure:
        category, cause_id, summary = cause.category, cause.cause, cause.summary
        evidence = cause.evidence
    elif maintenance:
        category, cause_id, evidence = Category.UNKNOWN, None, ()
        summary = "Tunnel DOWN after an AWS tunnel endpoint replacement (maintenance)"
    else:
        category, cause_id, evidence = Category.UNKNOWN, None, ()
        summary = f"Tunnel DOWN ({change.reason or change.source.value})"
    return Incident(
        incident_id=_incident_id(record, change.event_id),
        vpn_connection_id=record.vpn_connection_id,
        tunnel_ip=record.tunnel_ip,
        status=IncidentStatus.OPEN,
        category=category,
        cause=cause_id,
        severity=Severity.CRITICAL,
        summary=summary,
        opened_at=at,
        updated_at=now,
        last_state=TunnelState.DOWN,
        state_since=at,
        state_flips=(at,),
        evidence=tuple(evidence)[-policy.max_evidence :],
        finding_count=1 if cause is not None else 0,
        maintenance=maintenance,
        recurrence=recurrence(record, category, at, policy),
    )


def _maintenance_notice(
    record: TunnelRecord, change: TunnelStateChange, policy: IncidentPolicy, now: datetime
) -> Outcome:
    at = change.observed_at
    if record.maintenance_notice_at is not None and record.maintenance_notice_at >= at:
        return Outcome(None, note="maintenance notice already known")
    new = replace(record, maintenance_notice_at=at)
    incident = record.incident
    if incident is None or incident.maintenance or abs(incident.opened_at - at) > policy.maintenance_window:
        return Outcome(new, note="maintenance notice recorded")
    labelled = replace(incident, maintenance=True, updated_at=now)
    reason = "AWS reports a tunnel endpoint replacement (maintenance) for this tunnel"
    return Outcome(
        replace(new, incident=labelled),
        (IncidentTransition(TransitionKind.UPDATED, labelled, now, change.event_id, reason),),
    )


def _repeats(incident: Incident, finding: Finding, policy: IncidentPolicy) -> bool:
    """The incident's own failure happened again, worth telling once (see ``repeat_notice``)."""
    return (
        not incident.repeat_noticed
        and incident.status is IncidentStatus.OPEN
        and finding.category is incident.category
        and incident.finding_count >= policy.repeat_notice
        and finding.timestamp is not None
        and finding.timestamp - incident.opened_at >= policy.repeat_gap
    )


def _material_finding(incident: Incident, finding: Finding) -> str | None:
    if finding.severity.rank > incident.severity.rank:
        return f"Severity rose to {finding.severity.value}: {finding.summary}"
    if incident.category is Category.UNKNOWN and finding.category is not Category.UNKNOWN:
        return f"Cause identified: {finding.category.label}"
    if incident.status is IncidentStatus.FLAPPING:
        return None
    if finding.category is not incident.category and finding.severity.rank >= incident.severity.rank:
        return f"New problem: {finding.category.label}"
    return None


def _flips(incident: Incident, at: datetime, policy: IncidentPolicy) -> tuple[datetime, ...]:
    recent = tuple(t for t in incident.state_flips if t > at - policy.flap_window)
    return (*recent, at)[-policy.max_flips :]


def _check_flapping(
    incident: Incident, change: TunnelStateChange, policy: IncidentPolicy, now: datetime
) -> tuple[Incident, tuple[IncidentTransition, ...]]:
    if incident.status is not IncidentStatus.OPEN:
        return incident, ()
    window_start = change.observed_at - policy.flap_window
    count = sum(1 for t in incident.state_flips if t > window_start)
    if count < policy.flap_transitions:
        return incident, ()
    flapping = replace(incident, status=IncidentStatus.FLAPPING, updated_at=now)
    minutes = int(policy.flap_window.total_seconds() // 60)
    reason = f"Tunnel is flapping: {count} UP/DOWN transitions in {minutes} minutes"
    return flapping, (IncidentTransition(TransitionKind.FLAPPING, flapping, now, change.event_id, reason),)


def _resolve_if_clear(record: TunnelRecord, policy: IncidentPolicy, now: datetime, *, event_id: str) -> Outcome:
    incident = record.incident
    if incident is None:
        return Outcome(None)
    last_failure = max((e.timestamp for e in incident.evidence if e.timestamp), default=incident.opened_at)
    last_failure = max(last_failure, incident.opened_at)
    if record.last_state is TunnelState.UP and record.state_since is not None:
        if now - record.state_since < policy.clear_delay or now - last_failure < policy.clear_delay:
            return Outcome(None, note="waiting for the clear delay")
        resolved_at = max(record.state_since, incident.opened_at) if incident.state_flips else now
        reason = f"Tunnel UP for at least {minutes(policy.clear_delay)} minutes"
    elif record.last_state is TunnelState.UNKNOWN and now - last_failure >= policy.quiet_resolve:
        resolved_at = now
        reason = f"No failure for {minutes(policy.quiet_resolve)} minutes"
    else:
        return Outcome(None, note="not clear")
    if record.routes.low_since is not None and _routes_incident(incident):
        # Routes lost end when the count recovers (apply_routes), not when the tunnel has been UP a while.
        return Outcome(None, note="accepted routes still low")
    return _close(record, policy, now, resolved_at=resolved_at, reason=reason, event_id=event_id)


def _close(
    record: TunnelRecord, policy: IncidentPolicy, now: datetime, *, resolved_at: datetime, reason: str, event_id: str
) -> Outcome:
    """Resolve the record's open incident at ``resolved_at``: archived, remembered for recurrence."""
    incident = record.incident
    if incident is None:
        return Outcome(None)
    closed = replace(
        incident,
        status=IncidentStatus.RESOLVED,
        resolved_at=resolved_at,
        updated_at=now,
        last_state=record.last_state,
        state_since=record.state_since,
    )
    past = PastIncident(incident.category, incident.cause, incident.opened_at, resolved_at)
    recent = tuple(p for p in (*record.recent, past) if p.resolved_at > now - policy.recurrence_window)
    new = replace(
        record,
        incident=None,
        pending_findings=(),
        last_resolved_at=resolved_at,
        recent=recent[-policy.max_recent :],
        # A routes loss reported inside this incident is reported again if the routes are still low.
        routes=replace(record.routes, alerted=False),
    )
    return Outcome(new, (IncidentTransition(TransitionKind.RESOLVED, closed, now, event_id, reason),), closed)


def recurrence(record: TunnelRecord, category: Category, at: datetime, policy: IncidentPolicy) -> int:
    """How many of the tunnel's resolved incidents of ``category`` ended within the window before ``at``.

    A bare DOWN (category unknown) is not a recurrence of anything: causes are what repeat."""
    if category is Category.UNKNOWN:
        return 0
    start = at - policy.recurrence_window
    return sum(1 for past in record.recent if past.category is category and start < past.resolved_at <= at)


def trusted_change(change: TunnelStateChange, *, now: datetime, max_skew: timedelta) -> TunnelStateChange:
    """The change, or, when it is dated more than ``max_skew`` ahead of ``now`` (an alarm's, Health's,
    Network Manager's or a telemetry time), the change dated ``now`` with a :data:`CLOCK_SKEW` note in its
    details: the rule records follow (:func:`vpn_doctor.ingest.trusted_time`). A change dated in the
    future would make every later real change look older than it, so its incident would never clear."""
    moment = change.observed_at
    if moment - now <= max_skew:
        return change
    return replace(change, observed_at=now, details={**change.details, CLOCK_SKEW: clock_skew_note(moment, now, now)})


def outbox_key(transition: IncidentTransition) -> str:
    """A transition's stable outbox key: sorts by time, then lifecycle order; same message, same key."""
    incident = transition.incident
    identity = f"{incident.incident_id}#{transition.kind.value}#{transition.event_id}#{transition.reason}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    rank = list(TransitionKind).index(transition.kind)
    return f"{transition.at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}#{rank}#{digest}"


def unique(transitions: Sequence[IncidentTransition]) -> list[IncidentTransition]:
    """The transitions without repeats (a leftover returned by two calls is one message), in order."""
    seen: set[str] = set()
    kept: list[IncidentTransition] = []
    for transition in transitions:
        key = outbox_key(transition)
        if key not in seen:
            seen.add(key)
            kept.append(transition)
    return kept


def _near_notice(record: TunnelRecord, at: datetime, policy: IncidentPolicy) -> bool:
    notice = record.maintenance_notice_at
    return notice is not None and abs(at - notice) <= policy.maintenance_window


def _incident_id(record: TunnelRecord, event_id: str) -> str:
    # Deterministic, so a retried invocation computes the same id.
    digest = hashlib.sha256(f"{record.vpn_connection_id}#{record.tunnel_ip}#{event_id}".encode()).hexdigest()
    return f"inc-{digest[:16]}"


# --- service ----------------------------------------------------------------------------------


class SaveResult(StrEnum):
    """What a conditional save did."""

    SAVED = "saved"
    CONFLICT = "conflict"  # someone else wrote the record first: reload and retry
    DUPLICATE = "duplicate"  # this event was already applied to this tunnel


class IncidentStore(Protocol):
    """Persistence for :class:`TunnelRecord` (DynamoDB in :mod:`vpn_doctor.aws.incident_store`)."""

    def load(self, vpn_connection_id: str, tunnel_ip: str) -> TunnelRecord:
        """The tunnel's record (a fresh one with ``version`` 0 when none exists)."""
        ...

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
        """Write ``record`` if the stored version is still ``expected_version``, remember ``event_key``
        and add ``outbox`` to the tunnel's outbox, all or nothing (``record.outbox`` is not written)."""
        ...

    def load_many(self, tunnels: Iterable[tuple[str, str]]) -> dict[tuple[str, str], TunnelRecord]:
        """Many tunnels' records, as :meth:`load` but with ``outbox`` left empty (see :meth:`leftovers`)."""
        ...

    def leftovers(self) -> list[IncidentTransition]:
        """Every transition of every tunnel still in the outbox, oldest first."""
        ...

    def delivered(self, transitions: Sequence[IncidentTransition]) -> None:
        """Remove published transitions from their tunnels' outboxes (absent ones are fine)."""
        ...

    def mark_vanished(self, vpn_connection_ids: Sequence[str], *, now: datetime) -> list[str]:
        """Remember that monitored connections are gone; returns those not remembered before."""
        ...

    def save_connection_notice(self, vpn_connection_id: str, at: datetime, *, now: datetime, keep: timedelta) -> bool:
        """Remember a maintenance notice that names no tunnel (loads of the connection's tunnels see it),
        only if newer than the one kept; True when stored."""
        ...


class StoreContention(RuntimeError):
    """The record kept changing under us; the caller should let the event be redelivered."""


@dataclass(slots=True)
class IncidentService:
    """Applies the rules to stored records, with optimistic concurrency and duplicate suppression."""

    store: IncidentStore
    policy: IncidentPolicy = field(default_factory=IncidentPolicy)
    max_attempts: int = 6

    def record(self, vpn_connection_id: str, tunnel_ip: str) -> TunnelRecord:
        """The tunnel's stored record (with its outbox)."""
        return self.store.load(vpn_connection_id, tunnel_ip)

    def records(self, tunnels: Iterable[tuple[str, str]]) -> dict[tuple[str, str], TunnelRecord]:
        """Many tunnels' stored records at once (without their outboxes: see :meth:`leftovers`)."""
        return self.store.load_many(tunnels)

    def leftovers(self) -> list[IncidentTransition]:
        """Whatever any tunnel's outbox still holds (a failed or interrupted publish): to publish again."""
        return self.store.leftovers()

    def delivered(self, transitions: Sequence[IncidentTransition]) -> None:
        """Published: remove the transitions from the outbox so no later call returns them again."""
        if transitions:
            self.store.delivered(unique(transitions))

    def on_finding(self, finding: Finding, *, event_id: str, now: datetime) -> list[IncidentTransition]:
        """Apply a failure finding (ignored when it does not name its tunnel). An id unfit for a key
        (too long, not Unicode) is used as its digest (:func:`vpn_doctor.text.key_id`)."""
        if not finding.vpn_connection_id or not finding.tunnel_ip or not finding.is_failure:
            return []
        event_id = key_id(event_id)
        return self._apply(
            finding.vpn_connection_id,
            finding.tunnel_ip,
            event_id,
            lambda record: apply_finding(record, finding, event_id=event_id, policy=self.policy, now=now),
            now=now,
        )

    def on_state(
        self,
        change: TunnelStateChange,
        *,
        now: datetime,
        cause: Finding | None = None,
        known: TunnelRecord | None = None,
        routes: RouteObservation | None = None,
    ) -> list[IncidentTransition]:
        """Apply a per-tunnel state change (connection-wide changes must be expanded by the caller);
        ``known``: the tunnel's record as just read by the caller; its id is used as a key as
        :meth:`on_finding` says; ``routes``: the poll's view of its accepted routes, applied in the same write
        (:func:`apply_routes`)."""
        tunnel_ip = change.tunnel_ip
        if not tunnel_ip:
            return []
        change = replace(change, event_id=key_id(change.event_id))

        def rule(record: TunnelRecord) -> Outcome:
            outcome = apply_state(record, change, policy=self.policy, now=now, cause=cause)
            if routes is None:
                return outcome
            return chained(record, outcome, lambda r: apply_routes(r, routes, policy=self.policy, now=now))

        return self._apply(change.vpn_connection_id, tunnel_ip, change.event_id, rule, now=now, known=known)

    def on_routes(
        self,
        vpn_connection_id: str,
        tunnel_ip: str,
        routes: RouteObservation,
        *,
        now: datetime,
        known: TunnelRecord | None = None,
    ) -> list[IncidentTransition]:
        """A poll's view of a tunnel's accepted BGP routes, with the resolution check of :meth:`tick`
        (``known``: as for :meth:`on_state`); writes only when the routes' state or the incident changes."""
        return self._apply(
            vpn_connection_id,
            tunnel_ip,
            None,
            lambda record: apply_routes(record, routes, policy=self.policy, now=now),
            now=now,
            known=known,
        )

    def tick(
        self, vpn_connection_id: str, tunnel_ip: str, *, now: datetime, known: TunnelRecord | None = None
    ) -> list[IncidentTransition]:
        """Resolve the tunnel's incident if it has been clear long enough (``known``: as for :meth:`on_state`)."""
        return self._apply(
            vpn_connection_id,
            tunnel_ip,
            None,
            lambda record: apply_tick(record, policy=self.policy, now=now),
            now=now,
            known=known,
        )

    def _apply(
        self,
        vpn_connection_id: str,
        tunnel_ip: str,
        event_id: str | None,
        rule: _Rule,
        *,
        now: datetime,
        known: TunnelRecord | None = None,
    ) -> list[IncidentTransition]:
        event_key = None if event_id is None else f"{event_id}#{vpn_connection_id}#{tunnel_ip}"
        for attempt in range(self.max_attempts):
            current = known if attempt == 0 and known is not None else self.store.load(vpn_connection_id, tunnel_ip)
            outcome = rule(current)
            # Whatever the outbox still holds was not (or not yet) confirmed published: publish it
            # again with this call's news (at-least-once; notify is idempotent per transition).
            leftovers = list(current.outbox)
            if outcome.record is None:
                return leftovers
            result = self.store.save(
                replace(outcome.record, outbox=()),
                expected_version=current.version,
                event_key=event_key,
                archive=outcome.resolved,
                now=now,
                outbox=outcome.transitions,
            )
            if result is SaveResult.SAVED:
                return unique([*leftovers, *outcome.transitions])
            if result is SaveResult.DUPLICATE:
                return leftovers
        raise StoreContention(f"record {vpn_connection_id}#{tunnel_ip} kept changing; giving up for now")


class _Rule(Protocol):
    def __call__(self, record: TunnelRecord, /) -> Outcome: ...
