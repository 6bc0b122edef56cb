"""The embedded emulator behaves like AWS for the VPN calls vpn-doctor makes (plain boto3 over HTTP)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from vpn_doctor.vpn import connection_from_api
from vpn_doctor_tools.emulator import Emulator, emulate, patched_environment

LOG_GROUP_ARN = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/vpn-doctor/tunnels"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with emulate(modifying_seconds=0.3) as running:
        yield running


@pytest.fixture
def ec2(emulator: Emulator) -> Any:
    # A plain boto3 client configured only through the environment, as the handlers are.
    with patched_environment(emulator.environment()):
        yield boto3.client("ec2")


def _connection(ec2: Any, *, tunnel_one: dict[str, Any] | None = None) -> str:
    cgw = ec2.create_customer_gateway(BgpAsn=65010, PublicIp="203.0.113.10", Type="ipsec.1")["CustomerGateway"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]
    created = ec2.create_vpn_connection(
        CustomerGatewayId=cgw["CustomerGatewayId"],
        VpnGatewayId=vgw["VpnGatewayId"],
        Type="ipsec.1",
        Options={"StaticRoutesOnly": False, "TunnelOptions": [tunnel_one or {}, {}]},
        TagSpecifications=[{"ResourceType": "vpn-connection", "Tags": [{"Key": "Name", "Value": "branch-office"}]}],
    )
    return str(created["VpnConnection"]["VpnConnectionId"])


def _describe(ec2: Any, vpn_id: str) -> dict[str, Any]:
    return dict(ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"][0])


def test_describe_returns_two_tunnels_with_options_telemetry_and_tags(ec2: Any) -> None:
    vpn_id = _connection(
        ec2,
        tunnel_one={
            "DPDTimeoutAction": "restart",
            "IKEVersions": [{"Value": "ikev2"}],
            "LogOptions": {
                "CloudWatchLogOptions": {"LogEnabled": True, "LogGroupArn": LOG_GROUP_ARN, "LogOutputFormat": "json"}
            },
        },
    )
    item = _describe(ec2, vpn_id)
    one, two = item["Options"]["TunnelOptions"]
    assert one["DpdTimeoutAction"] == "restart"
    assert one["IkeVersions"] == [{"Value": "ikev2"}]
    assert one["LogOptions"]["CloudWatchLogOptions"]["LogGroupArn"] == LOG_GROUP_ARN
    assert two["DpdTimeoutAction"] == "clear"
    assert two["Phase1LifetimeSeconds"] == 28_800
    assert one["PreSharedKey"]
    assert one["PreSharedKey"] != two["PreSharedKey"]
    assert one["OutsideIpAddress"] != two["OutsideIpAddress"]
    assert [t["Status"] for t in item["VgwTelemetry"]] == ["DOWN", "DOWN"]
    assert {"Key": "Name", "Value": "branch-office"} in item["Tags"]
    # Our own reader sees the same connection, without any key.
    info = connection_from_api(item)
    assert info.name == "branch-office"
    assert info.tunnels[0].logging.enabled
    assert one["PreSharedKey"] not in repr(info)


def test_tunnel_status_set_by_the_demo_shows_in_vgw_telemetry(emulator: Emulator, ec2: Any) -> None:
    vpn_id = _connection(ec2)
    first, second = emulator.vpn.tunnel_ips(vpn_id)
    emulator.vpn.set_tunnel_status(vpn_id, first, "UP", accepted_route_count=3)
    emulator.vpn.set_tunnel_status(vpn_id, second, "DOWN", message="IPSEC IS DOWN")
    telemetry = {t["OutsideIpAddress"]: t for t in _describe(ec2, vpn_id)["VgwTelemetry"]}
    assert telemetry[first]["Status"] == "UP"
    assert telemetry[first]["StatusMessage"] == "IPSEC IS UP"
    assert telemetry[first]["AcceptedRouteCount"] == 3
    assert telemetry[second]["StatusMessage"] == "IPSEC IS DOWN"
    assert telemetry[first]["LastStatusChange"].tzinfo is not None


def test_accepted_routes_change_alone_and_never_go_negative(emulator: Emulator, ec2: Any) -> None:
    vpn_id = _connection(ec2)
    first, _ = emulator.vpn.tunnel_ips(vpn_id)
    emulator.vpn.set_tunnel_status(vpn_id, first, "UP", accepted_route_count=3)
    before = next(t for t in _describe(ec2, vpn_id)["VgwTelemetry"] if t["OutsideIpAddress"] == first)
    emulator.vpn.set_accepted_routes(vpn_id, first, 0)
    after = next(t for t in _describe(ec2, vpn_id)["VgwTelemetry"] if t["OutsideIpAddress"] == first)
    assert (after["AcceptedRouteCount"], after["Status"]) == (0, "UP")
    assert after["LastStatusChange"] == before["LastStatusChange"]  # a route count is no status change
    with pytest.raises(ValueError, match="never negative"):
        emulator.vpn.set_accepted_routes(vpn_id, first, -1)


def test_modify_tunnel_options_applies_them_and_sets_the_connection_modifying_for_a_while(
    emulator: Emulator, ec2: Any
) -> None:
    vpn_id = _connection(ec2)
    first, second = emulator.vpn.tunnel_ips(vpn_id)
    answer = ec2.modify_vpn_tunnel_options(
        VpnConnectionId=vpn_id,
        VpnTunnelOutsideIpAddress=second,
        TunnelOptions={"DPDTimeoutAction": "restart", "StartupAction": "start", "DPDTimeoutSeconds": 40},
        SkipTunnelReplacement=False,
    )
    assert answer["VpnConnection"]["State"] == "modifying"
    options = {t["OutsideIpAddress"]: t for t in answer["VpnConnection"]["Options"]["TunnelOptions"]}
    assert options[second]["DpdTimeoutAction"] == "restart"
    assert options[second]["StartupAction"] == "start"
    assert options[second]["DpdTimeoutSeconds"] == 40
    assert options[first]["DpdTimeoutAction"] == "clear"
    # A second change while modifying is refused, as AWS does.
    with pytest.raises(ClientError) as refused:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first, TunnelOptions={"StartupAction": "start"}
        )
    assert refused.value.response["Error"]["Code"] == "IncorrectState"
    time.sleep(0.4)
    assert _describe(ec2, vpn_id)["State"] == "available"
    ec2.get_waiter("vpn_connection_available").wait(VpnConnectionIds=[vpn_id], WaiterConfig={"Delay": 1})


def test_dry_run_answers_dry_run_operation_and_changes_nothing(emulator: Emulator, ec2: Any) -> None:
    vpn_id = _connection(ec2)
    first, _ = emulator.vpn.tunnel_ips(vpn_id)
    with pytest.raises(ClientError) as dry:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id,
            VpnTunnelOutsideIpAddress=first,
            TunnelOptions={"DPDTimeoutAction": "restart"},
            DryRun=True,
        )
    assert dry.value.response["Error"]["Code"] == "DryRunOperation"
    assert dry.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    item = _describe(ec2, vpn_id)
    assert item["State"] == "available"
    assert item["Options"]["TunnelOptions"][0]["DpdTimeoutAction"] == "clear"
    recorded = [call for call in emulator.vpn.calls() if call.vpn_connection_id == vpn_id]
    assert [(call.dry_run, call.outcome) for call in recorded] == [(True, "DryRunOperation")]
    assert recorded[0].parameters == {"DPDTimeoutAction": "restart"}


def test_modify_rejects_a_tunnel_ip_of_another_connection_and_out_of_range_values(emulator: Emulator, ec2: Any) -> None:
    vpn_id = _connection(ec2)
    first, _ = emulator.vpn.tunnel_ips(vpn_id)
    with pytest.raises(ClientError) as wrong_ip:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress="192.0.2.1", TunnelOptions={"StartupAction": "start"}
        )
    assert wrong_ip.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as bad_lifetime:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first, TunnelOptions={"Phase2LifetimeSeconds": 7200}
        )
    assert bad_lifetime.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as unknown:
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId="vpn-0000000000000dead", VpnTunnelOutsideIpAddress=first, TunnelOptions={}
        )
    assert unknown.value.response["Error"]["Code"] == "InvalidVpnConnectionID.NotFound"


def test_botocore_rejects_a_misspelled_modify_request_before_it_is_sent(emulator: Emulator, ec2: Any) -> None:
    vpn_id = _connection(ec2)
    first, _ = emulator.vpn.tunnel_ips(vpn_id)
    # The read-back spelling (DpdTimeoutAction) is not the request spelling (DPDTimeoutAction).
    with pytest.raises(ParamValidationError):
        ec2.modify_vpn_tunnel_options(
            VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first, TunnelOptions={"DpdTimeoutAction": "restart"}
        )
    assert not [call for call in emulator.vpn.calls() if call.vpn_connection_id == vpn_id]


def test_recorded_calls_never_hold_the_pre_shared_key(emulator: Emulator, ec2: Any) -> None:
    vpn_id = _connection(ec2)
    first, _ = emulator.vpn.tunnel_ips(vpn_id)
    ec2.modify_vpn_tunnel_options(
        VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first, TunnelOptions={"PreSharedKey": "Secret_key_12345"}
    )
    assert _describe(ec2, vpn_id)["Options"]["TunnelOptions"][0]["PreSharedKey"] == "Secret_key_12345"
    assert "Secret_key_12345" not in repr(emulator.vpn.calls())


def test_replace_vpn_tunnel_takes_the_tunnel_down_and_the_connection_modifying(emulator: Emulator, ec2: Any) -> None:
    vpn_id = _connection(ec2)
    first, _ = emulator.vpn.tunnel_ips(vpn_id)
    emulator.vpn.set_tunnel_status(vpn_id, first, "UP")
    assert ec2.replace_vpn_tunnel(VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first)["Return"] is True
    item = _describe(ec2, vpn_id)
    assert item["State"] == "modifying"
    assert item["VgwTelemetry"][0]["Status"] == "DOWN"


def test_replacement_status_reports_the_pending_maintenance_until_it_is_applied(emulator: Emulator, ec2: Any) -> None:
    vpn_id = _connection(ec2, tunnel_one={"EnableTunnelLifecycleControl": True})
    first, second = emulator.vpn.tunnel_ips(vpn_id)
    assert (
        ec2.get_vpn_tunnel_replacement_status(VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first)[
            "MaintenanceDetails"
        ]
        == {}
    )
    due = datetime(2026, 12, 20, 4, 0, tzinfo=UTC)
    emulator.vpn.set_pending_maintenance(vpn_id, first, auto_applied_after=due)
    status = ec2.get_vpn_tunnel_replacement_status(VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first)
    assert status["VpnConnectionId"] == vpn_id
    assert status["MaintenanceDetails"] == {"PendingMaintenance": "Pending", "MaintenanceAutoAppliedAfter": due}
    emulator.vpn.set_tunnel_status(vpn_id, second, "UP")
    ec2.replace_vpn_tunnel(VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first, ApplyPendingMaintenance=True)
    applied = ec2.get_vpn_tunnel_replacement_status(VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress=first)
    assert set(applied["MaintenanceDetails"]) == {"LastMaintenanceApplied"}
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        ec2.get_vpn_tunnel_replacement_status(VpnConnectionId=vpn_id, VpnTunnelOutsideIpAddress="192.0.2.99")


def test_slack_receiver_records_posts_and_can_fail_on_demand(emulator: Emulator) -> None:
    def post(payload: dict[str, Any]) -> int:
        request = urllib.request.Request(  # noqa: S310 - loopback
            emulator.slack.url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    before = len(emulator.slack.posts())
    emulator.slack.fail_next(1)
    assert post({"text": "first try"}) == 500
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "*DPD*"}}
    assert post({"text": "tunnel down", "blocks": [section]}) == 200
    posts = emulator.slack.posts()[before:]
    assert [p.text for p in posts] == ["tunnel down\n*DPD*"]


def test_emulator_is_torn_down_on_sigterm(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from vpn_doctor_tools.emulator import emulate
        with emulate() as emulator:
            print(emulator.endpoint_url, emulator.slack.url.rsplit("/services", 1)[0], flush=True)
            time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        urls = process.stdout.readline().split()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    for url in urls:
        with pytest.raises(urllib.error.URLError, match="refused"):
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback
