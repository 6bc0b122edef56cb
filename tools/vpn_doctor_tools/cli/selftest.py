"""``vpn-doctor selftest``: does a deployed vpn-doctor stack work on this account? Read-only but for one test alarm.

What it checks (each a row of the pass/fail table, ``--json`` for one document; exit code 1 when one fails, 2
when the stack cannot be read at all):

- **permissions**: each function's role, through ``iam:SimulatePrincipalPolicy``, for every call the function
  makes (:data:`vpn_doctor_tools.needs.NEEDS`) on the resources its environment names; this evaluates the
  role's policies and its permissions boundary as IAM would. Organizations SCPs and resource policies are not
  part of a principal simulation (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html).
- **alarm path**: one of the stack's own alarms is set to ALARM with the reason "vpn-doctor selftest"
  (``cloudwatch:SetAlarmState``), then back to OK, and its history is read for the outcome of the SNS action.
  This is what really exercises the topic policy and the key policy: the publish is made by CloudWatch as
  ``cloudwatch.amazonaws.com``, exactly like a real alarm (a ``sns:Publish`` by the caller would only test the
  caller's own permissions). CloudWatch records "Successfully executed action" or "Failed to execute action" in
  the alarm's history (https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger). Subscribers
  get one ALARM message whose reason says "vpn-doctor selftest". ``--no-publish`` skips it.
- **subscriptions**: the alert topic has at least one confirmed subscription; an e-mail subscription still
  ``PendingConfirmation`` is named (the day-one trap: nothing arrives until someone clicks the link).
- **subscription filters**: each watched log group has a subscription filter delivering to the ingest function.
- **tunnel logging**: each watched tunnel's ``LogOptions`` sends its tunnel logs to a watched log group.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from vpn_doctor.aws.scheduler import NAME_PREFIX as SCHEDULE_PREFIX
from vpn_doctor.constants import (
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_REMEDIATION_TABLE,
    MONITOR_TAG,
    REMEDIATE_TAG,
    Mode,
    MonitorScope,
)
from vpn_doctor_tools.needs import CERTIFICATE, NEEDS, SCHEDULE, VPN_CONNECTION, WATCHED_CONNECTION

PASS: Final = "pass"  # noqa: S105 - a check status, not a password
FAIL: Final = "fail"
SKIP: Final = "skip"
SELFTEST_REASON: Final = "vpn-doctor selftest"
# How long to wait for CloudWatch to run the alarm's action and record it in the history.
ACTION_WAIT_SECONDS: Final = 60.0

Clients = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the report."""

    area: str
    subject: str
    status: str
    detail: str = ""


@dataclass(slots=True)
class Report:
    """Every check, in order."""

    stack: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No check failed (skipped ones do not count)."""
        return all(check.status != FAIL for check in self.checks)

    def add(self, area: str, subject: str, ok: bool, detail: str = "") -> None:
        """Add a pass or fail row."""
        self.checks.append(Check(area, subject, PASS if ok else FAIL, detail))


@dataclass(frozen=True, slots=True)
class Deployed:
    """What the stack holds, by resource type: physical ids, and where the stack lives."""

    partition: str
    region: str
    account: str
    outputs: Mapping[str, str]
    resources: Mapping[str, tuple[str, ...]]  # resource type -> physical ids

    def arn(self, service: str, resource: str) -> str:
        """An ARN in the stack's account and region."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


class CannotRun(RuntimeError):
    """The stack (or the account) cannot be read: nothing was checked."""


