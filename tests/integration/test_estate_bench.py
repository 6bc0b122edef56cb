"""``bench/estate.py`` on a small estate (2 accounts x 2 regions, 8 connections, no delay): the JSON object's
keys, no write by the steady-state poll, and every tunnel that went down delivered through the hub's channels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"connections", "accounts", "regions", "poll_seconds", "api_calls", "writes_when_unchanged", "storm_messages"}


def test_a_small_estate_is_measured_and_its_steady_state_poll_writes_nothing() -> None:
    # Its own process, as a user runs it: the bench patches moto, the environment and the service's log level for
    # the whole interpreter, which the tests after this one must not inherit.
    command = [sys.executable, "bench/estate.py", "--connections", "8", "--accounts", "2", "--regions", "2"]
    command += ["--delay-ms", "0", "--no-cost", "--workers", "1", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert set(result) >= KEYS
    assert (result["connections"], result["accounts"], result["regions"], result["errors"]) == (8, 2, 2, [])
    assert result["writes_when_unchanged"] == 0
    rows = result["per_account_region"]
    assert len(rows) == 4
    assert sum(row["connections"] for row in rows) == 8
    assert {(row["account"], row["region"]) for row in rows} == {
        (account, region) for account in {row["account"] for row in rows} for region in {row["region"] for row in rows}
    }
    # Each spoke's steady state: its connections read once, its records in batches, nothing written.
    assert all(row["steady_poll"]["calls"].get("ec2:DescribeVpnConnections") == 1 for row in rows)
    assert all(row["steady_poll"]["dynamodb_writes"] == 0 for row in rows)
    assert all(row["first_poll"]["dynamodb_writes"] >= 2 * row["connections"] for row in rows)
    storm = result["storm"]
    # Half the connections lose both tunnels; what reaches people is counted where the channels deliver it.
    assert storm["tunnels_down"] == 8
    assert storm["storm_messages"] == storm["topic_publishes"] + storm["slack_posts"]
    assert storm["storm_messages"] >= 1
