"""The state Lambda end to end against moto: state events in, incidents stored, transitions on the bus."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from handlers import state
from handlers.state import handler
from handlers.wiring import SettingsError, reset
from tests.conftest import OUR_EVENTS, drained, handler_aws, lambda_context, route_to_queue, tapped_bus
from vpn_doctor.app.publishing import PublishFailed
from vpn_doctor.constants import (
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_TUNNEL_LOG_GROUP_ARN,
)

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
TABLE = "vpn-doctor-incidents"
BUS = "vpn-doctor"
LOG_GROUP = "/aws/vendedlogs/vpn-doctor/tunnels"
VPN = "vpn-0a1b2c3d4e5f60718"
T1, T2 = "198.51.100.10", "203.0.113.20"


@dataclass
class Aws:
    """The moto resources a handler test reads back."""

    dynamodb: Any
    sqs: Any
    logs: Any
    queue_url: str

    def published(self) -> list[dict[str, Any]]:
        """Every event the handlers put on the bus (via a rule with an SQS target), in order."""
        return drained(self.sqs, self.queue_url)

    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dynamodb.scan(TableName=TABLE)["Items"]
        return items

    def put_logs(self, stream: str, records: list[tuple[datetime, dict[str, Any]]]) -> None:
        self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        self.logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": int(at.timestamp() * 1000), "message": json.dumps(r)} for at, r in records],
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto DynamoDB table, event bus (rule -> SQS), log group; handler settings in the environment."""
    settings = {
        "POWERTOOLS_METRICS_NAMESPACE": "VpnDoctor",
        ENV_INCIDENTS_TABLE: TABLE,
        ENV_EVENT_BUS_NAME: BUS,
        ENV_TUNNEL_LOG_GROUP_ARN: f"arn:aws:logs:us-east-1:123456789012:log-group:{LOG_GROUP}:*",
    }
    with handler_aws(monkeypatch, reset, settings, table=TABLE) as dynamodb:
        queue_url = tapped_bus(BUS, "bus-tap", OUR_EVENTS)
        logs = boto3.client("logs")
        logs.create_log_group(logGroupName=LOG_GROUP)
        yield Aws(dynamodb, boto3.client("sqs"), logs, queue_url)


def describe_response(**statuses: str) -> dict[str, Any]:
    """The fixture DescribeVpnConnections response (FAKE keys included), telemetry statuses overridable."""
    response: dict[str, Any] = json.loads((EVENTS / "ec2-describe-vpn-connections.json").read_text())
    for entry in response["VpnConnections"][0]["VgwTelemetry"]:
        entry["LastStatusChange"] = datetime.fromisoformat(entry["LastStatusChange"].replace("Z", "+00:00"))
        entry["Status"] = statuses.get(entry["OutsideIpAddress"], entry["Status"])
        entry["StatusMessage"] = f"IPSEC IS {entry['Status']}"
    return response


def stub_ec2(responses: list[tuple[str, dict[str, Any], dict[str, Any] | None]], reader: Any = None) -> Stubber:
    """The handler's EC2 client (the state function's unless ``reader`` is given), its requests
    validated by botocore against the API model, answered in order."""
    stubber = Stubber((reader or state.ports().connections).client)
    for operation, response, expected in responses:
        stubber.add_response(operation, response, expected)
    stubber.activate()
    return stubber


def customer_gateways() -> dict[str, Any]:
    return {
        "CustomerGateways": [
            {
                "CustomerGatewayId": "cgw-0123456789abcdef0",
                "BgpAsn": "65000",
                "IpAddress": "192.0.2.1",
                "Type": "ipsec.1",
                "State": "available",
                "DeviceName": "Cisco ASA 5506-X",
            }
        ]
    }


