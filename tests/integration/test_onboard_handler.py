"""The onboard Lambda against moto (with the emulator's tunnel options and ModifyVpnTunnelOptions): real botocore
serialization and model validation, a real DynamoDB table. Every AWS call it makes is recorded (botocore's
``before-parameter-build`` hook on its clients) for tests/infra/test_onboarding.py to check against its role."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from handlers import onboard
from handlers.onboard import handler as onboard_handler
from handlers.wiring import reset
from tests.conftest import handler_aws, lambda_context
from vpn_doctor.aws.onboarding_store import DynamoDbOnboardingStore
from vpn_doctor.constants import (
    ENV_INCIDENTS_TABLE,
    ENV_LOGGING_SCOPE,
    ENV_LOGGING_SIBLING_UP_SECONDS,
    ENV_MONITOR_SCOPE,
    ENV_TUNNEL_LOG_GROUP_ARN,
    LOGGING_TAG,
)
from vpn_doctor_tools.emulator import VpnEmulation

TABLE = "vpn-doctor-incidents"
GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/vpn-doctor/tunnels"
SETTINGS = {
    ENV_INCIDENTS_TABLE: TABLE,
    ENV_TUNNEL_LOG_GROUP_ARN: GROUP,
    ENV_MONITOR_SCOPE: "all",
    # The sibling wait is the core's (unit-tested with time moving); here runs follow each other at once.
    ENV_LOGGING_SIBLING_UP_SECONDS: "0",
}


@dataclass
class Recorded:
    """The IAM actions of every call the onboard handler's clients made."""

    actions: set[str] = field(default_factory=set)

    def record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        self.actions.add(f"{model.service_model.endpoint_prefix}:{model.name}")


@contextmanager
def onboarding_aws(monkeypatch: pytest.MonkeyPatch, **settings: str) -> Iterator[tuple[VpnEmulation, Recorded]]:
    """moto with the VPN emulator (connections stay 'modifying' for no time), the table, the handler's settings;
    the handler's clients record their calls."""
    with (
        handler_aws(monkeypatch, reset, {**SETTINGS, **settings}, table=TABLE),
        VpnEmulation(modifying_seconds=0).installed() as emulation,
    ):
        recorded = Recorded()
        ports = onboard.ports()
        for client in (ports.connections.client, ports.store.client, ports.modifier.client):  # type: ignore[attr-defined]
            client.meta.events.register("before-parameter-build", recorded.record)
        yield emulation, recorded


def create_connection(*, static: bool = False, tags: Mapping[str, str] | None = None) -> str:
    """A new VPN connection as AWS creates one without log options: logging off, tunnels DOWN."""
    ec2 = boto3.client("ec2")
    gateway = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="192.0.2.10", BgpAsn=65000)
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    vpn_id: str = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=gateway["CustomerGateway"]["CustomerGatewayId"],
        VpnGatewayId=vgw,
        Options={"StaticRoutesOnly": static},
        TagSpecifications=[
            {"ResourceType": "vpn-connection", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
        ]
        if tags
        else [],
    )["VpnConnection"]["VpnConnectionId"]
    return vpn_id


def log_options(vpn_id: str) -> list[dict[str, Any]]:
    """Each tunnel's CloudWatchLogOptions as DescribeVpnConnections reads them back."""
    [item] = boto3.client("ec2").describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"]
    return [
        (tunnel.get("LogOptions") or {}).get("CloudWatchLogOptions") or {}
        for tunnel in item["Options"]["TunnelOptions"]
    ]


def run() -> dict[str, Any]:
    """One scheduled invocation."""
    result: dict[str, Any] = onboard_handler({"source": "aws.events", "detail": {}}, lambda_context("onboard"))
    return result


