"""Connection roll-up and storm control (pure): what people are told about a connection, and about many at once.

**Roll-up.** The two tunnels of a Site-to-Site VPN connection are one thing to a person. Per-tunnel incidents stay
what they are (:mod:`vpn_doctor.incidents`, stored as before); each of their alerts is applied, in notify, to the
connection's :class:`ConnectionRecord`, which keeps one :class:`~vpn_doctor.models.TunnelPart` per tunnel and derives
the connection's state (:func:`derive_state`):

- ``outage`` (critical): every tunnel DOWN (a connection has two: :data:`TUNNELS_PER_CONNECTION`);
- ``redundancy_lost`` (warning): some tunnels DOWN, not all;
- ``impaired`` (the worst open incident's severity): an open incident but no tunnel DOWN: a log-only incident on an
  UP tunnel (rekey, BGP, selectors) or a connection-level one (the pseudo tunnels of
  :data:`~vpn_doctor.constants.PSEUDO_TUNNELS`: traffic findings, replacement and certificate warnings, never counted
  as tunnels);
- ``ok``: no open incident, no tunnel DOWN.

A tunnel is DOWN when its own incident says so (its last state, or its logs), or when EC2's telemetry, read by respond
with the alert (``Alert.other_tunnels_down``), reports it DOWN; a resolved incident leaves its tunnel UP.

**One message per change.** The record remembers ``told``, the state people were last told. An alert whose state
differs from it is sent as a :class:`~vpn_doctor.models.ConnectionChange` (``opened``, ``changed``, ``resolved``), with
every tunnel's part (state, cause, evidence); an update, flapping or escalation of a tunnel in an unchanged problem
state is sent as ``updated`` (same connection incident, same PagerDuty key); anything else (the second tunnel's own
opening after EC2 had already reported it DOWN, an older alert) is rolled up: recorded, not sent. So two tunnels failing
at once make one ``outage`` message: the first alert already carries the other tunnel's DOWN, and the second finds
the connection already told ``outage``. A silence holds the message (``told`` is unchanged; the poller's release
re-sends the held alert and the connection is then told once). Every decision is stored with the record under the
alert's key (bounded), so a redelivered alert gets the same decision, and the notify once-per-channel record sends it
at most once.

**Storms.** A connection going from ``ok`` to a problem is a failure. When ``storm_connections`` connections fail
within ``storm_window`` (default 5 in 120 s), a storm opens: the failure that crosses the threshold is sent as one
grouped :class:`~vpn_doctor.models.StormNotice` naming them all and what they share (:func:`common_factors`); every
later failure, and every later message about a member, is held (``storm_held``). The connections that failed before the
threshold was crossed were told on their own already (waiting on every outage for a storm that may not come would
delay every page); they are named in the grouped message and held from then on. Once ``storm_window`` passes without
a new failure the storm ends (the poller's step, :mod:`vpn_doctor.app.rollup`): one summary of the members still
broken, and every member's ``told`` becomes its current state, so its next change is told as usual.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from vpn_doctor.constants import PSEUDO_TUNNELS
from vpn_doctor.models import (
    Alert,
    ConnectionChange,
    ConnectionChangeKind,
    ConnectionState,
    IncidentStatus,
    StormKind,
    StormMember,
    StormNotice,
    TransitionKind,
    TunnelPart,
    TunnelState,
)
from vpn_doctor.taxonomy import Severity

#: Every Site-to-Site VPN connection has two tunnels ("Each Site-to-Site VPN connection has two tunnels, with each
#: tunnel using a unique public IP address", https://docs.aws.amazon.com/vpn/latest/s2svpn/VPNTunnels.html); an alert
#: naming more (never seen) counts them all.
TUNNELS_PER_CONNECTION: Final = 2
#: Tunnel transitions that are news even when the connection's state does not change.
NEWS: Final = frozenset({TransitionKind.UPDATED, TransitionKind.FLAPPING, TransitionKind.ESCALATED})


@dataclass(frozen=True, slots=True)
class RollupPolicy:
    """Storm threshold and the record's bounds (deploy keys ``storm_connections``, ``storm_window_seconds``)."""

    storm_connections: int = 5
    storm_window: timedelta = timedelta(seconds=120)
    max_decisions: int = 32  # decisions remembered per connection (redeliveries come within minutes)
    max_named: int = 50  # members a storm message names (the count says how many more)
    max_evidence: int = 3  # log lines per tunnel in a connection message


