"""``vpn-doctor selftest`` against a hand-built stack in moto (moto's CloudFormation creates the functions, role,
topic and log group; the subscription filter, which moto's CloudFormation cannot create, is put through the
Logs API). What moto does not implement is answered by botocore Stubbers validated against the API models:
IAM's policy simulation, the tunnels' ``LogOptions`` (moto's DescribeVpnConnections has no tunnel options) and
CloudWatch's alarm history (moto runs no alarm actions)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tests.conftest import fake_aws_environment, mocked_aws
from vpn_doctor.constants import ENV_ALERT_TOPIC_ARN, ENV_EVENT_BUS_NAME, ENV_INCIDENTS_TABLE, ENV_TUNNEL_LOG_GROUP_ARN
from vpn_doctor_tools.cli.main import main
from vpn_doctor_tools.cli.selftest import FAIL, PASS, SELFTEST_REASON, SKIP, Report, render, run_selftest
from vpn_doctor_tools.needs import NEEDS

STACK, GROUP = "VpnDoctor", "/aws/vendedlogs/vpn-doctor/tunnels"
GROUP_ARN = f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}"
EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def template() -> dict[str, Any]:
    """Two of the stack's functions (ingest and notify) with what they are wired to."""
    role = {"Fn::GetAtt": ["Role", "Arn"]}
    incident_env = {ENV_INCIDENTS_TABLE: "vpn-doctor-incidents", ENV_EVENT_BUS_NAME: "vpn-doctor"}

    def function(module: str, environment: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Handler": f"handlers.{module}.handler",
                "Runtime": "python3.13",
                "Role": role,
                "Code": {"ZipFile": "handler = None"},
                "Environment": {"Variables": dict(environment)},
            },
        }

    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    return {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]}},
            },
            "Ingest": function("ingest", {**incident_env, ENV_TUNNEL_LOG_GROUP_ARN: GROUP_ARN}),
            "Notify": function(
                "notify", {ENV_INCIDENTS_TABLE: "vpn-doctor-incidents", ENV_ALERT_TOPIC_ARN: {"Ref": "Topic"}}
            ),
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": GROUP}},
        },
        "Outputs": {"AlertTopicArn": {"Value": {"Ref": "Topic"}}, "TunnelLogGroups": {"Value": {"Ref": "Group"}}},
    }


class Account:
    """moto, and the stubbed clients of what moto lacks."""

    def __init__(self) -> None:
        boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template()))
        outputs = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
        self.topic = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "AlertTopicArn")
        self.stubbed = {service: boto3.client(service) for service in ("iam", "ec2", "cloudwatch")}
        self.stubbers = {service: Stubber(client) for service, client in self.stubbed.items()}

    def client(self, service: str) -> Any:
        return self.stubbed.get(service) or boto3.client(service)

    def subscribe(self, protocol: str) -> None:
        if protocol == "sqs":
            queue = boto3.client("sqs").create_queue(QueueName="inbox")["QueueUrl"]
            endpoint = boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            boto3.client("sns").subscribe(
                TopicArn=self.topic, Protocol="sqs", Endpoint=endpoint["Attributes"]["QueueArn"]
            )
        else:
            # moto confirms e-mail subscriptions at once; SNS lists an unconfirmed one as "PendingConfirmation".
            pending = {
                "SubscriptionArn": "PendingConfirmation",
                "Owner": "123456789012",
                "Protocol": "email",
                "Endpoint": "ops@example.com",
                "TopicArn": self.topic,
            }
            self.stubbed["sns"] = boto3.client("sns")
            self.stubbers["sns"] = Stubber(self.stubbed["sns"])
            self.stubbers["sns"].add_response(
                "list_subscriptions_by_topic", {"Subscriptions": [pending]}, {"TopicArn": self.topic}
            )

    def filter_to_ingest(self) -> None:
        ingest = next(
            f["FunctionArn"]
            for f in boto3.client("lambda").list_functions()["Functions"]
            if "Ingest" in f["FunctionName"]
        )
        boto3.client("logs").put_subscription_filter(
            logGroupName=GROUP, filterName="vpn-doctor", filterPattern="", destinationArn=ingest
        )

    def simulations(self, denied: frozenset[str] = frozenset()) -> None:
        """IAM answers each simulated call, in the order selftest asks (functions by module name)."""
        for module in ("ingest", "notify"):
            for action, spec in NEEDS[module]:
                if "SLACK" in spec:
                    continue  # Slack is not configured on this stack: skipped, never simulated
                decision = "implicitDeny" if action in denied else "allowed"
                self.stubbers["iam"].add_response(
                    "simulate_principal_policy",
                    {"EvaluationResults": [{"EvalActionName": action, "EvalDecision": decision}]},
                    {"PolicySourceArn": ANY, "ActionNames": [action], "ResourceArns": ANY, "ContextEntries": []},
                )

    def tunnels(self, *, logging: bool) -> None:
        response = json.loads((EVENTS / "ec2-describe-vpn-connections.json").read_text())
        for connection in response["VpnConnections"]:
            connection.pop("CustomerGatewayConfiguration", None)
            for entry in connection.get("VgwTelemetry") or ():
                entry["LastStatusChange"] = datetime.fromisoformat(entry["LastStatusChange"].replace("Z", "+00:00"))
            for tunnel in connection["Options"]["TunnelOptions"]:
                tunnel["LogOptions"]["CloudWatchLogOptions"]["LogEnabled"] = logging
        self.stubbers["ec2"].add_response("describe_vpn_connections", response, {})

    def alarm_path(self, outcome: str) -> None:
        alarm = {"AlarmName": "vpn-doctor-ingest-errors", "AlarmActions": [self.topic]}
        cloudwatch = self.stubbers["cloudwatch"]
        cloudwatch.add_response("describe_alarms", {"MetricAlarms": [alarm]}, {"AlarmTypes": ["MetricAlarm"]})
        cloudwatch.add_response(
            "set_alarm_state",
            {},
            {"AlarmName": alarm["AlarmName"], "StateValue": "ALARM", "StateReason": SELFTEST_REASON},
        )
        history = {"AlarmName": alarm["AlarmName"], "HistoryItemType": "Action", "HistorySummary": outcome}
        cloudwatch.add_response("describe_alarm_history", {"AlarmHistoryItems": [history]}, None)
        cloudwatch.add_response("set_alarm_state", {}, None)

    def run(self) -> Report:
        for stubber in self.stubbers.values():
            stubber.activate()
        report = run_selftest(STACK, clients=self.client, wait_seconds=0, sleep=lambda _: None)
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()
        return report


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    fake_aws_environment(monkeypatch, {})
    with mocked_aws():
        yield Account()


