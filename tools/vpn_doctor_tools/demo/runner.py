"""``vpn-doctor demo``: every scenario through the real handlers, against the embedded emulator."""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from vpn_doctor.aws.report_reader import ReportReader
from vpn_doctor.constants import Mode
from vpn_doctor.models import CheckStatus
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor_tools.cli.diagnose import build_report
from vpn_doctor_tools.cli.history import StoreLocation
from vpn_doctor_tools.cli.report import report_from, write_html
from vpn_doctor_tools.cli.silence import run_silence
from vpn_doctor_tools.emulator import Emulator, emulate, patched_environment

from .pipeline import Delivery, Pipeline, forget_places, load_handlers, quiet_handler_logs
from .scenarios import (
    DEMO_OWNER,
    DEMO_STORM_CONNECTIONS,
    DEMO_STORM_WINDOW_SECONDS,
    HUB,
    SCENARIOS,
    SPOKE,
    Diagnose,
    HubPoll,
    LogKind,
    Logs,
    Maintenance,
    Pause,
    Poll,
    Redeliver,
    Routes,
    Scenario,
    SilenceAdd,
    SilenceLift,
    Telemetry,
    Traffic,
)
from .stack import (
    BGP_LOG_GROUP,
    CGW_LOG_GROUP,
    SPOKE_ACCOUNT,
    SPOKE_REGION,
    TUNNEL_LOG_GROUP,
    DemoConnection,
    DemoStack,
    create_connection,
    provision,
    stop_monitoring,
)
from .timeline import Timeline, json_printer, text_printer

REMEDIATION_MODES = tuple(mode.value for mode in Mode)


@dataclass(slots=True)
class _ScenarioRun:
    scenario: Scenario
    connection: DemoConnection
    hub: Pipeline  # where alerts are sent from (the hub's notify), whatever account and region the scenario is in
    connections: tuple[DemoConnection, ...] = ()  # every connection of the scenario (a storm has several)
    last_delivery: Delivery | None = None
    pending_states: list[tuple[str, bool]] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)
    causes: set[str] = field(default_factory=set)  # of the scenario's incidents
    transitions: int = 0
    alerts: int = 0  # alerts on the bus: one per transition, plus post-check escalations
    # What notify's roll-up told about the connection, in order: one message per channel each (vpn_doctor.rollup).
    connection_changes: list[str] = field(default_factory=list)
    last_diagnosis: str | None = None
    # Tunnels whose startup action vpn-doctor set to 'start': AWS initiates, the gateway answers.
    recover: list[tuple[str, str]] = field(default_factory=list)  # (tunnel IP, who brings it back up)
    messages_after_redelivery: int | None = None
    failure_findings: int = 0  # failure findings delivered once (a redelivery is not counted)
    # Which scenario each VPN connection belongs to, shared by all runs: an event is shown under
    # the scenario of the connection it is about.
    owners: dict[str, _ScenarioRun] = field(default_factory=dict)
    # When connections failed (a connection change 'opened' from notify, monotonic seconds), shared by all runs.
    failed_at: list[float] = field(default_factory=list)
    connection_region: str = ""  # where the scenario's connections live
    silence_id: str | None = None  # the silence the scenario added (SilenceAdd)
    held: int = 0  # alerts a silence held (no channel gets them)
    released: int = 0  # announcements of held incidents still open when their hold ended


