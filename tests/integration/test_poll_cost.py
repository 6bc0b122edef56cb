"""What a poll costs in AWS calls (``bench/poll.py`` on a small estate, no delay): the steady state reads
a few batches and writes nothing; the first poll writes each new tunnel once."""

from __future__ import annotations

import math

from bench.poll import measure

CONNECTIONS = 70  # two groups of records (50 connections, then 20), so batching is exercised
# A group's keys: its tunnels' records (2 each) and its connections' maintenance notices (1 each), 100 a call.
BATCHES = sum(math.ceil(3 * group / 100) for group in (50, 20))


def test_a_poll_that_finds_nothing_changed_writes_nothing_and_reads_in_batches() -> None:
    first, steady = measure(CONNECTIONS, delay_ms=0)
    tunnels = 2 * CONNECTIONS
    assert (first.connections, first.changes, first.errors) == (CONNECTIONS, tunnels, ())
    # First poll: one transaction per new tunnel (its record and the change's event id), no reads per tunnel.
    assert first.calls["dynamodb:TransactWriteItems"] == tunnels
    # On top: the outbox query and a published transition's delete, and once per table the look-up
    # of the previous outbox layout (a Scan, the MOVED marker, the outbox read again), and once per
    # container the connection map ingest attributes gateway lines with (read to compare, written when new).
    assert first.dynamodb_calls - tunnels <= BATCHES + 3 + 3 + 2
    assert (first.calls["dynamodb:GetItem"], first.calls["dynamodb:PutItem"] >= 1) == (1, True)
    # Steady state: nothing written, records read 100 keys at a time, the outbox with one query.
    assert (steady.changes, steady.transitions, steady.errors) == (0, 0, ())
    assert steady.dynamodb_writes == 0
    assert steady.calls == {
        "dynamodb:BatchGetItem": BATCHES,
        "dynamodb:Query": 1,
        "ec2:DescribeCustomerGateways": 1,
        "ec2:DescribeVpnConnections": 1,
    }
