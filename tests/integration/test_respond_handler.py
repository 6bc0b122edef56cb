"""Respond handler: incident event in -> diagnosis, remediation (policy-gated), alert on the bus, post-check.

DynamoDB, EventBridge (rule -> SQS to read what was published) and Scheduler through moto; EC2's VPN
calls through botocore's Stubber with real-shaped responses (pre-shared keys included).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from handlers import respond
from handlers.wiring import SettingsError, load_settings, reset
from tests.conftest import OUR_ALERTS, handler_aws, lambda_context, received, tapped_bus
from tests.unit.test_remediation import IP1, IP2, LOG_GROUP, PSK1, PSK2, VPN, transition, vpn_item
from vpn_doctor import constants
from vpn_doctor.app.publishing import PublishFailed
from vpn_doctor.aws.scheduler import schedule_name
from vpn_doctor.constants import Mode
from vpn_doctor.models import Alert, TransitionKind, dump, load

TABLE = "vpn-doctor-remediation"
BUS = "vpn-doctor"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:vpn-doctor-post-check"
ROLE = "arn:aws:iam::123456789012:role/vpn-doctor-post-check-scheduler"


@dataclass
class Aws:
    """moto for the table, bus and Scheduler; the function's EC2 clients (read, modify) through Stubber."""

    queue_url: str
    sqs: Any
    stubber: Stubber = field(init=False)
    modify: Stubber = field(init=False)

    def __post_init__(self) -> None:
        self.stub()

    def stub(self) -> None:
        """Answer the function's EC2 clients (built again after a ``reset``) from now on."""
        ports = respond.ports()
        self.stubber = Stubber(ports.connections.client)
        self.stubber.activate()
        if ports.remediation is not None:
            self.modify = Stubber(ports.remediation.modifier.client)
            self.modify.activate()

    def alerts(self) -> list[dict[str, Any]]:
        return received(self.sqs, self.queue_url)

    def describe(self, item: dict[str, Any]) -> None:
        self.stubber.add_response("describe_vpn_connections", {"VpnConnections": [item]}, {"VpnConnectionIds": [VPN]})
        self.stubber.add_response(
            "describe_customer_gateways",
            {"CustomerGateways": [{"CustomerGatewayId": item["CustomerGatewayId"], "DeviceName": "Cisco ASA"}]},
            {"CustomerGatewayIds": [item["CustomerGatewayId"]]},
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    settings = {
        **_env(),
        "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
        constants.ENV_TUNNEL_LOG_GROUP_ARN: LOG_GROUP,
        constants.ENV_REMEDIATION_MODE: "auto",
    }
    with handler_aws(monkeypatch, reset, settings, table=TABLE):
        aws = Aws(tapped_bus(BUS, "alerts", OUR_ALERTS, rule="alerts"), boto3.client("sqs"))
        yield aws
        aws.stubber.assert_no_pending_responses()
        aws.modify.assert_no_pending_responses()


def _event(**kwargs: Any) -> dict[str, Any]:
    the_transition = transition(**kwargs)
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": constants.DETAIL_TYPE_INCIDENT,
        "source": constants.EVENT_SOURCE,
        "account": "123456789012",
        "time": "2026-11-26T23:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": dump(the_transition),
    }


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = respond.handler(event, lambda_context("respond"))
    return result


def _modify(*, dry_run: bool = False) -> dict[str, Any]:
    return {
        "VpnConnectionId": VPN,
        "VpnTunnelOutsideIpAddress": IP1,
        "TunnelOptions": {"DPDTimeoutAction": "restart"},
        "DryRun": dry_run,
    }


def _modified() -> dict[str, Any]:
    item = vpn_item(state="modifying", tunnel1={"DpdTimeoutAction": "restart"})
    item.pop("VgwTelemetry")
    return {"VpnConnection": item}


