"""What every channel says about one alert, computed once: the channel renderers only lay it out.

Pure: no clock (durations come from the incident's own timestamps), no environment, no AWS.
The text answers, in this order, what broke, why, what was done and what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from vpn_doctor import playbook
from vpn_doctor.constants import CERTIFICATE_SCOPE, CONNECTION_SCOPE, PSEUDO_TUNNELS, REPLACEMENT_SCOPE
from vpn_doctor.models import (
    Alert,
    CheckStatus,
    ConnectionChange,
    ConnectionChangeKind,
    ConnectionState,
    Evidence,
    Incident,
    IncidentStatus,
    RemediationAction,
    RemediationOutcome,
    RemediationStatus,
    StormKind,
    StormMember,
    StormNotice,
    TransitionKind,
    TunnelPart,
    TunnelState,
    Verdict,
)
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.text import phase_states
from vpn_doctor.vpn import log_group_name

# How many decisive log lines an alert shows: enough to see the pattern, few enough to read.
MAX_EVIDENCE: Final = 5
# Logs Insights window around the incident, so the prepared query shows what led up to it.
LOG_WINDOW: Final = timedelta(minutes=15)

# The cause in a few words, for titles and subjects ("... DOWN: peer not answering DPD").
CAUSE_PHRASES: Final[Mapping[Cause, str]] = {
    Cause.PSK_MISMATCH: "pre-shared key mismatch",
    Cause.PROPOSAL_MISMATCH: "no matching proposal",
    Cause.AUTH_FAILED: "IKE authentication failed",
    Cause.IKE_VERSION_MISMATCH: "IKE version mismatch",
    Cause.NO_RESPONSE: "customer gateway stopped negotiating",
    Cause.PEER_DELETE: "customer gateway deleted the SA",
    Cause.PFS_MISMATCH: "PFS mismatch",
    Cause.PHASE2_DOWN_PHASE1_UP: "phase 2 down while phase 1 is up",
    Cause.PEER_NOT_RESPONSIVE: "peer not answering DPD",
    Cause.PEER_DELETE_IDLE: "closed after idle time",
    Cause.NO_TRAFFIC: "no traffic (idle timeout risk)",
    Cause.LIFETIME_MISMATCH: "rekey lifetimes differ",
    Cause.REKEY_COLLISION: "rekey collision",
    Cause.REKEY_FAILED: "rekey failed",
    Cause.TS_UNACCEPTABLE: "traffic selectors rejected",
    Cause.MULTIPLE_SELECTORS: "more than one encryption domain",
    Cause.BOTH_TUNNELS_UP_STATIC: "asymmetric routing risk (static, both tunnels up)",
    Cause.HOLD_TIMER_EXPIRED: "BGP hold timer expired",
    Cause.ASN_MISMATCH: "BGP ASN mismatch",
    Cause.PREFIX_LIMIT_EXCEEDED: "BGP prefix limit exceeded",
    Cause.PEER_CEASE: "BGP peer sent Cease",
    Cause.SESSION_DOWN: "BGP session down",
    Cause.ROUTE_DENIED: "BGP route denied",
    Cause.ROUTES_LOST: "BGP routes lost",
    Cause.NAT_T_BLOCKED: "NAT-T (UDP 4500) blocked",
    Cause.ESP_BLOCKED: "ESP (IP protocol 50) blocked",
    Cause.UDP500_BLOCKED: "IKE (UDP 500) blocked",
    Cause.ONE_WAY_TRAFFIC: "traffic one way only",
    Cause.CERTIFICATE_FAILED: "certificate authentication failed",
    Cause.CERTIFICATE_EXPIRING: "tunnel certificate expires soon",
    Cause.SCHEDULED: "AWS endpoint replacement scheduled",
    Cause.REPLACEMENT_WILL_NOT_SELF_HEAL: "endpoint replacement ahead; the tunnel will not come back by itself",
    Cause.REPLACED: "AWS replaced the tunnel endpoint",
    Cause.PEER_CLOSED: "the peer closed the tunnel",
}

LIFECYCLE_WORDS: Final[Mapping[TransitionKind, str]] = {
    TransitionKind.OPENED: "New incident",
    TransitionKind.UPDATED: "Incident updated",
    TransitionKind.FLAPPING: "Tunnel is flapping (further changes are rolled up into this incident)",
    TransitionKind.RESOLVED: "Resolved",
    TransitionKind.ESCALATED: "Escalated: needs a person",
}

VERDICT_WORDS: Final[Mapping[Verdict, str]] = {
    Verdict.WILL_SELF_HEAL: "Will recover by itself",
    Verdict.NEEDS_AWS_CHANGE: "Will not recover by itself: the AWS side needs a change",
    Verdict.NEEDS_CGW_CHANGE: "Will not recover by itself: the customer gateway needs a change",
    Verdict.UNDETERMINED: "Cannot tell yet whether it will recover by itself",
}

ACTION_WORDS: Final[Mapping[RemediationAction, str]] = {
    RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART: "set the DPD timeout action to restart",
    RemediationAction.SET_DPD_TIMEOUT_ACTION_NONE: "set the DPD timeout action to none",
    RemediationAction.SET_STARTUP_ACTION_START: "set the startup action to start (AWS initiates)",
    RemediationAction.ENABLE_TUNNEL_LOGGING: "enable tunnel activity logging",
    RemediationAction.APPLY_PENDING_MAINTENANCE: "apply AWS's pending endpoint replacement now (ReplaceVpnTunnel)",
}

UNKNOWN_CAUSE: Final = "cause not identified yet"

# Request fields never shown, even though remediation never sets them: defence in depth.
_HIDDEN_PARAMETERS: Final = ("presharedkey", "customergatewayconfiguration")


@dataclass(frozen=True, slots=True)
class Link:
    """A console deep link."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class AlertView:
    """The facts of one alert, worded for people; every renderer reads only this."""

    title: str
    short_title: str  # the title without the connection name, for tight places (e-mail subjects)
    kind: TransitionKind
    lifecycle: str
    severity: Severity
    category: Category
    cause: Cause | None
    vpn_connection_id: str
    connection_name: str | None
    tunnel_ip: str
    incident_id: str
    event_id: str
    state: str
    started: str
    at: str
    duration: str | None
    flips: str | None
    reason: str
    phases: str | None
    evidence: tuple[str, ...]
    failed_checks: tuple[str, ...]
    diagnosed: bool
    self_heal: str | None
    remediation: str
    escalation: str | None
    next_steps: tuple[str, ...]
    links: tuple[Link, ...]
    owner: str | None = None  # the connection's vpn-doctor:owner tag
    other_tunnels_down: tuple[str, ...] = ()  # the connection's other tunnels EC2 reported DOWN
    transition_at: datetime | None = None  # when the change happened (for receivers that take a timestamp)
    # Set for a connection's change (the roll-up) and a storm: each tunnel's (or member's) line, the page's key.
    connection_state: str | None = None
    tunnels: tuple[str, ...] = ()
    page_key: str | None = None
    parts_label: str = "Tunnels"  # what ``tunnels`` lists: a storm's are connections

    @property
    def who(self) -> str:
        """The connection and tunnel, as the title names them."""
        name = f" ({self.connection_name})" if self.connection_name else ""
        return f"{self.vpn_connection_id}{name} {where(self.tunnel_ip)}"

    @property
    def no_failed_checks(self) -> str:
        """What the "why" part says when no check failed."""
        if self.diagnosed:
            return "No configuration check failed."
        return "Not diagnosed: no configuration was read for this change."

    @property
    def what(self) -> str:
        """The problem in a few words."""
        return problem_phrase(self.category, self.cause)


