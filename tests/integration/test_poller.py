"""The poller Lambda and the read-only adapters it uses: telemetry -> incidents, errors, traffic, no secrets."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from handlers import ingest, poller
from handlers.ingest import handler as ingest_handler
from handlers.poller import handler as poller_handler
from handlers.wiring import reset
from tests.conftest import lambda_context
from tests.integration.test_state_handler import (
    T1,
    T2,
    TABLE,
    VPN,
    Aws,
    aws,
    customer_gateways,
    describe_response,
    stub_ec2,
)
from vpn_doctor.app.publishing import PublishFailed
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.onboarding_store import DynamoDbOnboardingStore
from vpn_doctor.constants import (
    CONNECTION_SCOPE,
    DETAIL_TYPE_STATE_CHANGE,
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_NO_TRAFFIC_MINUTES,
    ENV_POLL_INTERVAL_MINUTES,
)
from vpn_doctor.diagnosis import diagnose
from vpn_doctor.models import IncidentTransition, dump, load
from vpn_doctor.own_changes import EXPECTED_OUTAGE
from vpn_doctor.subscription import encode_subscription_data
from vpn_doctor.taxonomy import Cause
from vpn_doctor_tools.emulator import VpnEmulation

__all__ = ["aws"]  # the pytest fixture shared with the state handler tests

GONE = "vpn-0123456789abcdef0"
LIVE = {"Filters": [{"Name": "state", "Values": ["pending", "available", "modifying"]}]}
SECRETS = ("FAKEpsk_Tunnel1_xJ9q2LmP", "FAKEpsk_Tunnel2_Rt7vWz3K", "pre_shared_key", "PreSharedKey")


def _poll() -> dict[str, Any]:
    result: dict[str, Any] = poller_handler({"source": "aws.scheduler", "detail": {}}, lambda_context("poller"))
    return result


def _describe(**statuses: str) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    return [
        ("describe_vpn_connections", describe_response(**statuses), LIVE),
        ("describe_customer_gateways", customer_gateways(), {"CustomerGatewayIds": ["cgw-0123456789abcdef0"]}),
    ]


def test_first_poll_opens_an_incident_for_the_down_tunnel_and_the_next_poll_is_quiet(aws: Aws) -> None:
    stubber = stub_ec2(_describe() + _describe(), poller.ports().connections)
    first = _poll()
    assert first["connections"] == 1
    assert first["changes"] == 2  # both tunnels seen for the first time
    assert first["transitions"] == ["opened"]
    [published] = aws.published()
    transition = load(IncidentTransition, published["detail"])
    assert (transition.incident.tunnel_ip, transition.incident.last_state.value) == (T1, "DOWN")
    assert "IPSEC IS DOWN" in transition.incident.summary
    second = _poll()
    assert (second["changes"], second["transitions"]) == (0, [])
    stubber.assert_no_pending_responses()


def test_a_tunnel_back_up_for_the_clear_delay_is_resolved_with_its_duration(aws: Aws) -> None:
    back_up = describe_response()
    telemetry = back_up["VpnConnections"][0]["VgwTelemetry"][0]
    telemetry.update(
        Status="UP", StatusMessage="IPSEC IS UP", LastStatusChange=datetime.now(UTC) - timedelta(minutes=6)
    )
    stub_ec2([*_describe(), ("describe_vpn_connections", back_up, LIVE), _describe()[1]], poller.ports().connections)
    _poll()
    assert _poll()["transitions"] == ["resolved"]
    resolved = load(IncidentTransition, aws.published()[-1]["detail"])
    assert resolved.incident.duration is not None


def test_monitor_scope_list_and_tag_shape_the_describe_request(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MONITOR_SCOPE, "list")
    monkeypatch.setenv(ENV_MONITOR_VPN_IDS, f"{VPN}, {GONE}")
    reset()
    stub_ec2(
        [
            (
                "describe_vpn_connections",
                {"VpnConnections": []},
                {"Filters": [*LIVE["Filters"], {"Name": "vpn-connection-id", "Values": [VPN, GONE]}]},
            ),
        ],
        poller.ports().connections,
    )
    polled = _poll()
    assert (polled["connections"], polled["errors"]) == (0, [])
    monkeypatch.setenv(ENV_MONITOR_SCOPE, "tag")
    reset()
    tagged = {"Filters": [*LIVE["Filters"], {"Name": "tag-key", "Values": ["vpn-doctor:monitor"]}]}
    stub_ec2([("describe_vpn_connections", {"VpnConnections": []}, tagged)], poller.ports().connections)
    assert _poll()["connections"] == 0


def test_a_deleted_listed_connection_is_reported_once_and_the_others_are_still_polled(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Real moto EC2 (with the emulator's telemetry): asked by VpnConnectionIds, a deleted connection
    # fails the whole DescribeVpnConnections with InvalidVpnConnectionID.NotFound, as EC2 does.
    with VpnEmulation().installed():
        ec2 = boto3.client("ec2")
        gateway = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="192.0.2.10", BgpAsn=65000)
        vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
        kept, deleted = (
            ec2.create_vpn_connection(
                Type="ipsec.1", CustomerGatewayId=gateway["CustomerGateway"]["CustomerGatewayId"], VpnGatewayId=vgw
            )["VpnConnection"]["VpnConnectionId"]
            for _ in range(2)
        )
        ec2.delete_vpn_connection(VpnConnectionId=deleted)  # "deleted" for a while, then gone
        monkeypatch.setenv(ENV_MONITOR_SCOPE, "list")
        monkeypatch.setenv(ENV_MONITOR_VPN_IDS, f"{kept},{deleted},{GONE}")
        reset()
        first, second = _poll(), _poll()
    assert (first["connections"], first["errors"], first["vanished"]) == (1, [], [deleted, GONE])
    assert first["transitions"] == ["opened", "opened"]  # the kept connection's new (DOWN) tunnels
    assert (second["connections"], second["errors"], second["vanished"]) == (1, [], [deleted, GONE])
    reports = [p for p in aws.published() if p["detail-type"] == DETAIL_TYPE_STATE_CHANGE]
    assert [(r["detail"]["vpn_connection_id"], r["detail"]["details"]) for r in reports] == [
        (deleted, {"vanished": "true"}),
        (GONE, {"vanished": "true"}),
    ]  # once each, not once per poll
    vanished_metrics = [
        line["VanishedConnections"] for line in map(json.loads, _json_lines(capsys)) if "VanishedConnections" in line
    ]
    assert vanished_metrics == [[2.0], [0.0]]  # one report each, the first poll


def test_with_scope_all_a_new_connection_is_watched_from_the_next_poll_and_a_deleted_one_no_longer(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 13: discovery, not lists. No tunnel or connection is named anywhere: the poller finds what exists.
    monkeypatch.setenv(ENV_MONITOR_SCOPE, "all")
    reset()
    with VpnEmulation().installed():
        ec2 = boto3.client("ec2")
        gateway = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="192.0.2.10", BgpAsn=65000)
        vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
        before = _poll()
        created = ec2.create_vpn_connection(
            Type="ipsec.1", CustomerGatewayId=gateway["CustomerGateway"]["CustomerGatewayId"], VpnGatewayId=vgw
        )["VpnConnection"]["VpnConnectionId"]
        after_create = _poll()
        ec2.delete_vpn_connection(VpnConnectionId=created)
        after_delete = _poll()
    assert (before["connections"], before["transitions"]) == (0, [])
    assert after_create["connections"] == 1
    assert after_create["transitions"] == ["opened", "opened"]  # its two new tunnels report DOWN
    assert (after_delete["connections"], after_delete["errors"], after_delete["transitions"]) == (0, [], [])
    opened = {p["detail"]["incident"]["vpn_connection_id"] for p in aws.published() if "incident" in p["detail"]}
    assert opened == {created}


def _json_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_throttled_describe_is_reported_not_raised(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    stubber = Stubber(poller.ports().connections.client)
    stubber.add_client_error("describe_vpn_connections", "RequestLimitExceeded", "Request limit exceeded.")
    stubber.activate()
    result = _poll()
    assert result["errors"] == ["RequestLimitExceeded"]
    assert '"PollErrors"' in capsys.readouterr().out  # EMF metric


def test_ec2_reader_translates_errors_and_treats_unknown_connections_as_absent() -> None:
    client = boto3.client("ec2", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("describe_vpn_connections", "InvalidVpnConnectionID.NotFound", "not found")
    stubber.add_client_error("describe_vpn_connections", "UnauthorizedOperation", "You are not authorized")
    stubber.add_response("describe_vpn_connections", describe_response(), {"VpnConnectionIds": [VPN]})
    stubber.add_client_error("describe_customer_gateways", "UnauthorizedOperation", "no")
    stubber.activate()
    reader = Ec2Reader(client)
    assert reader.connection("vpn-00000000000000000") is None
    with pytest.raises(AwsCallFailed) as failure:
        reader.connection(VPN)
    assert failure.value.code == "UnauthorizedOperation"
    assert not failure.value.try_later
    connection = reader.connection(VPN)  # device names are optional: their refusal costs nothing
    assert connection is not None
    assert connection.customer_gateway_device_name is None
    assert [t.outside_ip for t in connection.tunnels] == [T1, T2]


def test_secrets_from_describe_never_reach_logs_store_bus_or_diagnosis(aws: Aws, log_output: io.StringIO) -> None:
    by_id = [
        ("describe_vpn_connections", describe_response(), {"VpnConnectionIds": [VPN]}),
        _describe()[1],
    ]
    stub_ec2(_describe() + by_id, poller.ports().connections)
    _poll()
    published = aws.published()
    assert published
    transition = load(IncidentTransition, published[0]["detail"])
    connection = poller.ports().connections.connection(VPN)
    assert connection is not None
    assert connection.customer_gateway_device_name == "Cisco ASA 5506-X"
    diagnosis = diagnose(transition.incident, connection, now=datetime.now(UTC))
    assert diagnosis.vendor == "cisco"
    surfaces = {
        "logs": log_output.getvalue(),
        "store": json.dumps(aws.items()),
        "bus": json.dumps(published),
        "diagnosis": json.dumps(dump(diagnosis)),
        "connection": repr(connection),
    }
    assert surfaces["logs"]  # the handler did log
    for name, text in surfaces.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {name}"


def _put_traffic(tunnel_ip: str, bytes_in: float, bytes_out: float, *, periods: int) -> None:
    """One 5-minute datapoint per metric and period, in the middle of each of the last whole ``periods``."""
    now = datetime.now(UTC)
    end = datetime.fromtimestamp(now.timestamp() // 300 * 300, tz=UTC)
    for name, value in (("TunnelDataIn", bytes_in), ("TunnelDataOut", bytes_out)):
        boto3.client("cloudwatch").put_metric_data(
            Namespace="AWS/VPN",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "VpnId", "Value": VPN}, {"Name": "TunnelIpAddress", "Value": tunnel_ip}],
                    "Timestamp": end - timedelta(minutes=2.5 + 5 * period),
                    "Value": value,
                    "Unit": "Bytes",
                }
                for period in range(periods)
            ],
        )


def _traffic_every_poll(monkeypatch: pytest.MonkeyPatch, minutes: int) -> list[str]:
    """The poller with a ``minutes`` traffic window and a 30-minute schedule (so every poll reads the traffic);
    returns the list its GetMetricData calls are recorded in."""
    monkeypatch.setenv(ENV_NO_TRAFFIC_MINUTES, str(minutes))
    monkeypatch.setenv(ENV_POLL_INTERVAL_MINUTES, "30")
    reset()
    reads: list[str] = []
    poller.ports().traffic.client.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData", lambda **_: reads.append("GetMetricData")
    )
    return reads


def test_an_up_connection_with_zero_bytes_opens_a_no_traffic_incident(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _traffic_every_poll(monkeypatch, 15)
    _put_traffic(T2, 0.0, 0.0, periods=4)  # T2 is UP (T1 DOWN): zero bytes both ways for 20 minutes
    stub_ec2(_describe() + _describe(), poller.ports().connections)
    first = _poll()
    assert reads == ["GetMetricData"]  # one read for every UP tunnel of the poll
    assert first["traffic_findings"] == 1
    incidents = [load(IncidentTransition, p["detail"]) for p in aws.published()]
    [idle] = [t for t in incidents if t.incident.tunnel_ip == CONNECTION_SCOPE]
    assert (idle.kind.value, idle.incident.category.value, idle.incident.cause) == (
        "opened",
        "idle_timeout",
        Cause.NO_TRAFFIC,
    )
    assert "no byte crossed any tunnel for 15 minutes" in idle.incident.summary
    before = len(aws.published())
    _poll()  # the same read slot: a duplicate, nothing new
    assert len(aws.published()) == before


def test_missing_datapoints_are_no_data_and_open_nothing(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    _traffic_every_poll(monkeypatch, 15)
    _put_traffic(T2, 0.0, 0.0, periods=2)  # two of the three periods of the window: no verdict
    stub_ec2(_describe(), poller.ports().connections)
    assert _poll()["traffic_findings"] == 0
    assert all(p["detail"]["incident"]["tunnel_ip"] != CONNECTION_SCOPE for p in aws.published())


def test_bus_retries_throttled_entries_and_reports_the_rest() -> None:
    client = boto3.client("events", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response(
        "put_events",
        {
            "FailedEntryCount": 2,
            "Entries": [{"EventId": "1"}, {"ErrorCode": "ThrottlingException"}, {"ErrorCode": "AccessDeniedException"}],
        },
        {"Entries": ANY},
    )
    stubber.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "2"}]}, {"Entries": ANY})
    stubber.activate()
    report = EventBus("vpn-doctor", client).publish("VPN Tunnel Incident", [{"n": 1}, {"n": 2}, {"n": 3}])
    assert report.published == 2
    assert report.failed == [("VPN Tunnel Incident", "AccessDeniedException")]
    stubber.assert_no_pending_responses()


def _failing_bus(bus: Any) -> Stubber:
    """PutEvents failing on the publisher's first try and both retries."""
    stubber = Stubber(bus.client)
    for _ in range(3):
        stubber.add_client_error("put_events", "InternalFailure", http_status_code=500)
    return stubber


