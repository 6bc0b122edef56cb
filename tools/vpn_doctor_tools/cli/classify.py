"""``vpn-doctor classify``: one JSON object out per input line (architecture.md, CLI contract)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from vpn_doctor.classify import Classifier
from vpn_doctor.ingest import IngestReport, ingest_batch
from vpn_doctor.models import Finding
from vpn_doctor.parsing import parse_line
from vpn_doctor.subscription import (
    LogBatch,
    SubscriptionPayloadError,
    batch_from_json,
    decode_subscription_data,
    decode_subscription_event,
    looks_like_encoded_payload,
)
from vpn_doctor.taxonomy import Category


def classify_stream(lines: Iterable[str], *, now: datetime) -> Iterator[dict[str, Any]]:
    """Yield exactly one JSON-ready object per input line, in order. Never raises for bad input.

    A line may be a tunnel/BGP log record (JSON or text), a strongSwan/libreswan log line, or a
    CloudWatch Logs subscription payload (base64+gzip string, its decoded JSON, or the Lambda
    event around it); a payload line reports its most severe finding at the top level and every
    record under ``findings``.
    """
    classifier = Classifier()
    for line in lines:
        yield _classify_line(line.rstrip("\r\n"), classifier, now)


def _classify_line(line: str, classifier: Classifier, now: datetime) -> dict[str, Any]:
    stripped = line.strip()
    try:
        batch = _as_batch(stripped)
    except SubscriptionPayloadError as exc:
        finding = classifier.classify(parse_line("", reference_time=now))
        data = finding.to_dict()
        data["error"] = str(exc)
        data["summary"] = f"Subscription payload could not be read: {exc}"
        return data
    if batch is None:
        return classifier.classify(parse_line(line, reference_time=now)).to_dict()
    return _batch_result(ingest_batch(batch, classifier))


def _as_batch(text: str) -> LogBatch | None:
    if looks_like_encoded_payload(text):
        return decode_subscription_data(text)
    if not text.startswith("{") or ('"awslogs"' not in text and '"logEvents"' not in text):
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None  # a broken tunnel record; the line parser reports it
    if isinstance(document, dict) and "awslogs" in document:
        return decode_subscription_event(document)
    if isinstance(document, dict) and "logEvents" in document:
        return batch_from_json(document)
    return None


def _batch_result(report: IngestReport) -> dict[str, Any]:
    headline = _headline(report.findings)
    if headline is not None:
        data = headline.to_dict()
    else:
        data = {
            "category": Category.HEALTHY.value if report.control_message else Category.UNKNOWN.value,
            "cause": None,
            "severity": "info",
            "vpn_connection_id": None,
            "tunnel": None,
            "summary": "Subscription control message" if report.control_message else "Empty subscription payload",
        }
    data["payload"] = {
        "log_group": report.log_group,
        "log_stream": report.log_stream,
        "records": report.records,
        "by_category": dict(sorted(report.by_category.items())),
        "bad_records": [bad.to_dict() for bad in report.bad_records],
    }
    data["findings"] = [finding.to_dict() for finding in report.findings]
    if report.bad_records and "error" not in data:
        data["error"] = f"{len(report.bad_records)} record(s) in the payload could not be read"
    return data


def _headline(findings: list[Finding]) -> Finding | None:
    """The finding that best sums up a batch: the most severe failure, else the last record."""
    failures = [finding for finding in findings if finding.is_failure]
    if failures:
        return max(failures, key=lambda finding: finding.severity.rank)
    return findings[-1] if findings else None