def run_demo(
    *, out: TextIO, json_lines: bool = False, remediate: str = "dry-run", report_file: str | None = None
) -> int:
    """Run the demo, printing the timeline to ``out``; returns the exit code (0 when every check passed).

    ``report_file``: also write the report of what the demo left in its store (``vpn-doctor report --html``)."""
    if remediate not in REMEDIATION_MODES:
        raise ValueError(f"remediation mode must be one of {', '.join(REMEDIATION_MODES)}")
    timeline = Timeline(json_printer(out) if json_lines else text_printer(out))
    started = time.monotonic()
    timeline.emit("banner", text="vpn-doctor demo: the whole pipeline on this machine, no AWS account")
    forget_places()
    with emulate(modifying_seconds=1.0) as emulator:
        timeline.add_secrets([emulator.slack.url, emulator.teams.url, emulator.pagerduty.routing_key])
        timeline.emit("setup", text=f"AWS emulator (moto) on {emulator.endpoint_url}, region {emulator.region}")
        timeline.emit("setup", text="Slack webhook receiver on 127.0.0.1 (its URL is stored in Secrets Manager)")
        timeline.emit(
            "setup",
            text="PagerDuty Events API v2 and Teams Workflows receivers on 127.0.0.1 (routing key and URL in "
            f"Secrets Manager); routing: connections owned by {DEMO_OWNER} also go to Teams, critical ones page",
        )
        stack = provision(emulator)
        timeline.emit(
            "setup",
            text=f"created: log groups {TUNNEL_LOG_GROUP}, {BGP_LOG_GROUP}, {CGW_LOG_GROUP}; SNS topic + e-mail "
            f"inbox; DynamoDB {stack.incidents_table}, {stack.remediation_table}; EventBridge bus {stack.bus_name}; "
            f"secret {stack.slack_secret_name}; remediation mode {remediate}",
        )
        # The spoke: another account (a role assumed in it) in another region, with what a spoke deploys there (its
        # log groups, tables and bus; the demo's provisioning also gives it a topic and secrets it never uses).
        spoke_emulator = emulator.in_account(SPOKE_ACCOUNT, SPOKE_REGION)
        spoke_stack = provision(spoke_emulator)
        timeline.emit(
            "setup",
            text=f"hub: account {stack.account_id} in {stack.region}, the one topic, Slack, Teams and PagerDuty "
            f"set-up, and connections of its own; spoke: account {spoke_stack.account_id} in {spoke_stack.region} "
            "(a role assumed there), its own log groups, tables and bus, its functions run with its credentials; its "
            "forwarding rule sends its alerts to the hub's notify (each event keeps its account and region); a storm "
            f"is {DEMO_STORM_CONNECTIONS} connections failing within {DEMO_STORM_WINDOW_SECONDS} s",
        )
        environment = {**emulator.environment(), **stack.environment(remediation_mode=remediate)}
        spoke_environment = {**spoke_emulator.environment(), **spoke_stack.environment(remediation_mode=remediate)}
        with patched_environment(environment), quiet_handler_logs():
            handlers = load_handlers()
            pipeline = Pipeline(emulator=emulator, stack=stack, handlers=handlers, environment=environment)
            places = {
                HUB: pipeline,
                SPOKE: Pipeline(
                    emulator=spoke_emulator, stack=spoke_stack, handlers=handlers, environment=spoke_environment
                ),
            }
            wired = [stage for stage, handler in pipeline.handlers.items() if handler is not None]
            missing = [stage for stage, handler in pipeline.handlers.items() if handler is None]
            timeline.emit("stages", wired=wired, missing=missing)
            owners: dict[str, _ScenarioRun] = {}
            failed_at: list[float] = []
            runs = []
            for number, scenario in enumerate(SCENARIOS, start=1):
                _apart(failed_at, storm=bool(scenario.storm))
                place = places[scenario.place]
                run = _run_scenario(
                    place, timeline, scenario, hub=pipeline, number=number, owners=owners, failed=failed_at
                )
                runs.append(run)
            _watchdog(pipeline, timeline)
            report_written = report_file is None or _write_report(
                timeline, stack, report_file, since=timedelta(seconds=time.monotonic() - started)
            )
        timeline.scenario = None
        failures = _checks(timeline, pipeline, runs)
    elapsed = time.monotonic() - started
    timeline.emit(
        "summary",
        text=f"{len(runs)} scenarios in {elapsed:.1f} s; "
        + ("every check passed" if not failures else f"{failures} check(s) failed")
        + (f"; not wired yet: {', '.join(missing)}" if missing else ""),
        seconds=round(elapsed, 1),
        failed_checks=failures,
        not_wired=missing,
    )
    return 0 if failures == 0 and report_written else 1


def _apart(failed_at: list[float], *, storm: bool) -> None:
    """Tell the stories apart: the scenarios run a second or two each, one connection each, and the demo's storm
    window is seconds; before a scenario, wait until fewer than ``DEMO_STORM_CONNECTIONS - 2`` connections failed
    within the last window (so no two stories together make a storm, however fast the machine), and before the storm
    until none did (so the storm is its own connections only). Failures are timed when notify tells them, at or
    after the time the detector counts from (the failure's own), so the wait is never too short."""
    window = DEMO_STORM_WINDOW_SECONDS + 0.5
    allowed = 0 if storm else DEMO_STORM_CONNECTIONS - 3
    while True:
        recent = sorted(at for at in failed_at if at > time.monotonic() - window)
        if len(recent) <= allowed:
            return
        time.sleep(recent[len(recent) - allowed - 1] + window - time.monotonic() + 0.05)


def _write_report(timeline: Timeline, stack: DemoStack, path: str, *, since: timedelta) -> bool:
    """The report of the demo's run (``since`` its start) from its tables, as ``vpn-doctor report --html`` writes
    it. Over the run only: the store holds nothing older, so a week's window would be unknown but for its end."""
    timeline.scenario = None
    report = report_from(
        ReportReader(stack.incidents_table, stack.remediation_table),
        now=datetime.now(UTC),
        period=timedelta(minutes=math.ceil(since / timedelta(minutes=1))),
    )
    try:
        write_html(report, Path(path))
    except OSError as exc:
        timeline.emit("report", text=f"not written: cannot write {path}: {exc.strerror}")
        return False
    incidents = sum(report.by_cause.values())
    timeline.emit(
        "report",
        text=f"written to {path}: {len(report.connections)} connections, {incidents} incidents, "
        f"{len(report.changes)} remediation decisions",
        path=path,
    )
    return True


def _watchdog(pipeline: Pipeline, timeline: Timeline) -> None:
    """The watchdog's scheduled run after the scenarios: vpn-doctor itself still sees and can tell."""
    if not pipeline.wired("watchdog"):
        return
    timeline.emit("step", text="scheduled watchdog run (logs, poller, subscription filter, topic)")
    result = pipeline.watchdog() or {}
    failing = result.get("failing") or []
    text = f"watchdog: {result.get('observed', 0)} condition(s) observed, " + (
        f"failing: {', '.join(failing)}" if failing else "none failing"
    )
    timeline.emit("step", text=text)
    if any(key.startswith("subscription_filter_missing:") for key in failing):
        timeline.emit("step", text="(expected here: the demo delivers log records to ingest itself, no filter)")
    for error in pipeline.errors:
        timeline.emit("error", text=error)
    pipeline.errors.clear()