def run_selftest(
    stack_name: str,
    *,
    clients: Clients,
    publish: bool = True,
    wait_seconds: float = ACTION_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Check the deployed stack ``stack_name``; ``clients(service)`` gives a boto3 client."""
    deployed = _deployed(stack_name, clients)
    report = Report(stack_name)
    functions = _functions(deployed, clients, report)
    for module, config in sorted(functions.items()):
        _permissions(module, config, deployed, clients, report)
    topic = deployed.outputs.get("AlertTopicArn")
    if topic:
        _subscriptions(topic, clients, report)
    ingest = functions.get("ingest")
    groups = [group for group in deployed.outputs.get("TunnelLogGroups", "").split(",") if group]
    for group in groups:
        _subscription_filter(group, ingest, clients, report)
    poller = functions.get("poller")
    _tunnel_logging(groups, poller, clients, report)
    if publish:
        _alarm_path(topic, clients, report, wait_seconds=wait_seconds, sleep=sleep)
    else:
        report.checks.append(Check("alarm path", "test alarm", SKIP, "--no-publish"))
    return report


# --- the stack ----------------------------------------------------------------------------------


def _deployed(stack_name: str, clients: Clients) -> Deployed:
    cloudformation = clients("cloudformation")
    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        summaries: list[Mapping[str, Any]] = []
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            summaries += page["StackResourceSummaries"]
    except (ClientError, BotoCoreError) as exc:
        raise CannotRun(f"stack {stack_name!r} cannot be read: {_error(exc)}") from None
    if not str(stack.get("StackStatus", "")).endswith("_COMPLETE") or "ROLLBACK" in str(stack.get("StackStatus")):
        raise CannotRun(f"stack {stack_name!r} is {stack.get('StackStatus')}: deploy it first")
    _, partition, _, region, account, _ = str(stack["StackId"]).split(":", 5)
    resources: dict[str, list[str]] = {}
    for summary in summaries:
        if summary.get("PhysicalResourceId"):
            resources.setdefault(summary["ResourceType"], []).append(summary["PhysicalResourceId"])
    return Deployed(
        partition=partition,
        region=region,
        account=account,
        outputs={item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs") or ()},
        resources={kind: tuple(ids) for kind, ids in resources.items()},
    )


def _functions(deployed: Deployed, clients: Clients, report: Report) -> dict[str, Mapping[str, Any]]:
    """Each vpn-doctor function's configuration, by handler module (``handlers.<module>.handler``)."""
    found: dict[str, Mapping[str, Any]] = {}
    client = clients("lambda")
    for name in deployed.resources.get("AWS::Lambda::Function", ()):
        try:
            config = client.get_function_configuration(FunctionName=name)
        except (ClientError, BotoCoreError) as exc:
            report.add("function", name, False, f"cannot be read: {_error(exc)}")
            continue
        parts = str(config.get("Handler", "")).split(".")
        if len(parts) == 3 and parts[0] == "handlers" and parts[1] in NEEDS:
            found[parts[1]] = config
    return found


# --- permissions ----------------------------------------------------------------------------------


def _permissions(module: str, config: Mapping[str, Any], deployed: Deployed, clients: Clients, report: Report) -> None:
    """Simulate each call of the function as its role, on the resource it names."""
    environment: Mapping[str, str] = (config.get("Environment") or {}).get("Variables") or {}
    role = str(config["Role"])
    iam = clients("iam")
    for action, spec in NEEDS[module]:
        target = _resource(action, spec, environment, deployed)
        subject = f"{module}: {action}"
        if target is None:
            report.checks.append(Check("permissions", subject, SKIP, "not configured in this deployment"))
            continue
        resource, context = target
        try:
            result = iam.simulate_principal_policy(
                PolicySourceArn=role, ActionNames=[action], ResourceArns=[resource], ContextEntries=context
            )["EvaluationResults"][0]
        except (ClientError, BotoCoreError) as exc:
            report.add("permissions", subject, False, f"not simulated: {_error(exc)}")
            continue
        decision = str(result.get("EvalDecision"))
        report.add("permissions", subject, decision == "allowed", f"{decision} on {resource}")


def _resource(
    action: str, spec: str, environment: Mapping[str, str], deployed: Deployed
) -> tuple[str, list[dict[str, Any]]] | None:
    """The resource ARN (and condition context) a call is simulated on; ``None`` when not deployed."""
    service = action.split(":", 1)[0]
    if spec == "*":
        return "*", []
    remediating = ENV_REMEDIATION_TABLE in environment
    if spec == SCHEDULE:
        return (deployed.arn("scheduler", f"schedule/default/{SCHEDULE_PREFIX}selftest"), []) if remediating else None
    if spec == WATCHED_CONNECTION:
        ids = [vpn for vpn in environment.get(ENV_MONITOR_VPN_IDS, "").split(",") if vpn]
        return deployed.arn("ec2", f"vpn-connection/{ids[0] if ids else 'vpn-00000000000000000'}"), []
    if spec == CERTIFICATE:
        return deployed.arn("acm", "certificate/00000000-0000-0000-0000-000000000000"), []
    if spec == VPN_CONNECTION:
        if not remediating:
            return None
        # A connection vpn-doctor may change: tagged for automatic remediation (and monitored, with scope tag).
        tags = {REMEDIATE_TAG: Mode.AUTO.value, MONITOR_TAG: "true"}
        context = [
            {"ContextKeyName": f"{prefix}:ResourceTag/{key}", "ContextKeyValues": [value], "ContextKeyType": "string"}
            for key, value in tags.items()
            for prefix in ("aws", "ec2")
        ]
        ids = [vpn for vpn in environment.get(ENV_MONITOR_VPN_IDS, "").split(",") if vpn]
        return deployed.arn("ec2", f"vpn-connection/{ids[0] if ids else 'vpn-00000000000000000'}"), context
    value = environment.get(spec.removeprefix("env:"))
    if not value:
        return None
    if service == "dynamodb":
        return deployed.arn("dynamodb", f"table/{value}"), []
    if service == "events":
        return deployed.arn("events", f"event-bus/{value}"), []
    if service == "logs":
        # A log-group ARN, or a list of group names (the first stands for all); IAM matches the ":*" suffix.
        arn = value if value.startswith("arn:") else deployed.arn("logs", f"log-group:{value.split(',')[0]}")
        return f"{arn}:*", []
    if service == "secretsmanager":
        return deployed.arn("secretsmanager", f"secret:{value}-AbCdEf"), []  # the 6-character suffix AWS appends
    if service == "sqs":
        return deployed.arn("sqs", value.rstrip("/").rsplit("/", 1)[-1]), []
    if action == "iam:PassRole":
        context = [
            {
                "ContextKeyName": "iam:PassedToService",
                "ContextKeyValues": ["scheduler.amazonaws.com"],
                "ContextKeyType": "string",
            }
        ]
        return value, context
    return value, []  # already an ARN (the topic)


# --- the topic ------------------------------------------------------------------------------------


def _subscriptions(topic: str, clients: Clients, report: Report) -> None:
    sns = clients("sns")
    try:
        subscriptions: list[Mapping[str, Any]] = []
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
            subscriptions += page["Subscriptions"]
    except (ClientError, BotoCoreError) as exc:
        report.add("subscriptions", topic, False, f"cannot be read: {_error(exc)}")
        return
    confirmed = [s for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")]
    for subscription in subscriptions:
        if subscription not in confirmed:
            endpoint = f"{subscription.get('Protocol')} {subscription.get('Endpoint')}"
            report.add("subscriptions", endpoint, False, "pending confirmation: nothing reaches it until confirmed")
    report.add(
        "subscriptions",
        "alert topic",
        bool(confirmed),
        f"{len(confirmed)} confirmed of {len(subscriptions)}"
        if subscriptions
        else "no subscription: alerts reach no one",
    )


# --- log groups and tunnels ---------------------------------------------------------------------


def _subscription_filter(group: str, ingest: Mapping[str, Any] | None, clients: Clients, report: Report) -> None:
    try:
        filters = clients("logs").describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    except (ClientError, BotoCoreError) as exc:
        report.add("subscription filter", group, False, f"cannot be read: {_error(exc)}")
        return
    target = str((ingest or {}).get("FunctionArn", ""))
    ours = [f for f in filters if target and str(f.get("destinationArn", "")).startswith(target)]
    report.add(
        "subscription filter",
        group,
        bool(ours),
        f"{ours[0]['filterName']} -> ingest" if ours else "no filter delivers this log group to ingest",
    )


def _tunnel_logging(groups: Sequence[str], poller: Mapping[str, Any] | None, clients: Clients, report: Report) -> None:
    environment: Mapping[str, str] = ((poller or {}).get("Environment") or {}).get("Variables") or {}
    scope = environment.get(ENV_MONITOR_SCOPE, MonitorScope.ALL.value)
    request: dict[str, Any] = {}
    if scope == MonitorScope.LIST.value:
        request["VpnConnectionIds"] = [vpn for vpn in environment.get(ENV_MONITOR_VPN_IDS, "").split(",") if vpn]
    elif scope == MonitorScope.TAG.value:
        request["Filters"] = [{"Name": "tag-key", "Values": [MONITOR_TAG]}]
    try:
        connections = clients("ec2").describe_vpn_connections(**request)["VpnConnections"]
    except (ClientError, BotoCoreError) as exc:
        report.add("tunnel logging", "watched connections", False, f"cannot be read: {_error(exc)}")
        return
    watched = set(groups)
    for connection in connections:
        if connection.get("State") not in ("available", "pending"):
            continue
        for tunnel in (connection.get("Options") or {}).get("TunnelOptions") or ():
            options = ((tunnel.get("LogOptions") or {}).get("CloudWatchLogOptions")) or {}
            subject = f"{connection['VpnConnectionId']} {tunnel.get('OutsideIpAddress')}"
            group = _group_name(str(options.get("LogGroupArn") or ""))
            if not options.get("LogEnabled"):
                report.add("tunnel logging", subject, False, "tunnel logging is off: no failure can be explained")
            elif group not in watched:
                detail = f"logs go to {group or '?'}, a group vpn-doctor does not watch"
                report.add("tunnel logging", subject, False, detail)
            else:
                report.add("tunnel logging", subject, True, f"to {group} ({options.get('LogOutputFormat', 'json')})")
    if not connections:
        report.checks.append(Check("tunnel logging", "watched connections", SKIP, "no connection in scope"))


def _group_name(arn: str) -> str:
    """The log group name of a log-group ARN (``...:log-group:<name>[:*]``)."""
    _, _, rest = arn.partition(":log-group:")
    return rest.removesuffix(":*")


# --- the alarm path -------------------------------------------------------------------------------


def _alarm_path(
    topic: str | None,
    clients: Clients,
    report: Report,
    *,
    wait_seconds: float,
    sleep: Callable[[float], None],
) -> None:
    cloudwatch = clients("cloudwatch")
    alarm: Mapping[str, Any] | None = None
    try:
        # The stack's alarms that act on the alert topic (its Errors and queue alarms); any one of them will do.
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            alarm = next((a for a in page["MetricAlarms"] if topic and topic in (a.get("AlarmActions") or ())), None)
            if alarm is not None:
                break
    except (ClientError, BotoCoreError) as exc:
        report.add("alarm path", "alarms", False, f"cannot be read: {_error(exc)}")
        return
    if alarm is None:
        report.add("alarm path", "test alarm", False, "no alarm sends to the alert topic")
        return
    name = alarm["AlarmName"]
    started = datetime.now(UTC)
    try:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=SELFTEST_REASON)
        outcome = _action_outcome(cloudwatch, name, started, wait_seconds, sleep)
    except (ClientError, BotoCoreError) as exc:
        report.add("alarm path", name, False, f"alarm not set: {_error(exc)}")
        return
    finally:
        _restore(cloudwatch, name)
    if outcome is None:
        report.add("alarm path", name, False, f"no action recorded within {wait_seconds:g} s")
    else:
        report.add("alarm path", name, outcome.startswith("Successfully"), outcome)


def _action_outcome(
    cloudwatch: Any, name: str, since: datetime, wait_seconds: float, sleep: Callable[[float], None]
) -> str | None:
    """The summary of the first SNS action CloudWatch ran for the alarm since ``since``, waiting for it."""
    deadline = time.monotonic() + wait_seconds
    while True:
        items = cloudwatch.describe_alarm_history(
            AlarmName=name, HistoryItemType="Action", StartDate=since, ScanBy="TimestampAscending"
        )["AlarmHistoryItems"]
        if items:
            return str(items[0]["HistorySummary"])
        if time.monotonic() >= deadline:
            return None
        sleep(5)


def _restore(cloudwatch: Any, name: str) -> None:
    """Back to OK; CloudWatch puts the alarm back in its real state at its next evaluation anyway."""
    # If this fails, the next evaluation restores it; a failure to set ALARM is what the report shows.
    with contextlib.suppress(ClientError, BotoCoreError):
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason=f"{SELFTEST_REASON}: done")


