"""Hostile input, one defect each (issue 14, items 1, 2, 8, 9 and 11): a record's unusable or future
time, lone surrogates, deep nesting, oversized ids, gzip bombs and the classifier's memory."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import STREAM, TUNNEL_IP, VPN_ID, subscription_document, tunnel_record
from vpn_doctor.classify import Classifier, ClassifierSettings
from vpn_doctor.incidents import IncidentPolicy, TunnelRecord, apply_finding, apply_state
from vpn_doctor.ingest import ingest_batch, trusted_time
from vpn_doctor.models import (
    Finding,
    RemediationOutcome,
    StateSource,
    TunnelState,
    TunnelStateChange,
    dump,
    load,
)
from vpn_doctor.parsing import parse_line
from vpn_doctor.state_events import RejectedEvent, normalise
from vpn_doctor.subscription import (
    MAX_DECODED_PAYLOAD_BYTES,
    PayloadTooLarge,
    batch_from_json,
    decode_subscription_event,
)
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.text import MAX_KEY_ID_BYTES, key_id
from vpn_doctor_tools.cli.classify import classify_stream
from vpn_doctor_tools.cli.diagnose import run_diagnose

NOW = datetime(2025, 11, 27, 0, 0, tzinfo=UTC)
T0 = int(NOW.timestamp()) - 600
EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
# A DELETE from the peer: its context rule reads the tunnel's history (a window subtracted from its time).
DELETE = "AWS tunnel received DELETE for IKE_SA from 203.0.113.9"


def _with_time(line: str, value: object) -> str:
    record = json.loads(line)
    record["event_timestamp"] = value
    return json.dumps(record)


# --- item 1: a record whose time cannot be used --------------------------------------------------


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", 253402300799999])
def test_a_record_whose_time_cannot_be_used_is_a_bad_record_and_the_delivery_goes_on(moment: object) -> None:
    lines = [
        tunnel_record(DELETE, T0),
        _with_time(tunnel_record(DELETE, T0), moment),
        tunnel_record(DELETE, T0 + 60),
    ]
    batch = batch_from_json(subscription_document(lines, log_stream=STREAM, start_ms=T0 * 1000))

    report = ingest_batch(batch, Classifier(), now=NOW)

    assert report.records == 3
    assert len(report.findings) == 3
    bad = report.findings[1]
    assert bad.timestamp == datetime.fromtimestamp(T0 + 1, tz=UTC)  # the log event's (delivery) time
    assert bad.error is not None
    assert "cannot be used" in bad.error
    assert [record.event_id for record in report.bad_records] == [bad.event.event_id]


def test_a_finding_dated_in_year_1_opens_its_incident_at_now() -> None:
    event = replace(parse_line(tunnel_record(DELETE, T0)), timestamp=datetime(1, 1, 1, tzinfo=UTC))
    finding = Finding(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE, Severity.CRITICAL, "DPD", "rule", event)
    policy = replace(IncidentPolicy(), raise_after_findings=1)

    outcome = apply_finding(TunnelRecord(VPN_ID, TUNNEL_IP), finding, event_id="e1", policy=policy, now=NOW)

    assert outcome.record is not None
    assert outcome.record.incident is not None
    assert outcome.record.incident.opened_at == NOW


def test_a_state_change_dated_in_year_1_is_applied_at_now() -> None:
    change = TunnelStateChange(
        VPN_ID, TUNNEL_IP, TunnelState.DOWN, StateSource.CLOUDWATCH_ALARM, datetime(1, 1, 1, tzinfo=UTC), "e1"
    )

    outcome = apply_state(TunnelRecord(VPN_ID, TUNNEL_IP), change, policy=IncidentPolicy(), now=NOW)

    assert outcome.record is not None
    assert outcome.record.state_since == NOW


def test_a_state_event_dated_in_year_1_is_rejected_with_its_reason() -> None:
    event = json.loads((EVENTS / "network-manager-ipsec-down.json").read_text())
    event["time"] = "0001-01-01T00:00:00Z"

    result = normalise(event)

    assert isinstance(result, RejectedEvent)
    assert "cannot be used" in result.reason


# --- item 8: a record dated in the future ------------------------------------------------------


def test_a_record_dated_beyond_the_clock_skew_is_dated_at_its_delivery_and_says_so() -> None:
    future = int((NOW + timedelta(days=365)).timestamp())
    lines = [tunnel_record(DELETE, future), tunnel_record(DELETE, int(NOW.timestamp()) + 60)]
    batch = batch_from_json(subscription_document(lines, log_stream=STREAM, start_ms=T0 * 1000))

    report = ingest_batch(batch, Classifier(), now=NOW, max_clock_skew=timedelta(minutes=5))

    skewed, near = report.findings
    assert skewed.timestamp == datetime.fromtimestamp(T0, tz=UTC)
    assert "ahead of the receiving clock" in skewed.to_dict()["clock_skew"]
    assert near.timestamp == NOW + timedelta(seconds=60)  # within the bound: trusted
    assert "clock_skew" not in near.to_dict()
    assert report.clock_skewed == 1
    assert report.to_dict()["clock_skewed"] == 1


def test_the_classify_command_dates_a_future_record_now_with_a_clock_skew_note() -> None:
    line = tunnel_record(DELETE, int((NOW + timedelta(hours=2)).timestamp()))

    (result,) = classify_stream([line], now=NOW, max_clock_skew=timedelta(minutes=5))

    assert result["timestamp"] == "2025-11-27T00:00:00Z"
    assert "clock_skew" in result


# --- items 2 and 11: surrogates, nesting, ids --------------------------------------------------


def test_a_lone_surrogate_in_a_record_becomes_a_replacement_character() -> None:
    record = json.dumps({"details": "AWS tunnel \ud800 DPD timeout", "event_timestamp": T0})
    event = parse_line(json.loads(json.dumps({"m": record}))["m"].replace("\\ud800", "\ud800"))

    assert "\ud800" not in event.message
    assert "\ufffd" in event.message
    json.dumps(Classifier().classify(event).to_dict(), ensure_ascii=False).encode("utf-8")


def test_the_classify_command_gives_one_object_per_line_for_surrogates_nesting_and_bad_times() -> None:
    lines = [
        json.dumps({"details": "tunnel \ud800 down", "event_timestamp": "0001-01-01T00:00:00Z"}),
        '{"awslogs": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"details": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}",
        json.dumps({"logEvents": [{"id": "\udfff" * 800, "timestamp": 1, "message": "x\ud800"}]}),
        tunnel_record(DELETE, T0),
    ]

    results = list(classify_stream(lines, now=NOW))

    assert len(results) == len(lines)
    for result in results:
        json.dumps(result, ensure_ascii=False).replace("\ud800", "").encode("utf-8")
        assert not str(result.get("error", "")).startswith("internal error")


@pytest.mark.parametrize(
    "event_id", ["i" * 3000, "id-\ud800", "\udfff" * 700, "é" * (MAX_KEY_ID_BYTES // 2 + 1)], ids=str.__len__
)
def test_an_id_unfit_for_a_key_is_replaced_by_its_digest_the_same_each_time(event_id: str) -> None:
    kept = key_id(event_id)

    assert kept.startswith("sha256:")
    assert kept == key_id(event_id) == key_id(kept)
    kept.encode("utf-8")
    assert key_id("3" * 56) == "3" * 56


def test_a_log_event_id_unfit_for_a_key_is_digested_where_it_is_read() -> None:
    event = parse_line(tunnel_record(DELETE, T0), event_id="x" * 5000)

    assert event.event_id == key_id("x" * 5000)


def test_a_state_event_id_unfit_for_a_key_is_digested_where_it_is_read() -> None:
    event = json.loads((EVENTS / "network-manager-ipsec-down.json").read_text())
    event["id"] = "e\ud800" + "x" * 3000

    result = normalise(event)

    assert isinstance(result, tuple)
    assert all(change.event_id == key_id(event["id"]) for change in result)


# --- item 9: bounds by bytes -------------------------------------------------------------------


def _bomb(size: int) -> dict[str, Any]:
    document = json.dumps(subscription_document(["x"]))[:-1] + ', "padding": "' + " " * size + '"}'
    return {"awslogs": {"data": base64.b64encode(gzip.compress(document.encode())).decode()}}


def test_a_gzip_bomb_is_rejected_without_inflating_it() -> None:
    event = _bomb(200 * 1024 * 1024)  # 200 MB of JSON in about 200 kB
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match="inflates beyond"):
            decode_subscription_event(event)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_DECODED_PAYLOAD_BYTES  # the inflated bytes at most, and a buffer


def test_a_payload_as_large_as_cloudwatch_logs_sends_is_read() -> None:
    messages = [tunnel_record("AWS tunnel DPD timeout " + "a" * 10_000, T0 + i) for i in range(100)]  # ~1 MB

    batch = decode_subscription_event(_event_of(subscription_document(messages)))

    assert len(batch.events) == 100


def _event_of(document: dict[str, Any]) -> dict[str, Any]:
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()}}


def test_the_warm_classifier_keeps_its_history_within_its_byte_bounds() -> None:
    settings = ClassifierSettings()
    classifier = Classifier(settings=settings)
    big = "A" * 16_000
    tracemalloc.start()
    try:
        # 3,000 lines of 16 kB (48 MB) over 300 tunnels: within the count bounds (64 lines x 256 tunnels).
        for index in range(3_000):
            line = tunnel_record(f"AWS tunnel DPD timeout {index} {big}", T0 + index)
            classifier.classify(parse_line(line, stream_identity=(VPN_ID, f"10.0.{index % 300 // 250}.{index % 250}")))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert classifier._histories.bytes <= settings.total_bytes + settings.tunnel_bytes
    assert held < settings.total_bytes + 8 * 1024 * 1024


def test_a_tunnel_over_its_bytes_forgets_its_oldest_lines_first() -> None:
    classifier = Classifier(settings=ClassifierSettings(tunnel_bytes=64 * 1024))
    for index in range(20):
        classifier.classify(parse_line(tunnel_record(f"line {index} " + "B" * 8_000, T0 + index)))

    (history,) = classifier._histories._tunnels.values()
    kept = [seen.event.message.split()[1] for seen in history]
    assert 1 < len(kept) < 20
    assert kept[-1] == "19"
    assert kept == sorted(kept, key=int)
    assert history.bytes <= 64 * 1024


# --- item 2: diagnose --since -------------------------------------------------------------------


@pytest.mark.parametrize("since", ["1000000000d", "99999999999999999999999999m", "400d"])
def test_diagnose_refuses_a_look_back_too_long_with_a_clear_error(since: str) -> None:
    out, err = io.StringIO(), io.StringIO()

    code = run_diagnose(
        VPN_ID, region="eu-west-1", since=since, endpoint_url=None, json_output=False, out=out, err=err, now=NOW
    )

    assert code == 2
    assert "longer than 365 days" in err.getvalue()
    assert out.getvalue() == ""


def test_remediation_parameters_nested_deeper_than_can_be_written_back_are_rejected_when_read() -> None:
    deep: Any = "restart"
    for _ in range(200):  # 400 levels: pydantic writes no more than about 255 back out
        deep = {"TunnelOptions": [deep]}
    outcome = {"status": "applied", "reason": "r", "parameters": deep}

    with pytest.raises(ValidationError, match="nested deeper than"):
        load(RemediationOutcome, outcome)
    ec2_request = {"VpnConnectionId": "vpn-0a1b2c3d", "TunnelOptions": {"Phase1DHGroupNumbers": [{"Value": 14}]}}
    assert dump(load(RemediationOutcome, {**outcome, "parameters": ec2_request}))["parameters"] == ec2_request


def test_a_record_dated_beyond_the_clock_skew_with_an_unusable_delivery_time_is_dated_now() -> None:
    future = parse_line(tunnel_record(DELETE, int((NOW + timedelta(days=365)).timestamp())))
    year_one = datetime(1, 1, 1, tzinfo=UTC)

    dated = trusted_time(future, now=NOW, max_skew=timedelta(minutes=5), delivered_at=year_one)

    assert dated.timestamp == NOW
    assert "clock_skew" in dated.fields