def _run_scenario(
    pipeline: Pipeline,
    timeline: Timeline,
    scenario: Scenario,
    *,
    hub: Pipeline,
    number: int,
    owners: dict[str, _ScenarioRun],
    failed: list[float],
) -> _ScenarioRun:
    emulator, stack = pipeline.emulator, pipeline.stack
    timeline.scenario = scenario.key
    timeline.places[scenario.key] = (stack.account_id, stack.region)
    name = f"demo-{scenario.key.replace('_', '-')}"
    connections = tuple(
        create_connection(
            emulator,
            stack,
            name=f"{name}-{part + 1}" if scenario.storm else name,
            index=100 + part if scenario.storm else number,
            static_routes=scenario.static_routes,
            tunnel_options=scenario.tunnel_options,
            owner=scenario.owner,
        )
        for part in range(max(scenario.storm, 1))
    )
    connection = connections[0]
    for each in connections:
        timeline.add_secrets(_pre_shared_keys(emulator, each.vpn_connection_id))
    timeline.emit(
        "scenario",
        number=number,
        total=len(SCENARIOS),
        key=scenario.key,
        title=scenario.title,
        expect=scenario.expect.value if scenario.expect else None,
        vpn_connection_id=connection.vpn_connection_id,
        name=connection.name,
        tunnel_ips=list(connection.tunnel_ips),
        connections=[each.vpn_connection_id for each in connections],
    )
    run = _ScenarioRun(
        scenario=scenario,
        connection=connection,
        hub=hub,
        connections=connections,
        owners=owners,
        failed_at=failed,
        connection_region=stack.region,
    )
    # An established connection: both tunnels UP for an hour, and known as UP to the state stages.
    established = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for each in connections:
        owners[each.vpn_connection_id] = run
        for ip in each.tunnel_ips:
            emulator.vpn.set_tunnel_status(each.vpn_connection_id, ip, "UP", accepted_route_count=2, at=established)
    if pipeline.wired("poller"):
        pipeline.poll()
        _pump(pipeline, timeline, run)
    for step in scenario.steps:
        before = len(timeline.of_kind("slack", scenario.key)) + len(timeline.of_kind("email", scenario.key))
        _step(pipeline, emulator, timeline, run, step)
        _pump(pipeline, timeline, run)
        if isinstance(step, Redeliver):
            after = len(timeline.of_kind("slack", scenario.key)) + len(timeline.of_kind("email", scenario.key))
            run.messages_after_redelivery = after - before
    _post_checks(pipeline, timeline, run)
    for each in connections:
        stop_monitoring(emulator, each)
    return run


def _step(pipeline: Pipeline, emulator: Emulator, timeline: Timeline, run: _ScenarioRun, step: Any) -> None:
    connection = run.connection
    if isinstance(step, Telemetry):
        ip = connection.tunnel_ips[step.tunnel]
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=step.ago) if step.ago else None
        for each in run.connections:  # a storm's connections change at the same moment
            each_ip = each.tunnel_ips[step.tunnel]
            emulator.vpn.set_tunnel_status(each.vpn_connection_id, each_ip, step.status, message=step.message, at=at)
        run.pending_states.append((ip, step.status == "DOWN"))
        where = f" on all {len(run.connections)} connections" if len(run.connections) > 1 else f" ({ip})"
        timeline.emit("step", text=f"tunnel {step.tunnel + 1}{where} now reports {step.status} in VgwTelemetry")
        if step.alarm:
            _poll(pipeline, timeline, run, alarms=True)
    elif isinstance(step, Traffic):
        _put_traffic(emulator, timeline, run, step)
    elif isinstance(step, Routes):
        ip = connection.tunnel_ips[step.tunnel]
        emulator.vpn.set_accepted_routes(connection.vpn_connection_id, ip, step.count)
        timeline.emit(
            "step",
            text=f"tunnel {step.tunnel + 1} ({ip}) still UP, now reports AcceptedRouteCount {step.count} in "
            "VgwTelemetry (routes AWS accepts over BGP)",
        )
    elif isinstance(step, Logs):
        _deliver_logs(pipeline, timeline, run, step)
    elif isinstance(step, Poll):
        _recover(emulator, timeline, run)
        _poll(pipeline, timeline, run)
    elif isinstance(step, HubPoll):
        timeline.emit("step", text="the hub's scheduled poll (it ends a storm after a whole window without a failure)")
        run.hub.poll()
    elif isinstance(step, Diagnose):
        _diagnose(emulator, timeline, run)
    elif isinstance(step, Redeliver):
        if run.last_delivery is None:
            return
        timeline.emit("delivery", text="the same subscription payload is delivered a second time (at-least-once)")
        run.last_delivery = pipeline.redeliver(run.last_delivery)
        _report_ingest(timeline, run, run.last_delivery.result, quiet=True)
    elif isinstance(step, Maintenance):
        ip = connection.tunnel_ips[step.tunnel]
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=step.days)
        emulator.vpn.set_pending_maintenance(connection.vpn_connection_id, ip, auto_applied_after=due)
        timeline.emit(
            "step",
            text=f"AWS announces an endpoint replacement of tunnel {step.tunnel + 1} ({ip}), due {due:%Y-%m-%d %H:%M}",
        )
    elif isinstance(step, Pause):
        timeline.emit("step", text=f"{step.seconds:g} s pass")
        time.sleep(step.seconds)
        _post_checks(pipeline, timeline, run)
    elif isinstance(step, SilenceAdd | SilenceLift):
        _silence(pipeline, timeline, run, step)


