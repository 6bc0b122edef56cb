"""Property tests: no input, however broken, makes a parser raise or lose a line.

Random text and bytes, random JSON, random subscription documents, and every prefix of every
real-format fixture line go through parse_line, the classifier, the subscription decoders and
the CLI's classify_stream.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import AWS_CASES, NOW, subscription_document
from vpn_doctor.classify import Classifier
from vpn_doctor.ingest import ingest_batch
from vpn_doctor.models import Finding
from vpn_doctor.parsing import parse_line
from vpn_doctor.subscription import (
    SubscriptionPayloadError,
    batch_from_json,
    decode_subscription_data,
    decode_subscription_event,
    encode_subscription_data,
)
from vpn_doctor.taxonomy import CAUSES_BY_CATEGORY
from vpn_doctor_tools.cli.classify import classify_stream

# Modest by default (suite speed); VPN_DOCTOR_PROPERTY_EXAMPLES=5000 for a thorough local hunt.
PROPERTY = settings(
    max_examples=int(os.environ.get("VPN_DOCTOR_PROPERTY_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CONTRACT_KEYS = {"category", "cause", "severity", "vpn_connection_id", "tunnel", "summary"}
SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "vpn_doctor_tools" / "samples"


def _fixture_lines() -> list[str]:
    lines = [json.dumps(case["record"]) for case in AWS_CASES["tunnel_cases"]]
    lines += [variant["line"] for case in AWS_CASES["tunnel_cases"] for variant in case["text"]]
    lines += [json.dumps(case["record"]) for case in AWS_CASES["bgp_cases"]]
    for sample in sorted(SAMPLES.glob("*.log")):
        lines += sample.read_text(encoding="utf-8").splitlines()
    return lines


FIXTURE_LINES = _fixture_lines()
KNOWN_KEYS = [
    "event_timestamp",
    "timestamp",
    "details",
    "dpd_enabled",
    "nat_t_detected",
    "ike_phase1_state",
    "ike_phase2_state",
    "resource_id",
    "type",
    "status",
    "message",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
lines_without_newline = st.text(max_size=300).map(lambda text: text.replace("\n", " "))


def _assert_sound(finding: Finding) -> None:
    assert finding.cause is None or finding.cause in CAUSES_BY_CATEGORY[finding.category]
    assert finding.summary.strip()
    data = finding.to_dict()
    assert data.keys() >= CONTRACT_KEYS
    json.dumps(data)


def _parse_and_classify(line: str, classifier: Classifier | None = None) -> None:
    _assert_sound((classifier or Classifier()).classify(parse_line(line, reference_time=NOW)))


@PROPERTY
@given(st.text())
def test_random_text_never_breaks_parsing_or_classification(text: str) -> None:
    _parse_and_classify(text)


@PROPERTY
@given(st.binary(max_size=400), st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_random_bytes_decoded_never_break_parsing_or_classification(raw: bytes, encoding: str) -> None:
    _parse_and_classify(raw.decode(encoding, errors="replace"))


@PROPERTY
@given(st.dictionaries(st.text(max_size=12) | st.sampled_from(KNOWN_KEYS), json_values, max_size=8))
def test_random_json_objects_never_break_parsing_or_classification(record: dict[str, Any]) -> None:
    _parse_and_classify(json.dumps(record))


@PROPERTY
@given(json_values)
def test_random_json_values_never_break_parsing_or_classification(value: Any) -> None:
    _parse_and_classify(json.dumps(value))


def test_every_prefix_of_every_fixture_line_is_read_without_error_escaping() -> None:
    classifier = Classifier()
    for line in FIXTURE_LINES:
        for end in range(len(line) + 1):
            _parse_and_classify(line[:end], classifier)


@PROPERTY
@given(st.lists(st.sampled_from(FIXTURE_LINES) | lines_without_newline, max_size=20))
def test_classify_stream_yields_exactly_one_object_per_input_line(lines: list[str]) -> None:
    out = list(classify_stream(lines, now=NOW))
    assert len(out) == len(lines)
    for obj in out:
        assert obj.keys() >= CONTRACT_KEYS
        json.dumps(obj)


log_events = st.one_of(
    st.sampled_from(FIXTURE_LINES).map(lambda line: {"id": "1", "timestamp": 1764196800000, "message": line}),
    st.fixed_dictionaries(
        {"id": st.text(max_size=5), "timestamp": st.integers(0, 2**42), "message": lines_without_newline}
    ),
    st.dictionaries(st.sampled_from(["id", "timestamp", "message", "extra"]), json_values, max_size=4),
    json_values,
)


@PROPERTY
@given(
    st.lists(log_events, max_size=15),
    st.text(max_size=60),
    st.sampled_from(["DATA_MESSAGE", "CONTROL_MESSAGE", "OTHER"]),
)
def test_random_subscription_documents_decode_leniently_and_lose_no_record(
    events: list[Any], stream: str, message_type: str
) -> None:
    document = subscription_document(events, log_stream=stream)
    document["messageType"] = message_type
    batch = decode_subscription_data(encode_subscription_data(document))
    assert len(batch.events) + len(batch.bad_events) == len(events)
    report = ingest_batch(batch, Classifier())
    if message_type == "CONTROL_MESSAGE":
        assert report.findings == []
        return
    assert report.records == len(report.findings) + len(batch.bad_events)
    assert len(report.findings) >= len(batch.events)
    for finding in report.findings:
        _assert_sound(finding)
    json.dumps(report.to_dict(include_healthy=True))
    # The same document, already decoded, reads the same.
    assert batch_from_json(document) == batch


@PROPERTY
@given(json_values | st.dictionaries(st.sampled_from(["awslogs", "data", "Records"]), json_values, max_size=3))
def test_random_lambda_events_either_decode_or_raise_the_clear_payload_error(event: Any) -> None:
    try:
        decode_subscription_event(event)
    except SubscriptionPayloadError as exc:
        message = str(exc)
    else:
        return
    assert "subscription payload" in message


@PROPERTY
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=200))
def test_random_base64_text_never_breaks_the_payload_decoder(data: str) -> None:
    with contextlib.suppress(SubscriptionPayloadError):
        decode_subscription_data("H4sI" + data)


text_fields = st.lists(
    st.tuples(
        st.sampled_from(KNOWN_KEYS),
        st.sampled_from(["=", ": ", ":", " = "]),
        st.text(max_size=30).map(lambda text: text.replace("\n", " ")),
        st.sampled_from([" ", ", ", " | ", "; "]),
    ),
    max_size=8,
)


@PROPERTY
@given(text_fields, st.booleans())
def test_random_key_value_text_records_never_break_parsing_or_classification(
    fields: list[tuple[str, str, str, str]], leading_timestamp: bool
) -> None:
    line = "".join(f"{key}{sep}{value}{gap}" for key, sep, value, gap in fields)
    _parse_and_classify(("2025-11-26T22:40:00Z " if leading_timestamp else "") + line)
