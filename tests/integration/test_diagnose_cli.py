"""``vpn-doctor diagnose`` against the embedded emulator (real HTTP, real botocore), read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from vpn_doctor_tools.cli.diagnose import run_diagnose
from vpn_doctor_tools.cli.main import main
from vpn_doctor_tools.demo.stack import TUNNEL_LOG_GROUP, DemoConnection, DemoStack, create_connection, provision
from vpn_doctor_tools.emulator import Emulator, emulate, patched_environment


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with emulate() as running, patched_environment(running.environment()):
        yield running


@pytest.fixture(scope="module")
def stack(emulator: Emulator) -> DemoStack:
    return provision(emulator)


@pytest.fixture(scope="module")
def dpd_down(emulator: Emulator, stack: DemoStack) -> DemoConnection:
    """Tunnel 1 down after DPD timeouts (three log records in the last minutes), tunnel 2 up."""
    connection = create_connection(emulator, stack, name="branch-dpd", index=1, static_routes=False)
    first, second = connection.tunnel_ips
    emulator.vpn.set_tunnel_status(connection.vpn_connection_id, first, "DOWN")
    emulator.vpn.set_tunnel_status(connection.vpn_connection_id, second, "UP", accepted_route_count=4)
    logs = emulator.client("logs")
    stream = f"{connection.vpn_connection_id}-{first}"
    logs.create_log_stream(logGroupName=TUNNEL_LOG_GROUP, logStreamName=stream)
    now = int(time.time())
    record = {
        "details": "AWS tunnel DPD timed out after 3 retransmits",
        "dpd_enabled": True,
        "ike_phase1_state": "down",
        "ike_phase2_state": "down",
    }
    logs.put_log_events(
        logGroupName=TUNNEL_LOG_GROUP,
        logStreamName=stream,
        logEvents=[
            # One record from two hours ago: outside the default --since 1h window.
            {"timestamp": (now - 7200) * 1000, "message": json.dumps(record | {"event_timestamp": now - 7200})},
            {"timestamp": (now - 120) * 1000, "message": json.dumps(record | {"event_timestamp": now - 120})},
            {"timestamp": (now - 60) * 1000, "message": json.dumps(record | {"event_timestamp": now - 60})},
        ],
    )
    return connection


def _pre_shared_keys(emulator: Emulator, vpn_id: str) -> list[str]:
    item = emulator.client("ec2").describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"][0]
    return [tunnel["PreSharedKey"] for tunnel in item["Options"]["TunnelOptions"]]


def test_diagnose_shows_both_tunnels_recent_findings_and_the_verdict_without_any_key(
    emulator: Emulator, dpd_down: DemoConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["diagnose", dpd_down.vpn_connection_id, "--endpoint-url", emulator.endpoint_url])
    out, err = capsys.readouterr()
    assert code == 0
    first, second = dpd_down.tunnel_ips
    assert f"Tunnel 1 {first}: DOWN (IPSEC IS DOWN)" in out
    assert f"Tunnel 2 {second}: UP (IPSEC IS UP)" in out
    assert "4 route(s) accepted" in out
    # Two records in the last hour, the two-hour-old one left out.
    assert "2 record(s), 2 pointing at a problem" in out
    assert "dpd_timeout/peer_not_responsive x2" in out
    assert "verdict   needs_aws_side_change" in out
    assert "DPD timeout action 'clear'" in out
    assert "healthy: the tunnel is UP" in out
    # What the pipeline would do, without doing it.
    assert "would do  dry_run: Would change: 2 DPD timeouts" in out
    assert '"TunnelOptions": {"DPDTimeoutAction": "restart"}' in out
    assert "would do  nothing: the tunnel is healthy" in out
    for key in _pre_shared_keys(emulator, dpd_down.vpn_connection_id):
        assert key not in out
        assert key not in err


def test_diagnose_json_holds_telemetry_findings_and_diagnosis_but_no_key(
    emulator: Emulator, dpd_down: DemoConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["diagnose", dpd_down.vpn_connection_id, "--endpoint-url", emulator.endpoint_url, "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    document = json.loads(out)
    one, two = document["tunnels"]
    assert one["telemetry"]["status"] == "DOWN"
    assert two["telemetry"]["status"] == "UP"
    assert [f["category"] for f in one["findings"]] == ["dpd_timeout", "dpd_timeout"]
    assert one["diagnosis"]["verdict"] == "needs_aws_side_change"
    assert (one["healthy"], two["healthy"]) == (False, True)
    assert {c["check_id"] for c in one["diagnosis"]["checks"]} >= {"dpd_recovery", "tunnel_logging"}
    for key in _pre_shared_keys(emulator, dpd_down.vpn_connection_id):
        assert key not in out


def test_a_longer_since_window_reads_older_records(
    emulator: Emulator, dpd_down: DemoConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["diagnose", dpd_down.vpn_connection_id, "--endpoint-url", emulator.endpoint_url, "--since", "3h"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "3 record(s), 3 pointing at a problem" in out


def test_unknown_connection_is_one_line_and_exit_code_2(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["diagnose", "vpn-0000000000000dead", "--endpoint-url", emulator.endpoint_url])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [
        f"vpn-doctor diagnose: no VPN connection vpn-0000000000000dead in {emulator.region} "
        "(InvalidVpnConnectionID.NotFound)"
    ]


def test_disabled_tunnel_logging_is_a_warning_not_an_error(
    emulator: Emulator, stack: DemoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    no_logs = {"LogOptions": {"CloudWatchLogOptions": {"LogEnabled": False, "BgpLogEnabled": False}}}
    connection = create_connection(
        emulator, stack, name="no-logs", index=2, static_routes=True, tunnel_options=(no_logs, no_logs)
    )
    code = main(["diagnose", connection.vpn_connection_id, "--endpoint-url", emulator.endpoint_url])
    out, err = capsys.readouterr()
    assert code == 0
    assert "tunnel logging is disabled" in err
    assert err.count("warning:") == 2
    assert "logging   off" in out
    # Both tunnels are DOWN with nothing to read: still a configuration review and a verdict each.
    assert out.count("verdict   ") == 2
    assert out.count("warn Tunnel activity logging: Tunnel activity logging is off") == 2


def test_missing_permission_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    # botocore's Stubber answers like AWS does for a principal without ec2:DescribeVpnConnections.
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(ec2) as stubber:
        stubber.add_client_error(
            "describe_vpn_connections",
            service_error_code="UnauthorizedOperation",
            service_message="You are not authorized to perform this operation.",
            http_status_code=403,
            expected_params={"VpnConnectionIds": ["vpn-0a1b2c3d4e5f60718"]},
        )
        clients: dict[str, Any] = {"ec2": ec2, "logs": None}
        code = run_diagnose(
            "vpn-0a1b2c3d4e5f60718",
            region="eu-west-1",
            since="1h",
            endpoint_url=None,
            json_output=False,
            out=sys.stdout,
            err=sys.stderr,
            client_factory=clients.__getitem__,
        )
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == "vpn-doctor diagnose: missing permission ec2:DescribeVpnConnections (UnauthorizedOperation)\n"


def test_missing_credentials_is_one_line_and_exit_code_2(tmp_path: Any) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in ("NO_PROXY", "no_proxy")
    }
    env |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vpn_doctor_tools.cli.main",
            "diagnose",
            "vpn-0a1b2c3d4e5f60718",
            "--region",
            "eu-west-1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("vpn-doctor diagnose: no AWS credentials found")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_since_that_is_not_a_duration_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["diagnose", "vpn-0a1b2c3d4e5f60718", "--since", "yesterday", "--region", "eu-west-1"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "--since 'yesterday' is not a duration" in err