def _silence(pipeline: Pipeline, timeline: Timeline, run: _ScenarioRun, step: SilenceAdd | SilenceLift) -> None:
    """``vpn-doctor silence add`` / ``lift`` on the scenario's connection: the command's own code, on the emulator
    (the caller is the emulator's STS identity)."""
    vpn_id = run.connection.vpn_connection_id
    if isinstance(step, SilenceAdd):
        command = f'vpn-doctor silence add {vpn_id} --for {step.duration} --reason "{step.reason}"'
        arguments: dict[str, Any] = {"vpn_id": vpn_id, "duration": step.duration, "reason": step.reason}
    else:
        command = f"vpn-doctor silence lift {run.silence_id}"
        arguments = {"silence_id": run.silence_id}
    timeline.emit("step", text=command)
    out, err = io.StringIO(), io.StringIO()
    location = StoreLocation(table=pipeline.stack.incidents_table, region=pipeline.stack.region)
    action = "add" if isinstance(step, SilenceAdd) else "lift"
    code = run_silence(
        location, action, out=out, err=err, json_output=True, client_factory=pipeline.emulator.client, **arguments
    )
    if code != 0:
        timeline.emit("error", text=err.getvalue().strip())
        return
    (silence,) = json.loads(out.getvalue())
    run.silence_id = str(silence["silence_id"])
    state = (
        f"active until {silence['ends_at']}"
        if silence["active"]
        else f"lifted at {silence['lifted_at']} by {silence['lifted_by']}"
    )
    timeline.emit(
        "silence",
        text=f"{silence['silence_id']} {state}: {silence['scope']} {silence['value']}, added by "
        f"{silence['created_by']}: {silence['reason']}",
        silence_id=silence["silence_id"],
        active=silence["active"],
    )


def _post_checks(pipeline: Pipeline, timeline: Timeline, run: _ScenarioRun) -> None:
    """Run the post-check schedules the respond stage created (in AWS they fire minutes later;
    the demo runs them when time passes in a scenario, and at its end)."""
    if not pipeline.wired("post_check"):
        return
    for name, payload in pipeline.due_post_checks():
        timeline.emit("step", text=f"post-check schedule {name} fires: is the tunnel back UP?")
        result = pipeline.invoke("post_check", payload)
        status = result.get("status") if isinstance(result, Mapping) else None
        timeline.emit("post_check", schedule=name, status=status)
        _pump(pipeline, timeline, run)


def _recover(emulator: Emulator, timeline: Timeline, run: _ScenarioRun) -> None:
    """With startup action 'start' AWS initiates IKE itself; this gateway answers (it was only idle). After a
    replacement applied in the window, this gateway initiates again (someone is watching: it is the window)."""
    for ip, who in run.recover:
        emulator.vpn.set_tunnel_status(run.connection.vpn_connection_id, ip, "UP")
        run.pending_states.append((ip, False))
        timeline.emit("step", text=f"{who}: {ip} is UP")
    run.recover.clear()


def _deliver_logs(pipeline: Pipeline, timeline: Timeline, run: _ScenarioRun, step: Logs) -> None:
    connection = run.connection
    ip = connection.tunnel_ips[step.tunnel]
    now = datetime.now(UTC)
    values = {
        "vpn": connection.vpn_connection_id,
        "ip": ip,
        "cgw": connection.customer_gateway_ip,
        "neighbor": connection.neighbor_ips[step.tunnel],
    }
    messages: list[tuple[int, str]] = []
    for index, record in enumerate(step.records):
        at = now + timedelta(seconds=step.offset(index))
        messages.append((int(at.timestamp() * 1000), _message(record, at, step.kind, values)))
    group, stream = {
        LogKind.TUNNEL: (TUNNEL_LOG_GROUP, f"{connection.vpn_connection_id}-{ip}"),
        LogKind.BGP: (BGP_LOG_GROUP, f"{connection.vpn_connection_id}-{ip}-bgp"),
        LogKind.CGW: (CGW_LOG_GROUP, f"{connection.name}-cgw/{connection.vpn_connection_id}-{ip}"),
    }[step.kind]
    timeline.emit("step", text=f"{len(messages)} record(s) written to {group}:{stream}, delivered to ingest")
    if not pipeline.wired("ingest"):
        timeline.emit("skipped", text="ingest is not wired yet")
        return
    run.last_delivery = pipeline.write_and_deliver(group, stream, messages)
    _report_ingest(timeline, run, run.last_delivery.result)


def _message(record: Any, at: datetime, kind: LogKind, values: Mapping[str, str]) -> str:
    if isinstance(record, str):
        return record.format(ts=at.strftime("%b %d %H:%M:%S"), **values) if kind is LogKind.CGW else record
    document = json.loads(json.dumps(record))
    if kind is LogKind.BGP:
        document["resource_id"] = f"{values['vpn']}_{values['ip']}"
        document["event_timestamp"] = int(at.timestamp() * 1000)
        document["timestamp"] = at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        document["message"]["details"] = document["message"]["details"].format(**values)
    else:
        document["event_timestamp"] = int(at.timestamp())
        document["details"] = document["details"].format(**values)
    return json.dumps(document)


def _report_ingest(timeline: Timeline, run: _ScenarioRun, result: Any, *, quiet: bool = False) -> None:
    if not isinstance(result, Mapping):
        return
    bad_excerpts = {bad.get("excerpt") for bad in result.get("bad_records") or ()}
    if not quiet and result.get("context_records"):
        count = result["context_records"]
        timeline.emit("step", text=f"ingest read {count} earlier line(s) of the tunnel back from its log group")
    for finding in result.get("findings") or ():
        category = str(finding.get("category"))
        if category in (Category.HEALTHY, Category.UNKNOWN) and finding.get("error"):
            continue  # listed as a bad record below
        run.categories.add(category)
        if not quiet and category not in (Category.HEALTHY, Category.UNKNOWN):
            run.failure_findings += 1
        if not quiet:
            timeline.emit(
                "finding",
                category=category,
                cause=finding.get("cause"),
                severity=finding.get("severity"),
                summary=finding.get("summary"),
                tunnel=finding.get("tunnel"),
                vpn_connection_id=finding.get("vpn_connection_id"),
            )
    if quiet:
        return
    for bad in result.get("bad_records") or ():
        timeline.emit("bad_record", reason=bad.get("reason"), excerpt=bad.get("excerpt") or "")
    if not result.get("findings") and not bad_excerpts:
        timeline.emit(
            "finding", category="healthy", cause=None, severity="info", summary="nothing wrong in these records"
        )


