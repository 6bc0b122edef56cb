"""The watchdog Lambda against moto: CloudWatch Logs streams and subscription filters, the SNS topic and its
subscriptions, AWS/Lambda metrics, the incidents table; the tunnels' LogOptions (moto's DescribeVpnConnections has
no tunnel options) from a botocore Stubber validated against the EC2 model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from handlers import watchdog
from handlers.watchdog import handler
from handlers.wiring import reset
from tests.conftest import drained, handler_aws, lambda_context
from vpn_doctor.constants import (
    ENV_ALERT_TOPIC_ARN,
    ENV_INCIDENTS_TABLE,
    ENV_INGEST_FUNCTION_ARN,
    ENV_POLLER_FUNCTION_NAME,
    ENV_WATCHED_LOG_GROUPS,
)

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
TABLE, GROUP, POLLER = "vpn-doctor-incidents", "/aws/vendedlogs/vpn-doctor/tunnels", "vpn-doctor-poller"
INGEST = "arn:aws:lambda:us-east-1:123456789012:function:vpn-doctor-ingest"
VPN, T1, T2 = "vpn-0a1b2c3d4e5f60718", "198.51.100.10", "203.0.113.20"


@dataclass
class Aws:
    logs: Any
    inbox: str
    ec2: Stubber | None = None

    def tunnels_with_logging(self) -> None:
        """EC2's answers for one run: the fixture's connection, both tunnels logging to GROUP."""
        response = json.loads((EVENTS / "ec2-describe-vpn-connections.json").read_text())
        for connection in response["VpnConnections"]:
            connection.pop("CustomerGatewayConfiguration", None)
            for entry in connection.get("VgwTelemetry") or ():
                entry["LastStatusChange"] = datetime.fromisoformat(entry["LastStatusChange"].replace("Z", "+00:00"))
        if self.ec2 is None:  # one stubber per client: a second one would shadow the first
            self.ec2 = Stubber(watchdog.ports().connections.client)  # type: ignore[attr-defined]
            self.ec2.activate()
        # The reader asks for live connections (a state filter), then the customer gateways' device names.
        self.ec2.add_response("describe_vpn_connections", response, None)
        gateways = {"CustomerGateways": [{"CustomerGatewayId": "cgw-0123456789abcdef0", "DeviceName": "edge-1"}]}
        self.ec2.add_response("describe_customer_gateways", gateways, None)

    def messages(self) -> list[str]:
        return [body["Subject"] for body in drained(boto3.client("sqs"), self.inbox)]

    def log_line(self, tunnel_ip: str, at: datetime) -> None:
        stream = f"{VPN}-{tunnel_ip}"
        if not self.logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=stream)["logStreams"]:
            self.logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        event = {"timestamp": int(at.timestamp() * 1000), "message": '{"details": "DPD request"}'}
        self.logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=[event])

    def poller_ran(self, at: datetime) -> None:
        boto3.client("cloudwatch").put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": [{"Name": "FunctionName", "Value": POLLER}],
                    "Timestamp": at,
                    "Value": 1,
                }
            ],
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    settings = {
        "POWERTOOLS_METRICS_NAMESPACE": "VpnDoctor",
        ENV_INCIDENTS_TABLE: TABLE,
        ENV_WATCHED_LOG_GROUPS: GROUP,
        ENV_INGEST_FUNCTION_ARN: INGEST,
        ENV_POLLER_FUNCTION_NAME: POLLER,
        ENV_ALERT_TOPIC_ARN: "arn:aws:sns:us-east-1:123456789012:vpn-doctor-alerts",
    }
    with handler_aws(monkeypatch, reset, settings, table=TABLE):
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="vpn-doctor-alerts")["TopicArn"]
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        logs = boto3.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        yield Aws(logs, inbox)


def test_a_missing_filter_and_a_silent_tunnel_alert_once_each_then_resolve_once(aws: Aws) -> None:
    now = datetime.now(UTC)
    aws.poller_ran(now - timedelta(minutes=2))
    aws.log_line(T1, now - timedelta(minutes=5))
    aws.log_line(T2, now - timedelta(hours=8))
    aws.tunnels_with_logging()
    first = handler({}, lambda_context("watchdog"))
    assert sorted(first["alerted"]) == [f"subscription_filter_missing:{GROUP}", f"tunnel_logs_silent:{VPN} {T2}"]
    assert sorted(aws.messages()) == [
        f"vpn-doctor watchdog PROBLEM: subscription filter missing: {GROUP}",
        f"vpn-doctor watchdog PROBLEM: tunnel logs silent: {VPN} {T2}",
    ]
    aws.tunnels_with_logging()
    assert handler({}, lambda_context("watchdog"))["alerted"] == []  # the same conditions: nothing new
    assert aws.messages() == []

    aws.log_line(T2, now - timedelta(minutes=1))
    aws.tunnels_with_logging()
    third = handler({}, lambda_context("watchdog"))
    assert third["resolved"] == [f"tunnel_logs_silent:{VPN} {T2}"]
    assert aws.messages() == [f"vpn-doctor watchdog RESOLVED: tunnel logs silent: {VPN} {T2}"]


def test_a_poller_without_invocations_is_reported_stopped(aws: Aws) -> None:
    aws.tunnels_with_logging()
    result = handler({}, lambda_context("watchdog"))
    assert "poller_stopped:poller" in result["alerted"]