# --- output ---------------------------------------------------------------------------------------


def render(report: Report, *, json_output: bool) -> str:
    """The report as a table (or one JSON document)."""
    if json_output:
        return json.dumps(
            {"stack": report.stack, "passed": report.passed, "checks": [asdict(check) for check in report.checks]},
            indent=2,
        )
    width = max((len(check.subject) for check in report.checks), default=10)
    areas = max((len(check.area) for check in report.checks), default=10)
    lines = [f"vpn-doctor selftest of stack {report.stack}", ""]
    lines += [
        f"  {check.status:<4}  {check.area:<{areas}}  {check.subject:<{width}}  {check.detail}".rstrip()
        for check in report.checks
    ]
    failed = sum(check.status == FAIL for check in report.checks)
    lines += ["", "every check passed" if report.passed else f"{failed} check(s) failed"]
    return "\n".join(lines)


def run(
    stack_name: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    json_output: bool,
    publish: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """The command: 0 when every check passed, 1 when one failed, 2 when the stack could not be read."""
    import boto3

    try:
        session = boto3.session.Session(region_name=region)

        def clients(service: str) -> Any:
            return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]

        report = run_selftest(stack_name, clients=clients, publish=publish)
    except (NoCredentialsError, NoRegionError) as exc:
        print(f"vpn-doctor selftest: {exc}", file=err)
        return 2
    except CannotRun as exc:
        print(f"vpn-doctor selftest: {exc}", file=err)
        return 2
    print(render(report, json_output=json_output), file=out)
    return 0 if report.passed else 1


def _error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"