class Verdict(StrEnum):
    """What notify does with an alert after the roll-up."""

    SEND = "send"
    ROLLED_UP = "rolled_up"  # recorded, nothing new for people
    HELD = "held"  # a silence holds it
    STORM_HELD = "storm_held"  # a storm holds it (its summary tells)
    STALE = "stale"  # older than what the connection already knows of that tunnel


@dataclass(frozen=True, slots=True)
class Decision:
    """The roll-up's decision about one alert (stored with the record under the alert's key)."""

    key: str
    verdict: Verdict
    change: ConnectionChange | None = None
    storm: StormNotice | None = None  # the grouped message sent instead of ``change``
    storm_checked: bool = False  # an ``opened`` change was offered to the storm detector


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """What the roll-up remembers of one connection (one store item)."""

    vpn_connection_id: str
    tunnels: tuple[str, ...] = ()  # the connection's tunnels as last reported
    parts: tuple[TunnelPart, ...] = ()
    state: ConnectionState = ConnectionState.OK
    told: ConnectionState = ConnectionState.OK  # what people were last told
    told_severity: Severity = Severity.INFO
    peak_severity: Severity = Severity.INFO  # the worst told during the connection incident (its recovery's)
    incident_id: str | None = None  # the connection-level incident while ``told`` is a problem
    opened_at: datetime | None = None
    storm_id: str | None = None  # a storm holds this connection's messages
    account: str | None = None
    region: str | None = None
    customer_gateway_ip: str | None = None
    decisions: tuple[Decision, ...] = ()
    version: int = 0

    def decision(self, key: str) -> Decision | None:
        """The stored decision about the alert with this key."""
        return next((decision for decision in self.decisions if decision.key == key), None)


def alert_key(alert: Alert) -> str:
    """The alert's identity: its transition's (notify's once-per-channel key too)."""
    transition = alert.transition
    return f"{transition.incident.incident_id}#{transition.kind.value}#{transition.event_id}"


def derive_state(parts: Iterable[TunnelPart], tunnels: Sequence[str] = ()) -> ConnectionState:
    """The connection's state from its tunnels' parts (see the module's description)."""
    parts = tuple(parts)
    tunnel_parts = [part for part in parts if part.tunnel_ip not in PSEUDO_TUNNELS]
    down = {part.tunnel_ip for part in tunnel_parts if part.state is TunnelState.DOWN}
    total = max(TUNNELS_PER_CONNECTION, len(set(tunnels) | {part.tunnel_ip for part in tunnel_parts}))
    if down and len(down) >= total:
        return ConnectionState.OUTAGE
    if down:
        return ConnectionState.REDUNDANCY_LOST
    if any(part.incident_id for part in parts):
        return ConnectionState.IMPAIRED
    return ConnectionState.OK


def severity_of(state: ConnectionState, parts: Iterable[TunnelPart]) -> Severity:
    """The severity a state is told with (routing's minimum severity per channel reads it)."""
    if state is ConnectionState.OUTAGE:
        return Severity.CRITICAL
    if state is ConnectionState.REDUNDANCY_LOST:
        return Severity.WARNING
    if state is ConnectionState.IMPAIRED:
        found = [part.severity for part in parts if part.incident_id and part.severity is not None]
        return max(found, key=lambda severity: severity.rank, default=Severity.WARNING)
    return Severity.INFO