def _outbox(aws: Aws) -> list[dict[str, Any]]:
    return [item for item in aws.items() if item["sk"]["S"].startswith("OUTBOX#")]


def test_a_resolution_lost_to_a_bus_failure_is_published_by_the_next_poll(aws: Aws) -> None:
    back_up = describe_response()
    back_up["VpnConnections"][0]["VgwTelemetry"][0].update(
        Status="UP", StatusMessage="IPSEC IS UP", LastStatusChange=datetime.now(UTC) - timedelta(minutes=6)
    )
    stub_ec2(
        [*_describe(), ("describe_vpn_connections", back_up, LIVE), ("describe_vpn_connections", back_up, LIVE)],
        poller.ports().connections,
    )
    assert _poll()["transitions"] == ["opened"]
    with _failing_bus(poller.ports().incidents.bus), pytest.raises(PublishFailed):
        _poll()  # resolves the incident, but the bus is down
    assert len(_outbox(aws)) == 1
    # The tunnel has no open incident and nothing changed: the poll still publishes its leftover.
    third = _poll()
    assert (third["changes"], third["transitions"], third["published"]) == (0, ["resolved"], 1)
    assert [p["detail"]["kind"] for p in aws.published()] == ["opened", "resolved"]
    assert _outbox(aws) == []