def build_view(alert: Alert, *, console_region: str | None = None, log_group: str | None = None) -> AlertView:
    """Word an alert: title, lifecycle, evidence, diagnosis, remediation, next steps and links.

    ``console_region`` and ``log_group`` (name or ARN) are used for the console links when the
    alert carries no region or log group of its own.
    """
    if alert.storm is not None:
        return _storm_view(alert.storm, alert)
    view = _tunnel_view(alert, console_region=console_region, log_group=log_group)
    return view if alert.connection is None else _connection_view(view, alert.connection, alert)


def _tunnel_view(alert: Alert, *, console_region: str | None, log_group: str | None) -> AlertView:
    transition = alert.transition
    incident = transition.incident
    diagnosis = alert.diagnosis
    name = diagnosis.connection_name if diagnosis else None
    state = _state_word(transition.kind, incident)
    view_duration = incident.duration if transition.kind is TransitionKind.RESOLVED else None
    if view_duration is None and transition.kind is TransitionKind.RESOLVED:
        view_duration = transition.at - incident.opened_at
    duration = format_duration(view_duration) if view_duration is not None else None
    region = alert.region or console_region
    return AlertView(
        title=_title(transition.kind, incident, name, state, duration),
        short_title=_title(transition.kind, incident, None, state, duration),
        kind=transition.kind,
        lifecycle=LIFECYCLE_WORDS[transition.kind],
        severity=incident.severity,
        category=incident.category,
        cause=incident.cause,
        vpn_connection_id=incident.vpn_connection_id,
        connection_name=name,
        tunnel_ip=incident.tunnel_ip,
        incident_id=incident.incident_id,
        event_id=transition.event_id,
        state=state,
        started=f"{format_time(incident.opened_at)} ({format_duration(transition.at - incident.opened_at)} ago)",
        at=format_time(transition.at),
        duration=duration,
        flips=_flips(incident) if incident.status is IncidentStatus.FLAPPING else None,
        reason=_held_note(alert) + _with_recurrence(transition.reason or incident.summary, transition.kind, incident),
        # A resolved tunnel's last logged phases are history, not its state.
        phases=None if transition.kind is TransitionKind.RESOLVED else _phases(incident.evidence),
        evidence=tuple(_evidence_line(item) for item in _recent(incident.evidence)),
        failed_checks=tuple(
            f"{'FAIL' if check.status is CheckStatus.FAIL else 'WARN'} {check.title}: {check.reason}"
            + (f" -> {check.recommendation}" if check.recommendation else "")
            for check in (diagnosis.failed if diagnosis else ())
        ),
        diagnosed=diagnosis is not None,
        self_heal=f"{VERDICT_WORDS[diagnosis.verdict]}: {diagnosis.verdict_reason}" if diagnosis else None,
        remediation=remediation_words(alert.remediation),
        escalation=alert.escalation,
        next_steps=_next_steps(alert),
        links=_links(incident, region, alert.log_group or log_group, transition.at),
        owner=alert.owner,
        other_tunnels_down=alert.other_tunnels_down,
        transition_at=transition.at,
    )