def _poll(pipeline: Pipeline, timeline: Timeline, run: _ScenarioRun, *, alarms: bool = False) -> None:
    """Tell the state stages: the CloudWatch alarms fire (``alarms``, when the state stage is wired)
    or the scheduled poll reads telemetry."""
    if alarms and pipeline.wired("state"):
        for ip, down in run.pending_states:
            timeline.emit("step", text=f"CloudWatch alarm on TunnelState for {ip} goes to {'ALARM' if down else 'OK'}")
            pipeline.alarm(run.connection.vpn_connection_id, ip, down=down)
    elif pipeline.wired("poller"):
        timeline.emit("step", text="scheduled telemetry poll (poller reads VgwTelemetry)")
        pipeline.poll()
    elif pipeline.wired("state"):
        for ip, down in run.pending_states:
            timeline.emit("step", text=f"CloudWatch alarm on TunnelState for {ip} goes to {'ALARM' if down else 'OK'}")
            pipeline.alarm(run.connection.vpn_connection_id, ip, down=down)
    else:
        timeline.emit("skipped", text="tunnel state stages (poller, state) are not wired yet")
    run.pending_states.clear()


def _put_traffic(emulator: Emulator, timeline: Timeline, run: _ScenarioRun, step: Traffic) -> None:
    """The tunnels' AWS/VPN data metrics, one datapoint per 5-minute period of the last 45 minutes."""
    vpn_id = run.connection.vpn_connection_id
    end = datetime.fromtimestamp(datetime.now(UTC).timestamp() // 300 * 300, tz=UTC)
    data = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "VpnId", "Value": vpn_id}, {"Name": "TunnelIpAddress", "Value": ip}],
            "Timestamp": end - timedelta(minutes=2.5 + 5 * period),
            "Value": values[index],
            "Unit": "Bytes",
        }
        for index, ip in enumerate(run.connection.tunnel_ips)
        for name, values in (("TunnelDataIn", step.bytes_in), ("TunnelDataOut", step.bytes_out))
        for period in range(9)
    ]
    emulator.client("cloudwatch").put_metric_data(Namespace="AWS/VPN", MetricData=data)
    for index, ip in enumerate(run.connection.tunnel_ips):
        timeline.emit(
            "step",
            text=f"tunnel {index + 1} ({ip}): TunnelDataIn {step.bytes_in[index]:,.0f} B, TunnelDataOut "
            f"{step.bytes_out[index]:,.0f} B every 5 minutes for 45 minutes (AWS/VPN metrics)",
        )


def _diagnose(emulator: Emulator, timeline: Timeline, run: _ScenarioRun) -> None:
    """The read-only review ``vpn-doctor diagnose`` does, on this scenario's connection."""
    vpn_id = run.connection.vpn_connection_id
    timeline.emit("step", text=f"vpn-doctor diagnose {vpn_id} (read-only configuration review)")
    report = build_report(
        vpn_id, emulator.client, region=emulator.region, since=timedelta(hours=1), now=datetime.now(UTC)
    )
    for entry in report.tunnels:
        diagnosis = entry.diagnosis
        if diagnosis is None:
            continue
        for check in diagnosis.failed:
            if check.check_id == "routing":
                # The routing check is the one that recognises static-routing asymmetry.
                run.categories.add(Category.STATIC_ROUTING_ASYMMETRY.value)
                timeline.emit(
                    "finding",
                    category=Category.STATIC_ROUTING_ASYMMETRY.value,
                    cause=Cause.BOTH_TUNNELS_UP_STATIC.value,
                    severity=Severity.CRITICAL.value if check.status is CheckStatus.FAIL else Severity.WARNING.value,
                    summary=check.reason,
                    tunnel=entry.tunnel.outside_ip,
                    vpn_connection_id=vpn_id,
                    source="diagnose",
                )
                return