def test_a_failed_publish_fails_the_poll_and_counts_a_publish_failure(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    stub_ec2(_describe(), poller.ports().connections)
    with _failing_bus(poller.ports().incidents.bus), pytest.raises(PublishFailed):
        _poll()  # the DOWN tunnel's incident opens, the bus is down
    counted = [line["PublishFailures"] for line in map(json.loads, _json_lines(capsys)) if "PublishFailures" in line]
    assert counted == [[1.0]]  # the stack alarms on it


def test_ingest_failure_findings_open_an_incident_and_publish_it(aws: Aws) -> None:
    at = datetime.now(UTC) - timedelta(minutes=1)
    record = {
        "event_timestamp": int(at.timestamp()),
        "details": "AWS tunnel detected a pre-shared key mismatch with cgw: 192.0.2.1",
        "dpd_enabled": True,
        "nat_t_detected": False,
        "ike_phase1_state": "down",
        "ike_phase2_state": "down",
    }
    document = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/vendedlogs/vpn-doctor/tunnels",
        "logStream": f"{VPN}-{T1}",
        "subscriptionFilters": ["vpn-doctor"],
        "logEvents": [
            {
                "id": "37000000000000000000000000000000000000000000000000000001",
                "timestamp": int(at.timestamp() * 1000),
                "message": json.dumps(record),
            }
        ],
    }
    payload = {"awslogs": {"data": encode_subscription_data(document)}}
    with _failing_bus(ingest.ports().incidents.bus), pytest.raises(PublishFailed):
        ingest_handler(payload, lambda_context("ingest"))  # the bus failed: Lambda retries the invocation
    assert aws.published() == []
    report = ingest_handler(payload, lambda_context("ingest"))
    assert report["by_category"] == {"ike_phase1_failure": 1}
    assert _outbox(aws) == []
    again = ingest_handler(payload, lambda_context("ingest"))
    assert again == report  # same report, and the duplicate delivery adds no transition
    [published] = aws.published()
    incident = published["detail"]["incident"]
    assert (incident["category"], incident["cause"], incident["tunnel_ip"]) == (
        "ike_phase1_failure",
        "psk_mismatch",
        T1,
    )