def apply_alert(
    record: ConnectionRecord, alert: Alert, *, now: datetime, policy: RollupPolicy
) -> tuple[ConnectionRecord | None, Decision]:
    """Apply one tunnel alert to its connection: the new record (``None``: nothing to write) and the decision."""
    key = alert_key(alert)
    known = record.decision(key)
    if known is not None:
        return None, known
    parts, stale = _apply_parts(record, alert, policy)
    tunnels = alert.tunnels or record.tunnels
    state = derive_state(parts, tunnels)
    new = replace(
        record,
        tunnels=tunnels,
        parts=parts,
        state=state,
        account=alert.account or record.account,
        region=alert.region or record.region,
        customer_gateway_ip=alert.customer_gateway_ip or record.customer_gateway_ip,
    )
    transition = alert.transition
    news = transition.kind in NEWS and state is not ConnectionState.OK
    if stale:
        decision = Decision(key, Verdict.STALE)
    elif alert.held is not None:
        decision = Decision(key, Verdict.HELD)
    elif record.storm_id is not None:
        decision = Decision(key, Verdict.STORM_HELD)
    elif state is not record.told or news:
        new, change = _tell(new, state, at=transition.at, key=key)
        decision = Decision(key, Verdict.SEND, change)
    else:
        decision = Decision(key, Verdict.ROLLED_UP)
    return remember(new, decision, policy), decision


def remember(record: ConnectionRecord, decision: Decision, policy: RollupPolicy) -> ConnectionRecord:
    """The record with ``decision`` stored (replacing an earlier one of the same key; bounded)."""
    kept = tuple(d for d in record.decisions if d.key != decision.key)
    return replace(record, decisions=(*kept, decision)[-policy.max_decisions :])


def _tell(
    record: ConnectionRecord, state: ConnectionState, *, at: datetime, key: str
) -> tuple[ConnectionRecord, ConnectionChange]:
    told = record.told
    if told is ConnectionState.OK:
        kind = ConnectionChangeKind.OPENED
    elif state is ConnectionState.OK:
        kind = ConnectionChangeKind.RESOLVED
    elif state is not told:
        kind = ConnectionChangeKind.CHANGED
    else:
        kind = ConnectionChangeKind.UPDATED
    incident_id = record.incident_id if record.incident_id and told is not ConnectionState.OK else None
    incident_id = incident_id or connection_incident_id(record.vpn_connection_id, key)
    opened_at = record.opened_at if kind is not ConnectionChangeKind.OPENED and record.opened_at else at
    # A recovery is routed with the worst severity told during the incident: exactly the channels that heard of
    # it (a channel's minimum severity let some message through iff it lets the worst through) hear it ended.
    peak = record.peak_severity if told is not ConnectionState.OK else Severity.INFO
    severity = peak if state is ConnectionState.OK else severity_of(state, record.parts)
    peak = max(peak, severity, key=lambda s: s.rank)
    change = ConnectionChange(
        vpn_connection_id=record.vpn_connection_id,
        incident_id=incident_id,
        kind=kind,
        previous=told,
        state=state,
        severity=severity,
        at=at,
        opened_at=opened_at,
        tunnels=_shown(record.parts),
    )
    ok = state is ConnectionState.OK
    new = replace(
        record,
        told=state,
        told_severity=severity,
        peak_severity=Severity.INFO if ok else peak,
        incident_id=None if ok else incident_id,
        opened_at=None if ok else opened_at,
    )
    return new, change


def _shown(parts: Sequence[TunnelPart]) -> tuple[TunnelPart, ...]:
    # Tunnels first (in IP order), the connection-level part last, and only when it has something to say.
    tunnels = sorted((p for p in parts if p.tunnel_ip not in PSEUDO_TUNNELS), key=lambda p: p.tunnel_ip)
    scope = [p for p in parts if p.tunnel_ip in PSEUDO_TUNNELS and p.incident_id]
    return (*tunnels, *scope)


