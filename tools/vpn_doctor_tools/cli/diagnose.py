"""``vpn-doctor diagnose VPN_ID``: a read-only look at one VPN connection with your AWS credentials.

Reads ``DescribeVpnConnections`` (through the read-only EC2 adapter, so no
pre-shared key is ever kept), the tunnels' telemetry, the last ``--since`` of tunnel and BGP logs
(``FilterLogEvents`` + the classifier) where logging is enabled and of the tunnels' traffic (one
``GetMetricData``), and runs the diagnosis and, when available, the remediation policy in dry-run.
It never changes anything.

Errors a user can fix (no credentials, no region, unknown connection, missing permission) are one
line on stderr and exit code 2; logging being disabled is a warning.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TextIO

from botocore.exceptions import ClientError

from vpn_doctor.app.samples import CHECK_ID as SAMPLE_CHECK
from vpn_doctor.app.samples import with_sample_quote
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.logs import TunnelLogs
from vpn_doctor.aws.metrics import TunnelMetrics
from vpn_doctor.classify import Classifier
from vpn_doctor.diagnosis import TunnelTraffic, diagnose, review_incident
from vpn_doctor.models import Diagnosis, Finding, Incident, IncidentStatus, TunnelEvent, TunnelState, dump, iso
from vpn_doctor.redact import known_keys, redact, redact_document
from vpn_doctor.vpn import TunnelConfig, VpnConnectionInfo, log_group_name

ClientFactory = Callable[[str], Any]

EXIT_USAGE: Final = 2
_SINCE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
#: Longest look-back: a year of tunnel logs is more than any diagnosis reads (and more than most
#: log groups keep).
MAX_SINCE: Final = timedelta(days=365)
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DENIED: Final = frozenset(
    {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "UnrecognizedClientException"}
)
_UNKNOWN_CONNECTION: Final = frozenset({"InvalidVpnConnectionID.NotFound", "InvalidVpnConnectionId.Malformed"})
_BAD_CREDENTIALS: Final = frozenset({"AuthFailure", "InvalidClientTokenId", "ExpiredToken", "RequestExpired"})
_NO_CREDENTIALS: Final = (
    "no AWS credentials found: configure a profile (aws configure / AWS_PROFILE) or set AWS_ACCESS_KEY_ID"
)
_NO_REGION: Final = "no AWS region: pass --region or set AWS_REGION / a region in your AWS config"


class DiagnoseError(Exception):
    """Something the user must fix before a diagnosis is possible (one line, exit code 2)."""


@dataclass(slots=True)
class TunnelReport:
    """What ``diagnose`` found for one tunnel."""

    tunnel: TunnelConfig
    number: int
    findings: list[Finding] = field(default_factory=list)
    records: int = 0
    incident: Incident | None = None
    healthy: bool = False  # UP, and nothing wrong in its recent logs
    diagnosis: Diagnosis | None = None
    remediation: dict[str, Any] | None = None


@dataclass(slots=True)
class Report:
    """The whole answer."""

    connection: VpnConnectionInfo
    region: str
    since: timedelta
    now: datetime
    tunnels: list[TunnelReport]
    warnings: list[str] = field(default_factory=list)
    # The connection's pre-shared keys, only to mask them wherever a log line or error quotes them.
    known_keys: frozenset[str] = frozenset()


def run_diagnose(
    vpn_id: str,
    *,
    region: str | None,
    since: str,
    endpoint_url: str | None,
    json_output: bool,
    out: TextIO,
    err: TextIO,
    now: datetime | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """Diagnose one connection and print the result; returns the exit code."""
    try:
        window = parse_since(since)
        if client_factory is None:
            clients, resolved_region = _session_clients(region, endpoint_url)
        else:
            clients, resolved_region = client_factory, region or "the given region"
        report = build_report(vpn_id, clients, region=resolved_region, since=window, now=now or datetime.now(UTC))
    except DiagnoseError as exc:
        print(f"vpn-doctor diagnose: {exc}", file=err)
        return EXIT_USAGE
    for warning in report.warnings:
        print(f"vpn-doctor diagnose: warning: {warning}", file=err)
    # Log lines and AWS messages are quoted: no key-like text and no known key is printed.
    if json_output:
        document, _ = redact_document(report_to_dict(report), report.known_keys)
        out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(redact(render_text(report), report.known_keys)[0])
    return 0


def parse_since(text: str) -> timedelta:
    """``30m``, ``1h``, ``2d``, ``90s`` as a duration, at most :data:`MAX_SINCE`."""
    match = _SINCE.match(text)
    digits = match.group(1).lstrip("0") if match else ""
    if match is None or not digits:
        raise DiagnoseError(f"--since {text!r} is not a duration like 30m, 1h or 2d")
    # Counted in digits first: a number too large for timedelta (or int()) is an error, not a traceback.
    if len(digits) > 9 or (window := timedelta(**{_UNITS[match.group(2)]: int(digits)})) > MAX_SINCE:
        raise DiagnoseError(f"--since {text!r} is longer than {MAX_SINCE.days} days")
    return window


def build_report(vpn_id: str, clients: ClientFactory, *, region: str, since: timedelta, now: datetime) -> Report:
    """Read everything and diagnose each tunnel (read-only calls only)."""
    keys: set[str] = set()
    connection = _describe(clients("ec2"), vpn_id, region, keys)
    report = Report(connection=connection, region=region, since=since, now=now, tunnels=[], known_keys=frozenset(keys))
    logs = clients("logs")
    traffic = _traffic(clients("cloudwatch"), connection, since, now, report.warnings)
    samples = Ec2Reader(clients("ec2"))  # AWS's sample configuration for the gateway, quoted in next steps
    for number, tunnel in enumerate(connection.tunnels, start=1):
        entry = TunnelReport(tunnel=tunnel, number=number)
        entry.records, entry.findings = _tunnel_findings(logs, connection, tunnel, since, now, report.warnings)
        incident = entry.incident = incident_for(connection, tunnel, entry.findings, now=now)
        entry.healthy = (
            tunnel.telemetry is not None
            and tunnel.telemetry.status is TunnelState.UP
            and not any(finding.is_failure for finding in entry.findings)
        )
        entry.diagnosis = diagnose(
            incident, connection, traffic=traffic.get((connection.vpn_connection_id, tunnel.outside_ip)), now=now
        )
        entry.diagnosis = with_sample_quote(
            entry.diagnosis, incident, connection, samples, known_keys=report.known_keys
        )
        entry.remediation = _remediation_preview(incident, connection, entry.diagnosis, now)
        report.tunnels.append(entry)
    return report


def _traffic(
    client: Any, connection: VpnConnectionInfo, since: timedelta, now: datetime, warnings: list[str]
) -> Mapping[tuple[str, str], TunnelTraffic]:
    """Every tunnel's bytes in and out over ``since`` (one read); none, with a warning, when refused."""
    tunnels = [(connection.vpn_connection_id, tunnel.outside_ip) for tunnel in connection.tunnels]
    try:
        return TunnelMetrics(client).traffic(tunnels, start=now - since, end=now)
    except AwsCallFailed as exc:
        warnings.append(f"traffic metrics not read ({exc.code}): the diagnosis goes without them")
        return {}