def rows(report: Report, status: str) -> list[tuple[str, str]]:
    return [(check.area, check.subject) for check in report.checks if check.status == status]


def test_a_working_deployment_passes_every_check(account: Account) -> None:
    account.subscribe("sqs")
    account.filter_to_ingest()
    account.simulations()
    account.tunnels(logging=True)
    account.alarm_path(f"Successfully executed action {account.topic}")
    report = account.run()
    assert rows(report, FAIL) == []
    assert report.passed
    passed = rows(report, PASS)
    assert ("subscription filter", GROUP) in passed
    assert ("alarm path", "vpn-doctor-ingest-errors") in passed
    assert ("tunnel logging", "vpn-0a1b2c3d4e5f60718 198.51.100.10") in passed
    assert ("permissions", "notify: sns:Publish") in passed
    assert ("permissions", "notify: secretsmanager:GetSecretValue") in rows(report, SKIP)


def test_the_day_one_traps_each_fail_by_name(account: Account) -> None:
    account.subscribe("email")  # nobody clicked the confirmation link yet
    account.simulations(denied=frozenset({"logs:FilterLogEvents"}))
    account.tunnels(logging=False)
    account.alarm_path(
        f"Failed to execute action {account.topic}. Received error: CloudWatch Alarms does not have authorization"
    )
    report = account.run()
    assert not report.passed
    assert set(rows(report, FAIL)) == {
        ("subscriptions", "email ops@example.com"),
        ("subscriptions", "alert topic"),
        ("permissions", "ingest: logs:FilterLogEvents"),
        ("subscription filter", GROUP),
        ("tunnel logging", "vpn-0a1b2c3d4e5f60718 198.51.100.10"),
        ("tunnel logging", "vpn-0a1b2c3d4e5f60718 203.0.113.20"),
        ("alarm path", "vpn-doctor-ingest-errors"),
    }
    document = json.loads(render(report, json_output=True))
    assert document["passed"] is False
    assert "1 check(s) failed" not in render(report, json_output=False)
    assert "7 check(s) failed" in render(report, json_output=False)


def test_a_stack_that_cannot_be_read_exits_with_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_aws_environment(monkeypatch, {})
    with mocked_aws():
        assert main(["selftest", "--stack", "NotDeployed", "--region", "us-east-1"]) == 2
    assert "stack 'NotDeployed' cannot be read" in capsys.readouterr().err
