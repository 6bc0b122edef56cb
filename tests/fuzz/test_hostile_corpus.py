"""The hostile corpus (tests/fuzz/corpus.py, generated from a seed) through the ``classify`` command,
the ingest handler and the state handler: nothing raised but the documented signals, one output per
input line, one report entry per record, every rejection counted, memory bounded."""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import json
import operator
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import ingest, state
from handlers.wiring import reset
from tests.conftest import OUR_EVENTS, STREAM, handler_aws, lambda_context, subscription_document, tapped_bus
from tests.fuzz.corpus import CORPUS_LINES, WRONG_VALUES, hostile_corpus
from vpn_doctor.classify import Classifier
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_INCIDENTS_TABLE, ENV_TUNNEL_LOG_GROUP_ARN
from vpn_doctor.ingest import ingest_batch
from vpn_doctor.subscription import PayloadTooLarge, SubscriptionPayloadError, decode_subscription_event
from vpn_doctor_tools.cli.classify import INTERNAL_ERROR

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "fixtures" / "events"
TABLE = "vpn-doctor-incidents"
BUS = "vpn-doctor"
# Deliveries of the corpus: most on a stream naming no tunnel (every record classified and reported,
# no incident store call), some on a tunnel's stream (failures go to incidents in moto).
DELIVERY = 250
TUNNEL_DELIVERIES = 4
# What classifying the whole corpus may hold: the classifier's byte bound and change.
MEMORY_BOUND = 64 * 1024 * 1024
NOW = datetime(2025, 11, 27, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    lines = hostile_corpus()
    assert len(lines) >= 20_000
    return lines


def test_classify_prints_one_object_per_corpus_line_and_exits_0(corpus: list[tuple[str, str]], tmp_path: Path) -> None:
    path = tmp_path / "corpus.log"
    # Written as a gateway would: a lone surrogate is an undecodable byte sequence in the file.
    path.write_bytes(b"".join(line.encode("utf-8", "surrogatepass") + b"\n" for _, line in corpus))

    run = subprocess.run(
        [sys.executable, "-m", "vpn_doctor_tools.cli.main", "classify", str(path)],
        capture_output=True,
        cwd=ROOT,
        env={"PYTHONPATH": "functions:tools:.", "PATH": "/usr/bin:/bin"},
        check=False,
    )

    assert run.returncode == 0, run.stderr.decode()[-2000:]
    outputs = run.stdout.decode("utf-8").removesuffix("\n").split("\n")
    assert len(outputs) == CORPUS_LINES
    objects = [json.loads(output) for output in outputs]
    assert all(INTERNAL_ERROR not in str(item.get("error")) for item in objects)
    assert all({"category", "severity", "summary"} <= item.keys() for item in objects)


@pytest.fixture
def ingest_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    with handler_aws(monkeypatch, reset, {ENV_INCIDENTS_TABLE: TABLE, ENV_EVENT_BUS_NAME: BUS}, table=TABLE):
        tapped_bus(BUS, "bus-tap", OUR_EVENTS)
        yield


def _delivery(lines: list[str], stream: str, first: int) -> dict[str, Any]:
    document = subscription_document(lines, log_stream=stream, start_ms=1_764_196_800_000 + first * 1000)
    data = gzip.compress(json.dumps(document).encode("utf-8", "surrogatepass"))
    return {"awslogs": {"data": base64.b64encode(data).decode("ascii")}}


def test_every_record_of_the_corpus_gets_a_report_entry_within_bounded_memory(
    corpus: list[tuple[str, str]],
) -> None:
    records = [line for kind, line in corpus if kind not in ("gzip_bomb", "hostile_payload")]
    classifier = Classifier()
    reported = 0
    tracemalloc.start()
    try:
        for start in range(0, len(records), DELIVERY):
            chunk = records[start : start + DELIVERY]
            batch = decode_subscription_event(_delivery(chunk, STREAM, start))
            report = ingest_batch(batch, classifier, now=NOW)
            assert report.records == len(chunk)  # one report entry per record
            reported += report.records
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reported == len(records)
    assert held < MEMORY_BOUND


def test_the_ingest_handler_reports_hostile_deliveries_and_rejects_bombs(
    corpus: list[tuple[str, str]], ingest_aws: None
) -> None:
    records = [line for kind, line in corpus if kind not in ("gzip_bomb", "hostile_payload")]
    events = [line for kind, line in corpus if kind == "hostile_payload"]
    bombs = [{"awslogs": {"data": line}} for kind, line in corpus if kind == "gzip_bomb"]
    rejected = 0
    for start in range(0, TUNNEL_DELIVERIES * DELIVERY, DELIVERY):
        chunk = records[start : start + DELIVERY]
        report = ingest.handler(_delivery(chunk, STREAM, start), lambda_context("ingest"))
        assert report["records"] == len(chunk)  # one report entry per record
    for event in events:
        try:
            ingest.handler(json.loads(event), lambda_context("ingest"))
        except SubscriptionPayloadError:  # documented: counted (InvalidPayloads), retried, kept
            rejected += 1
    for bomb in bombs:
        with pytest.raises(PayloadTooLarge):  # counted (OversizedPayloads), never inflated
            ingest.handler(bomb, lambda_context("ingest"))
    assert rejected < len(events)


@pytest.fixture
def state_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    environment = {
        "POWERTOOLS_METRICS_NAMESPACE": "VpnDoctor",
        ENV_INCIDENTS_TABLE: TABLE,
        ENV_EVENT_BUS_NAME: BUS,
        ENV_TUNNEL_LOG_GROUP_ARN: "arn:aws:logs:us-east-1:123456789012:log-group:/vpn/tunnels:*",
    }
    with handler_aws(monkeypatch, reset, environment, table=TABLE):
        tapped_bus(BUS, "bus-tap", OUR_EVENTS)
        yield


STATE_EVENTS = [
    json.loads((EVENTS / name).read_text())
    for name in (
        "cloudwatch-alarm-tunnel-down.json",
        "cloudwatch-alarm-tunnel-ok.json",
        "network-manager-ipsec-down.json",
        "network-manager-ipsec-up.json",
        "health-vpn-redundancy-loss.json",
    )
]
HOSTILE = st.sampled_from(
    [
        *WRONG_VALUES,
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-12:00",
        "2400-01-01T00:00:00Z",
        "i" * 3000,
        "id-\ud800",
        "\udfff" * 700,
    ]
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, originals: list[dict[str, Any]]) -> dict[str, Any]:
    """A real event with one to three of its values replaced by hostile ones."""
    original = draw(st.sampled_from(originals))
    event = copy.deepcopy(original)
    # Paths of the real event's own shape: a hostile value put in place earlier (say a deeply nested
    # one) is never walked into, and a path through a container replaced earlier is skipped.
    paths = _paths(original)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        try:
            target = functools.reduce(operator.getitem, path[:-1], event)
            target[path[-1]] = draw(HOSTILE)
        except (TypeError, KeyError, IndexError):
            continue
    return event


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=mutated(STATE_EVENTS))
def test_the_state_handler_applies_or_counts_every_mutated_event(state_aws: None, event: dict[str, Any]) -> None:
    result = state.handler(event, lambda_context("state"))

    # Either rejected with its reason (counted as RejectedEvents) or applied: never raised.
    assert result["rejected"] or result["changes"] >= 1
