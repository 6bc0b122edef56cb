"""State: opt-in TunnelState alarms per listed tunnel, the rules feeding the state function, the poller's schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from app import build_app
from handlers.incident_runtime import PollSettings
from stacks.config import ConfigError
from tests.infra.cfn import allows, function, function_statements, resources
from tests.infra.conftest import ACCOUNT, REGION, VPN_ID, Synth, deploy_app
from vpn_doctor.constants import (
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_MAX_CLOCK_SKEW_SECONDS,
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_NO_TRAFFIC_MINUTES,
    ENV_POLL_INTERVAL_MINUTES,
    ENV_ROUTES_DROP_PERCENT,
    ENV_ROUTES_HOLD_SECONDS,
    ENV_ROUTES_RELEARN_SECONDS,
    TUNNEL_ALARM_PREFIX,
)
from vpn_doctor.routes import RoutePolicy


def rules_targeting(template: dict[str, Any], module: str) -> list[dict[str, Any]]:
    function_id, _ = function(template, module)
    return [
        rule["Properties"]
        for rule in resources(template, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in rule["Properties"]["Targets"])
    ]


def test_each_listed_tunnel_has_a_five_minute_tunnel_state_alarm_that_missing_data_never_breaches(
    full_synth: Synth,
) -> None:
    template = full_synth.template()
    for ip in ("203.0.113.5", "203.0.113.6"):
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "AlarmName": f"{TUNNEL_ALARM_PREFIX}{VPN_ID}-{ip}",
                "Namespace": "AWS/VPN",
                "MetricName": "TunnelState",
                "Dimensions": Match.array_with([{"Name": "TunnelIpAddress", "Value": ip}]),
                "ComparisonOperator": "LessThanThreshold",
                "Threshold": 1,
                # AWS publishes no cadence for TunnelState: a late point must not read as DOWN.
                "Period": 300,
                "Statistic": "Maximum",
                "EvaluationPeriods": 1,
                "TreatMissingData": "missing",
            },
        )


def test_no_tunnel_alarms_when_no_tunnels_are_listed(default_synth: Synth) -> None:
    alarms = resources(default_synth.templates["VpnDoctor"], "AWS::CloudWatch::Alarm").values()
    assert not [a for a in alarms if a["Properties"].get("MetricName") == "TunnelState"]


def test_state_receives_tunnel_alarm_changes_health_vpn_events_and_forwarded_network_manager_events(
    full_synth: Synth,
) -> None:
    patterns = [rule["EventPattern"] for rule in rules_targeting(full_synth.templates["VpnDoctor"], "state")]
    assert {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": TUNNEL_ALARM_PREFIX}]},
    } in patterns
    assert {"source": ["aws.health"], "detail-type": ["AWS Health Event"], "detail": {"service": ["VPN"]}} in patterns
    (network_manager,) = [r for r in rules_targeting(full_synth.templates["VpnDoctor"], "state") if "EventBusName" in r]
    assert network_manager["EventPattern"]["source"] == ["aws.networkmanager"]


def test_state_rules_retry_and_keep_undeliverable_events(full_synth: Synth) -> None:
    for rule in rules_targeting(full_synth.templates["VpnDoctor"], "state"):
        (target,) = rule["Targets"]
        assert "DeadLetterConfig" in target
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4


def test_network_manager_events_are_forwarded_from_us_west_2_to_the_vpn_doctor_bus(full_synth: Synth) -> None:
    forwarder = full_synth.templates[f"VpnDoctorNetworkManager-{REGION}"]
    (rule,) = resources(forwarder, "AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"]["source"] == ["aws.networkmanager"]
    arn = rule["Properties"]["Targets"][0]["Arn"]["Fn::Join"][1]
    assert f":events:{REGION}:" in arn
    assert arn[-1] == ":event-bus/vpn-doctor"


def test_no_network_manager_rule_or_forwarder_by_default(default_synth: Synth) -> None:
    assert set(default_synth.templates) == {"VpnDoctor"}
    assert not [r for r in rules_targeting(default_synth.templates["VpnDoctor"], "state") if "EventBusName" in r]


def test_deployed_in_us_west_2_network_manager_events_are_read_from_the_default_bus(tmp_path: Path) -> None:
    app = deploy_app({"network_manager_events": True}, outdir=tmp_path)
    build_app(app, account=ACCOUNT, region="us-west-2")
    assert [stack.stack_name for stack in app.node.children if isinstance(stack, cdk.Stack)] == ["VpnDoctor"]
    stack = app.node.find_child("VpnDoctor")
    assert isinstance(stack, cdk.Stack)
    template = Template.from_stack(stack).to_json()
    (rule,) = [r for r in rules_targeting(template, "state") if r["EventPattern"]["source"] == ["aws.networkmanager"]]
    assert "EventBusName" not in rule


def test_network_manager_events_without_a_known_region_stop_the_synth() -> None:
    app = deploy_app({"network_manager_events": True})
    with pytest.raises(ConfigError, match="network_manager_events: needs a known region"):
        build_app(app)


def test_poller_runs_on_the_configured_schedule(default_synth: Synth, full_synth: Synth) -> None:
    (default_rule,) = rules_targeting(default_synth.templates["VpnDoctor"], "poller")
    assert default_rule["ScheduleExpression"] == "rate(1 minute)"
    (full_rule,) = rules_targeting(full_synth.templates["VpnDoctor"], "poller")
    assert full_rule["ScheduleExpression"] == "rate(5 minutes)"


def test_poller_knows_which_connections_to_watch(full_synth: Synth) -> None:
    _, props = function(full_synth.templates["VpnDoctor"], "poller")
    assert props["Environment"]["Variables"][ENV_MONITOR_SCOPE] == "list"
    assert props["Environment"]["Variables"][ENV_MONITOR_VPN_IDS] == VPN_ID


def test_traffic_detection_is_on_by_default_with_a_30_minute_window_and_knows_the_poll_schedule(
    default_synth: Synth,
) -> None:
    _, props = function(default_synth.templates["VpnDoctor"], "poller")
    assert props["Environment"]["Variables"][ENV_NO_TRAFFIC_MINUTES] == "30"
    assert props["Environment"]["Variables"][ENV_POLL_INTERVAL_MINUTES] == "1"


def test_the_poller_gets_the_routes_lost_thresholds_and_its_settings_read_them_as_the_rule_s_defaults(
    default_synth: Synth,
) -> None:
    _, props = function(default_synth.templates["VpnDoctor"], "poller")
    variables = props["Environment"]["Variables"]
    routes = {
        name: variables[name] for name in (ENV_ROUTES_HOLD_SECONDS, ENV_ROUTES_DROP_PERCENT, ENV_ROUTES_RELEARN_SECONDS)
    }
    assert routes == {
        ENV_ROUTES_HOLD_SECONDS: "300",
        ENV_ROUTES_DROP_PERCENT: "50",
        ENV_ROUTES_RELEARN_SECONDS: "21600",
    }
    settings = PollSettings.model_validate({**routes, ENV_INCIDENTS_TABLE: "t", ENV_EVENT_BUS_NAME: "b"})
    assert settings.policy().routes == RoutePolicy()


def test_poller_may_read_traffic_metrics_for_traffic_detection(default_synth: Synth) -> None:
    statements = function_statements(default_synth.templates["VpnDoctor"], "poller")
    assert allows(statements, "cloudwatch:GetMetricData", "*")


@pytest.mark.parametrize("module", ["ingest", "state", "poller"])
def test_the_functions_that_date_records_and_state_changes_get_the_configured_clock_skew(
    default_synth: Synth, full_synth: Synth, module: str
) -> None:
    _, default = function(default_synth.templates["VpnDoctor"], module)
    _, full = function(full_synth.templates["VpnDoctor"], module)
    assert default["Environment"]["Variables"][ENV_MAX_CLOCK_SKEW_SECONDS] == "300"
    assert full["Environment"]["Variables"][ENV_MAX_CLOCK_SKEW_SECONDS] == "120"
