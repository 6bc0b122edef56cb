"""``vpn-doctor onboard --status``: where on-boarding stands on a deployed stack, read-only, with your credentials.

Finds the stack's onboard function (``ListStackResources``), reads the settings the stack gave it
(``GetFunctionConfiguration``: table, log group, scope, window), then does what a run would decide, without acting:
``DescribeVpnConnections`` of the monitored connections and each connection's progress from the table. Prints per
tunnel whether it logs and where, its step (logging, pending, in flight, blocked, failed), its last change, the
next time it may change and why not now. It never changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from handlers.onboard import Settings
from handlers.wiring import SettingsError, load_settings
from vpn_doctor.app.onboard import status
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.onboarding_store import DynamoDbOnboardingStore
from vpn_doctor.models import iso
from vpn_doctor.onboarding import Step, TunnelPlan, summary
from vpn_doctor.vpn import log_group_name
from vpn_doctor_tools.cli.diagnose import EXIT_USAGE, ClientFactory, DiagnoseError
from vpn_doctor_tools.cli.diagnose import _session_clients as session_clients

DEFAULT_STACK: Final = "VpnDoctor"
# The onboard function's logical id starts with its construct path (Onboarding/Onboard/Function).
_LOGICAL_PREFIX: Final = "OnboardingOnboardFunction"


def run_status(
    *,
    stack: str,
    region: str | None,
    endpoint_url: str | None,
    json_output: bool,
    out: TextIO,
    err: TextIO,
    now: datetime | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """Print the on-boarding status of every monitored tunnel; returns the exit code."""
    moment = now or datetime.now(UTC)
    try:
        if client_factory is None:
            clients, region = session_clients(region, endpoint_url)
        else:
            clients = client_factory
        settings = deployed_settings(clients, stack)
        plans = status(
            Ec2Reader(clients("ec2"), device_names=False),
            DynamoDbOnboardingStore(settings.incidents_table, clients("dynamodb")),
            policy=settings.policy(),
            monitoring=settings.monitoring(),
            now=moment,
        )
    except DiagnoseError as exc:
        print(f"vpn-doctor onboard: {exc}", file=err)
        return EXIT_USAGE
    except AwsCallFailed as exc:
        print(f"vpn-doctor onboard: {exc} (the command needs read access: see the README)", file=err)
        return EXIT_USAGE
    if json_output:
        document = {
            "stack": stack,
            "region": region,
            "log_group_arn": settings.log_group_arn,
            "scope": settings.scope.value,
            "window": str(settings.window) if settings.window else None,
            "summary": summary(plans),
            "tunnels": [plan_to_dict(plan) for plan in plans],
        }
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        out.write(render_text(plans, settings, stack=stack, region=region))
    return 0


def deployed_settings(clients: ClientFactory, stack: str) -> Settings:
    """The settings the stack gave its onboard function."""
    try:
        pages = clients("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack)
        names = [
            resource["PhysicalResourceId"]
            for page in pages
            for resource in page.get("StackResourceSummaries") or ()
            if resource["ResourceType"] == "AWS::Lambda::Function"
            and resource["LogicalResourceId"].startswith(_LOGICAL_PREFIX)
        ]
        if not names:
            raise DiagnoseError(
                f"stack {stack} has no on-boarding function: logging.enable is 'none', or the stack predates it"
            )
        configuration = clients("lambda").get_function_configuration(FunctionName=names[0])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DiagnoseError(f"cannot read stack {stack}: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise DiagnoseError(f"cannot read stack {stack}: {exc}") from None
    try:
        return load_settings(Settings, (configuration.get("Environment") or {}).get("Variables") or {})
    except SettingsError as exc:
        raise DiagnoseError(f"the onboard function's settings are not readable: {exc}") from None


def plan_to_dict(plan: TunnelPlan) -> dict[str, Any]:
    """One tunnel's status as JSON values."""
    return {
        "vpn_connection_id": plan.vpn_connection_id,
        "tunnel_ip": plan.tunnel_ip,
        "step": plan.step.value,
        "pending": plan.pending,
        "logging_enabled": plan.logging_enabled,
        "log_group_arn": plan.log_group_arn,
        "bgp_logging_enabled": plan.bgp_logging_enabled,
        "last_change": iso(plan.last_change),
        "next_eligible": iso(plan.next_eligible),
        "reason": plan.reason,
    }


_STEP_WORDS: Final = {
    Step.LOGGING: "logging",
    Step.CONFIRMED: "logging (just confirmed)",
    Step.CHANGE: "pending: the next run changes it",
    Step.IN_FLIGHT: "pending: change in flight",
    Step.BLOCKED: "pending: blocked",
    Step.FAILED: "pending: last attempt failed",
    Step.SKIPPED: "not in scope",
}


def render_text(plans: Sequence[TunnelPlan], settings: Settings, *, stack: str, region: str | None) -> str:
    """The status as lines for a person."""
    window = f"window {settings.window} UTC" if settings.window else "any time"
    lines = [
        f"On-boarding of stack {stack} ({region}): logs to {log_group_name(settings.log_group_arn)}, scope "
        f"{settings.scope.value}, BGP logs {'on' if settings.bgp else 'off'}, {window}",
    ]
    if not plans:
        lines.append("No monitored VPN connection.")
    for plan in plans:
        where = f"on -> {log_group_name(plan.log_group_arn)}" if plan.logging_enabled and plan.log_group_arn else "off"
        lines.append(f"{plan.vpn_connection_id} {plan.tunnel_ip}: logging {where}; {_STEP_WORDS[plan.step]}")
        if plan.last_change is not None:
            lines.append(f"    last change {plan.last_change:%Y-%m-%d %H:%M} UTC")
        if plan.pending and plan.next_eligible is not None:
            lines.append(f"    next eligible {plan.next_eligible:%Y-%m-%d %H:%M} UTC")
        if plan.step is not Step.LOGGING:
            lines.append(f"    {plan.reason}")
    counts = summary(plans)
    pending = sum(1 for plan in plans if plan.pending)
    lines.append(
        f"{counts['logging'] + counts['confirmed']} logging, {pending} pending "
        f"({counts['in_flight']} in flight, {counts['blocked']} blocked, {counts['failed']} failed), "
        f"{counts['skipped']} not in scope"
    )
    return "\n".join(lines) + "\n"
