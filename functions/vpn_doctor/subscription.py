"""CloudWatch Logs subscription payloads: decode with Powertools' models, read events one by one.

Powertools' ``CloudWatchLogsModel`` does the base64 + gzip decoding. Its envelope would reject
the whole batch when a single log event is malformed, so the log events are validated one at a
time here, each with Powertools' ``CloudWatchLogsLogEvent``: one bad event costs one record, never
the batch.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aws_lambda_powertools.utilities.parser.models import (
    CloudWatchLogsData,
    CloudWatchLogsDecode,
    CloudWatchLogsLogEvent,
    CloudWatchLogsModel,
)
from pydantic import Field, ValidationError

from vpn_doctor.text import excerpt


class SubscriptionPayloadError(ValueError):
    """The input is not a CloudWatch Logs subscription payload (nothing in it can be read)."""


class _LenientDecode(CloudWatchLogsDecode):
    # Events are validated individually below, so a bad one cannot fail the batch.
    logEvents: list[Any] = Field(default_factory=list)  # type: ignore[assignment]


class _LenientData(CloudWatchLogsData):
    decoded_data: _LenientDecode = Field(..., alias="data")  # type: ignore[assignment]


class _LenientModel(CloudWatchLogsModel):
    awslogs: _LenientData  # type: ignore[assignment]


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
    try:
        model = _LenientModel.model_validate(event)
    except ValidationError as exc:
        raise SubscriptionPayloadError(f"not a CloudWatch Logs subscription payload: {_first_error(exc)}") from exc
    return _batch(model.awslogs.decoded_data)


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
        log_group=decoded.logGroup,
        log_stream=decoded.logStream,
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