def _pump(pipeline: Pipeline, timeline: Timeline, run: _ScenarioRun) -> None:
    """Route what the handlers published, stage by stage, and show what people received.

    Each event is shown under the scenario of the connection it is about.
    """
    owner = run
    skipped: set[str] = set()
    for event in pipeline.incident_events():
        detail = event.get("detail") or {}
        incident = detail.get("incident") or {}
        owner = run.owners.get(str(incident.get("vpn_connection_id")), run)
        owner.transitions += 1
        if incident.get("category"):
            owner.categories.add(str(incident["category"]))
        if incident.get("cause"):
            owner.causes.add(str(incident["cause"]))
        timeline.emit_as(
            owner.scenario.key,
            "incident",
            transition=detail.get("kind"),
            status=incident.get("status"),
            category=incident.get("category"),
            cause=incident.get("cause"),
            severity=incident.get("severity"),
            tunnel=incident.get("tunnel_ip"),
            vpn_connection_id=incident.get("vpn_connection_id"),
            incident_id=incident.get("incident_id"),
            finding_count=incident.get("finding_count"),
            reason=detail.get("reason") or incident.get("summary"),
        )
        if pipeline.wired("respond"):
            pipeline.invoke("respond", event)
        else:
            skipped.add("respond is not wired yet: alerts go out without diagnosis or remediation")
            pipeline.publish_alert({"transition": detail})
    # The spoke's forwarding rule sends its alerts to the hub's bus unchanged (their account and region kept); the
    # hub's own alerts (its connections', a storm's summary) are on its bus. Only the hub's notify sends.
    forwarded = pipeline.alert_events() if pipeline is not run.hub else []
    for event in [*forwarded, *run.hub.alert_events()]:
        alert = event.get("detail") or {}
        vpn_id = ((alert.get("transition") or {}).get("incident") or {}).get("vpn_connection_id")
        owner = run.owners.get(str(vpn_id), owner)
        owner.alerts += 1
        _show_alert(timeline, owner, alert)
        if run.hub.wired("notify"):
            _show_rollup(timeline, owner, run.hub.invoke("notify", event))
        else:
            skipped.add("notify is not wired yet: no Slack or e-mail message")
    for text in sorted(skipped):
        timeline.emit_as(owner.scenario.key, "skipped", text=text)
    for call in run.hub.new_calls():  # the emulator's record of every account's calls, read once
        if call.outcome == "applied" and call.parameters.get("StartupAction") == "start":
            who = "AWS initiates IKE (startup action 'start'), the gateway answers"
            run.owners.get(call.vpn_connection_id, owner).recover.append((call.tunnel_ip, who))
        if call.outcome == "applied" and call.action == "ReplaceVpnTunnel":
            who = "the new endpoint is up and the customer gateway initiates IKE again"
            run.owners.get(call.vpn_connection_id, owner).recover.append((call.tunnel_ip, who))
        timeline.emit_as(
            run.owners.get(call.vpn_connection_id, owner).scenario.key,
            "aws_call",
            action=call.action,
            vpn_connection_id=call.vpn_connection_id,
            tunnel_ip=call.tunnel_ip,
            parameters=dict(call.parameters),
            dry_run=call.dry_run,
            outcome=call.outcome,
        )
        if call.outcome == "applied":
            _endpoint_replaced(pipeline, timeline, run.owners.get(call.vpn_connection_id, owner), call)
    for error in pipeline.errors:
        timeline.emit_as(owner.scenario.key, "error", text=error)
    pipeline.errors.clear()
    # Messages arrive right after the notify invocations above: they belong to the same scenario.
    for text in run.hub.new_slack_posts():
        timeline.emit_as(owner.scenario.key, "slack", text=text)
    for email in run.hub.new_emails():
        timeline.emit_as(owner.scenario.key, "email", subject=email["subject"], text=email["text"])
    for card in run.hub.new_teams_cards():
        timeline.emit_as(owner.scenario.key, "teams", owner=DEMO_OWNER, title=card["title"], text=card["text"])
    for event in run.hub.new_pagerduty_events():
        timeline.emit_as(owner.scenario.key, "pagerduty", **event)


def _show_rollup(timeline: Timeline, owner: _ScenarioRun, result: Any) -> None:
    """What notify's roll-up made of the alert: the connection's change sent, or why nothing was sent."""
    rollup = (result or {}).get("rollup") if isinstance(result, Mapping) else None
    if not rollup:
        return
    sent = rollup.get("verdict") == "send" and result.get("status") != "duplicate"
    if sent and "state" in rollup:
        owner.connection_changes.append(str(rollup["state"]))
    if rollup.get("change") == "opened":
        owner.failed_at.append(time.monotonic())
    timeline.emit_as(
        owner.scenario.key,
        "connection",
        verdict=rollup.get("verdict"),
        sent=sent,
        change=rollup.get("change"),
        previous=rollup.get("previous"),
        state=rollup.get("state"),
        connection_incident_id=rollup.get("connection_incident_id"),
        storm_id=rollup.get("storm_id"),
    )


def _endpoint_replaced(pipeline: Pipeline, timeline: Timeline, owner: _ScenarioRun, call: Any) -> None:
    """AWS Health's notice of the endpoint replacement the modification caused: expected, never an alert."""
    key = owner.scenario.key
    timeline.emit_as(key, "step", text=f"AWS Health: the endpoint of {call.tunnel_ip} was replaced (our change)")
    result = pipeline.endpoint_replaced(call.vpn_connection_id, call.tunnel_ip)
    for note in (result or {}).get("expected") or ():
        timeline.emit_as(key, "step", text=f"state: {note}")


def _show_alert(timeline: Timeline, owner: _ScenarioRun, alert: Mapping[str, Any]) -> None:
    scenario = owner.scenario.key
    held, released = alert.get("held"), alert.get("released_from")
    if isinstance(held, Mapping) or isinstance(released, Mapping):
        hold: Mapping[str, Any] = held if isinstance(held, Mapping) else released  # type: ignore[assignment]
        owner.held += 1 if held else 0
        owner.released += 1 if released else 0
        incident = (alert.get("transition") or {}).get("incident") or {}
        timeline.emit_as(
            scenario,
            "held" if held else "released",
            tunnel=incident.get("tunnel_ip"),
            incident_id=incident.get("incident_id"),
            reason=hold.get("reason"),
            until=hold.get("until"),
        )
    diagnosis = alert.get("diagnosis")
    if isinstance(diagnosis, Mapping):
        checks = [
            {"id": c.get("check_id"), "status": c.get("status"), "title": c.get("title"), "reason": c.get("reason")}
            for c in diagnosis.get("checks") or ()
            if c.get("status") in ("fail", "warn")
        ]
        signature = json.dumps([diagnosis.get("verdict"), checks], sort_keys=True)
        timeline.emit_as(
            scenario,
            "diagnosis",
            verdict=diagnosis.get("verdict"),
            reason=diagnosis.get("verdict_reason"),
            checks=checks,
            unchanged=signature == owner.last_diagnosis,
        )
        owner.last_diagnosis = signature
    remediation = alert.get("remediation")
    if isinstance(remediation, Mapping):
        timeline.emit_as(
            scenario,
            "remediation",
            status=remediation.get("status"),
            action=remediation.get("action"),
            reason=remediation.get("reason"),
            parameters=dict(remediation.get("parameters") or {}),
            error_code=remediation.get("error_code"),
        )


