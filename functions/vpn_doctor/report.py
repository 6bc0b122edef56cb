"""The incident history and the periodic report, computed from what the incidents store holds (pure).

What the store holds per tunnel (``aws/incident_store.py``): its record (last known state, since when,
and the one open incident; kept 30 days after its last write, 90 while an incident is open) and its
resolved incidents (kept 90 days: ``history_ttl``). Per connection, the remediation audit (kept 400 days).
Nothing else: no sample of the tunnel's state between incidents. So, precisely:

- **known** time of a tunnel starts at its *first evidence*: the earliest of its oldest stored incident's
  opening, its open incident's opening and the time its recorded state began (``state_since``), and never
  earlier than the store's *horizon* (now minus the incident history's retention: before it, incidents may
  have expired, so "no incident" proves nothing). Before the first evidence the tunnel is **unknown**, not up;
  a tunnel the store has no item for at all is not in the report.
- a known tunnel is **down** while an incident is open on it (from ``opened_at`` to ``resolved_at``, or to the
  end of the window while still open): vpn-doctor opens an incident only for a failure that keeps the tunnel
  from carrying traffic or is about to (a log failure, a DOWN state, a silent tunnel), so time under an
  incident is counted as not available; it is also down while its record says DOWN since ``state_since``, and
  unknown while its record says UNKNOWN since then. Otherwise it is **up**.
- a connection is **both tunnels up** when every tunnel it has in the store is up, and **at least one tunnel up**
  when any is; an instant where the answer depends on an unknown tunnel is unknown. Availability is
  up time / known time (unknown time is reported beside it, never counted as up).

Remediation changes are the audit records inside the window. Connections down for more than a week are
listed with the hours they were billed while down: Site-to-Site VPN is billed per connection-hour while the
connection is provisioned, i.e. in the ``available`` state, whatever its tunnels' state
(https://aws.amazon.com/vpn/pricing/, and the FAQ "What defines billable VPN connection-hours?",
https://aws.amazon.com/vpn/faqs/).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any, Final

from vpn_doctor.models import Incident, TunnelState, iso

# A connection with at least this many incidents in the window is a repeat offender.
REPEAT_OFFENDER_INCIDENTS: Final = 3
# Down (no tunnel up) longer than this: listed as down for more than a week, still billed.
LONG_DOWN: Final = timedelta(days=7)


class Availability(StrEnum):
    """What is known of a tunnel or connection over a stretch of time."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TunnelHistory:
    """What the store holds about one tunnel: its record's state (if any) and its incidents."""

    vpn_connection_id: str
    tunnel_ip: str
    incidents: tuple[Incident, ...] = ()  # resolved and open, any order
    last_state: TunnelState | None = None  # the record's state; None: no record
    state_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One remediation decision from the audit trail (what vpn-doctor changed, or would have)."""

    vpn_connection_id: str
    tunnel_ip: str
    decided_at: datetime
    status: str  # RemediationStatus value: applied, dry_run, blocked, ...
    reason: str
    actor: str = ""
    incident_id: str = ""
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time with one availability."""

    start: datetime
    end: datetime
    state: Availability


