"""Use case: the warnings ahead of time (:mod:`vpn_doctor.replacement`), run by the poller after its poll and by
the state function for AWS Health's scheduled VPN notices.

Cost: each connection is checked once per ``replacement_every`` (default 6 hours) at its own minute
(:func:`vpn_doctor.replacement.due`), reading ``GetVpnTunnelReplacementStatus`` for its tunnels with lifecycle
control on only (AWS documents the status for those); each tunnel certificate once a day (``DescribeCertificate``).
The warning records of the connections checked in a poll are read in one ``BatchGetItem``; a warning is written only
when one opens or resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from aws_lambda_powertools import Logger

from vpn_doctor.app.incidents import Incidents, StatePorts, connection_or_none, publish_transitions
from vpn_doctor.app.ports import CertificateExpiries, ReplacementStatuses
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import CERTIFICATE_SCOPE, REPLACEMENT_SCOPE, SERVICE_NAME
from vpn_doctor.incidents import StoreContention, TunnelRecord, unique
from vpn_doctor.models import Finding, IncidentTransition, TunnelStateChange
from vpn_doctor.onboarding import MaintenanceWindow
from vpn_doctor.own_changes import SCHEDULED_CHANGE
from vpn_doctor.replacement import (
    CERTIFICATE_EVERY,
    CERTIFICATE_WARN_DAYS,
    REPLACEMENT_EVERY,
    MaintenanceStatus,
    PendingReplacement,
    apply_findings,
    certificate_arns,
    certificate_findings,
    certificates_resolved,
    due,
    replacement_findings,
    replacement_resolved,
)
from vpn_doctor.vpn import VpnConnectionInfo

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass(frozen=True, slots=True)
class AheadPorts:
    """What the checks call out to; ``certificates`` ``None``: certificate expiry is not checked."""

    incidents: Incidents
    statuses: ReplacementStatuses
    certificates: CertificateExpiries | None = None


@dataclass(frozen=True, slots=True)
class Ahead:
    """How often the checks run (``None``/empty: off), the poller's schedule (the checks' slots), and the window in
    which pending replacements are applied (``None``: never; opt-in). Inside that window every connection is checked
    each ``window_every`` (default 30 minutes), so a short window is not missed between two 6-hourly checks."""

    replacement_every: timedelta | None = REPLACEMENT_EVERY
    apply_window: MaintenanceWindow | None = None
    window_every: timedelta = timedelta(minutes=30)
    certificate_warn_days: tuple[int, ...] = CERTIFICATE_WARN_DAYS
    certificate_every: timedelta = CERTIFICATE_EVERY
    poll_interval: timedelta = timedelta(minutes=1)


@dataclass(slots=True)
class AheadResult:
    """What the checks of one poll read and found."""

    transitions: list[IncidentTransition] = field(default_factory=list)
    published: int = 0
    status_reads: int = 0
    certificate_reads: int = 0
    warnings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def warn_ahead(
    connections: Sequence[VpnConnectionInfo], ports: AheadPorts, *, ahead: Ahead, now: datetime
) -> AheadResult:
    """Check the connections due in this poll, open (once per pending maintenance or certificate threshold) or
    resolve their warnings, and publish the transitions. One connection's failure never stops the others."""
    result = AheadResult()
    replacing = [c for c in connections if _replacement_due(c, ahead, now)]
    expiries = _expiries(connections, ports, ahead, result, now)
    certifying = [c for c in connections if any(_names(c, arn) for arn in expiries)]
    keys = [(c.vpn_connection_id, REPLACEMENT_SCOPE) for c in replacing]
    keys += [(c.vpn_connection_id, CERTIFICATE_SCOPE) for c in certifying]
    if not keys:
        return result
    service = ports.incidents.service
    try:
        records = service.records(keys)
    except AwsCallFailed as exc:
        logger.error("Warning records not read: the checks wait for their next slot", code=exc.code)
        result.errors.append(exc.code)
        return result
    run = _Run(records, ports, result, now, applying=_in_window(ahead, now))
    for connection in replacing:
        _guarded(result, connection, partial(_replacement, connection, run))
    for connection in certifying:
        _guarded(result, connection, partial(_certificates, connection, run, expiries, ahead))
    result.transitions = unique(result.transitions)
    result.published = publish_transitions(ports.incidents, result.transitions)
    return result


def warn_scheduled(changes: Sequence[TunnelStateChange], ports: StatePorts, *, now: datetime) -> int:
    """AWS Health's scheduled VPN notices (``scheduledChange``): a warning for each named connection's tunnels that
    will not come back by itself after the replacement; returns how many transitions were published."""
    transitions: list[IncidentTransition] = []
    scheduled = [c for c in changes if c.maintenance and c.details.get("event_type_category") == SCHEDULED_CHANGE]
    for change in scheduled:
        connection = connection_or_none(ports.connections, change.vpn_connection_id)
        if connection is None:
            continue
        named = [t for t in connection.tunnels if change.tunnel_ip in (None, t.outside_ip)]
        reference = change.details.get("event_arn") or change.event_id
        pending = [PendingReplacement(t.outside_ip, change.observed_at, "AWS Health notice", reference) for t in named]
        for key, finding in replacement_findings(connection, pending, now=now):
            transitions += ports.incidents.service.on_finding(finding, event_id=key, now=now)
    return publish_transitions(ports.incidents, transitions) if transitions else 0