CONNECTION_KIND: Final[Mapping[ConnectionChangeKind, TransitionKind]] = {
    ConnectionChangeKind.OPENED: TransitionKind.OPENED,
    ConnectionChangeKind.CHANGED: TransitionKind.UPDATED,
    ConnectionChangeKind.UPDATED: TransitionKind.UPDATED,
    ConnectionChangeKind.RESOLVED: TransitionKind.RESOLVED,
}

CONNECTION_LIFECYCLE: Final[Mapping[ConnectionChangeKind, str]] = {
    ConnectionChangeKind.OPENED: "New connection incident",
    ConnectionChangeKind.CHANGED: "Connection state changed",
    ConnectionChangeKind.UPDATED: "Connection incident updated",
    ConnectionChangeKind.RESOLVED: "Resolved",
}

STATE_MEANING: Final[Mapping[ConnectionState, str]] = {
    ConnectionState.OK: "every tunnel is UP or quiet, no open incident",
    ConnectionState.IMPAIRED: "a problem on a tunnel that is not DOWN: traffic still flows",
    ConnectionState.REDUNDANCY_LOST: "one tunnel is DOWN: traffic runs on the other, with no spare",
    ConnectionState.OUTAGE: "every tunnel is DOWN: the connection carries no traffic",
}


def _connection_view(tunnel: AlertView, change: ConnectionChange, alert: Alert) -> AlertView:
    """A connection's change: its state, with every tunnel's part beneath (the tunnel alert that made it gives
    the diagnosis, remediation and next steps)."""
    name = tunnel.connection_name
    who = f"{change.vpn_connection_id}{f' ({name})' if name else ''}"
    problems = [p for p in change.tunnels if p.incident_id or p.state is TunnelState.DOWN]
    what = "; ".join(_part_phrase(p) for p in problems) or "every tunnel recovered"
    duration = format_duration(change.at - change.opened_at) if change.kind is ConnectionChangeKind.RESOLVED else None
    if change.kind is ConnectionChangeKind.RESOLVED:
        title = f"{who} RESOLVED after {duration}: back to OK (was {change.previous.words})"
    elif change.kind is ConnectionChangeKind.CHANGED:
        title = f"{who} now {change.state.words} (was {change.previous.words}): {what}"
    elif change.kind is ConnectionChangeKind.UPDATED:
        # News in the same state (an update, a flap, an escalation): the tunnel it is about.
        title = f"Update: {who} {change.state.words}: {where(tunnel.tunnel_ip)} {tunnel.state} ({tunnel.what})"
    else:
        title = f"{who} {change.state.words}: {what}"
    short = title.replace(f" ({name})", "", 1) if name else title
    meaning = STATE_MEANING[change.state]
    # An escalation reads as one (a person must act) whatever it did to the state; news in a state is its tunnel's.
    escalated = tunnel.kind is TransitionKind.ESCALATED
    same_state = change.kind is ConnectionChangeKind.UPDATED
    kind = tunnel.kind if escalated or same_state else CONNECTION_KIND[change.kind]
    source = where(alert.transition.incident.tunnel_ip)
    evidence = tuple(
        f"[{where(p.tunnel_ip)}] {_evidence_line(item)}" for p in change.tunnels for item in _recent(p.evidence)
    )
    return replace(
        tunnel,
        title=title,
        short_title=short,
        kind=kind,
        lifecycle=tunnel.lifecycle if escalated else CONNECTION_LIFECYCLE[change.kind],
        severity=change.severity,
        incident_id=change.incident_id,
        state=change.state.words,
        started=f"{format_time(change.opened_at)} ({format_duration(change.at - change.opened_at)} ago)",
        at=format_time(change.at),
        duration=duration,
        reason=f"Connection {change.state.words} ({meaning}). {source.capitalize()}: {tunnel.reason}",
        evidence=evidence[-MAX_EVIDENCE * 2 :],
        connection_state=change.state.value,
        tunnels=tuple(_part_line(p) for p in change.tunnels),
        page_key=change.incident_id,
        transition_at=change.at,
    )


