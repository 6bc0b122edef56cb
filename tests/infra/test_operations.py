"""Operations: every function's errors and dead-letter depth alarm to the topic; a dashboard of tunnels and findings."""

from __future__ import annotations

import json
from typing import Any

from stacks.operations import FINDINGS_SEARCH
from tests.infra.cfn import resources
from tests.infra.conftest import VPN_ID, Synth
from tests.infra.test_functions import MODULES
from vpn_doctor.constants import (
    METRIC_ATTRIBUTED_FINDINGS,
    METRIC_BAD_RECORDS,
    METRIC_FINDINGS,
    METRIC_PUBLISH_FAILURES,
    METRIC_UNATTRIBUTED_FINDINGS,
    METRIC_UNKNOWN_RECORDS,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)


def dashboard_body(template: dict[str, Any]) -> str:
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else "<ref>" for part in parts)


def pipeline_alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        alarm["Properties"] for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") != "TunnelState"
    ]  # fmt: skip


def test_every_function_has_an_errors_alarm_and_a_failure_queue_alarm(full_synth: Synth) -> None:
    alarms = pipeline_alarms(full_synth.templates["VpnDoctor"])
    errors = [a for a in alarms if a["MetricName"] == "Errors" and a["Namespace"] == "AWS/Lambda"]
    depth = [a for a in alarms if a["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    assert len(errors) == len(MODULES)
    assert len(depth) == len(MODULES) + 4  # plus the Slack, Teams, PagerDuty and Opsgenie dead-letter queues
    assert all(a["Threshold"] == 1 and a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" for a in alarms)


def test_pipeline_alarms_notify_the_alert_topic(default_synth: Synth) -> None:
    template = default_synth.templates["VpnDoctor"]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    alarms = pipeline_alarms(template)
    assert alarms
    assert all(a["AlarmActions"] == [{"Ref": topic_id}] for a in alarms)


def test_dashboard_shows_listed_tunnel_states_and_findings_per_category(full_synth: Synth) -> None:
    body = json.loads(dashboard_body(full_synth.templates["VpnDoctor"]).replace('"<ref>"', '"x"'))
    titles = [widget["properties"].get("title") for widget in body["widgets"]]
    assert "Tunnel state (1 = UP, 0 = DOWN)" in titles
    assert "Findings per category" in titles
    widgets = {widget["properties"].get("title"): widget["properties"] for widget in body["widgets"]}
    states = widgets["Tunnel state (1 = UP, 0 = DOWN)"]["metrics"]
    assert [metric[:6] for metric in states] == [
        ["AWS/VPN", "TunnelState", "TunnelIpAddress", ip, "VpnId", VPN_ID] for ip in ("203.0.113.5", "203.0.113.6")
    ]
    ((findings,),) = widgets["Findings per category"]["metrics"]
    assert findings["expression"] == FINDINGS_SEARCH
    assert f"{{{METRICS_NAMESPACE},Category,service}}" in FINDINGS_SEARCH
    assert f'MetricName="{METRIC_FINDINGS}"' in FINDINGS_SEARCH


def test_dashboard_searches_all_tunnels_when_none_are_listed(default_synth: Synth) -> None:
    assert "{AWS/VPN,TunnelIpAddress,VpnId} MetricName" in dashboard_body(default_synth.templates["VpnDoctor"])


def test_failed_publishes_have_their_own_alarm_on_the_topic(default_synth: Synth) -> None:
    template = default_synth.templates["VpnDoctor"]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    (alarm,) = [a for a in pipeline_alarms(template) if a["MetricName"] == METRIC_PUBLISH_FAILURES]
    assert (alarm["Namespace"], alarm["Statistic"], alarm["Threshold"]) == (METRICS_NAMESPACE, "Sum", 1)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": SERVICE_NAME}]
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_dashboard_shows_gateway_failures_attributed_and_not_and_bad_records(default_synth: Synth) -> None:
    body = json.loads(dashboard_body(default_synth.templates["VpnDoctor"]).replace('"<ref>"', '"x"'))
    widgets = {widget["properties"].get("title"): widget["properties"] for widget in body["widgets"]}
    shown = {
        title: [metric[:4] for metric in widgets[title]["metrics"]]
        for title in ("Gateway failures attributed to a tunnel / not attributed", "Unrecognised and unreadable records")
    }
    assert shown == {
        title: [[METRICS_NAMESPACE, name, "service", SERVICE_NAME] for name in names]
        for title, names in (
            (
                "Gateway failures attributed to a tunnel / not attributed",
                (METRIC_ATTRIBUTED_FINDINGS, METRIC_UNATTRIBUTED_FINDINGS),
            ),
            ("Unrecognised and unreadable records", (METRIC_UNKNOWN_RECORDS, METRIC_BAD_RECORDS)),
        )
    }