def event(name: str, at: datetime, *, event_id: str | None = None) -> dict[str, Any]:
    """A fixture event moved to ``at`` (the handler reads the real clock)."""
    data: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / name).read_text()))
    data["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if "state" in data["detail"]:
        data["detail"]["state"]["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if "startTime" in data["detail"]:
        data["detail"]["startTime"] = at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    if event_id is not None:
        data["id"] = event_id
    return data


def invoke(payload: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(payload, lambda_context("state"))
    return result


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_a_down_alarm_opens_an_incident_with_the_cause_found_in_the_logs(aws: Aws) -> None:
    down_at = now() - timedelta(minutes=1)
    dpd = {
        "event_timestamp": int((down_at - timedelta(minutes=2)).timestamp()),
        "details": "AWS tunnel DPD timed out after 3 retransmits",
        "dpd_enabled": True,
        "nat_t_detected": False,
        "ike_phase1_state": "down",
        "ike_phase2_state": "down",
    }
    aws.put_logs(f"{VPN}-{T1}", [(down_at - timedelta(minutes=2), dpd)])
    result = invoke(event("cloudwatch-alarm-tunnel-down.json", down_at))
    assert result["transitions"] == ["opened"]
    assert result["published"] == 1
    [published] = aws.published()
    assert published["detail-type"] == "VPN Tunnel Incident"
    assert published["source"] == "vpn-doctor"
    incident = published["detail"]["incident"]
    assert (incident["vpn_connection_id"], incident["tunnel_ip"]) == (VPN, T1)
    assert incident["category"] == "dpd_timeout"
    assert incident["last_state"] == "DOWN"
    assert incident["evidence"][0]["message"] == "AWS tunnel DPD timed out after 3 retransmits"


def test_the_same_alarm_delivered_twice_publishes_once(aws: Aws) -> None:
    payload = event("cloudwatch-alarm-tunnel-down.json", now() - timedelta(minutes=1))
    assert invoke(payload)["transitions"] == ["opened"]
    assert invoke(payload)["transitions"] == []
    assert len(aws.published()) == 1


def test_down_then_up_via_network_manager_resolves_after_the_clear_delay(aws: Aws) -> None:
    start = now() - timedelta(minutes=20)
    assert invoke(event("network-manager-ipsec-down.json", start))["transitions"] == ["opened"]
    # UP 12 minutes ago: already past the 5-minute clear delay when it is processed.
    result = invoke(event("network-manager-ipsec-up.json", start + timedelta(minutes=8)))
    assert result["transitions"] == ["resolved"]
    kinds = [p["detail"]["kind"] for p in aws.published()]
    assert kinds == ["opened", "resolved"]


def test_out_of_order_delivery_does_not_reopen(aws: Aws) -> None:
    start = now() - timedelta(minutes=3)
    invoke(event("network-manager-ipsec-down.json", start))
    invoke(event("network-manager-ipsec-up.json", start + timedelta(minutes=2)))
    late = invoke(event("network-manager-ipsec-down.json", start + timedelta(minutes=1), event_id="late-down"))
    assert late["transitions"] == []
    state = next(i for i in aws.items() if i["sk"]["S"] == "STATE")
    assert state["last_state"]["S"] == "UP"


def test_connection_wide_health_notice_labels_the_next_down_as_maintenance(aws: Aws) -> None:
    notice_at = now() - timedelta(minutes=10)
    stubber = stub_ec2(
        [
            ("describe_vpn_connections", describe_response(), {"VpnConnectionIds": [VPN]}),
            ("describe_customer_gateways", customer_gateways(), {"CustomerGatewayIds": ["cgw-0123456789abcdef0"]}),
        ]
    )
    result = invoke(event("health-vpn-tunnel-endpoint-maintenance.json", notice_at))
    assert result["changes"] == 1
    assert result["transitions"] == []
    stubber.assert_no_pending_responses()
    opened = invoke(event("network-manager-bgp-down.json", now() - timedelta(minutes=1)))
    assert opened["transitions"] == ["opened"]
    [published] = aws.published()
    assert published["detail"]["incident"]["maintenance"] is True
    assert published["detail"]["incident"]["tunnel_ip"] == T2


def test_rejected_events_are_counted_and_logged_not_raised(aws: Aws, log_output: io.StringIO) -> None:
    result = invoke(json.loads((EVENTS / "cloudwatch-alarm-ec2-cpu.json").read_text()))
    assert result["rejected"] is not None
    assert "AWS/VPN TunnelState" in result["rejected"]
    assert aws.published() == []
    assert "Rejected state event" in log_output.getvalue()


def test_missing_settings_fail_loudly(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_EVENT_BUS_NAME)
    reset()
    with pytest.raises(SettingsError, match=ENV_EVENT_BUS_NAME):
        invoke(event("network-manager-ipsec-down.json", now()))


def _outbox(aws: Aws) -> list[dict[str, Any]]:
    return [item for item in aws.items() if item["sk"]["S"].startswith("OUTBOX#")]


def test_an_alert_lost_to_a_bus_failure_is_published_by_the_redelivery(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bus does not exist yet (a failed deployment step): PutEvents fails.
    monkeypatch.setenv(ENV_EVENT_BUS_NAME, "vpn-doctor-late")
    reset()
    payload = event("cloudwatch-alarm-tunnel-down.json", now() - timedelta(minutes=1))
    with pytest.raises(PublishFailed):
        invoke(payload)  # the invocation fails, so EventBridge delivers the event again
    assert len(_outbox(aws)) == 1
    boto3.client("events").create_event_bus(Name="vpn-doctor-late")
    route_to_queue("vpn-doctor-late", aws.queue_url, OUR_EVENTS)
    redelivered = invoke(payload)
    assert redelivered["transitions"] == ["opened"]
    assert redelivered["published"] == 1
    [published] = aws.published()
    assert published["detail"]["kind"] == "opened"
    assert published["detail"]["incident"]["tunnel_ip"] == T1
    assert _outbox(aws) == []
    # Once published, a third delivery is a plain duplicate.
    assert invoke(payload)["transitions"] == []
    assert aws.published() == []


def test_a_successful_publish_leaves_the_outbox_empty(aws: Aws) -> None:
    result = invoke(event("network-manager-ipsec-down.json", now() - timedelta(minutes=1)))
    assert result["published"] == 1
    assert _outbox(aws) == []


def test_a_leftover_is_flushed_by_the_next_event_for_the_tunnel(aws: Aws) -> None:
    start = now() - timedelta(minutes=3)
    stubber = Stubber(state.ports().incidents.bus.client)
    for _ in range(3):  # the publisher's first try and its two retries
        stubber.add_client_error("put_events", "InternalFailure", http_status_code=500)
    with stubber, pytest.raises(PublishFailed):
        invoke(event("network-manager-ipsec-down.json", start))
    stubber.assert_no_pending_responses()
    # Another event for the tunnel (not the redelivery) brings no news of its own, but publishes
    # what its outbox still holds.
    result = invoke(event("network-manager-ipsec-up.json", start + timedelta(minutes=1)))
    assert result["transitions"] == ["opened"]
    assert [p["detail"]["kind"] for p in aws.published()] == ["opened"]
    assert _outbox(aws) == []


def test_a_state_change_dated_beyond_the_clock_skew_is_dated_now_and_counted(
    aws: Aws, capsys: pytest.CaptureFixture[str], log_output: io.StringIO
) -> None:
    # A DOWN dated two hours ahead would make every real UP look older than it: never cleared.
    down = invoke(event("cloudwatch-alarm-tunnel-down.json", now() + timedelta(hours=2)))
    up = invoke(event("cloudwatch-alarm-tunnel-ok.json", now() + timedelta(seconds=2)))

    assert down["transitions"] == ["opened"]
    assert up["changes"] == 1
    state = next(i for i in aws.items() if i["sk"]["S"] == "STATE")
    assert state["last_state"]["S"] == "UP"
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["ClockSkewedRecords"] for line in metrics if "ClockSkewedRecords" in line] == [[1.0], [0.0]]
    logged = [json.loads(line) for line in log_output.getvalue().splitlines()]
    [warning] = [line for line in logged if line.get("message") == "State change time beyond the clock skew"]
    assert "ahead of the receiving clock" in warning["clock_skew"]