def _part_phrase(part: TunnelPart) -> str:
    state = "DOWN" if part.state is TunnelState.DOWN else "problem"
    what = problem_phrase(part.category, part.cause) if part.category is not None else UNKNOWN_CAUSE
    if part.tunnel_ip in PSEUDO_TUNNELS:
        return what
    return f"tunnel {part.tunnel_ip} {state} ({what})"


def _part_line(part: TunnelPart) -> str:
    if part.incident_id is None:
        return f"{where(part.tunnel_ip)}: {part.state.value}, no open incident"
    what = problem_phrase(part.category, part.cause) if part.category is not None else UNKNOWN_CAUSE
    severity = f", {part.severity.value}" if part.severity else ""
    return (
        f"{where(part.tunnel_ip)}: {part.state.value}, {what}{severity} (incident {part.incident_id}): {part.summary}"
    )


def _storm_view(storm: StormNotice, alert: Alert) -> AlertView:
    """A storm's grouped message: every member named (bounded), what they share."""
    minutes_ = max(1, round(storm.window_seconds / 60))
    factors = ", ".join(storm.factors) or "no common factor found"
    if storm.kind is StormKind.OPENED:
        title = f"Storm: {storm.count} VPN connections failed within {minutes_} min ({factors})"
        kind, lifecycle = TransitionKind.OPENED, "New storm: per-connection messages are held until it ends"
        reason = (
            f"{storm.count} connections went from OK to a problem within {minutes_} min; common factor: {factors}. "
            "Messages about each of them are held until no new connection fails for "
            f"{minutes_} min; then one summary says which are still broken."
        )
        listed, named_count = storm.members, storm.count
    else:
        title = f"Storm over: {storm.count} connections failed, {storm.broken_count} still broken ({factors})"
        resolved = storm.broken_count == 0
        kind = TransitionKind.RESOLVED if resolved else TransitionKind.UPDATED
        lifecycle = "Storm ended" + ("" if resolved else ": what is still broken is listed")
        reason = (
            f"No new connection failed for {minutes_} min. {storm.count - storm.broken_count} of {storm.count} "
            f"recovered; {storm.broken_count} still broken. Each connection's next change is told on its own again."
        )
        listed, named_count = storm.still_broken, storm.broken_count
    lines = tuple(_member_line(m) for m in listed)
    if named_count > len(listed):
        lines += (f"... and {named_count - len(listed)} more",)
    return AlertView(
        title=title,
        short_title=title,
        kind=kind,
        lifecycle=lifecycle,
        severity=Severity.CRITICAL,
        category=Category.UNKNOWN,
        cause=None,
        vpn_connection_id=f"{storm.count} connections",
        connection_name=None,
        tunnel_ip=CONNECTION_SCOPE,
        incident_id=storm.storm_id,
        event_id=alert.transition.event_id,
        state="STORM" if storm.kind is StormKind.OPENED else "STORM OVER",
        started=format_time(storm.started_at),
        at=format_time(storm.at),
        duration=format_duration(storm.at - storm.started_at) if storm.kind is StormKind.ENDED else None,
        flips=None,
        reason=reason,
        phases=None,
        evidence=(),
        failed_checks=(),
        diagnosed=False,
        self_heal=None,
        remediation="Nothing is changed per connection during a storm: the cause is shared, not theirs.",
        escalation=None,
        next_steps=(
            f"Check the common factor first: {factors}.",
            "Check the AWS Health Dashboard for an event in the region.",
            "Run vpn-doctor diagnose on one of the connections named here.",
        ),
        links=(),
        transition_at=storm.at,
        connection_state="storm",
        tunnels=lines,
        parts_label="Connections",
        page_key=storm.storm_id,
    )


