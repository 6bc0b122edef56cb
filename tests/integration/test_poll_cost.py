"""What a poll costs in AWS calls (``bench/poll.py`` on a small estate, no delay): the steady state reads
a few batches and writes nothing; the first poll writes each new tunnel once."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from bench.poll import Calls, estate, measure, poll
from vpn_doctor.app.ahead import Ahead, AheadPorts, warn_ahead
from vpn_doctor.aws.ahead import ReplacementStatusReader
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.replacement import REPLACEMENT_EVERY, due

ONE = timedelta(minutes=1)  # the poller's default schedule

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


def test_the_checks_ahead_add_calls_only_to_the_polls_where_a_connection_is_due_and_write_nothing() -> None:
    """The poller's checks ahead of time (vpn_doctor.app.ahead, after the poll above): each connection once every
    6 hours at its own minute, so most polls add nothing; a due connection adds its warning record to one batched
    read (with its maintenance notice), and one GetVpnTunnelReplacementStatus per tunnel with lifecycle control on
    (none in this estate; counted in bench/cost.py)."""
    calls = Calls(delay=0)
    with estate(3, calls) as ports:
        poll(ports, calls)  # the first poll writes the new tunnels
        connections = ports.connections.connections()
        assert isinstance(ports.connections, Ec2Reader)
        checks = AheadPorts(ports.incidents, ReplacementStatusReader(ports.connections.client))
        default = Ahead()
        start = datetime(2026, 12, 2, tzinfo=UTC)
        quiet = next(
            start + timedelta(minutes=m)
            for m in range(360)
            if not any(
                due(c.vpn_connection_id, now=start + timedelta(minutes=m), every=REPLACEMENT_EVERY, interval=ONE)
                for c in connections
            )
        )
        calls.reset()
        assert warn_ahead(connections, checks, ahead=default, now=quiet).errors == []
        assert dict(calls.by_operation) == {}
        every_poll = Ahead(replacement_every=ONE)
        assert warn_ahead(connections, checks, ahead=every_poll, now=quiet).errors == []
        assert dict(calls.by_operation) == {"dynamodb:BatchGetItem": 1}  # 3 warning records + 3 notices
        assert calls.dynamodb_writes == 0