def test_auto_mode_modifies_the_tunnel_publishes_the_alert_and_schedules_the_post_check(aws: Aws) -> None:
    aws.describe(vpn_item())
    aws.modify.add_response("modify_vpn_tunnel_options", _modified(), _modify())
    result = _invoke(_event())
    assert result["remediation"] == "applied"
    (event,) = aws.alerts()
    assert event["detail-type"] == constants.DETAIL_TYPE_ALERT
    alert = load(Alert, event["detail"])
    assert alert.remediation is not None
    assert alert.remediation.status.value == "applied"
    assert alert.remediation.parameters["TunnelOptions"] == {"DPDTimeoutAction": "restart"}
    assert alert.diagnosis is not None
    assert alert.diagnosis.verdict.value == "needs_aws_side_change"
    assert alert.log_group == LOG_GROUP
    schedule = boto3.client("scheduler").get_schedule(Name=schedule_name("evt-1"))
    assert schedule["ScheduleExpression"].startswith("at(")
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"] == TARGET
    assert schedule["Target"]["RoleArn"] == ROLE
    payload = json.loads(schedule["Target"]["Input"])
    assert payload["transition"]["event_id"] == "evt-1"
    assert payload["remediation"]["status"] == "applied"
    published = json.dumps([event, schedule["Target"]["Input"]])
    assert PSK1 not in published
    assert PSK2 not in published


def test_dry_run_sends_no_modification_and_says_what_it_would_change(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(constants.ENV_REMEDIATION_MODE, "dry-run")
    respond.settings.reset()  # the same ports (and stubbed clients), the new mode
    aws.describe(vpn_item())
    # No modify_vpn_tunnel_options response is stubbed: a call would fail the invocation.
    assert _invoke(_event())["remediation"] == "dry_run"
    aws.modify.assert_no_pending_responses()
    (event,) = aws.alerts()
    assert event["detail"]["remediation"]["status"] == "dry_run"
    assert "would change" in event["detail"]["remediation"]["reason"]
    assert "permissions are not verified" in event["detail"]["remediation"]["reason"]
    assert boto3.client("scheduler").list_schedules()["Schedules"] == []


def test_a_duplicate_delivery_publishes_nothing_and_modifies_nothing(aws: Aws) -> None:
    aws.describe(vpn_item())
    aws.modify.add_response("modify_vpn_tunnel_options", _modified(), _modify())
    aws.describe(vpn_item(state="modifying"))  # the second delivery only reads the connection
    assert _invoke(_event())["remediation"] == "applied"
    assert _invoke(_event())["status"] == "duplicate"
    assert len(aws.alerts()) == 1


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("RequestLimitExceeded", "try_later", "throttled"),
        ("IncorrectState", "try_later", "try later"),
        ("UnauthorizedOperation", "failed", "Not allowed"),
        ("InvalidVpnConnectionID.NotFound", "failed", "no longer exists"),
    ],
)
def test_ec2_errors_are_one_call_and_a_clear_message_in_the_alert(aws: Aws, code: str, status: str, words: str) -> None:
    aws.describe(vpn_item())
    aws.modify.add_client_error("modify_vpn_tunnel_options", service_error_code=code, service_message="no")
    assert _invoke(_event())["remediation"] == status
    (event,) = aws.alerts()
    remediation = event["detail"]["remediation"]
    assert remediation["error_code"] == code
    assert words in remediation["reason"]
    assert boto3.client("scheduler").list_schedules()["Schedules"] == []


def test_a_connection_being_modified_is_try_later_without_a_modification(aws: Aws) -> None:
    aws.describe(vpn_item(state="modifying"))
    assert _invoke(_event())["remediation"] == "try_later"
    (event,) = aws.alerts()
    assert "'modifying'" in event["detail"]["remediation"]["reason"]


def test_a_resolved_incident_is_alerted_without_remediation(aws: Aws) -> None:
    aws.describe(vpn_item(status1="UP"))
    assert _invoke(_event(kind=TransitionKind.RESOLVED))["remediation"] == "not_needed"
    (event,) = aws.alerts()
    assert event["detail"]["transition"]["kind"] == "resolved"


def test_the_alert_carries_the_connections_owner_and_its_other_tunnels_down_for_routing(aws: Aws) -> None:
    # Read from the DescribeVpnConnections respond makes anyway: notify routes on it without EC2 access.
    aws.describe(vpn_item(status1="UP", status2="DOWN", tags={constants.OWNER_TAG: "network-emea"}))

    _invoke(_event(kind=TransitionKind.RESOLVED))

    (event,) = aws.alerts()
    alert = load(Alert, event["detail"])
    assert alert.owner == "network-emea"
    assert alert.other_tunnels_down == (IP2,)


