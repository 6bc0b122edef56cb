"""``vpn-doctor onboard --status`` against moto (connections, table) and the stack's discovery through botocore's
Stubber (CloudFormation and Lambda, validated against their models): read-only, per tunnel, text and JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.integration.test_onboard_handler import GROUP, SETTINGS, Recorded, create_connection, onboarding_aws, run
from vpn_doctor_tools.cli.main import main
from vpn_doctor_tools.cli.onboard import run_status

FUNCTION = "VpnDoctor-OnboardingOnboardFunction1A2B3C-abcdef"


def _clients(resources: list[dict[str, Any]], recorded: Recorded) -> tuple[Callable[[str], Any], list[Stubber]]:
    cloudformation, lambda_ = boto3.client("cloudformation"), boto3.client("lambda")
    cfn_stub, lambda_stub = Stubber(cloudformation), Stubber(lambda_)
    cfn_stub.add_response("list_stack_resources", {"StackResourceSummaries": resources}, {"StackName": "VpnDoctor"})
    if any(resource["PhysicalResourceId"] == FUNCTION for resource in resources):
        lambda_stub.add_response(
            "get_function_configuration",
            {"FunctionName": FUNCTION, "Environment": {"Variables": SETTINGS}},
            {"FunctionName": FUNCTION},
        )
    clients = {
        "cloudformation": cloudformation,
        "lambda": lambda_,
        "ec2": boto3.client("ec2"),
        "dynamodb": boto3.client("dynamodb"),
    }
    for client in clients.values():
        client.meta.events.register("before-parameter-build", recorded.record)
    cfn_stub.activate()
    lambda_stub.activate()
    return clients.__getitem__, [cfn_stub, lambda_stub]


def _resource(logical: str, physical: str, kind: str = "AWS::Lambda::Function") -> dict[str, Any]:
    return {
        "LogicalResourceId": logical,
        "PhysicalResourceId": physical,
        "ResourceType": kind,
        "LastUpdatedTimestamp": "2026-12-02T09:00:00Z",
        "ResourceStatus": "CREATE_COMPLETE",
    }


STACK = [
    _resource("IngestionIngestFunction0A1B2C3D", "VpnDoctor-Ingest"),
    _resource("OnboardingOnboardFunction1A2B3C", FUNCTION),
]


def test_status_shows_each_tunnel_its_logging_what_is_pending_and_why_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with onboarding_aws(monkeypatch) as (emulation, _):
        vpn_id = create_connection()
        tunnel1, tunnel2 = emulation.tunnel_ips(vpn_id)
        for ip in (tunnel1, tunnel2):
            emulation.set_tunnel_status(vpn_id, ip, "UP", at=datetime.now(UTC) - timedelta(hours=1))
        run()  # tunnel 1 is changed...
        emulation.set_tunnel_status(vpn_id, tunnel1, "DOWN")  # ... and its endpoint replaced: down for minutes
        recorded = Recorded()
        clients, stubs = _clients(STACK, recorded)
        out, err = io.StringIO(), io.StringIO()
        code = run_status(
            stack="VpnDoctor",
            region="us-east-1",
            endpoint_url=None,
            json_output=False,
            out=out,
            err=err,
            client_factory=clients,
        )
        calls_before = len(emulation.calls())
        json_clients, _ = _clients(STACK, recorded)
        document_out = io.StringIO()
        run_status(
            stack="VpnDoctor",
            region="us-east-1",
            endpoint_url=None,
            json_output=True,
            out=document_out,
            err=err,
            client_factory=json_clients,
        )
        assert len(emulation.calls()) == calls_before  # nothing changed
    for stub in stubs:
        stub.assert_no_pending_responses()
    assert (code, err.getvalue()) == (0, "")
    text = out.getvalue()
    assert "logs to /aws/vendedlogs/vpn-doctor/tunnels, scope all, BGP logs on, any time" in text
    assert f"{vpn_id} {tunnel1}: logging on -> /aws/vendedlogs/vpn-doctor/tunnels; pending: change in flight" in text
    assert "waiting for the tunnel to come back UP" in text
    assert f"{vpn_id} {tunnel2}: logging off; pending: blocked" in text
    assert "being changed: one tunnel at a time" in text
    assert "0 logging, 2 pending (1 in flight, 1 blocked, 0 failed), 0 not in scope" in text
    document = json.loads(document_out.getvalue())
    assert document["log_group_arn"] == GROUP
    assert [(t["tunnel_ip"], t["step"], t["pending"]) for t in document["tunnels"]] == [
        (tunnel1, "in_flight", True),
        (tunnel2, "blocked", True),
    ]
    assert document["tunnels"][0]["last_change"] is not None
    # Read-only: describe, list, get and query calls only.
    assert recorded.actions == {
        "cloudformation:ListStackResources",
        "lambda:GetFunctionConfiguration",
        "ec2:DescribeVpnConnections",
        "dynamodb:Query",
    }


def test_a_stack_without_on_boarding_is_one_line_and_exit_code_2(monkeypatch: pytest.MonkeyPatch) -> None:
    with onboarding_aws(monkeypatch):
        clients, _ = _clients(STACK[:1], Recorded())
        err = io.StringIO()
        code = run_status(
            stack="VpnDoctor",
            region="us-east-1",
            endpoint_url=None,
            json_output=False,
            out=io.StringIO(),
            err=err,
            client_factory=clients,
        )
    assert code == 2
    assert err.getvalue() == (
        "vpn-doctor onboard: stack VpnDoctor has no on-boarding function: logging.enable is 'none', or the stack "
        "predates it\n"
    )


def test_the_command_is_registered_and_status_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["onboard"])
    assert exit_code.value.code == 2
    assert "--status" in capsys.readouterr().err