def test_runs_switch_each_tunnel_on_in_turn_audit_every_step_and_then_change_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with onboarding_aws(monkeypatch) as (emulation, _):
        vpn_id = create_connection()
        first = run()
        assert (first["sent"], first["pending"]) == (1, 2)
        assert [options.get("LogEnabled") for options in log_options(vpn_id)] == [True, None]  # one tunnel only
        second = run()  # confirms the first tunnel (DOWN before, so nothing to wait for), then the sibling goes
        assert (second["confirmed"], second["sent"]) == (1, 1)
        third = run()
        assert (third["confirmed"], third["pending"], third["logging"]) == (1, 0, 2)
        fourth = run()
        assert (fourth["sent"], fourth["confirmed"], fourth["pending"]) == (0, 0, 0)
        expected = {
            "LogEnabled": True,
            "LogGroupArn": GROUP,
            "LogOutputFormat": "json",
            "BgpLogEnabled": True,  # the connection uses BGP
            "BgpLogGroupArn": GROUP,
            "BgpLogOutputFormat": "json",
        }
        assert log_options(vpn_id) == [expected, expected]
        modifications = [call for call in emulation.calls() if call.action == "ModifyVpnTunnelOptions"]
        assert [set(call.parameters) for call in modifications] == [{"LogOptions"}] * 2
        audit = DynamoDbOnboardingStore(TABLE).audit_records(vpn_id)
        assert [line["what"] for line in audit] == ["sent", "confirmed", "sent", "confirmed"]
        assert all(line["actor"] == "vpn-doctor onboard" for line in audit)
        assert "PreSharedKey" not in json.dumps(audit)
        assert "Fake" not in json.dumps(audit)
    out = capsys.readouterr().out
    assert '"OnboardingTunnelsPending"' in out  # EMF metrics


def test_static_connections_get_tunnel_logs_only_and_tagged_scope_leaves_untagged_ones_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with onboarding_aws(monkeypatch, **{ENV_LOGGING_SCOPE: "tagged"}) as (emulation, _):
        tagged = create_connection(static=True, tags={LOGGING_TAG: "on"})
        untagged = create_connection()
        for _ in range(3):
            run()
        assert log_options(tagged) == [{"LogEnabled": True, "LogGroupArn": GROUP, "LogOutputFormat": "json"}] * 2
        assert log_options(untagged) == [{}, {}]
        touched = {call.vpn_connection_id for call in emulation.calls()}
        assert touched == {tagged}


def test_a_connection_busy_with_another_change_is_left_for_the_next_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # EC2 answers IncorrectState while the connection is being modified (the emulator, like AWS).
    with onboarding_aws(monkeypatch) as (emulation, _):
        vpn_id = create_connection()
        emulation.modifying_seconds = 3600
        boto3.client("ec2").modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id,
            VpnTunnelOutsideIpAddress=emulation.tunnel_ips(vpn_id)[1],
            TunnelOptions={"DPDTimeoutAction": "restart"},
        )  # someone else's change: the connection is 'modifying' for an hour
        result = run()
        assert (result["sent"], result["failed"]) == (0, 0)
        assert [options.get("LogEnabled") for options in log_options(vpn_id)] == [None, None]


def test_refusals_are_translated_and_lift_the_in_flight_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    # What moto cannot do (deny by IAM, throttle): botocore's Stubber, validated against the EC2 model.
    with onboarding_aws(monkeypatch):
        vpn_id = create_connection()
        describe = boto3.client("ec2").describe_vpn_connections(VpnConnectionIds=[vpn_id])
        modifier = onboard.ports().modifier.client  # type: ignore[attr-defined]
        reader = onboard.ports().connections.client  # type: ignore[attr-defined]
        with Stubber(reader) as read_stub, Stubber(modifier) as modify_stub:
            for code in ("RequestLimitExceeded", "UnauthorizedOperation"):
                read_stub.add_response("describe_vpn_connections", {"VpnConnections": describe["VpnConnections"]})
                modify_stub.add_client_error("modify_vpn_tunnel_options", code, "refused")
            throttled, denied = run(), run()
        assert (throttled["sent"], throttled["failed"]) == (0, 0)  # try later: the next run tries again
        assert (denied["sent"], denied["failed"]) == (0, 1)
        audit = DynamoDbOnboardingStore(TABLE).audit_records(vpn_id)
        assert [(line["what"], line.get("error_code")) for line in audit] == [
            ("try_later", "RequestLimitExceeded"),
            ("failed", "UnauthorizedOperation"),
        ]
        assert "on-boarding scope" in audit[1]["reason"]
        assert DynamoDbOnboardingStore(TABLE).progress(vpn_id).in_flight is None