def _checks(timeline: Timeline, pipeline: Pipeline, runs: list[_ScenarioRun]) -> int:
    """What a user should have seen, checked; returns how many checks failed.

    A check that needs a stage which is not wired yet is shown as skipped, not failed.
    """
    timeline.emit("banner", text="Checks")
    failures = len(timeline.of_kind("error"))
    state_wired = pipeline.wired("poller") or pipeline.wired("state")
    incidents_flow = bool(timeline.of_kind("incident"))

    def check(ok: bool | None, text: str, scenario: str) -> None:
        nonlocal failures
        failures += 1 if ok is False else 0
        timeline.scenario = scenario
        timeline.emit("check", ok=ok, text=text)

    for run in runs:
        key = run.scenario.key
        needs_state = not any(isinstance(step, Logs) for step in run.scenario.steps)
        if run.scenario.expect is not None:
            expected = run.scenario.expect.value
            seen = ", ".join(sorted(run.categories)) or "nothing"
            ready = state_wired or not needs_state
            check(expected in run.categories if ready else None, f"{key}: expected {expected}, saw {seen}", key)
        if run.scenario.expect_cause is not None:
            cause = run.scenario.expect_cause.value
            seen = ", ".join(sorted(run.causes)) or "nothing"
            check(cause in run.causes if incidents_flow else None, f"{key}: expected cause {cause}, saw {seen}", key)
        if run.scenario.expects_messages:
            slack = len(timeline.of_kind("slack", key))
            email = len(timeline.of_kind("email", key))
            ready = pipeline.wired("notify") and incidents_flow
            extra = run.alerts - run.transitions
            escalations = f" + {extra} escalation(s)" if extra > 0 else ""
            told = len(run.connection_changes)
            check(
                (run.transitions > 0 and extra >= 0 and told > 0 and slack == told and email == told)
                if ready
                else None,
                f"{key}: {run.transitions} incident transition(s){escalations} -> {told} connection change(s) "
                f"({' -> '.join(run.connection_changes) or 'none'}), {slack} Slack and {email} e-mail message(s)",
                key,
            )
            if run.scenario.connection_states:
                check(
                    tuple(run.connection_changes) == run.scenario.connection_states if ready else None,
                    f"{key}: the connection was told {' -> '.join(run.connection_changes) or 'nothing'} "
                    f"(expected {' -> '.join(run.scenario.connection_states)})",
                    key,
                )
        if run.scenario.owner is not None:
            _owner_checks(timeline, run, check, ready=pipeline.wired("notify") and incidents_flow)
        if run.scenario.expects_resolved:
            resolved = [e for e in timeline.of_kind("incident", key) if e.data.get("transition") == "resolved"]
            check(bool(resolved) if state_wired and incidents_flow else None, f"{key}: the incident was resolved", key)
        if run.scenario.expects_flapping:
            kinds = [e.data.get("transition") for e in timeline.of_kind("incident", key)]
            check(
                kinds.count("flapping") == 1 if state_wired else None,
                f"{key}: the flips rolled up into one flapping incident ({', '.join(map(str, kinds)) or 'nothing'})",
                key,
            )
        if run.messages_after_redelivery is not None:
            check(
                run.messages_after_redelivery == 0 if pipeline.wired("notify") else None,
                f"{key}: the duplicate delivery produced {run.messages_after_redelivery} extra message(s)",
                key,
            )
            incidents = timeline.of_kind("incident", key)
            counted = incidents[-1].data.get("finding_count") if incidents else None
            check(
                counted == run.failure_findings if incidents else None,
                f"{key}: the incident counts {counted} finding(s); {run.failure_findings} were delivered once",
                key,
            )
        if run.scenario.expects_bad_record:
            check(bool(timeline.of_kind("bad_record", key)), f"{key}: the malformed record was reported", key)
        if run.scenario.expects_release:
            _release_checks(timeline, run, check, ready=pipeline.wired("notify") and state_wired and incidents_flow)
        _storm_checks(timeline, run, check, ready=pipeline.wired("notify") and state_wired and incidents_flow)
    _only_planned_storms(timeline, runs, check)
    return failures


def _only_planned_storms(timeline: Timeline, runs: list[_ScenarioRun], check: Any) -> None:
    """No storm but the storm scenario's: the other stories, told apart, never add up to one."""
    stormy = {str(e.scenario) for e in timeline.of_kind("connection") if e.data.get("storm_id")}
    planned = {run.scenario.key for run in runs if run.scenario.storm}
    check(
        stormy <= planned,
        f"storms: only the storm scenario made one (storm messages in: {', '.join(sorted(stormy)) or 'none'})",
        next(iter(planned), ""),
    )


