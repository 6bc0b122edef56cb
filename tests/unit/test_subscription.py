"""Decoding CloudWatch Logs subscription payloads: one bad log event costs one record, never the batch."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import STREAM, control_document, subscription_document, tunnel_record
from vpn_doctor.subscription import (
    SubscriptionPayloadError,
    batch_from_json,
    decode_subscription_data,
    decode_subscription_event,
    encode_subscription_data,
    looks_like_encoded_payload,
)


def _event(document: dict[str, Any]) -> dict[str, Any]:
    return {"awslogs": {"data": encode_subscription_data(document)}}


def test_data_message_with_many_events_decodes_every_event_in_order() -> None:
    lines = [tunnel_record(f"AWS tunnel DPD timed out after {i} retransmits", 1764196800 + i) for i in range(500)]
    batch = decode_subscription_event(_event(subscription_document(lines)))
    assert not batch.is_control
    assert batch.log_stream == STREAM
    assert batch.log_group == "/aws/vendedlogs/vpn/tunnels"
    assert batch.subscription_filters == ("vpn-doctor",)
    assert [event.message for event in batch.events] == lines
    assert batch.events[1].timestamp == datetime(2025, 11, 26, 22, 40, 1, tzinfo=UTC)
    assert batch.bad_events == ()


def test_control_message_is_recognised() -> None:
    batch = decode_subscription_event(_event(control_document()))
    assert batch.is_control
    assert batch.message_type == "CONTROL_MESSAGE"


def test_malformed_log_events_are_counted_with_a_reason_and_the_good_ones_kept() -> None:
    document = subscription_document(
        [
            "first good",
            {"timestamp": 1764196800000, "message": "no id"},
            {"id": "2", "timestamp": 1764196800000},
            {"id": "3", "timestamp": "yesterday", "message": "bad time"},
            7,
            {"id": "5", "timestamp": 1764196800000, "message": None},
            "last good",
        ]
    )
    batch = decode_subscription_event(_event(document))
    assert [event.message for event in batch.events] == ["first good", "last good"]
    reasons = {bad.index: bad.reason for bad in batch.bad_events}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert "id: Field required" in reasons[1]
    assert "message: Field required" in reasons[2]
    assert "timestamp" in reasons[3]
    assert all(reason.startswith("malformed log event") for reason in reasons.values())
    assert batch.bad_events[0].excerpt == '{"timestamp": 1764196800000, "message": "no id"}'


def _gzip_b64(raw: bytes) -> str:
    return base64.b64encode(gzip.compress(raw)).decode()


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"Records": [{"eventSource": "aws:sqs"}]}, "expected an object with awslogs.data"),
        ({"awslogs": {}}, "awslogs.data: Field required"),
        ({"awslogs": {"data": "not base64 at all!"}}, "unable to decompress"),
        ({"awslogs": {"data": base64.b64encode(b"plain text").decode()}}, "unable to decompress"),
        ({"awslogs": {"data": _gzip_b64(b"not json")}}, "unable to decompress"),
        ({"awslogs": {"data": _gzip_b64(b'{"messageType": "DATA_MESSAGE"}')}}, "owner: Field required"),
        ({"awslogs": {"data": _gzip_b64(b"[1, 2]")}}, "valid dictionary"),
    ],
)
def test_a_payload_that_is_not_a_subscription_payload_gets_a_clear_error(event: dict[str, Any], says: str) -> None:
    with pytest.raises(SubscriptionPayloadError, match="not a CloudWatch Logs subscription payload") as raised:
        decode_subscription_event(event)
    assert says in str(raised.value)


@pytest.mark.parametrize("event", [None, [], "awslogs", 42])
def test_non_objects_are_rejected_with_the_same_clear_error(event: Any) -> None:
    with pytest.raises(SubscriptionPayloadError, match=r"expected an object with awslogs\.data"):
        decode_subscription_event(event)


def test_truncated_payload_is_rejected_not_partially_read() -> None:
    data = encode_subscription_data(subscription_document(["a" * 1000, "b"]))
    with pytest.raises(SubscriptionPayloadError):
        decode_subscription_data(data[: len(data) // 2])


def test_encode_and_decode_round_trip_and_the_encoded_form_is_recognised() -> None:
    data = encode_subscription_data(subscription_document(["x"]))
    assert looks_like_encoded_payload(data)
    assert decode_subscription_data(data).events[0].message == "x"
    assert not looks_like_encoded_payload("H4sI but not base64 ~~~~~~~~~~~~~~~~~~")
    assert not looks_like_encoded_payload('{"event_timestamp": 1}')


def test_decoded_document_is_read_leniently_too() -> None:
    batch = batch_from_json(subscription_document(["ok", {"id": "1"}]))
    assert [event.message for event in batch.events] == ["ok"]
    assert len(batch.bad_events) == 1
    with pytest.raises(SubscriptionPayloadError, match="not a decoded subscription document"):
        batch_from_json({"logEvents": []})
