"""The on-boarding construct: a default deployment switches tunnel logging on (issue 13, defect 1) with a scheduled
function whose own role allows exactly what its code calls, scoped to the on-boarding connections; ``none`` creates
nothing."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, Logging, parse_config
from stacks.remediation import LOG_DELIVERY_ACTIONS
from tests.infra.cfn import as_list, function, has_function, resources, role_statements
from tests.infra.conftest import VPN_ID, Synth, synthesize
from tests.infra.test_grants_contract import granted_actions
from tests.integration.test_onboard_handler import create_connection, onboarding_aws, run
from vpn_doctor.constants import (
    ENV_LOGGING_SCOPE,
    ENV_LOGGING_WINDOW,
    ENV_TUNNEL_LOG_GROUP_ARN,
    LOGGING_TAG,
    MONITOR_TAG,
    LoggingScope,
)


@pytest.fixture(scope="module")
def none_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("logging-none"), {"logging": {"enable": "none"}}, name="logging-none")


@pytest.fixture(scope="module")
def tagged_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    config = {
        "remediation_mode": "off",
        "monitor": {"scope": "tag"},
        "logging": {"enable": "tagged", "bgp": False, "window": "sat,sun 02:00-05:00"},
    }
    return synthesize(tmp_path_factory.mktemp("logging-tagged"), config, name="logging-tagged")


def _modify_statements(synth: Synth) -> list[dict[str, Any]]:
    template = synth.templates["VpnDoctor"]
    _, props = function(template, "onboard")
    return [
        statement
        for statement in role_statements(template, props["Role"]["Fn::GetAtt"][0])
        if "ec2:ModifyVpnTunnelOptions" in as_list(statement["Action"])
    ]


def _schedules_of(synth: Synth, module: str) -> list[str]:
    template = synth.templates["VpnDoctor"]
    function_id, _ = function(template, module)
    return [
        rule["Properties"]["ScheduleExpression"]
        for rule in resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in rule["Properties"]
        and any(target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for target in rule["Properties"]["Targets"])
    ]


def test_a_default_deployment_switches_tunnel_logging_on_to_the_created_log_group(default_synth: Synth) -> None:
    # Issue 13, defect 1: before on-boarding, nothing in a default deployment could enable tunnel logging (only
    # the auto-mode remediation could, one broken tunnel at a time), so no tunnel log ever reached ingest.
    template = default_synth.templates["VpnDoctor"]
    assert has_function(template, "onboard")
    assert _schedules_of(default_synth, "onboard") == ["rate(5 minutes)"]
    _, props = function(template, "onboard")
    target = props["Environment"]["Variables"][ENV_TUNNEL_LOG_GROUP_ARN]
    assert "log-group:/aws/vendedlogs/vpn-doctor/tunnels" in str(target)
    assert props["Environment"]["Variables"][ENV_LOGGING_SCOPE] == "all"
    [modify] = _modify_statements(default_synth)
    assert modify["Condition"] == {"StringNotEquals": {f"aws:ResourceTag/{LOGGING_TAG}": "off"}}
    assert granted_actions(template, "onboard") == {
        "ec2:DescribeVpnConnections",
        "ec2:ModifyVpnTunnelOptions",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        *LOG_DELIVERY_ACTIONS,
    }


def test_listed_connections_are_the_only_ones_the_role_may_modify(full_synth: Synth) -> None:
    [modify] = _modify_statements(full_synth)
    assert [resource["Fn::Join"][1][-1] for resource in as_list(modify["Resource"])] == [f":vpn-connection/{VPN_ID}"]


def test_tagged_scope_needs_the_logging_tag_on_and_the_monitor_tag_and_keeps_the_window(tagged_synth: Synth) -> None:
    [modify] = _modify_statements(tagged_synth)
    assert modify["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{LOGGING_TAG}": "on"},
        "Null": {f"aws:ResourceTag/{MONITOR_TAG}": "false"},
    }
    _, props = function(tagged_synth.templates["VpnDoctor"], "onboard")
    assert props["Environment"]["Variables"][ENV_LOGGING_WINDOW] == "sat,sun 02:00-05:00"
    # On-boarding is its own switch: remediation off does not turn it off.
    assert not has_function(tagged_synth.templates["VpnDoctor"], "post_check")


def test_logging_none_creates_no_onboarding_function_grant_or_widget(none_synth: Synth) -> None:
    template = none_synth.templates["VpnDoctor"]
    assert not has_function(template, "onboard")
    sids = {
        statement.get("Sid")
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    assert not sids & {"ModifyTunnelLoggingInOnboardingScope", "DeliverTunnelLogs"}
    assert "OnboardingTunnelsPending" not in str(resources(template, "AWS::CloudWatch::Dashboard"))


def test_every_call_the_onboard_function_makes_is_granted_and_nothing_else_but_log_delivery(
    full_synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo does not run on-boarding (test_grants_contract.py, FUNCTIONS_NOT_RUN_BY_THE_DEMO): its calls are
    # recorded on a whole on-boarding of a connection against moto instead.
    with onboarding_aws(monkeypatch) as (_, recorded):
        create_connection()
        for _ in range(3):
            run()
    called = {action.replace("monitoring:", "cloudwatch:") for action in recorded.actions}
    granted = granted_actions(full_synth.templates["VpnDoctor"], "onboard")
    assert called - granted == set()
    # What EC2 does with the caller's credentials to deliver the logs (Site-to-Site VPN user guide) is the rest.
    assert granted - called == set(LOG_DELIVERY_ACTIONS)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"enable": "tag"}, "logging.enable: Input should be 'all', 'tagged' or 'none', got 'tag'"),
        ({"window": "2:00-5:00"}, "logging.window: maintenance window '2:00-5:00' is not like 'sat,sun 02:00-05:00'"),
        ({"window": "fri,xyz 01:00-02:00"}, "logging.window: maintenance window 'fri,xyz 01:00-02:00': unknown day"),
        ({"bgp": "yes"}, "logging.bgp: must be true or false, got 'yes'"),
        ({"enabled": "all"}, "logging.enabled: unknown key"),
    ],
)
def test_a_bad_logging_value_stops_the_synth_with_a_sentence(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"logging": raw})
    assert str(error.value).startswith(f"vpn-doctor.{message}")


def test_the_default_logging_is_every_monitored_connection_with_bgp_at_any_time() -> None:
    assert parse_config(None).logging == Logging(enable=LoggingScope.ALL, bgp=True, window=None)