def _onboarding_sent(minutes_ago: float) -> datetime:
    """What the on-boarding records when it sends a tunnel's logging change (its audit, in the incidents table)."""
    sent_at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    store = DynamoDbOnboardingStore(TABLE, boto3.client("dynamodb"))
    store.audit(VPN, T1, what="sent", reason="switch tunnel logging on", at=sent_at, options={"LogOptions": {}})
    return sent_at


def _down_since(at: datetime) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    calls = _describe()
    for entry in calls[0][1]["VpnConnections"][0]["VgwTelemetry"]:
        if entry["OutsideIpAddress"] == T1:
            entry["LastStatusChange"] = at
    return calls


def test_the_tunnel_onboarding_just_changed_going_down_opens_no_incident_and_sends_nothing(aws: Aws) -> None:
    # Issue 13, defect 6: switching a healthy tunnel's logging on takes it away for minutes; that is vpn-doctor's
    # own change, not news (without the audit lookup this poll opens an incident and alerts).
    sent_at = _onboarding_sent(minutes_ago=4)
    stubber = stub_ec2(_down_since(sent_at + timedelta(minutes=1)), poller.ports().connections)
    result = _poll()
    stubber.assert_no_pending_responses()
    assert result["transitions"] == []
    assert result["expected"] == [
        f"expected, caused by vpn-doctor's change ONBOARD#{VPN}/AUDIT#{sent_at.isoformat()}#{T1}#sent "
        "(vpn-doctor onboard)"
    ]
    assert aws.published() == []


