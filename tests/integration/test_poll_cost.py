"""What a poll costs in AWS calls (``bench/poll.py`` on a small estate, no delay): the steady state reads
a few batches and writes nothing; the first poll writes each new tunnel once."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bench.poll import Calls, estate, poll
from vpn_doctor.app.ahead import Ahead, AheadPorts, warn_ahead
from vpn_doctor.app.incidents import PollPorts
from vpn_doctor.aws.ahead import ReplacementStatusReader
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.replacement import REPLACEMENT_EVERY, due

ONE = timedelta(minutes=1)  # the poller's default schedule

CONNECTIONS = 70  # two groups of records (50 connections, then 20), so batching is exercised
# A group's keys: its tunnels' records (2 each) and its connections' maintenance notices (1 each), 100 a call.
BATCHES = sum(math.ceil(3 * group / 100) for group in (50, 20))


def test_a_poll_that_finds_nothing_changed_writes_nothing_and_reads_in_batches() -> None:
    calls = Calls(delay=0)
    with estate(CONNECTIONS, calls) as ports:
        first, steady = poll(ports, calls), poll(ports, calls)
        ahead_quiet, ahead_due = _checks_ahead(ports, calls)
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
    # The checks ahead of time (vpn_doctor.app.ahead, run by the poller after the poll): each connection once every
    # 6 hours at its own minute, so most polls add nothing; the due connections' warning records are read in one
    # batch with their maintenance notices (100 keys a call), nothing is written, and one
    # GetVpnTunnelReplacementStatus per tunnel with lifecycle control on (none here; counted in bench/cost.py).
    assert ahead_quiet.by_operation == {}
    assert ahead_due.by_operation == {"dynamodb:BatchGetItem": math.ceil(2 * CONNECTIONS / 100)}
    assert ahead_due.dynamodb_writes == 0


def _checks_ahead(ports: PollPorts, calls: Calls) -> tuple[Calls, Calls]:
    """The calls of the checks ahead in a poll where no connection is due, then in one where all are."""
    connections = ports.connections.connections()
    assert isinstance(ports.connections, Ec2Reader)
    checks = AheadPorts(ports.incidents, ReplacementStatusReader(ports.connections.client))
    start = datetime(2026, 12, 2, tzinfo=UTC)
    minutes = (start + timedelta(minutes=m) for m in range(360))
    quiet = next(
        now
        for now in minutes
        if not any(due(c.vpn_connection_id, now=now, every=REPLACEMENT_EVERY, interval=ONE) for c in connections)
    )
    counted = []
    for ahead in (Ahead(), Ahead(replacement_every=ONE)):
        calls.reset()
        assert warn_ahead(connections, checks, ahead=ahead, now=quiet).errors == []
        counted.append(replace(calls, by_operation=Counter(calls.by_operation)))
    return counted[0], counted[1]