def test_an_event_that_is_not_a_transition_is_rejected_and_counted(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _invoke({"detail": {"kind": "opened"}})["status"] == "rejected"
    assert aws.alerts() == []
    assert '"InvalidPayloads"' in capsys.readouterr().out


def _env() -> dict[str, str]:
    return {
        constants.ENV_REMEDIATION_TABLE: TABLE,
        constants.ENV_EVENT_BUS_NAME: BUS,
        constants.ENV_POST_CHECK_TARGET_ARN: TARGET,
        constants.ENV_POST_CHECK_ROLE_ARN: ROLE,
    }


def test_a_deployment_with_remediation_off_needs_no_remediation_resources_and_never_modifies(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        constants.ENV_REMEDIATION_TABLE,
        constants.ENV_POST_CHECK_TARGET_ARN,
        constants.ENV_POST_CHECK_ROLE_ARN,
    ):
        monkeypatch.delenv(name)
    monkeypatch.setenv(constants.ENV_REMEDIATION_MODE, "off")
    reset()
    aws.stub()
    assert respond.ports().remediation is None
    aws.describe(vpn_item(tags={constants.REMEDIATE_TAG: "auto"}))  # a tag cannot enable what is not deployed
    assert _invoke(_event())["remediation"] == "off"
    (event,) = aws.alerts()
    assert event["detail"]["remediation"]["status"] == "off"
    assert event["detail"]["diagnosis"]["verdict"] == "needs_aws_side_change"


def test_settings_come_from_the_environment_with_safe_defaults() -> None:
    settings = load_settings(
        respond.Settings,
        {
            **_env(),
            constants.ENV_REMEDIATION_COOLDOWN_SECONDS: "7200",
            constants.ENV_REMEDIATION_DAILY_BUDGET: "1",
            constants.ENV_REMEDIATION_SIBLING_UP_SECONDS: "900",
            constants.ENV_REMEDIATION_DPD_ACTION: "none",
            constants.ENV_POST_CHECK_DELAY_SECONDS: "600",
        },
    ).config()
    assert settings.policy.mode is Mode.DRY_RUN
    assert settings.policy.cooldown == timedelta(hours=2)
    assert settings.policy.daily_budget == 1
    assert settings.policy.sibling_up_minimum == timedelta(minutes=15)
    assert settings.policy.dpd_timeout_action == "none"
    assert settings.post_check_delay == timedelta(minutes=10)
    defaults = load_settings(respond.Settings, _env()).config().policy
    assert (defaults.cooldown, defaults.daily_budget) == (timedelta(hours=1), 3)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({constants.ENV_REMEDIATION_TABLE: ""}, constants.ENV_REMEDIATION_TABLE),
        ({constants.ENV_REMEDIATION_MODE: "yolo"}, constants.ENV_REMEDIATION_MODE),
        ({constants.ENV_REMEDIATION_DAILY_BUDGET: "three"}, constants.ENV_REMEDIATION_DAILY_BUDGET),
        ({constants.ENV_REMEDIATION_DPD_ACTION: "clear"}, constants.ENV_REMEDIATION_DPD_ACTION),
        ({constants.ENV_POST_CHECK_DELAY_SECONDS: "30"}, constants.ENV_POST_CHECK_DELAY_SECONDS),
    ],
)
def test_bad_settings_fail_loudly_naming_the_variable(override: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(respond.Settings, {**_env(), **override})


def test_settings_are_read_once(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    first = respond.settings()
    monkeypatch.setenv(constants.ENV_REMEDIATION_MODE, "off")
    assert respond.settings() is first
    assert first.mode is Mode.AUTO


def test_the_post_check_runs_after_the_configured_delay_default_15_minutes(aws: Aws) -> None:
    aws.describe(vpn_item())
    aws.modify.add_response("modify_vpn_tunnel_options", _modified(), _modify())
    before = datetime.now(UTC)
    _invoke(_event())
    schedule = boto3.client("scheduler").get_schedule(Name=schedule_name("evt-1"))
    at = datetime.strptime(schedule["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    assert before + timedelta(minutes=14) <= at <= datetime.now(UTC) + timedelta(minutes=16)


def test_without_its_table_remediation_changes_nothing_and_the_alert_still_goes_out(aws: Aws) -> None:
    boto3.client("dynamodb").delete_table(TableName=TABLE)
    aws.describe(vpn_item())
    assert _invoke(_event())["remediation"] == "try_later"
    (event,) = aws.alerts()
    remediation = event["detail"]["remediation"]
    assert remediation["error_code"] == "ResourceNotFoundException"
    assert "nothing was changed" in remediation["reason"]


def _schedules() -> list[str]:
    return [s["Name"] for s in boto3.client("scheduler").list_schedules()["Schedules"]]


@pytest.mark.parametrize("failure", ["thrown", "partial"])
def test_an_alert_the_bus_did_not_take_is_published_by_the_redelivery_exactly_once(aws: Aws, failure: str) -> None:
    aws.describe(vpn_item())
    aws.modify.add_response("modify_vpn_tunnel_options", _modified(), _modify())
    bus = Stubber(respond.ports().bus.client)
    if failure == "thrown":
        for _ in range(3):  # the publisher's first try and its two retries
            bus.add_client_error("put_events", "InternalFailure", http_status_code=500)
    else:
        bus.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "AccessDeniedException"}]})
    with bus, pytest.raises(PublishFailed):
        _invoke(_event())  # the tunnel was modified and the post-check scheduled, but the alert was lost
    assert aws.alerts() == []
    aws.describe(vpn_item(state="modifying"))  # the redelivery reads the connection, modifies nothing
    redelivered = _invoke(_event())
    assert (redelivered["status"], redelivered["remediation"]) == ("completed", "applied")
    aws.describe(vpn_item(state="modifying"))
    assert _invoke(_event())["status"] == "duplicate"  # everything done: nothing more
    (event,) = aws.alerts()
    assert event["detail"]["remediation"]["status"] == "applied"
    assert _schedules() == [schedule_name("evt-1")]


