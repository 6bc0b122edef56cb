"""Remediation: present only when enabled; tunnel modification only on tagged connections; post-checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.infra.cfn import (
    as_list,
    function,
    function_statements,
    has_function,
    resources,
    role_statements,
)
from tests.infra.conftest import VPN_ID, Synth, synthesize
from vpn_doctor.aws.scheduler import NAME_PREFIX
from vpn_doctor.constants import (
    ENV_POST_CHECK_DELAY_SECONDS,
    ENV_POST_CHECK_ROLE_ARN,
    ENV_POST_CHECK_TARGET_ARN,
    ENV_REMEDIATION_COOLDOWN_SECONDS,
    ENV_REMEDIATION_DAILY_BUDGET,
    ENV_REMEDIATION_DPD_ACTION,
    ENV_REMEDIATION_MODE,
    ENV_REMEDIATION_TABLE,
    MONITOR_TAG,
    REMEDIATE_TAG,
)


def test_mode_off_creates_no_remediation_at_all(off_synth: Synth) -> None:
    template = off_synth.templates["VpnDoctor"]
    assert not has_function(template, "post_check")
    assert len(resources(template, "AWS::DynamoDB::Table")) == 1
    # respond may modify nothing; on-boarding is its own switch (tests/infra/test_onboarding.py).
    assert not modify_statements(template)
    _, respond = function(template, "respond")
    variables = respond["Environment"]["Variables"]
    assert variables[ENV_REMEDIATION_MODE] == "off"
    assert ENV_REMEDIATION_TABLE not in variables
    assert ENV_POST_CHECK_ROLE_ARN not in variables


def modify_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """respond's ModifyVpnTunnelOptions statements (the onboard function has its own, for logging only)."""
    return [s for s in function_statements(template, "respond") if "ec2:ModifyVpnTunnelOptions" in as_list(s["Action"])]


def test_a_dry_run_deployment_may_modify_only_connections_tagged_auto(default_synth: Synth) -> None:
    # IAM cannot tell DryRun=True from a real call: a role that may dry-run may modify. So in the default
    # dry-run deployment nothing untagged (or tagged dry-run/off) is modifiable, whatever the code does.
    template = default_synth.templates["VpnDoctor"]
    (tagged,) = modify_statements(template)
    assert tagged["Condition"] == {"StringEquals": {f"aws:ResourceTag/{REMEDIATE_TAG}": "auto"}}
    assert tagged["Action"] == "ec2:ModifyVpnTunnelOptions"
    assert tagged["Resource"]["Fn::Join"][1][-1] == ":vpn-connection/*"
    assert tagged in function_statements(template, "respond")


def test_an_auto_deployment_may_modify_connections_tagged_auto_or_untagged(full_synth: Synth) -> None:
    tagged, untagged = modify_statements(full_synth.templates["VpnDoctor"])
    key = f"aws:ResourceTag/{REMEDIATE_TAG}"
    # Tagged "dry-run" or "off" (or anything else) matches neither statement: IAM refuses whatever the code decides.
    assert tagged["Condition"] == {"StringEquals": {key: "auto"}}
    assert untagged["Condition"] == {"Null": {key: "true"}}


def test_with_listed_connections_only_those_are_modifiable(full_synth: Synth) -> None:
    for statement in modify_statements(full_synth.templates["VpnDoctor"]):
        assert statement["Resource"]["Fn::Join"][1][-1] == f":vpn-connection/{VPN_ID}"


def test_monitoring_by_tag_also_requires_the_monitor_tag_to_modify(tmp_path: Path) -> None:
    synth = synthesize(tmp_path, {"monitor": {"scope": "tag"}, "remediation_mode": "auto"})
    for statement in modify_statements(synth.templates["VpnDoctor"]):
        assert statement["Condition"]["Null"][f"aws:ResourceTag/{MONITOR_TAG}"] == "false"


def test_dry_run_mode_is_passed_to_respond(default_synth: Synth) -> None:
    _, respond = function(default_synth.templates["VpnDoctor"], "respond")
    assert respond["Environment"]["Variables"][ENV_REMEDIATION_MODE] == "dry-run"


def test_scheduler_role_can_only_invoke_post_check_and_respond_may_pass_only_it(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    post_check_id, _ = function(template, "post_check")
    _, respond = function(template, "respond")
    variables = respond["Environment"]["Variables"]
    role_id = variables[ENV_POST_CHECK_ROLE_ARN]["Fn::GetAtt"][0]
    assert variables[ENV_POST_CHECK_TARGET_ARN] == {"Fn::GetAtt": [post_check_id, "Arn"]}
    assert "Ref" in variables[ENV_REMEDIATION_TABLE]
    trust = resources(template, "AWS::IAM::Role")[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust[0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust[0]["Condition"]["StringEquals"]
    assert role_statements(template, role_id) == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [post_check_id, "Arn"]}}
    ]
    (pass_role,) = [s for s in function_statements(template, "respond") if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    (schedules,) = [
        s for s in function_statements(template, "respond") if "scheduler:CreateSchedule" in as_list(s["Action"])
    ]
    assert schedules["Action"] == "scheduler:CreateSchedule"
    assert schedules["Resource"]["Fn::Join"][1][-1] == f":schedule/default/{NAME_PREFIX}*"


def test_configured_remediation_guards_reach_respond_and_unset_ones_keep_the_policy_defaults(
    full_synth: Synth, default_synth: Synth
) -> None:
    _, full = function(full_synth.templates["VpnDoctor"], "respond")
    variables = full["Environment"]["Variables"]
    assert variables[ENV_REMEDIATION_DAILY_BUDGET] == "2"
    assert variables[ENV_REMEDIATION_DPD_ACTION] == "none"
    assert variables[ENV_POST_CHECK_DELAY_SECONDS] == "600"
    assert ENV_REMEDIATION_COOLDOWN_SECONDS not in variables
    _, default = function(default_synth.templates["VpnDoctor"], "respond")
    assert ENV_REMEDIATION_DAILY_BUDGET not in default["Environment"]["Variables"]
