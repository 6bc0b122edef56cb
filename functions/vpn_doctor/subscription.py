"""CloudWatch Logs subscription payloads: decode with a bound, read with Powertools' models, event by event.

The base64 + gzip ``awslogs.data`` is inflated here, not by Powertools' ``CloudWatchLogsData``
(which inflates without limit: a 400 kB gzip bomb became 944 MB): at most
:data:`MAX_DECODED_PAYLOAD_BYTES` are inflated, and a larger payload is rejected
(:class:`PayloadTooLarge`) before it is read. The decoded document is validated with Powertools'
``CloudWatchLogsDecode``; its envelope would reject the whole batch when a single log event is
malformed, so the log events are validated one at a time, each with Powertools'
``CloudWatchLogsLogEvent``: one bad event costs one record, never the batch.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aws_lambda_powertools.utilities.parser.models import CloudWatchLogsDecode, CloudWatchLogsLogEvent
from pydantic import Field, ValidationError

from vpn_doctor.text import excerpt, valid_unicode

#: Most bytes a subscription payload may inflate to. CloudWatch Logs takes at most 1,048,576 bytes
#: of messages (plus 26 bytes per event) in one PutLogEvents batch and 256 KB per event
#: (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html and
#: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html), so a
#: delivery decodes to about 1 MB of messages; four times that leaves room for the JSON around them
#: (ids, times, escapes) and nothing real comes near it.
MAX_DECODED_PAYLOAD_BYTES = 4 * 1024 * 1024


class SubscriptionPayloadError(ValueError):
    """The input is not a CloudWatch Logs subscription payload (nothing in it can be read)."""


class PayloadTooLarge(SubscriptionPayloadError):
    """The payload inflates beyond :data:`MAX_DECODED_PAYLOAD_BYTES` (a gzip bomb, never CloudWatch Logs)."""


class _LenientDecode(CloudWatchLogsDecode):
    # Events are validated individually below, so a bad one cannot fail the batch.
    logEvents: list[Any] = Field(default_factory=list)  # type: ignore[assignment]


class LogEvent(NamedTuple):
    """One log event of a subscription batch, as Powertools' model read it."""

    event_id: str
    #: CloudWatch Logs' time of the event, timezone-aware UTC.
    timestamp: datetime
    message: str


@dataclass(frozen=True, slots=True)
class BadLogEvent:
    """A log event that could not be read, with why (kept for the report)."""

    index: int
    reason: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class LogBatch:
    """A decoded subscription delivery."""

    message_type: str
    owner: str
    log_group: str
    log_stream: str
    subscription_filters: tuple[str, ...]
    events: tuple[LogEvent, ...] = ()
    bad_events: tuple[BadLogEvent, ...] = field(default_factory=tuple)

    @property
    def is_control(self) -> bool:
        """CloudWatch Logs sends a CONTROL_MESSAGE to check the destination is reachable."""
        return self.message_type == "CONTROL_MESSAGE"


def decode_subscription_event(event: Mapping[str, Any]) -> LogBatch:
    """Decode a Lambda event from a CloudWatch Logs subscription filter (``{"awslogs": {"data": ...}}``)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("awslogs"), Mapping):
        raise SubscriptionPayloadError(
            "not a CloudWatch Logs subscription payload: expected an object with awslogs.data"
        )
    data = event["awslogs"].get("data")
    if data is None:
        raise SubscriptionPayloadError("not a CloudWatch Logs subscription payload: awslogs.data: Field required")
    if not isinstance(data, str):
        raise SubscriptionPayloadError("not a CloudWatch Logs subscription payload: awslogs.data is not a string")
    document = _inflate(data)
    try:
        decoded = _LenientDecode.model_validate(document)
    except ValidationError as exc:
        raise SubscriptionPayloadError(f"not a CloudWatch Logs subscription payload: {_first_error(exc)}") from exc
    return _batch(decoded)


def decode_subscription_data(data: str) -> LogBatch:
    """Decode the base64 + gzip ``awslogs.data`` string."""
    return decode_subscription_event({"awslogs": {"data": data}})


def batch_from_json(document: Mapping[str, Any]) -> LogBatch:
    """Read an already-decoded subscription document (``{"messageType": ..., "logEvents": [...]}``)."""
    try:
        decoded = _LenientDecode.model_validate(document)
    except ValidationError as exc:
        raise SubscriptionPayloadError(f"not a decoded subscription document: {_first_error(exc)}") from exc
    return _batch(decoded)


def encode_subscription_data(document: Mapping[str, Any]) -> str:
    """The inverse of :func:`decode_subscription_data` (what CloudWatch Logs sends): gzip + base64."""
    return base64.b64encode(gzip.compress(json.dumps(document).encode("utf-8"))).decode("ascii")


def looks_like_encoded_payload(text: str) -> bool:
    """True when ``text`` is base64 of gzip data (the raw ``awslogs.data`` string)."""
    candidate = text.strip()
    if len(candidate) < 24 or not candidate.startswith("H4sI"):  # base64 of the gzip magic bytes
        return False
    try:
        base64.b64decode(candidate[:24], validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


_NOT_A_PAYLOAD = "not a CloudWatch Logs subscription payload"


def _inflate(data: str, limit: int = MAX_DECODED_PAYLOAD_BYTES) -> Any:
    """The JSON document in base64 + gzip ``data``, inflating at most ``limit`` bytes."""
    try:
        compressed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SubscriptionPayloadError(f"{_NOT_A_PAYLOAD}: unable to decompress data (not base64)") from exc
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip (or zlib) header
    try:
        text = inflater.decompress(compressed, limit + 1)
    except zlib.error as exc:
        raise SubscriptionPayloadError(f"{_NOT_A_PAYLOAD}: unable to decompress data (not gzip)") from exc
    if len(text) > limit:
        raise PayloadTooLarge(
            f"subscription payload inflates beyond {limit} bytes (CloudWatch Logs sends about 1 MB): rejected unread"
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested beyond the parser
        reason = f"unable to decompress data (not UTF-8 JSON: {type(exc).__name__})"
        raise SubscriptionPayloadError(f"not a CloudWatch Logs subscription payload: {reason}") from exc


def _batch(decoded: _LenientDecode) -> LogBatch:
    events: list[LogEvent] = []
    bad: list[BadLogEvent] = []
    for index, raw in enumerate(decoded.logEvents):
        try:
            item = CloudWatchLogsLogEvent.model_validate(raw)
        except ValidationError as exc:
            bad.append(BadLogEvent(index, f"malformed log event: {_first_error(exc)}", excerpt(raw)))
            continue
        # CloudWatch Logs keeps times in UTC: a time given without a zone is one.
        moment = item.timestamp if item.timestamp.tzinfo is not None else item.timestamp.replace(tzinfo=UTC)
        # The message is a string: the model's other choice, a model class, cannot come from JSON.
        events.append(LogEvent(item.id, moment, str(item.message)))
    return LogBatch(
        message_type=decoded.messageType,
        owner=decoded.owner,
        # Names go to logs, metrics and FilterLogEvents: valid Unicode only.
        log_group=valid_unicode(decoded.logGroup),
        log_stream=valid_unicode(decoded.logStream),
        subscription_filters=tuple(decoded.subscriptionFilters),
        events=tuple(events),
        bad_events=tuple(bad),
    )


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    location = ".".join(str(part) for part in first.get("loc", ())) or "payload"
    return f"{location}: {first.get('msg', 'invalid')}"