def test_a_respond_that_died_after_modifying_is_completed_by_the_redelivery(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.describe(vpn_item())
    aws.modify.add_response("modify_vpn_tunnel_options", _modified(), _modify())
    scheduler = respond.ports().remediation.scheduler  # type: ignore[union-attr]

    schedule, died = scheduler.schedule, []

    def dies_once(*args: Any, **kwargs: Any) -> str:
        if not died:
            died.append(True)
            raise TimeoutError("Task timed out after 60.00 seconds")
        return schedule(*args, **kwargs)

    monkeypatch.setattr(scheduler, "schedule", dies_once)
    with pytest.raises(TimeoutError):
        _invoke(_event())  # APPLIED is stored; no post-check, no alert
    assert (aws.alerts(), _schedules()) == ([], [])
    aws.describe(vpn_item(state="modifying"))
    assert _invoke(_event())["status"] == "completed"
    (event,) = aws.alerts()
    assert event["detail"]["remediation"]["status"] == "applied"
    assert _schedules() == [schedule_name("evt-1")]
    payload = json.loads(boto3.client("scheduler").get_schedule(Name=schedule_name("evt-1"))["Target"]["Input"])
    assert payload["remediation"]["status"] == "applied"


def test_a_post_check_that_already_exists_is_success_for_the_redelivery(aws: Aws) -> None:
    aws.describe(vpn_item())
    aws.modify.add_response("modify_vpn_tunnel_options", _modified(), _modify())
    bus = Stubber(respond.ports().bus.client)
    bus.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]})
    bus.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]})
    bus.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]})
    with bus, pytest.raises(PublishFailed):
        _invoke(_event())
    # The follow-up was not remembered (a table hiccup): the redelivery schedules again, same name.
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": "EVENT#evt-1"}, "sk": {"S": "DECISION"}},
        UpdateExpression="REMOVE follow_ups",
    )
    aws.describe(vpn_item(state="modifying"))
    assert _invoke(_event())["status"] == "completed"
    assert _schedules() == [schedule_name("evt-1")]
    assert len(aws.alerts()) == 1


def test_the_alert_diagnoses_the_tunnels_traffic_before_the_incident(aws: Aws) -> None:
    opened = transition().incident.opened_at
    dimensions = [{"Name": "VpnId", "Value": VPN}, {"Name": "TunnelIpAddress", "Value": IP1}]
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/VPN",
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Timestamp": opened - timedelta(minutes=ago), "Value": 0.0}
            for name in ("TunnelDataIn", "TunnelDataOut")
            for ago in (5, 10, 20)
        ],
    )
    aws.describe(vpn_item())
    aws.modify.add_response("modify_vpn_tunnel_options", _modified(), _modify())
    _invoke(_event())
    (event,) = aws.alerts()
    checks = {check["check_id"]: check for check in event["detail"]["diagnosis"]["checks"]}
    assert checks["traffic"]["status"] == "fail"
    assert "No data in either direction for the 30 minutes before the incident" in checks["traffic"]["reason"]