def _member_line(member: StormMember) -> str:
    where_ = ", ".join(v for v in (member.account, member.region) if v)
    gateway = f", customer gateway {member.customer_gateway_ip}" if member.customer_gateway_ip else ""
    return f"{member.vpn_connection_id}: {member.state.words}{f' ({where_})' if where_ else ''}{gateway}"


def _held_note(alert: Alert) -> str:
    # The one announcement after a silence or maintenance window: when it was held, why, and that it is still open.
    hold = alert.released_from
    if hold is None:
        return ""
    return (
        f"Held from {format_time(hold.held_at)} until {format_time(hold.until)} ({hold.reason}); "
        "still not recovered now that the hold has ended. "
    )


def problem_phrase(category: Category, cause: Cause | None) -> str:
    """The cause in a few words where known, else the category in words."""
    if cause is not None and cause in CAUSE_PHRASES:
        return CAUSE_PHRASES[cause]
    return category_words(category)


def category_words(category: Category) -> str:
    """The category in words, as an incident's: an incident opened from state signals alone has
    category ``unknown``, which means its cause is not known yet (not an unreadable record)."""
    return UNKNOWN_CAUSE if category is Category.UNKNOWN else category.label


def remediation_words(outcome: RemediationOutcome | None) -> str:
    """The remediation decision as a sentence: done / would do / not allowed and why / try later."""
    if outcome is None:
        return "No remediation was considered for this change."
    action = ACTION_WORDS[outcome.action] if outcome.action else "change nothing"
    code = f" (AWS error {outcome.error_code})" if outcome.error_code else ""
    params = _parameters(outcome.parameters)
    change = f"{action}{params}"
    words = {
        RemediationStatus.APPLIED: f"Done: {change}. {outcome.reason}",
        RemediationStatus.DRY_RUN: f"Would {change} (dry-run mode, nothing was changed). {outcome.reason}",
        RemediationStatus.OFF: f"Automatic remediation is off for this connection. {outcome.reason}",
        RemediationStatus.NOT_NEEDED: f"Nothing safe to change automatically. {outcome.reason}",
        RemediationStatus.BLOCKED: f"Not allowed to {change}: {outcome.reason}",
        RemediationStatus.TRY_LATER: f"AWS said not now{code}; will try later to {change}. {outcome.reason}",
        RemediationStatus.FAILED: f"Could not {change}{code}: {outcome.reason}",
    }
    return words[outcome.status].strip()


