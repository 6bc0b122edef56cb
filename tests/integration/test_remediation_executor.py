"""ModifyVpnTunnelOptions executor against botocore's EC2 model (Stubber validates every request parameter)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.unit.test_remediation import IP1, LOG_GROUP, PSK1, PSK2, VPN, vpn_item
from vpn_doctor.aws.ec2_modify import Ec2TunnelModifier
from vpn_doctor.models import RemediationAction, RemediationStatus
from vpn_doctor.remediation import Change


@pytest.fixture
def ec2(fake_aws: None) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ec2", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _change(options: dict[str, Any], action: RemediationAction) -> Change:
    return Change(action, VPN, IP1, options, "because", before={"DPDTimeoutAction": "clear"})


DPD = _change({"DPDTimeoutAction": "restart"}, RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART)


def _modified_response(**tunnel1: Any) -> dict[str, Any]:
    item = vpn_item(state="modifying", tunnel1=tunnel1)
    item.pop("VgwTelemetry")  # ModifyVpnTunnelOptions answers with the connection, keys included
    return {"VpnConnection": item}


def test_dpd_timeout_action_request_matches_the_api_model_and_reads_back_the_new_value(
    ec2: tuple[Any, Stubber],
) -> None:
    client, stubber = ec2
    stubber.add_response(
        "modify_vpn_tunnel_options",
        _modified_response(DpdTimeoutAction="restart"),
        {
            "VpnConnectionId": VPN,
            "VpnTunnelOutsideIpAddress": IP1,
            "TunnelOptions": {"DPDTimeoutAction": "restart"},
            "DryRun": False,
        },
    )
    result = Ec2TunnelModifier(client).modify(DPD, dry_run=False)
    assert result.status is RemediationStatus.APPLIED
    assert result.after is not None
    assert result.after["DPDTimeoutAction"] == "restart"
    assert "modifying" in result.message
    text = json.dumps([result.message, dict(result.after)])
    assert PSK1 not in text
    assert PSK2 not in text


def test_startup_action_request_matches_the_api_model(ec2: tuple[Any, Stubber]) -> None:
    client, stubber = ec2
    change = _change({"StartupAction": "start"}, RemediationAction.SET_STARTUP_ACTION_START)
    stubber.add_response(
        "modify_vpn_tunnel_options",
        _modified_response(StartupAction="start"),
        {
            "VpnConnectionId": VPN,
            "VpnTunnelOutsideIpAddress": IP1,
            "TunnelOptions": {"StartupAction": "start"},
            "DryRun": False,
        },
    )
    result = Ec2TunnelModifier(client).modify(change, dry_run=False)
    assert result.after is not None
    assert result.after["StartupAction"] == "start"


def test_log_options_request_matches_the_api_model(ec2: tuple[Any, Stubber]) -> None:
    client, stubber = ec2
    cloudwatch = {"LogEnabled": True, "LogGroupArn": LOG_GROUP, "LogOutputFormat": "json"}
    change = _change({"LogOptions": {"CloudWatchLogOptions": cloudwatch}}, RemediationAction.ENABLE_TUNNEL_LOGGING)
    stubber.add_response(
        "modify_vpn_tunnel_options",
        _modified_response(),
        {
            "VpnConnectionId": VPN,
            "VpnTunnelOutsideIpAddress": IP1,
            "TunnelOptions": {"LogOptions": {"CloudWatchLogOptions": cloudwatch}},
            "DryRun": False,
        },
    )
    result = Ec2TunnelModifier(client).modify(change, dry_run=False)
    assert result.status is RemediationStatus.APPLIED
    assert result.after is not None
    assert result.after["LogEnabled"] is True


def test_dry_run_sends_dry_run_true_and_dry_run_operation_is_success(ec2: tuple[Any, Stubber]) -> None:
    client, stubber = ec2
    stubber.add_client_error(
        "modify_vpn_tunnel_options",
        service_error_code="DryRunOperation",
        service_message="Request would have succeeded, but DryRun flag is set.",
        http_status_code=412,
        expected_params={
            "VpnConnectionId": VPN,
            "VpnTunnelOutsideIpAddress": IP1,
            "TunnelOptions": {"DPDTimeoutAction": "restart"},
            "DryRun": True,
        },
    )
    result = Ec2TunnelModifier(client).modify(DPD, dry_run=True)
    assert result.status is RemediationStatus.DRY_RUN
    assert result.error_code is None


@pytest.mark.parametrize(
    ("code", "message", "status", "words"),
    [
        (
            "IncorrectState",
            f"The VPN connection {VPN} is in the modifying state.",
            RemediationStatus.TRY_LATER,
            "try later",
        ),
        (
            "UnsupportedOperation",
            "The vpn connection is currently modifying.",
            RemediationStatus.TRY_LATER,
            "try later",
        ),
        ("RequestLimitExceeded", "Request limit exceeded.", RemediationStatus.TRY_LATER, "throttled"),
        ("Throttling", "Rate exceeded", RemediationStatus.TRY_LATER, "throttled"),
        ("UnauthorizedOperation", "You are not authorized to perform this operation.", RemediationStatus.FAILED, "IAM"),
        ("AccessDenied", "Access denied", RemediationStatus.FAILED, "Not allowed"),
        (
            "InvalidVpnConnectionID.NotFound",
            f"The vpnConnection ID '{VPN}' does not exist",
            RemediationStatus.FAILED,
            "no longer exists",
        ),
    ],
)
def test_ec2_errors_become_a_clear_outcome_after_exactly_one_call(
    ec2: tuple[Any, Stubber], code: str, message: str, status: RemediationStatus, words: str
) -> None:
    client, stubber = ec2
    stubber.add_client_error("modify_vpn_tunnel_options", service_error_code=code, service_message=message)
    result = Ec2TunnelModifier(client).modify(DPD, dry_run=False)
    assert result.status is status
    assert result.error_code == code
    assert code in result.message
    assert words in result.message


def test_a_refused_logging_change_names_the_log_delivery_permissions_not_only_the_tag(
    ec2: tuple[Any, Stubber],
) -> None:
    # Issue 13, defect 2: enabling logging refused for lack of log-delivery permissions was blamed on the tag.
    client, stubber = ec2
    cloudwatch = {"LogEnabled": True, "LogGroupArn": LOG_GROUP, "LogOutputFormat": "json"}
    change = _change({"LogOptions": {"CloudWatchLogOptions": cloudwatch}}, RemediationAction.ENABLE_TUNNEL_LOGGING)
    refusal = "You are not authorized to perform this operation. Encoded authorization failure message: AbC123"
    stubber.add_client_error(
        "modify_vpn_tunnel_options", service_error_code="UnauthorizedOperation", service_message=refusal
    )
    result = Ec2TunnelModifier(client).modify(change, dry_run=False)
    assert result.status is RemediationStatus.FAILED
    assert "log-delivery permissions (logs:CreateLogDelivery" in result.message
    assert "AWS said: You are not authorized to perform this operation." in result.message
    assert "AbC123" not in result.message  # the encoded blob helps nobody reading an alert
    stubber.add_client_error(
        "modify_vpn_tunnel_options", service_error_code="UnauthorizedOperation", service_message=refusal
    )
    assert "log-delivery" not in Ec2TunnelModifier(client).modify(DPD, dry_run=False).message


def test_the_default_client_makes_a_single_attempt_so_throttling_causes_no_retry_storm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = Ec2TunnelModifier().client
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_options_outside_the_allowed_three_are_refused_before_any_call(ec2: tuple[Any, Stubber]) -> None:
    client, _ = ec2
    lifetime = _change({"Phase2LifetimeSeconds": 1800}, RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART)
    with pytest.raises(ValueError, match="Phase2LifetimeSeconds"):
        Ec2TunnelModifier(client).modify(lifetime, dry_run=False)


def test_applying_a_pending_replacement_sends_replace_vpn_tunnel_as_the_api_model_says(
    ec2: tuple[Any, Stubber],
) -> None:
    client, stubber = ec2
    change = _change({}, RemediationAction.APPLY_PENDING_MAINTENANCE)
    request = {"VpnConnectionId": VPN, "VpnTunnelOutsideIpAddress": IP1, "ApplyPendingMaintenance": True}
    stubber.add_response("replace_vpn_tunnel", {"Return": True}, {**request, "DryRun": False})
    stubber.add_client_error(
        "replace_vpn_tunnel", "UnauthorizedOperation", "not allowed", 403, expected_params={**request, "DryRun": False}
    )
    applied = Ec2TunnelModifier(client).modify(change, dry_run=False)
    refused = Ec2TunnelModifier(client).modify(change, dry_run=False)
    assert applied.status is RemediationStatus.APPLIED
    assert "ReplaceVpnTunnel accepted" in applied.message
    assert refused.status is RemediationStatus.FAILED
    assert "ec2:ReplaceVpnTunnel" in refused.message
