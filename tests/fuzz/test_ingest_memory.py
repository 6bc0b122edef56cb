"""The ingest handler's memory under the whole hostile corpus, delivered as CloudWatch Logs delivers it.

Deliveries: the corpus's records in subscription batches as large as CloudWatch Logs makes them (a
batch of log events is at most 1,048,576 bytes, counting each event's UTF-8 message plus 26 bytes,
and at most 10,000 events: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html),
one after the other into one warm function instance (its classifier keeps what it learnt).

What an earlier measurement (1.6 GB in the test process) held was the harness's, not the handler's:

- moto ran in the measuring process: every failure of a tunnel's stream is one ``TransactWriteItems``,
  and moto deep-copies the table for each transaction item (to roll a cancelled one back), so one
  1 MB delivery of the corpus took the process from 335 to 1,022 MB (ru_maxrss) in moto alone;
- pytest's log capture keeps every log record of the test (the handler logs each transition).

Here the AWS side is kept out of the process (the incident store and bus are in-memory ports that
keep every record and transition, more than DynamoDB leaves in the function) and the handler's log
lines are not captured. What the handler then holds at its peak, over the 39 deliveries (up to 1 MB) of
the whole corpus, is 27 MB above what it held before the first (tracemalloc, Python 3.11): mostly the
warm classifier's history, bounded at 24 MiB, and one decoded delivery (about 6 MB at its peak with its
findings and transitions). The bound below leaves more than twice that; the function's 256 MB hold
the runtime and the imports (about 100 MB) besides.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers import ingest
from handlers.observability import logger
from handlers.wiring import reset
from tests.conftest import STREAM, lambda_context, subscription_document
from tests.fuzz.corpus import hostile_corpus
from tests.unit.test_incidents import MemoryStore
from vpn_doctor.app.incidents import Incidents
from vpn_doctor.app.logs import LogPorts
from vpn_doctor.aws.bus import PublishReport
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_INCIDENTS_TABLE
from vpn_doctor.incidents import IncidentService
from vpn_doctor.records import TunnelEvent

pytestmark = pytest.mark.slow

BATCH_BYTES = 1_048_576
BATCH_EVENTS = 10_000
EVENT_OVERHEAD = 26
#: What the handler may hold above its start, at its peak: the classifier's 24 MiB history bound, one
#: decoded 1 MB delivery with its findings and transitions, and room to spare.
MEMORY_BOUND = 64 * 1024 * 1024


class _Bus:
    """Takes every event (the bus is not what is measured)."""

    def __init__(self) -> None:
        self.published = 0

    def publish(self, detail_type: str, details: Sequence[dict[str, Any]]) -> PublishReport:
        self.published += len(details)
        return PublishReport(published=len(details))


class _NoEarlierLines:
    def lookback(
        self, log_group: str, vpn_connection_id: str, tunnel_ip: str, *, start: datetime, end: datetime
    ) -> list[TunnelEvent]:
        return []


def batches(lines: Sequence[str]) -> Iterator[list[str]]:
    """The lines in order, cut into batches as CloudWatch Logs sizes them (see the module's docstring)."""
    batch: list[str] = []
    size = 0
    for line in lines:
        cost = len(line.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD
        if batch and (size + cost > BATCH_BYTES or len(batch) == BATCH_EVENTS):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += cost
    if batch:
        yield batch


def _delivery(lines: list[str], first_ms: int) -> dict[str, Any]:
    document = subscription_document(lines, log_stream=STREAM, start_ms=first_ms)
    data = gzip.compress(json.dumps(document).encode("utf-8", "surrogatepass"))
    return {"awslogs": {"data": base64.b64encode(data).decode("ascii")}}


@pytest.fixture
def in_memory_ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Bus]:
    monkeypatch.setenv(ENV_INCIDENTS_TABLE, "vpn-doctor-incidents")
    monkeypatch.setenv(ENV_EVENT_BUS_NAME, "vpn-doctor")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    reset()
    bus = _Bus()
    ports = LogPorts(logs=_NoEarlierLines(), incidents=Incidents(IncidentService(MemoryStore()), bus))
    monkeypatch.setattr(ingest, "ports", lambda: ports)
    # Lambda sends log lines away (stdout to CloudWatch Logs); pytest's log capture would keep them all.
    monkeypatch.setattr(logging.getLogger(logger.name), "propagate", False)
    yield bus
    reset()


def test_the_ingest_handler_holds_little_memory_over_the_whole_corpus_in_full_deliveries(
    in_memory_ports: _Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [line for kind, line in hostile_corpus() if kind not in ("gzip_bomb", "hostile_payload")]
    deliveries = list(batches(records))
    assert max(len(batch) for batch in deliveries) > 500  # full deliveries, not a trickle
    start_ms = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp() * 1000)
    ingest.classifier()  # warm: built before the first delivery, as after a cold start
    reported = 0
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for number, batch in enumerate(deliveries):
            event = _delivery(batch, start_ms + number)
            reported += ingest.handler(event, lambda_context("ingest"))["records"]
            capsys.readouterr()  # the metric lines, as Lambda sends stdout away
            del event
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert reported == len(records)
    assert in_memory_ports.published > 0  # failures reached incidents and the bus
    assert peak - before < MEMORY_BOUND, f"peak {(peak - before) >> 20} MB above the start"