def format_duration(delta: timedelta) -> str:
    """A duration as people say it: ``45s``, ``12m``, ``2h 5m``, ``3d 4h``."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def format_time(moment: datetime | None) -> str:
    """UTC, to the second, unambiguous: ``2025-11-27 00:03:05 UTC``."""
    if moment is None:
        return "time unknown"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def vpn_console_url(region: str, vpn_connection_id: str) -> str:
    """The VPC console page of one VPN connection."""
    return (
        f"https://{region}.console.aws.amazon.com/vpcconsole/home?region={region}"
        f"#VpnConnectionDetails:VpnConnectionId={vpn_connection_id}"
    )


def logs_insights_url(region: str, log_group: str, query: str, start: datetime, end: datetime) -> str:
    """A CloudWatch Logs Insights console link with the query, log group and time range filled in.

    The console reads its state from a JSURL-like fragment: each value URL-escaped with ``*`` in place
    of ``%``, and the fragment's ``?`` and ``=`` written as ``$3F`` and ``$3D``.
    """

    def value(text: str) -> str:
        return "'" + quote(text, safe="").replace("%", "*")

    detail = (
        f"~(end~{value(_iso(end))}~start~{value(_iso(start))}~timeType~'ABSOLUTE~tz~'UTC"
        f"~editorString~{value(query)}~queryId~'~source~(~{value(log_group)}))"
    )
    # Only the fragment's own "?" and "=" are escaped; the detail's ~ ( ) ' * stay as the console writes them.
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:logs-insights$3FqueryDetail$3D{detail}"
    )


def tunnel_query(vpn_connection_id: str, tunnel_ip: str) -> str:
    """The Logs Insights query for one tunnel's records (the stream name holds connection id and IP)."""
    return (
        "fields @timestamp, @message, @logStream\n"
        f"| filter @logStream like '{vpn_connection_id}' and @logStream like '{tunnel_ip}'\n"
        "| sort @timestamp desc\n"
        "| limit 200"
    )


def where(tunnel_ip: str) -> str:
    """ "tunnel <ip>", or what a connection-level incident concerns (the pseudo tunnels of ``vpn_doctor.constants``)."""
    return _SCOPE_WORDS.get(tunnel_ip) or f"tunnel {tunnel_ip}"


_SCOPE_WORDS: Final = {
    CONNECTION_SCOPE: "all tunnels",
    REPLACEMENT_SCOPE: "tunnel endpoint replacement ahead",
    CERTIFICATE_SCOPE: "tunnel certificate",
}


