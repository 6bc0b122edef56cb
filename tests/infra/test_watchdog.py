"""The watchdog construct: its schedule, what it watches, and a role that may only read and alert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from app import build_app
from tests.infra.cfn import actions_of, function, function_statements, resources
from tests.infra.conftest import ACCOUNT, REGION, Synth, deploy_app
from vpn_doctor.constants import ENV_WATCHDOG_POLLER_QUIET_MINUTES, ENV_WATCHDOG_QUIET_HOURS, ENV_WATCHED_LOG_GROUPS


def test_the_watchdog_runs_every_fifteen_minutes(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    function_id, _ = function(template, "watchdog")
    schedules = [
        rule["Properties"]["ScheduleExpression"]
        for rule in resources(template, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in rule["Properties"].get("Targets", []))
    ]
    assert schedules == ["rate(15 minutes)"]


def test_the_watchdog_watches_the_configured_log_groups_with_the_default_quiet_period(full_synth: Synth) -> None:
    _, props = function(full_synth.templates["VpnDoctor"], "watchdog")
    variables: dict[str, Any] = props["Environment"]["Variables"]
    assert variables[ENV_WATCHED_LOG_GROUPS] == "/aws/vpn/tunnels,/cgw/strongswan"
    assert variables[ENV_WATCHDOG_QUIET_HOURS] == "6"
    # The full configuration polls every 5 minutes: three missed polls make a stopped poller.
    assert variables[ENV_WATCHDOG_POLLER_QUIET_MINUTES] == "15"


def test_a_slow_poll_schedule_gives_the_poller_three_runs_before_it_is_called_stopped(tmp_path: Path) -> None:
    app = deploy_app({"poll_interval_minutes": 60}, outdir=tmp_path)
    build_app(app, account=ACCOUNT, region=REGION)
    stack = app.node.find_child("VpnDoctor")
    assert isinstance(stack, cdk.Stack)
    _, props = function(Template.from_stack(stack).to_json(), "watchdog")
    assert props["Environment"]["Variables"][ENV_WATCHDOG_POLLER_QUIET_MINUTES] == "180"


def test_the_watchdog_role_reads_and_alerts_only(all_synths: tuple[Synth, ...]) -> None:
    for synth in all_synths:
        statements = function_statements(synth.templates["VpnDoctor"], "watchdog")
        writes = {a for a in actions_of(statements) if not a.split(":")[1].startswith(("Describe", "List", "Get"))}
        # Its own state in the incidents table, the alert, the data key the encrypted topic needs, its own logs
        # and traces (the platform's), its failure queue.
        assert writes <= {
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "sns:Publish",
            "kms:Decrypt",
            "kms:GenerateDataKey*",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "sqs:SendMessage",
        }, synth.name
        assert "ec2:ModifyVpnTunnelOptions" not in actions_of(statements)