def test_a_tunnel_still_down_when_the_expected_outage_is_over_opens_its_incident(aws: Aws) -> None:
    sent_at = _onboarding_sent(minutes_ago=EXPECTED_OUTAGE.total_seconds() / 60 + 5)
    stubber = stub_ec2(_down_since(sent_at + timedelta(minutes=1)), poller.ports().connections)
    result = _poll()
    stubber.assert_no_pending_responses()
    assert result["expected"] == []
    assert result["transitions"] == ["opened"]


def _as_the_previous_version_wrote_it(aws: Aws, item: dict[str, Any]) -> None:
    """Move an outbox entry to the layout before the shared OUTBOX partition (commit d797a95's parent):
    ``pk = TUNNEL#<vpn id>#<tunnel ip>``, ``sk = OUTBOX#<outbox key>``, same ``doc``, ``incident_id``, TTL;
    the table the previous version left has no ``MOVED`` marker either."""
    tunnel, key = item["sk"]["S"].removeprefix("OUTBOX#").rsplit("#", 1)
    aws.dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "OUTBOX"}, "sk": {"S": "MOVED"}})
    aws.dynamodb.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    aws.dynamodb.put_item(TableName=TABLE, Item={**item, "pk": {"S": tunnel}, "sk": {"S": f"OUTBOX#{key}"}})


def test_an_outbox_entry_left_by_the_previous_version_is_published_once_after_the_upgrade(aws: Aws) -> None:
    stub_ec2(_describe() + _describe() + _describe(), poller.ports().connections)
    with _failing_bus(poller.ports().incidents.bus), pytest.raises(PublishFailed):
        _poll()  # the DOWN tunnel's incident opens, the bus is down: its transition stays in the outbox
    [entry] = _outbox(aws)
    _as_the_previous_version_wrote_it(aws, entry)

    upgraded = _poll()
    again = _poll()

    assert (upgraded["transitions"], upgraded["published"]) == (["opened"], 1)
    assert (again["transitions"], again["published"]) == ([], 0)
    assert [p["detail"]["kind"] for p in aws.published()] == ["opened"]
    assert [item for item in aws.items() if item["sk"]["S"].startswith("OUTBOX#")] == []
