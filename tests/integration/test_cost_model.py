"""``bench/cost.py``: 100 tunnels with every detection on cost under $10 a month, from measured calls."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bench.cost import estimate, measure_polls

ROOT = Path(__file__).resolve().parents[2]


def test_100_tunnels_with_everything_on_cost_under_10_dollars_a_month_from_the_measured_poller() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cost.py"), "--tunnels", "100", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    bill = json.loads(run.stdout)
    assert (bill["tunnels"], bill["connections"]) == (100, 50)
    assert bill["monthly_usd"] < 10  # the budget: a regression guard
    traffic = bill["measured"]["traffic_poll"]
    plain = bill["measured"]["plain_poll"]
    # Counted by the hooks on the real handler's calls: two metrics per UP tunnel in one GetMetricData call,
    # the records in batches of 100 keys (tunnels, notices, and the connection-level ones when traffic is read).
    assert (traffic["metrics_requested"], traffic["calls"]["cloudwatch:GetMetricData"]) == (200, 1)
    assert "cloudwatch:GetMetricData" not in plain["calls"]
    # + the outbox query, + the connection map's one read by a fresh container (each measured poll is wired
    # anew; a warm poller compares with the map it last wrote and reads nothing, test_attribution.py), + the
    # held incidents' query (silences), + the storm detector's item (docs/rollup.md: the poller ends storms).
    assert (plain["read_units"], traffic["read_units"]) == (150 + 1 + 1 + 1 + 1, 200 + 1 + 1 + 1 + 1)
    assert bill["alarm_per_metric_per_tunnel_usd"] == 30.0  # 3 alarms x 100 tunnels x $0.10
    # The checks ahead (every connection due, every tunnel with lifecycle control on): one replacement status read
    # per tunnel, the 50 warning records and their connections' notices in the same batched reads; never in a poll
    # where no connection is due.
    ahead = bill["measured"]["ahead_poll"]
    assert ahead["calls"]["ec2:GetVpnTunnelReplacementStatus"] == 100
    assert ahead["read_units"] == plain["read_units"] + 50 + 50
    assert ahead["write_units"] == 0
    assert "ec2:GetVpnTunnelReplacementStatus" not in plain["calls"]
    assert bill["cadence"]["replacement_check_minutes"] == 360


def test_the_bill_follows_the_measured_counts() -> None:
    plain, traffic, ahead = measure_polls(10)
    base = estimate(10, (plain, traffic, ahead))
    doubled = estimate(10, (plain, replace(traffic, metrics_requested=2 * traffic.metrics_requested), ahead))

    def reads(bill: dict[str, object]) -> float:
        [line] = [line for line in bill["lines"] if line["item"] == "CloudWatch GetMetricData"]  # type: ignore[attr-defined]
        return float(line["usd"])

    assert reads(doubled) > reads(base) > 0
    assert doubled["monthly_usd"] > base["monthly_usd"]