def _apply_parts(record: ConnectionRecord, alert: Alert, policy: RollupPolicy) -> tuple[tuple[TunnelPart, ...], bool]:
    """The parts after the alert; ``True`` when the alert is older than what its tunnel's part already holds."""
    transition = alert.transition
    incident = transition.incident
    at = transition.at
    parts = {part.tunnel_ip: part for part in record.parts}
    for ip in (*alert.tunnels, *alert.other_tunnels_down):
        parts.setdefault(ip, TunnelPart(ip))
    own = parts.get(incident.tunnel_ip, TunnelPart(incident.tunnel_ip))
    # Older than its tunnel's newest alert, or about an incident already resolved (incidents never reopen).
    late = incident.incident_id in own.resolved_ids and transition.kind is not TransitionKind.RESOLVED
    stale = late or (own.at is not None and at < own.at)
    if not stale:
        parts[incident.tunnel_ip] = _own_part(own, alert, policy)
    # What EC2 reported of the other tunnels when the alert was made (respond read them with the connection).
    # Its own newer alert, or a newer report, wins; a report never makes the tunnel's own alert look stale.
    for ip, part in list(parts.items()):
        newer = [moment for moment in (part.at, part.reported_at) if moment is not None and at < moment]
        if ip == incident.tunnel_ip or ip in PSEUDO_TUNNELS or newer:
            continue
        if ip in alert.other_tunnels_down:
            parts[ip] = replace(part, state=TunnelState.DOWN, reported_at=at)
        elif alert.tunnels and part.state is TunnelState.DOWN and part.incident_id is None:
            parts[ip] = replace(part, state=TunnelState.UNKNOWN, reported_at=at)  # EC2 no longer reports it DOWN
    return tuple(sorted(parts.values(), key=lambda p: p.tunnel_ip)), stale


def _own_part(part: TunnelPart, alert: Alert, policy: RollupPolicy) -> TunnelPart:
    transition = alert.transition
    incident = transition.incident
    if transition.kind is TransitionKind.RESOLVED or incident.status is IncidentStatus.RESOLVED:
        state = TunnelState.UP if incident.last_state is not TunnelState.DOWN else TunnelState.UNKNOWN
        resolved = tuple(dict.fromkeys((*part.resolved_ids, incident.incident_id)))[-4:]
        return TunnelPart(incident.tunnel_ip, state=state, at=transition.at, resolved_ids=resolved)
    down = incident.last_state is TunnelState.DOWN or incident.logs_say_down
    state = TunnelState.DOWN if down else incident.last_state
    if incident.tunnel_ip in PSEUDO_TUNNELS:
        state = TunnelState.UNKNOWN
    return TunnelPart(
        incident.tunnel_ip,
        state=state,
        resolved_ids=part.resolved_ids,
        incident_id=incident.incident_id,
        category=incident.category,
        cause=incident.cause,
        severity=incident.severity,
        summary=transition.reason or incident.summary,
        evidence=incident.evidence[-policy.max_evidence :],
        at=transition.at,
    )


def connection_incident_id(vpn_connection_id: str, key: str) -> str:
    """A connection-level incident's id: deterministic, so a retried decision computes the same."""
    return f"conn-{hashlib.sha256(f'{vpn_connection_id}#{key}'.encode()).hexdigest()[:16]}"


def storm_release(record: ConnectionRecord, storm_id: str, *, now: datetime) -> ConnectionRecord | None:
    """A member after its storm's summary: told its current state (nothing to write when not a member)."""
    if record.storm_id != storm_id:
        return None
    severity = severity_of(record.state, record.parts)
    new = replace(record, storm_id=None, told=record.state, told_severity=severity, peak_severity=severity)
    if record.state is ConnectionState.OK:
        return replace(new, incident_id=None, opened_at=None)
    return replace(
        new,
        incident_id=record.incident_id or connection_incident_id(record.vpn_connection_id, storm_id),
        opened_at=record.opened_at or now,
    )


def storm_hold(record: ConnectionRecord, storm_id: str) -> ConnectionRecord | None:
    """A connection that failed before the storm opened, held from now on (``None``: nothing to write)."""
    return None if record.storm_id == storm_id else replace(record, storm_id=storm_id)


# --- storms -----------------------------------------------------------------------------------


class StormOutcome(StrEnum):
    """What a failure means for the storm detector."""

    ALONE = "alone"  # below the threshold: told on its own
    OPENED = "opened"  # crossed the threshold: the grouped message
    JOINED = "joined"  # a storm is on: held


@dataclass(frozen=True, slots=True)
class StormRecord:
    """The storm detector (one store item): recent failures, and the storm going on, if any."""

    recent: tuple[StormMember, ...] = ()  # failures within the window while no storm is on
    storm_id: str | None = None
    opened_by: str | None = None  # the alert key whose failure opened it (a retry of it opens it again)
    started_at: datetime | None = None
    last_failure_at: datetime | None = None
    ending: bool = False  # its summary is being sent: new failures are not added to it
    notice: StormNotice | None = None  # the grouped message as sent
    version: int = 0

    @property
    def active(self) -> bool:
        """A storm is on and still taking members."""
        return self.storm_id is not None and not self.ending