def incident_for(
    connection: VpnConnectionInfo, tunnel: TunnelConfig, findings: Iterable[Finding], *, now: datetime
) -> Incident:
    """The incident the pipeline would hold for this tunnel: its worst recent finding, or (nothing in
    the logs) :func:`vpn_doctor.diagnosis.review_incident`, a neutral configuration review."""
    failures = [finding for finding in findings if finding.is_failure]
    telemetry = tunnel.telemetry
    state = telemetry.status if telemetry is not None else TunnelState.UNKNOWN
    since = telemetry.last_status_change if telemetry is not None else None
    if failures:
        worst = max(failures, key=lambda finding: (finding.severity.rank, finding.timestamp or now))
        return Incident(
            incident_id=f"diagnose-{connection.vpn_connection_id}-{tunnel.outside_ip}",
            vpn_connection_id=connection.vpn_connection_id,
            tunnel_ip=tunnel.outside_ip,
            status=IncidentStatus.OPEN,
            category=worst.category,
            cause=worst.cause,
            severity=worst.severity,
            summary=worst.summary,
            opened_at=min((f.timestamp for f in failures if f.timestamp), default=now),
            updated_at=now,
            last_state=state,
            state_since=since,
            evidence=worst.evidence,
            finding_count=len(failures),
        )
    # Nothing in the logs: the diagnosis module's neutral configuration-review incident.
    return review_incident(connection, tunnel.outside_ip, now=now)


# --- AWS reads --------------------------------------------------------------------------------


def _session_clients(region: str | None, endpoint_url: str | None) -> tuple[ClientFactory, str]:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.session.Session(region_name=region)
    except BotoCoreError as exc:  # e.g. a profile that does not exist
        raise DiagnoseError(str(exc)) from exc
    if not session.region_name:
        raise DiagnoseError(_NO_REGION)
    if session.get_credentials() is None:
        raise DiagnoseError(_NO_CREDENTIALS)
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]
        return cache[service]

    return client, str(session.region_name)


