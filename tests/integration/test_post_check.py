"""Post-check handler: after a modification, an UP tunnel is quiet; a tunnel still down is escalated.

EventBridge (rule -> SQS) through moto; DescribeVpnConnections through botocore's Stubber.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from handlers import post_check
from handlers.wiring import reset
from tests.conftest import OUR_ALERTS, handler_aws, lambda_context, received, tapped_bus
from tests.unit.test_remediation import IP1, PSK1, PSK2, VPN, transition, vpn_item
from vpn_doctor import constants
from vpn_doctor.app.publishing import PublishFailed
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.models import (
    Alert,
    RemediationAction,
    RemediationOutcome,
    RemediationStatus,
    TransitionKind,
    dump,
    iso,
    load,
)

BUS = "vpn-doctor"


def _modified_at() -> datetime:
    """A quarter of an hour before now, taken when the test builds its input (not at import, when
    a long suite run would make it older)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=15)


@dataclass
class Aws:
    sqs: Any
    queue_url: str
    stubber: Stubber

    def alerts(self) -> list[dict[str, Any]]:
        return received(self.sqs, self.queue_url)

    def describe(self, item: dict[str, Any]) -> None:
        self.stubber.add_response("describe_vpn_connections", {"VpnConnections": [item]}, {"VpnConnectionIds": [VPN]})
        self.stubber.add_client_error("describe_customer_gateways", service_error_code="UnauthorizedOperation")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with handler_aws(monkeypatch, reset, {constants.ENV_EVENT_BUS_NAME: BUS}):
        queue_url = tapped_bus(BUS, "alerts", OUR_ALERTS, rule="alerts")
        with Stubber(post_check.ports().connections.client) as stubber:
            yield Aws(boto3.client("sqs"), queue_url, stubber)
            stubber.assert_no_pending_responses()


def _input() -> dict[str, Any]:
    """What respond puts in the schedule's input."""
    modified_at = _modified_at()
    outcome = RemediationOutcome(
        RemediationStatus.APPLIED,
        "Changed: set the DPD timeout action to 'restart'.",
        RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART,
        {"VpnConnectionId": VPN, "VpnTunnelOutsideIpAddress": IP1, "TunnelOptions": {"DPDTimeoutAction": "restart"}},
        decided_at=modified_at,
    )
    return {"transition": dump(transition()), "remediation": dump(outcome), "modified_at": iso(modified_at)}


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = post_check.handler(event, lambda_context("post-check"))
    return result


def test_a_tunnel_up_again_after_the_change_sends_nothing(aws: Aws) -> None:
    aws.describe(vpn_item(status1="UP"))
    assert _invoke(_input())["status"] == "recovered"
    assert aws.alerts() == []


def test_a_tunnel_still_down_is_escalated_with_a_clear_text(aws: Aws) -> None:
    aws.describe(vpn_item(status1="DOWN"))
    result = _invoke(_input())
    assert result["status"] == "escalated"
    (event,) = aws.alerts()
    alert = load(Alert, event["detail"])
    assert alert.transition.kind is TransitionKind.ESCALATED
    assert alert.transition.incident.escalated
    assert alert.transition.event_id == "post-check:evt-1"
    assert alert.escalation is not None
    assert f"tunnel {IP1} of {VPN} is still DOWN (IPSEC IS DOWN)" in alert.escalation
    assert "set the DPD timeout action to 'restart'" in alert.escalation
    assert "15 min after" in alert.escalation
    assert alert.remediation is not None
    assert alert.remediation.action is RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART
    text = json.dumps(event)
    assert PSK1 not in text
    assert PSK2 not in text


def test_an_escalation_carries_the_connections_owner_for_routing(aws: Aws) -> None:
    aws.describe(vpn_item(status1="DOWN", tags={constants.OWNER_TAG: "network-emea"}))

    _invoke(_input())

    (event,) = aws.alerts()
    assert load(Alert, event["detail"]).owner == "network-emea"


def test_a_connection_that_disappeared_is_escalated(aws: Aws) -> None:
    aws.stubber.add_client_error(
        "describe_vpn_connections",
        service_error_code="InvalidVpnConnectionID.NotFound",
        expected_params={"VpnConnectionIds": [VPN]},
    )
    assert _invoke(_input())["status"] == "escalated"
    (event,) = aws.alerts()
    assert "could not be found" in event["detail"]["escalation"]


def test_an_unanswered_describe_fails_the_invocation_so_it_is_retried_not_escalated(aws: Aws) -> None:
    aws.stubber.add_client_error("describe_vpn_connections", service_error_code="RequestLimitExceeded")
    with pytest.raises(AwsCallFailed):
        _invoke(_input())
    assert aws.alerts() == []


def test_a_malformed_input_is_rejected_and_counted(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert _invoke({"transition": {}})["status"] == "rejected"
    assert aws.alerts() == []
    assert '"InvalidPayloads"' in capsys.readouterr().out


@pytest.mark.parametrize("failure", ["thrown", "partial"])
def test_an_escalation_the_bus_did_not_take_fails_the_invocation_so_it_is_retried(aws: Aws, failure: str) -> None:
    aws.describe(vpn_item(status1="DOWN"))
    bus = Stubber(post_check.ports().bus.client)
    if failure == "thrown":
        for _ in range(3):  # the publisher's first try and its two retries
            bus.add_client_error("put_events", "InternalFailure", http_status_code=500)
    else:
        bus.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "AccessDeniedException"}]})
    with bus, pytest.raises(PublishFailed):
        _invoke(_input())
    bus.assert_no_pending_responses()
    assert aws.alerts() == []
