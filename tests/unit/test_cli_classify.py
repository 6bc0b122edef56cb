"""`vpn-doctor classify [FILE|-]` honours the architecture's command-line contract (run as a process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import AWS_CASES, TUNNEL_IP, VPN_ID, control_document, subscription_document, tunnel_record
from vpn_doctor.subscription import encode_subscription_data

CONTRACT_KEYS = {"category", "cause", "severity", "vpn_connection_id", "tunnel", "summary"}
T0 = 1_764_196_800


def _run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "vpn_doctor_tools.cli.main", "classify", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
    )


def _objects(stdout: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.decode("utf-8").splitlines()]


def _mixed_lines() -> list[str]:
    bgp = next(case for case in AWS_CASES["bgp_cases"] if case["id"] == "bgp-hold-timer")
    payload = subscription_document(
        [
            tunnel_record("AWS tunnel processed request (id=0x3a) for CREATE_CHILD_SA", T0),
            tunnel_record("AWS tunnel DPD timed out after 3 retransmits", T0 + 60, "down", "down"),
            {"timestamp": T0 * 1000, "message": "no id"},
        ]
    )
    return [
        tunnel_record("AWS tunnel is sending AUTHENTICATION_FAILED as the response", T0, "negotiating", "down"),
        "event_timestamp=1764196800 ike_phase1_state=established ike_phase2_state=down "
        "details=AWS: Traffic Selector: TS_UNACCEPTABLE: received from responder",
        "2025-11-26T22:40:00Z AWS tunnel Phase 2 was unable to establish while keeping Phase 1",
        json.dumps(bgp["record"]),
        "Nov 26 09:12:01 cgw charon: 09[IKE] <aws-vpn-0a1b2c3d4e5f60718-t1|1> "
        "initiating IKE_SA aws-vpn-0a1b2c3d4e5f60718-t1[1] to 198.51.100.10",
        'Nov 26 09:12:01 cgw pluto[812]: "aws-vpn-0a1b2c3d4e5f60718-t1" #1: initiating IKEv2 connection',
        encode_subscription_data(payload),
        json.dumps(payload),
        json.dumps({"awslogs": {"data": encode_subscription_data(control_document())}}),
        "complete garbage ~~~",
        "",
        '{"event_timestamp": 1764196800, "details": "AWS tunnel DPD timed o',
        "H4sIAAAAAAAAA" + "A" * 40,
    ]


def test_mixed_formats_in_one_file_give_exactly_one_json_object_per_line(tmp_path: Path) -> None:
    lines = _mixed_lines()
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _run([str(path)])
    assert result.returncode == 0, result.stderr
    out = _objects(result.stdout)
    assert len(out) == len(lines)
    for obj in out:
        assert obj.keys() >= CONTRACT_KEYS
    assert [(o["category"], o["cause"]) for o in out[:4]] == [
        ("ike_phase1_failure", "auth_failed"),
        ("policy_based_vpn", "ts_unacceptable"),
        ("ipsec_phase2_failure", "phase2_down_phase1_up"),
        ("bgp_session", "hold_timer_expired"),
    ]
    assert (out[3]["vpn_connection_id"], out[3]["tunnel"]) == (VPN_ID, TUNNEL_IP)
    assert out[4]["vpn_connection_id"] == VPN_ID
    assert out[4]["source"] == "strongswan"
    assert out[5]["source"] == "libreswan"
    # A subscription payload line: its worst finding on top, every record underneath, identity from the stream.
    for payload in (out[6], out[7]):
        assert (payload["category"], payload["vpn_connection_id"], payload["tunnel"]) == (
            "dpd_timeout",
            VPN_ID,
            TUNNEL_IP,
        )
        assert [f["category"] for f in payload["findings"]] == ["healthy", "dpd_timeout"]
        assert payload["payload"]["records"] == 3
        assert "id: Field required" in payload["payload"]["bad_records"][0]["reason"]
        assert "could not be read" in payload["error"]
    assert out[8]["summary"] == "Subscription control message"
    # Garbage, an empty line, a truncated record and a broken payload: unknown with an error.
    for garbage in out[9:]:
        assert garbage["category"] == "unknown"
        assert garbage["error"]
    assert "not a CloudWatch Logs subscription payload" in out[12]["error"]


def test_standard_input_is_read_with_dash_or_no_argument() -> None:
    data = (tunnel_record("AWS tunnel DPD timed out after 3 retransmits", T0) + "\nnot a record\n").encode()
    for args in (["-"], []):
        result = _run(args, stdin=data)
        assert result.returncode == 0
        assert [o["category"] for o in _objects(result.stdout)] == ["dpd_timeout", "unknown"]


def test_undecodable_bytes_and_stray_carriage_returns_still_give_one_object_per_line() -> None:
    data = b"\xff\xfe broken bytes\nrecord with a stray \r inside\r\nlast line without newline"
    result = _run(["-"], stdin=data)
    assert result.returncode == 0, result.stderr
    out = _objects(result.stdout)
    assert len(out) == 3
    assert all(o["category"] == "unknown" and o["error"] for o in out)


def test_unreadable_input_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    missing = _run([str(tmp_path / "missing.log")])
    assert missing.returncode == 1
    assert missing.stdout == b""
    assert b"cannot read" in missing.stderr
    assert b"No such file or directory" in missing.stderr
    directory = _run([str(tmp_path)])
    assert directory.returncode == 1
    assert b"cannot read" in directory.stderr
    assert b"Traceback" not in missing.stderr + directory.stderr