def _describe(ec2: Any, vpn_id: str, region: str, keys: set[str]) -> VpnConnectionInfo:
    """The connection; its tunnels' pre-shared keys go to ``keys`` (the reader never keeps them)."""

    def keep_keys(parsed: Mapping[str, Any], **_: Any) -> None:
        keys.update(known_keys(parsed))

    ec2.meta.events.register(_DESCRIBED, keep_keys)
    try:
        connection = Ec2Reader(ec2).connection(vpn_id)
    except AwsCallFailed as exc:
        raise DiagnoseError(_refusal(exc, "ec2:DescribeVpnConnections")) from exc
    except ClientError as exc:  # the reader lets "not found" for a malformed id through as is
        raise DiagnoseError(f"no VPN connection {vpn_id} in {region} ({_code(exc)})") from exc
    finally:
        ec2.meta.events.unregister(_DESCRIBED, keep_keys)
    if connection is None or connection.state == "deleted":
        raise DiagnoseError(f"no VPN connection {vpn_id} in {region} (InvalidVpnConnectionID.NotFound)")
    return connection


# botocore's event after a DescribeVpnConnections answer was parsed (the answer holds the keys).
_DESCRIBED: Final = "after-call.ec2.DescribeVpnConnections"


def _refusal(exc: AwsCallFailed, permission: str) -> str:
    if exc.code in _DENIED:
        return f"missing permission {permission} ({exc.code})"
    if exc.code in _BAD_CREDENTIALS:
        return f"AWS rejected the credentials ({exc.code})"
    if exc.code == "NoCredentialsError":
        return _NO_CREDENTIALS
    if exc.code == "NoRegionError":
        return _NO_REGION
    if exc.code == "EndpointConnectionError":
        return f"cannot reach AWS: {exc}"
    return str(exc)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _tunnel_findings(  # noqa: PLR0917 - private reader, called once
    logs: Any,
    connection: VpnConnectionInfo,
    tunnel: TunnelConfig,
    since: timedelta,
    now: datetime,
    warnings: list[str],
) -> tuple[int, list[Finding]]:
    logging = tunnel.logging
    if not logging.enabled or not logging.log_group_arn:
        warnings.append(
            f"tunnel {tunnel.outside_ip}: tunnel logging is disabled, so there are no log findings "
            "(enable LogOptions.CloudWatchLogOptions on the tunnel)"
        )
        groups: list[str] = []
    else:
        groups = [logging.log_group_arn]
    if logging.bgp_enabled and logging.bgp_log_group_arn:
        groups.append(logging.bgp_log_group_arn)
    reader = TunnelLogs(logs)
    events: list[TunnelEvent] = []
    for group in dict.fromkeys(groups):
        try:
            events.extend(
                reader.lookback(group, connection.vpn_connection_id, tunnel.outside_ip, start=now - since, end=now)
            )
        except AwsCallFailed as exc:
            warnings.append(f"{_refusal(exc, 'logs:FilterLogEvents')} on {log_group_name(group)}: no log findings")
    events.sort(key=lambda event: event.timestamp or now - since)
    classifier = Classifier()
    return len(events), [classifier.classify(event) for event in events]


def _remediation_preview(
    incident: Incident, connection: VpnConnectionInfo, diagnosis: Diagnosis, now: datetime
) -> dict[str, Any] | None:
    """What the remediation policy would decide, in dry-run, if this version has one."""
    try:
        module = importlib.import_module("vpn_doctor.remediation")
    except ImportError:
        return None
    preview = getattr(module, "preview", None)
    if preview is None:
        return None
    outcome = preview(incident, connection, diagnosis, now=now)
    return dump(outcome) if outcome is not None else None


# --- output -----------------------------------------------------------------------------------


def report_to_dict(report: Report) -> dict[str, Any]:
    """The JSON document ``--json`` prints (no pre-shared key can be in it: the models have none)."""
    connection = report.connection
    return {
        "vpn_connection_id": connection.vpn_connection_id,
        "name": connection.name,
        "region": report.region,
        "state": connection.state,
        "routing": "static" if connection.static_routes_only else "dynamic (BGP)",
        "since": _human(report.since),
        "checked_at": iso(report.now),
        "warnings": list(report.warnings),
        "tunnels": [
            {
                "number": entry.number,
                "outside_ip": entry.tunnel.outside_ip,
                "telemetry": _telemetry(entry.tunnel),
                "logging": {
                    "enabled": entry.tunnel.logging.enabled,
                    "log_group_arn": entry.tunnel.logging.log_group_arn,
                    "bgp_enabled": entry.tunnel.logging.bgp_enabled,
                },
                "healthy": entry.healthy,
                "records": entry.records,
                "incident": dump(entry.incident) if entry.incident else None,
                "findings": [f.to_dict() for f in entry.findings if f.is_failure or f.error],
                "diagnosis": dump(entry.diagnosis) if entry.diagnosis else None,
                "remediation": entry.remediation,
            }
            for entry in report.tunnels
        ],
    }