def _storm_checks(timeline: Timeline, run: _ScenarioRun, check: Any, *, ready: bool) -> None:
    """A storm (vpn_doctor.rollup, docs/rollup.md): the first ``storm_connections - 1`` outages told on their own,
    then exactly one grouped message per channel naming every connection of the storm and what they share; the rest
    held until the storm's end, which is one summary per channel."""
    if not run.scenario.storm:
        return
    key, count = run.scenario.key, len(run.connections)
    ids = [connection.vpn_connection_id for connection in run.connections]
    told = [e for e in timeline.of_kind("connection", key) if e.data["sent"]]
    opened = [e for e in told if e.data.get("storm_id")]
    alone = [e for e in told if not e.data.get("storm_id")]
    ended = [e for e in timeline.of_kind("connection", key) if e.data.get("storm_id") and e.data.get("change") is None]
    expected_alone = min(count, DEMO_STORM_CONNECTIONS) - 1
    check(
        (len(opened) == 1 and len(alone) == expected_alone) if ready else None,
        f"{key}: {count} connections failed at once: {len(alone)} told on their own (expected {expected_alone}), "
        f"{len(opened)} grouped message(s)",
        key,
    )
    for kind in ("slack", "email"):
        texts = [f"{e.data.get('subject') or ''}\n{e.data['text']}" for e in timeline.of_kind(kind, key)]
        grouped = [text for text in texts if all(vpn in text for vpn in ids)]
        factor = f"region {run.connection_region}"
        check(
            (len(grouped) == 1 and factor in grouped[0] and len(texts) == expected_alone + 2) if ready else None,
            f"{key}: {kind}: {len(grouped)} message(s) naming all {count} connections and their common factor "
            f"({factor}); {len(texts)} message(s) in all (expected {expected_alone} + the grouped one + the summary)",
            key,
        )
    storm_id = opened[0].data["storm_id"] if opened else None
    check(
        (len(ended) == 1 and ended[0].data["storm_id"] == storm_id) if ready else None,
        f"{key}: the storm ended after a whole window without a failure: {len(ended)} summary of {storm_id}",
        key,
    )


def _release_checks(timeline: Timeline, run: _ScenarioRun, check: Any, *, ready: bool) -> None:
    """A silence: every transition during it recorded and held (no message); the tunnel that recovered inside it
    never announced; the one still down when it was lifted announced exactly once (one Slack, one e-mail), marked
    released (when held, until when, why)."""
    key = run.scenario.key
    incidents = timeline.of_kind("incident", key)
    opened = {str(e.data.get("tunnel")) for e in incidents if e.data.get("transition") == "opened"}
    resolved = {str(e.data.get("tunnel")) for e in incidents if e.data.get("transition") == "resolved"}
    check(
        (len(opened) == 2 and len(resolved) == 1 and run.held == run.transitions) if ready else None,
        f"{key}: {run.transitions} incident transition(s) recorded on {len(opened)} tunnel(s) during the silence, "
        f"{run.held} held, {len(resolved)} recovered inside it",
        key,
    )
    released = timeline.of_kind("released", key)
    slack, email = timeline.of_kind("slack", key), timeline.of_kind("email", key)
    still_down = opened - resolved
    announced = {str(e.data.get("tunnel")) for e in released}
    marked = all("Held from" in e.data["text"] and "firewall upgrade" in e.data["text"] for e in [*slack, *email])
    check(
        (len(released) == 1 and announced == still_down and len(slack) == 1 and len(email) == 1 and marked)
        if ready
        else None,
        f"{key}: after the lift, {len(released)} announcement(s) of {', '.join(sorted(announced)) or '-'} "
        f"(still down: {', '.join(sorted(still_down)) or '-'}), {len(slack)} Slack and {len(email)} "
        "e-mail message(s), marked held until lifted and why",
        key,
    )


def _owner_checks(timeline: Timeline, run: _ScenarioRun, check: Any, *, ready: bool) -> None:
    """An owned connection: a Teams card per alert, one PagerDuty page triggered then resolved under one
    dedup key; no other connection reaches Teams or PagerDuty (the default route)."""
    key, owner = run.scenario.key, run.scenario.owner
    cards = len(timeline.of_kind("teams", key))
    told = len(run.connection_changes)
    check(
        cards == told if ready else None,
        f"{key}: owner {owner}: {cards} Teams card(s), one per connection change",
        key,
    )
    events = timeline.of_kind("pagerduty", key)
    actions = [event.data["action"] for event in events]
    keys = sorted({str(event.data["dedup_key"]) for event in events})
    if run.scenario.expects_page:
        paged = bool(events) and len(keys) == 1 and actions[0] == "trigger" and actions[-1] == "resolve"
        last = events[-1].data if events else {}
        sent = [e for e in timeline.of_kind("connection", key) if e.data["sent"]]
        incidents = {e.data.get("connection_incident_id") for e in sent}
        check(
            (paged and last["pages"] == 1 and last["open_pages"] == 0 and set(keys) == incidents)
            if ready and run.scenario.expects_resolved
            else None,
            f"{key}: PagerDuty {', '.join(actions) or 'nothing'} under one dedup key, the connection-level "
            f"incident's ({', '.join(keys)}): one page, resolved",
            key,
        )
    else:
        check(
            not events if ready else None,
            f"{key}: PagerDuty {', '.join(actions) or 'nothing'}: redundancy lost is a warning, the owner pages "
            "critical only",
            key,
        )
    owned = {r.scenario.key for r in run.owners.values() if r.scenario.owner is not None}
    elsewhere = [e for kind in ("teams", "pagerduty") for e in timeline.of_kind(kind) if e.scenario not in owned]
    check(
        not elsewhere if ready else None,
        f"routing: {len(elsewhere)} Teams/PagerDuty message(s) for connections without an owner",
        key,
    )


def _pre_shared_keys(emulator: Emulator, vpn_id: str) -> list[str]:
    # Read only to make sure the output can never show them (Timeline.scrub).
    item = emulator.client("ec2").describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"][0]
    return [str(t.get("PreSharedKey")) for t in item["Options"]["TunnelOptions"] if t.get("PreSharedKey")]


__all__ = ["REMEDIATION_MODES", "run_demo"]