@dataclass(frozen=True, slots=True)
class IncidentLine:
    """One incident as the history shows it, with the changes made for it."""

    incident: Incident
    changes: tuple[Change, ...] = ()

    @property
    def cause(self) -> str:
        """The finer cause where known, else the category."""
        return (self.incident.cause or self.incident.category).value


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """One connection over the window."""

    vpn_connection_id: str
    tunnels: tuple[str, ...]
    both_up: Mapping[Availability, timedelta]
    any_up: Mapping[Availability, timedelta]
    timeline: tuple[Segment, ...]  # "at least one tunnel up", merged
    both_timeline: tuple[Segment, ...]  # "both tunnels up", merged
    tunnel_timelines: Mapping[str, tuple[Segment, ...]]
    incidents: tuple[IncidentLine, ...]
    down_since: datetime | None = None  # no tunnel up since then (to the window's end)

    @property
    def both_up_ratio(self) -> float | None:
        """Share of the known time with every tunnel up (``None``: nothing known)."""
        return _ratio(self.both_up)

    @property
    def any_up_ratio(self) -> float | None:
        """Share of the known time with at least one tunnel up (``None``: nothing known)."""
        return _ratio(self.any_up)


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the report says about the window ``[start, end)``."""

    start: datetime
    end: datetime
    connections: tuple[ConnectionReport, ...]
    by_cause: Mapping[str, int]
    recovery_median: timedelta | None
    recovery_p90: timedelta | None
    repeat_offenders: Mapping[str, int]  # connection -> incidents in the window
    flapping: tuple[tuple[str, str], ...]  # (connection, tunnel ip)
    long_down: Mapping[str, timedelta]  # connection -> how long no tunnel was up, to the window's end
    changes: tuple[Change, ...] = field(default=())


def incident_lines(
    histories: Iterable[TunnelHistory], changes: Iterable[Change], *, since: datetime
) -> list[IncidentLine]:
    """Every incident open at some time since ``since``, oldest first, each with its changes (the audit
    records of its incident id, or of its tunnel between its opening and its end when the id is not known)."""
    by_incident: dict[str, list[Change]] = defaultdict(list)
    by_tunnel: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in changes:
        if change.incident_id:
            by_incident[change.incident_id].append(change)
        else:
            by_tunnel[(change.vpn_connection_id, change.tunnel_ip)].append(change)
    lines = []
    for history in histories:
        for incident in history.incidents:
            if incident.resolved_at is not None and incident.resolved_at < since:
                continue
            until = incident.resolved_at
            own = by_incident.get(incident.incident_id, []) + [
                change
                for change in by_tunnel.get((history.vpn_connection_id, history.tunnel_ip), [])
                if change.decided_at >= incident.opened_at and (until is None or change.decided_at <= until)
            ]
            lines.append(IncidentLine(incident, tuple(sorted(own, key=lambda c: c.decided_at))))
    return sorted(lines, key=lambda line: (line.incident.opened_at, line.incident.incident_id))


def build_report(
    histories: Sequence[TunnelHistory],
    changes: Sequence[Change],
    *,
    start: datetime,
    end: datetime,
    horizon: datetime,
    flap_transitions: int,
) -> Report:
    """The report of ``[start, end)`` from the store's tunnels and audit records (see the module's rules).

    ``horizon``: the oldest time the store can still answer for (now minus the incident history's
    retention). ``flap_transitions``: state flips within one incident that make a tunnel flapping.
    """
    if end <= start:
        raise ValueError("the report's window must end after it starts")
    lines = [line for line in incident_lines(histories, changes, since=start) if line.incident.opened_at < end]
    per_connection: dict[str, list[TunnelHistory]] = defaultdict(list)
    for history in histories:
        per_connection[history.vpn_connection_id].append(history)
    connections = []
    for vpn, tunnels in sorted(per_connection.items()):
        tunnels.sort(key=lambda history: history.tunnel_ip)
        timelines = {t.tunnel_ip: tunnel_timeline(t, start=start, end=end, horizon=horizon) for t in tunnels}
        both = _combine(list(timelines.values()), every=True, start=start, end=end)
        anyone = _combine(list(timelines.values()), every=False, start=start, end=end)
        # How long no tunnel has been up may reach back before the window: read it from the horizon on.
        since = min(start, horizon)
        longer = _combine(
            [tunnel_timeline(t, start=since, end=end, horizon=horizon) for t in tunnels],
            every=False,
            start=since,
            end=end,
        )
        down_since = longer[-1].start if longer and longer[-1].state is Availability.DOWN else None
        connections.append(
            ConnectionReport(
                vpn_connection_id=vpn,
                tunnels=tuple(timelines),
                both_up=_totals(both),
                any_up=_totals(anyone),
                timeline=tuple(anyone),
                both_timeline=tuple(both),
                tunnel_timelines={ip: tuple(segments) for ip, segments in timelines.items()},
                incidents=tuple(line for line in lines if line.incident.vpn_connection_id == vpn),
                down_since=down_since,
            )
        )
    recoveries = sorted(
        line.incident.duration
        for line in lines
        if line.incident.duration is not None
        and line.incident.resolved_at is not None
        and line.incident.resolved_at < end
    )
    counts = Counter(line.incident.vpn_connection_id for line in lines)
    flapping = sorted(
        {
            (line.incident.vpn_connection_id, line.incident.tunnel_ip)
            for line in lines
            if line.incident.status.value == "flapping" or len(line.incident.state_flips) >= flap_transitions
        }
    )
    return Report(
        start=start,
        end=end,
        connections=tuple(connections),
        by_cause=dict(Counter(line.cause for line in lines).most_common()),
        recovery_median=_percentile(recoveries, 50),
        recovery_p90=_percentile(recoveries, 90),
        repeat_offenders={vpn: n for vpn, n in counts.most_common() if n >= REPEAT_OFFENDER_INCIDENTS},
        flapping=tuple(flapping),
        long_down={
            c.vpn_connection_id: end - c.down_since
            for c in connections
            if c.down_since is not None and end - c.down_since > LONG_DOWN
        },
        changes=tuple(
            sorted(
                (change for change in changes if start <= change.decided_at < end),
                key=lambda change: change.decided_at,
            )
        ),
    )


def tunnel_timeline(history: TunnelHistory, *, start: datetime, end: datetime, horizon: datetime) -> list[Segment]:
    """The tunnel's availability over ``[start, end)``, as merged segments covering it exactly."""
    evidence = [incident.opened_at for incident in history.incidents]
    if history.state_since is not None:
        evidence.append(history.state_since)
    known_from = max(min(evidence), horizon) if evidence else end
    # Overlays, in increasing precedence: the record's state since it began, then every incident.
    overlays: list[tuple[datetime, datetime, Availability]] = []
    if history.state_since is not None and history.last_state in (TunnelState.DOWN, TunnelState.UNKNOWN):
        state = Availability.DOWN if history.last_state is TunnelState.DOWN else Availability.UNKNOWN
        overlays.append((history.state_since, end, state))
    overlays += [(i.opened_at, i.resolved_at or end, Availability.DOWN) for i in history.incidents]
    points = sorted(
        {start, end, *(t for o in overlays for t in o[:2] if start < t < end)} | _inside(known_from, start, end)
    )
    segments: list[Segment] = []
    for left, right in pairwise(points):
        covering = {overlay for begin, until, overlay in overlays if begin <= left < until}
        # Down wins over unknown (an incident proves the tunnel was not serving), unknown over up.
        state = (
            Availability.UNKNOWN
            if left < known_from
            else Availability.DOWN
            if Availability.DOWN in covering
            else Availability.UNKNOWN
            if Availability.UNKNOWN in covering
            else Availability.UP
        )
        segments.append(Segment(left, right, state))
    return _merge(segments)