def _title(kind: TransitionKind, incident: Incident, name: str | None, state: str, duration: str | None) -> str:
    # e.g. "vpn-0abc (Branch-1) tunnel 203.0.113.5 DOWN: peer not answering DPD"
    who = f"{incident.vpn_connection_id}{f' ({name})' if name else ''} {where(incident.tunnel_ip)}"
    what = problem_phrase(incident.category, incident.cause)
    if kind is TransitionKind.RESOLVED and duration:
        return f"{who} RESOLVED after {duration}: {what}"
    prefix = "Update: " if kind is TransitionKind.UPDATED else ""
    return f"{prefix}{who} {state}: {what}"


def _state_word(kind: TransitionKind, incident: Incident) -> str:
    if kind is TransitionKind.RESOLVED:
        return "RESOLVED"
    if kind is TransitionKind.FLAPPING:
        return "FLAPPING"
    if kind is TransitionKind.ESCALATED:
        return "ESCALATED"
    if incident.last_state is TunnelState.DOWN or incident.logs_say_down:
        return "DOWN"
    if incident.last_state is TunnelState.UP:
        return "DEGRADED"
    return "PROBLEM"


def _with_recurrence(reason: str, kind: TransitionKind, incident: Incident) -> str:
    # Told when the incident opens: "it keeps happening" is what makes a recurring fault news.
    if kind is not TransitionKind.OPENED or incident.recurrence <= 0:
        return reason
    nth = incident.recurrence + 1
    suffix = "th" if 10 <= nth % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(nth % 10, "th")
    return f"{reason} ({nth}{suffix} {incident.category.value} incident on this tunnel in 24 h)"


def _flips(incident: Incident) -> str | None:
    if not incident.state_flips:
        return None
    first, last = incident.state_flips[0], incident.state_flips[-1]
    return f"{len(incident.state_flips)} UP/DOWN changes between {format_time(first)} and {format_time(last)}"


def _recent(evidence: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    # The latest lines decide what a person checks first; keep them in time order for reading.
    return evidence[-MAX_EVIDENCE:]


def _evidence_line(item: Evidence) -> str:
    states = _states(item)
    return f"{format_time(item.timestamp)}  {item.message}{f' [{states}]' if states else ''}"


def _states(item: Evidence) -> str:
    return phase_states(item.ike_phase1_state, item.ike_phase2_state)


def _phases(evidence: tuple[Evidence, ...]) -> str | None:
    for item in reversed(evidence):
        states = _states(item)
        if states:
            return f"{states} (as of {format_time(item.timestamp)})"
    return None


def _next_steps(alert: Alert) -> tuple[str, ...]:
    diagnosis = alert.diagnosis
    if diagnosis is not None and diagnosis.next_steps:
        return diagnosis.next_steps
    incident = alert.transition.incident
    return playbook.next_steps(incident.category, incident.cause, diagnosis.vendor if diagnosis else None)


def _links(incident: Incident, region: str | None, log_group: str | None, at: datetime) -> tuple[Link, ...]:
    if not region:
        return ()
    links = [Link("VPN connection in the console", vpn_console_url(region, incident.vpn_connection_id))]
    if log_group:
        query = tunnel_query(incident.vpn_connection_id, incident.tunnel_ip)
        start = incident.opened_at - LOG_WINDOW
        end = max(at, incident.resolved_at or at) + LOG_WINDOW
        links.append(
            Link("Tunnel logs (Logs Insights)", logs_insights_url(region, log_group_name(log_group), query, start, end))
        )
    return tuple(links)


def _parameters(parameters: Mapping[str, Any]) -> str:
    shown = {
        key: value
        for key, value in parameters.items()
        if key not in ("VpnConnectionId", "VpnTunnelOutsideIpAddress", "DryRun")
        and not any(hidden in key.lower() for hidden in _HIDDEN_PARAMETERS)
    }
    if not shown:
        return ""
    return " (" + ", ".join(f"{key}={_flat(value)}" for key, value in sorted(shown.items())) + ")"


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_flat(v)}" for k, v in sorted(value.items()) if "key" not in str(k).lower()) + "}"
    return str(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