def _replacement_due(connection: VpnConnectionInfo, ahead: Ahead, now: datetime) -> bool:
    every = ahead.replacement_every
    if every is None:
        return False
    if _in_window(ahead, now) and any(t.lifecycle_control for t in connection.tunnels):
        every = min(every, ahead.window_every)
    return due(connection.vpn_connection_id, now=now, every=every, interval=ahead.poll_interval)


def _in_window(ahead: Ahead, now: datetime) -> bool:
    return ahead.apply_window is not None and ahead.apply_window.contains(now)


@dataclass(frozen=True, slots=True)
class _Run:
    """One run of the checks: the warning records read, the ports, the result being filled, the time."""

    records: Mapping[tuple[str, str], TunnelRecord]
    ports: AheadPorts
    result: AheadResult
    now: datetime
    applying: bool = False  # inside the window where pending replacements are applied


def _replacement(connection: VpnConnectionInfo, run: _Run) -> list[IncidentTransition]:
    vpn = connection.vpn_connection_id
    statuses: dict[str, MaintenanceStatus] = {}
    for tunnel in connection.tunnels:
        if tunnel.lifecycle_control:
            run.result.status_reads += 1
            statuses[tunnel.outside_ip] = run.ports.statuses.status(vpn, tunnel.outside_ip)
    pending = [found for status in statuses.values() if (found := PendingReplacement.from_status(status))]
    findings = replacement_findings(connection, pending, now=run.now)
    transitions = _apply(
        connection, REPLACEMENT_SCOPE, findings, run, resolved=replacement_resolved(connection, statuses)
    )
    if run.applying:
        # Filed under the tunnel itself, for remediation (vpn_doctor.remediation) to apply under its guards.
        for key, finding in apply_findings(connection, pending, now=run.now):
            run.result.warnings.append(finding)
            transitions += run.ports.incidents.service.on_finding(finding, event_id=key, now=run.now)
    return transitions


def _expiries(
    connections: Sequence[VpnConnectionInfo], ports: AheadPorts, ahead: Ahead, result: AheadResult, now: datetime
) -> dict[str, datetime]:
    """The expiry of each tunnel certificate due in this poll (one read per certificate, once a day)."""
    if ports.certificates is None or not ahead.certificate_warn_days:
        return {}
    found: dict[str, datetime] = {}
    for arn in certificate_arns(connections):
        if not due(arn, now=now, every=ahead.certificate_every, interval=ahead.poll_interval):
            continue
        result.certificate_reads += 1
        try:
            expires = ports.certificates.not_after(arn)
        except AwsCallFailed as exc:
            logger.error("Certificate expiry not read", code=exc.code, certificate_arn=arn)
            result.errors.append(exc.code)
            continue
        if expires is not None:
            found[arn] = expires
    return found


def _names(connection: VpnConnectionInfo, arn: str) -> bool:
    return any(t.telemetry is not None and t.telemetry.certificate_arn == arn for t in connection.tunnels)


def _certificates(
    connection: VpnConnectionInfo, run: _Run, expiries: Mapping[str, datetime], ahead: Ahead
) -> list[IncidentTransition]:
    days = ahead.certificate_warn_days
    findings = certificate_findings(connection, expiries, warn_days=days, now=run.now)
    resolved = certificates_resolved(connection, expiries, warn_days=days, now=run.now)
    return _apply(connection, CERTIFICATE_SCOPE, findings, run, resolved=resolved)


def _apply(
    connection: VpnConnectionInfo, scope: str, findings: Sequence[tuple[str, Finding]], run: _Run, *, resolved: bool
) -> list[IncidentTransition]:
    """Open (or add to) the warning for each finding; resolve an open one that nothing supports any more."""
    service = run.ports.incidents.service
    vpn = connection.vpn_connection_id
    transitions: list[IncidentTransition] = []
    for key, finding in findings:
        run.result.warnings.append(finding)
        transitions += service.on_finding(finding, event_id=key, now=run.now)
    record = run.records.get((vpn, scope))
    if not findings and resolved and record is not None and record.incident is not None:
        transitions += service.tick(vpn, scope, now=run.now, known=record)
    return transitions


def _guarded(result: AheadResult, connection: VpnConnectionInfo, check: Callable[[], list[IncidentTransition]]) -> None:
    try:
        result.transitions += check()
    except (AwsCallFailed, StoreContention) as exc:
        code = exc.code if isinstance(exc, AwsCallFailed) else "StoreContention"
        logger.error("Check ahead failed", vpn_connection_id=connection.vpn_connection_id, code=code)
        result.errors.append(code)
