"""The bundled samples classify as a network engineer would expect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "vpn_doctor_tools" / "samples"


def _classify(path: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "vpn_doctor_tools.cli.main", "classify", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_classify_prints_one_object_per_sample_line_with_the_expected_categories() -> None:
    path = SAMPLES / "aws-tunnel-json.log"
    results = _classify(path)
    assert len(results) == len(path.read_text().splitlines())
    assert [r["category"] for r in results] == [
        "healthy",
        "dpd_timeout",
        "ike_phase1_failure",
        "ipsec_phase2_failure",
        "policy_based_vpn",
        "idle_timeout",
        "ike_phase1_failure",
    ]
    # The last record is truncated: what could be read is kept, and the error says so.
    assert results[-1]["cause"] == "auth_failed"
    assert "malformed JSON" in results[-1]["error"]


def test_strongswan_retransmits_during_ike_sa_init_mean_no_response_at_phase_1() -> None:
    results = _classify(SAMPLES / "strongswan-cgw.log")
    failures = [r for r in results if r["category"] != "healthy"]
    assert {(r["category"], r["cause"]) for r in failures} == {("ike_phase1_failure", "no_response")}
    assert all(r["vpn_connection_id"] == "vpn-0a1b2c3d4e5f60718" for r in results)
    assert results[-1]["tunnel"] == "198.51.100.10" or results[0]["tunnel"] == "198.51.100.10"