def _inside(moment: datetime, start: datetime, end: datetime) -> set[datetime]:
    return {moment} if start < moment < end else set()


def _combine(timelines: Sequence[Sequence[Segment]], *, every: bool, start: datetime, end: datetime) -> list[Segment]:
    """Per instant: ``every`` up (both tunnels) or any up (at least one); unknown where it depends on one."""
    points = sorted({start, end, *(s.start for t in timelines for s in t)})
    segments = []
    for left, right in pairwise(points):
        states = [next(s.state for s in timeline if s.start <= left < s.end) for timeline in timelines]
        if every:
            state = (
                Availability.DOWN
                if Availability.DOWN in states
                else Availability.UNKNOWN
                if Availability.UNKNOWN in states
                else Availability.UP
            )
        else:
            state = (
                Availability.UP
                if Availability.UP in states
                else Availability.UNKNOWN
                if Availability.UNKNOWN in states
                else Availability.DOWN
            )
        segments.append(Segment(left, right, state))
    return _merge(segments)


def _merge(segments: Sequence[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for segment in segments:
        if merged and merged[-1].state is segment.state and merged[-1].end == segment.start:
            merged[-1] = Segment(merged[-1].start, segment.end, segment.state)
        else:
            merged.append(segment)
    return merged


def _totals(segments: Sequence[Segment]) -> dict[Availability, timedelta]:
    totals = dict.fromkeys(Availability, timedelta(0))
    for segment in segments:
        totals[segment.state] += segment.end - segment.start
    return totals


def _ratio(totals: Mapping[Availability, timedelta]) -> float | None:
    known = totals[Availability.UP] + totals[Availability.DOWN]
    return totals[Availability.UP] / known if known else None


def _percentile(values: Sequence[timedelta], percent: int) -> timedelta | None:
    """Nearest-rank percentile of sorted ``values`` (``None`` when empty)."""
    if not values:
        return None
    return values[max(math.ceil(percent / 100 * len(values)), 1) - 1]


# --- words and JSON ---------------------------------------------------------------------------


def duration_words(value: timedelta | None) -> str:
    """A duration for people: ``2d 3h``, ``4h 05m``, ``12m``, ``40s``; ``-`` when there is none."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def percent_words(ratio: float | None) -> str:
    """A ratio as a percentage with two decimals, ``unknown`` when nothing is known."""
    return "unknown" if ratio is None else f"{ratio * 100:.2f}%"


def render_text(report: Report) -> str:
    """The report as plain text (the e-mail body and the command's output)."""
    lines = [f"vpn-doctor report {iso(report.start)} to {iso(report.end)}", ""]
    lines.append("Availability (known time only; unknown = no data in the store, not counted as up):")
    if not report.connections:
        lines.append("  no connection has any record in the store for this window")
    for connection in report.connections:
        unknown = connection.any_up[Availability.UNKNOWN]
        lines.append(
            f"  {connection.vpn_connection_id}: both tunnels up {percent_words(connection.both_up_ratio)}, "
            f"at least one up {percent_words(connection.any_up_ratio)}, unknown {duration_words(unknown)}, "
            f"{len(connection.incidents)} incident(s)"
        )
    lines += ["", "Incidents by cause:"]
    lines += [f"  {cause}: {count}" for cause, count in report.by_cause.items()] or ["  none"]
    lines.append(
        f"Time to recovery: median {duration_words(report.recovery_median)}, p90 {duration_words(report.recovery_p90)}"
    )
    offenders = ", ".join(f"{vpn} ({n})" for vpn, n in report.repeat_offenders.items())
    lines.append(f"Repeat offenders (>= {REPEAT_OFFENDER_INCIDENTS} incidents): {offenders or 'none'}")
    lines.append(f"Flapping tunnels: {', '.join(f'{vpn} {ip}' for vpn, ip in report.flapping) or 'none'}")
    lines.append("Down for more than a week (still billed per connection-hour while provisioned):")
    lines += [
        f"  {vpn}: no tunnel up for {duration_words(down)} ({math.floor(down / timedelta(hours=1))} connection-hours)"
        for vpn, down in report.long_down.items()
    ] or ["  none"]
    lines.append("Remediation changes:")
    lines += [
        f"  {iso(c.decided_at)} {c.vpn_connection_id} {c.tunnel_ip}: {c.status} {c.action or ''} ({c.reason})".replace(
            "  (", " ("
        )
        for c in report.changes
    ] or ["  none"]
    return "\n".join(lines) + "\n"


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON values (durations in seconds, times in ISO 8601)."""
    return {
        "start": iso(report.start),
        "end": iso(report.end),
        "connections": [
            {
                "vpn_connection_id": c.vpn_connection_id,
                "tunnels": list(c.tunnels),
                "both_tunnels_up": _availability(c.both_up, c.both_up_ratio),
                "at_least_one_tunnel_up": _availability(c.any_up, c.any_up_ratio),
                "timeline": [_segment(s) for s in c.timeline],
                "both_tunnels_timeline": [_segment(s) for s in c.both_timeline],
                "tunnel_timelines": {ip: [_segment(s) for s in t] for ip, t in c.tunnel_timelines.items()},
                "incidents": [line_to_dict(line) for line in c.incidents],
                "down_since": iso(c.down_since),
            }
            for c in report.connections
        ],
        "incidents_by_cause": dict(report.by_cause),
        "time_to_recovery_seconds": {
            "median": _seconds(report.recovery_median),
            "p90": _seconds(report.recovery_p90),
        },
        "repeat_offenders": dict(report.repeat_offenders),
        "flapping_tunnels": [{"vpn_connection_id": vpn, "tunnel_ip": ip} for vpn, ip in report.flapping],
        "down_more_than_a_week": {vpn: _seconds(down) for vpn, down in report.long_down.items()},
        "remediation_changes": [change_to_dict(change) for change in report.changes],
    }


def line_to_dict(line: IncidentLine) -> dict[str, Any]:
    """One incident of the history as JSON values."""
    incident = line.incident
    return {
        "incident_id": incident.incident_id,
        "vpn_connection_id": incident.vpn_connection_id,
        "tunnel_ip": incident.tunnel_ip,
        "status": incident.status.value,
        "cause": line.cause,
        "category": incident.category.value,
        "severity": incident.severity.value,
        "summary": incident.summary,
        "start": iso(incident.opened_at),
        "end": iso(incident.resolved_at),
        "duration_seconds": _seconds(incident.duration),
        "changes": [change_to_dict(change) for change in line.changes],
    }


def change_to_dict(change: Change) -> dict[str, Any]:
    """One audit record as JSON values."""
    return {
        "vpn_connection_id": change.vpn_connection_id,
        "tunnel_ip": change.tunnel_ip,
        "decided_at": iso(change.decided_at),
        "status": change.status,
        "action": change.action,
        "reason": change.reason,
        "actor": change.actor,
        "incident_id": change.incident_id or None,
    }


def _availability(totals: Mapping[Availability, timedelta], ratio: float | None) -> dict[str, Any]:
    return {"ratio": ratio, **{f"{state.value}_seconds": _seconds(value) for state, value in totals.items()}}


def _segment(segment: Segment) -> dict[str, Any]:
    return {"start": iso(segment.start), "end": iso(segment.end), "state": segment.state.value}


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()