def render_text(report: Report) -> str:
    """The report for a person."""
    connection = report.connection
    lines = [
        f"{connection.vpn_connection_id}"
        + (f" ({connection.name})" if connection.name else "")
        + f" in {report.region}",
        f"  state {connection.state}, routing {'static' if connection.static_routes_only else 'dynamic (BGP)'}, "
        f"logs read for the last {_human(report.since)}",
    ]
    for entry in report.tunnels:
        tunnel = entry.tunnel
        lines.append("")
        lines.append(f"Tunnel {entry.number} {tunnel.outside_ip}: {_status_line(tunnel, report.now)}")
        lines.append(
            f"  options   IKE {'/'.join(tunnel.ike_versions)}, DPD {tunnel.dpd_timeout_seconds} s -> "
            f"{tunnel.dpd_timeout_action}, startup {tunnel.startup_action}, lifetimes "
            f"{tunnel.phase1_lifetime_seconds}/{tunnel.phase2_lifetime_seconds} s"
        )
        logging = tunnel.logging
        lines.append(
            "  logging   "
            + (f"on ({logging.output_format or 'json'}) -> {logging.log_group_arn}" if logging.enabled else "off")
        )
        failures = [f for f in entry.findings if f.is_failure]
        lines.append(f"  logs      {entry.records} record(s), {len(failures)} pointing at a problem")
        lines.extend(_finding_lines(failures))
        healthy = entry.healthy
        if entry.diagnosis is not None:
            diagnosis = entry.diagnosis
            if healthy:
                # Nothing to explain: show only what the configuration review flags for later.
                lines.append("  verdict   healthy: the tunnel is UP and its logs show no problem")
                checks = [check for check in diagnosis.failed if check.check_id != "sibling"]
            else:
                lines.append(f"  verdict   {diagnosis.verdict.value}: {diagnosis.verdict_reason}")
                checks = list(diagnosis.failed)
            # AWS's sample configuration quoted (or why not) shows as well: it is what to compare the gateway with.
            checks += [check for check in diagnosis.checks if check.check_id == SAMPLE_CHECK and check not in checks]
            lines.extend(f"    {check.status.value:<4} {check.title}: {check.reason}" for check in checks)
            if not healthy:
                lines.extend(f"    next: {step}" for step in diagnosis.next_steps[:3])
        if healthy:
            lines.append("  would do  nothing: the tunnel is healthy")
        elif entry.remediation is not None:
            lines.append(
                f"  would do  {entry.remediation.get('status')}: {entry.remediation.get('reason')}"
                + (f" {json.dumps(entry.remediation.get('parameters'))}" if entry.remediation.get("parameters") else "")
            )
    return "\n".join(lines) + "\n"


def _finding_lines(failures: list[Finding]) -> list[str]:
    grouped: dict[tuple[str, str | None, str], list[Finding]] = {}
    for finding in failures:
        key = (finding.category.value, finding.cause.value if finding.cause else None, finding.summary)
        grouped.setdefault(key, []).append(finding)
    lines = []
    for (category, cause, summary), items in sorted(grouped.items(), key=lambda kv: -kv[1][0].severity.rank):
        last = max((f.timestamp for f in items if f.timestamp), default=None)
        count = f" x{len(items)}" if len(items) > 1 else ""
        when = f", last {iso(last)}" if last else ""
        lines.append(f"    {items[0].severity.value:<8} {category}/{cause or '-'}{count}{when}: {summary}")
    return lines


def _status_line(tunnel: TunnelConfig, now: datetime) -> str:
    telemetry = tunnel.telemetry
    if telemetry is None:
        return "no telemetry"
    text = telemetry.status.value
    if telemetry.status_message:
        text += f" ({telemetry.status_message})"
    if telemetry.last_status_change is not None:
        text += f" since {iso(telemetry.last_status_change)} ({_human(now - telemetry.last_status_change)} ago)"
    if telemetry.accepted_route_count is not None:
        text += f", {telemetry.accepted_route_count} route(s) accepted"
    return text


def _telemetry(tunnel: TunnelConfig) -> Mapping[str, Any] | None:
    telemetry = tunnel.telemetry
    if telemetry is None:
        return None
    return {
        "status": telemetry.status.value,
        "status_message": telemetry.status_message,
        "last_status_change": iso(telemetry.last_status_change),
        "accepted_route_count": telemetry.accepted_route_count,
    }


def _human(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if (seconds >= size and seconds % size == 0) or seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
