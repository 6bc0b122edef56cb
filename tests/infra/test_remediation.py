"""Remediation: present only when enabled; tunnel modification only on tagged connections; post-checks."""

from __future__ import annotations

from vpn_doctor.aws.scheduler import NAME_PREFIX
from vpn_doctor.constants import (
    ENV_POST_CHECK_ROLE_ARN,
    ENV_POST_CHECK_TARGET_ARN,
    ENV_REMEDIATION_MODE,
    ENV_REMEDIATION_TABLE,
    REMEDIATE_TAG,
)

from tests.infra.cfn import (
    all_statements,
    as_list,
    function,
    function_statements,
    has_function,
    resources,
    role_statements,
)
from tests.infra.conftest import Synth


def test_mode_off_creates_no_remediation_at_all(off_synth: Synth) -> None:
    template = off_synth.templates["VpnDoctor"]
    assert not has_function(template, "post_check")
    assert len(resources(template, "AWS::DynamoDB::Table")) == 1
    assert not [s for s in all_statements(template) if "ec2:ModifyVpnTunnelOptions" in as_list(s["Action"])]
    _, respond = function(template, "respond")
    variables = respond["Environment"]["Variables"]
    assert variables[ENV_REMEDIATION_MODE] == "off"
    assert ENV_REMEDIATION_TABLE not in variables
    assert ENV_POST_CHECK_ROLE_ARN not in variables


def test_modify_vpn_tunnel_options_only_on_connections_tagged_for_remediation(default_synth: Synth) -> None:
    template = default_synth.templates["VpnDoctor"]
    modifying = [s for s in all_statements(template) if "ec2:ModifyVpnTunnelOptions" in as_list(s["Action"])]
    assert len(modifying) == 1
    (statement,) = modifying
    assert as_list(statement["Action"]) == ["ec2:ModifyVpnTunnelOptions"]
    assert statement["Condition"] == {"StringEquals": {f"aws:ResourceTag/{REMEDIATE_TAG}": ["dry-run", "auto"]}}
    assert statement["Resource"]["Fn::Join"][1][-1] == ":vpn-connection/*"
    assert statement in function_statements(template, "respond")


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