def on_failure(
    record: StormRecord, member: StormMember, *, key: str, policy: RollupPolicy, now: datetime
) -> tuple[StormRecord | None, StormOutcome]:
    """A connection failed: the new detector record (``None``: nothing to write) and what it means."""
    if record.storm_id is not None and record.opened_by == key and record.notice is not None:
        return None, StormOutcome.OPENED  # a retry of the failure that opened it
    if record.active:
        # One item for the whole storm: a joiner writes it only when the storm's last failure moves on by a twelfth
        # of the window (10 s of 120 s), so thousands of joiners do not all contend for it; the end comes at most
        # that much early.
        last = record.last_failure_at or now
        step = policy.storm_window / 12
        changed = replace(record, last_failure_at=now) if now - last >= step else None
        return changed, StormOutcome.JOINED
    # Failures are compared by when they happened, not by when they reach notify: a storm is many connections failing
    # within the window of each other, however late or out of order their alerts arrive (a hub catching up, a slow
    # forwarding rule). What is older than the window before the newest failure known is dropped.
    newest = max([member.at, *(m.at for m in record.recent)])
    recent = [
        m
        for m in record.recent
        if m.at > newest - policy.storm_window and m.vpn_connection_id != member.vpn_connection_id
    ]
    if member.at > newest - policy.storm_window:
        recent.append(member)
    if len(recent) < policy.storm_connections or record.ending:
        return replace(record, recent=tuple(recent)), StormOutcome.ALONE
    storm_id = f"storm-{hashlib.sha256(f'{key}#{now.isoformat()}'.encode()).hexdigest()[:16]}"
    started = min(m.at for m in recent)
    notice = StormNotice(
        storm_id=storm_id,
        kind=StormKind.OPENED,
        started_at=started,
        at=now,
        count=len(recent),
        members=tuple(recent[: policy.max_named]),
        factors=common_factors(recent),
        window_seconds=int(policy.storm_window.total_seconds()),
    )
    opened = StormRecord(
        recent=(),
        storm_id=storm_id,
        opened_by=key,
        started_at=started,
        last_failure_at=now,
        notice=notice,
        version=record.version,
    )
    return opened, StormOutcome.OPENED


def storm_over(record: StormRecord, *, policy: RollupPolicy, now: datetime) -> bool:
    """The storm (if any) has had no new failure for a whole window, or its ending was begun."""
    if record.storm_id is None:
        return False
    return record.ending or (record.last_failure_at is not None and now - record.last_failure_at >= policy.storm_window)


def storm_summary(
    record: StormRecord,
    members: Sequence[StormMember],
    broken: Sequence[StormMember],
    *,
    policy: RollupPolicy,
    now: datetime,
) -> StormNotice:
    """The storm's end: how many failed, which are still broken (named, bounded), what they share."""
    assert record.storm_id is not None  # noqa: S101 - callers check storm_over first
    return StormNotice(
        storm_id=record.storm_id,
        kind=StormKind.ENDED,
        started_at=record.started_at or now,
        at=now,
        count=len(members),
        members=tuple(members[: policy.max_named]),
        factors=common_factors(members),
        still_broken=tuple(broken[: policy.max_named]),
        broken_count=len(broken),
        window_seconds=int(policy.storm_window.total_seconds()),
    )


_FACTORS: Final = (
    ("customer_gateway_ip", "customer gateway IP"),
    ("account", "account"),
    ("region", "region"),
)


def common_factors(members: Sequence[StormMember]) -> tuple[str, ...]:
    """What the members share: each attribute all of them have alike ("region eu-west-1"), else the most common
    value of it when it covers at least half of them ("account 111122223333 (7 of 9)")."""
    factors: list[str] = []
    for attribute, label in _FACTORS:
        values = Counter(value for m in members if (value := getattr(m, attribute)))
        if not values:
            continue
        value, count = values.most_common(1)[0]
        if count == len(members):
            factors.append(f"{label} {value}")
        elif count * 2 >= len(members) and count > 1:
            factors.append(f"{label} {value} ({count} of {len(members)})")
    return tuple(factors)
