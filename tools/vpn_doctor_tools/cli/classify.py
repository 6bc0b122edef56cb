"""``vpn-doctor classify``: one JSON object out per input line (architecture.md, CLI contract)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from vpn_doctor.attribution import ConnectionMap, attributed_finding
from vpn_doctor.classify import Classifier
from vpn_doctor.ingest import IngestReport, ingest_batch, trusted_time
from vpn_doctor.models import Finding
from vpn_doctor.parsing import parse_line
from vpn_doctor.records import DEFAULT_MAX_CLOCK_SKEW
from vpn_doctor.subscription import (
    LogBatch,
    SubscriptionPayloadError,
    batch_from_json,
    decode_subscription_data,
    decode_subscription_event,
    looks_like_encoded_payload,
)
from vpn_doctor.taxonomy import Category

#: The error of a line whose classification failed on a defect of ours (the fuzz suite expects none).
INTERNAL_ERROR = "internal error"


def classify_stream(
    lines: Iterable[str],
    *,
    now: datetime,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
    connection_map: ConnectionMap | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield exactly one JSON-ready object per input line, in order. Never raises for bad input.

    A line may be a tunnel/BGP log record (JSON or text), a strongSwan/libreswan log line, or a
    CloudWatch Logs subscription payload (base64+gzip string, its decoded JSON, or the Lambda
    event around it); a payload line reports its most severe finding at the top level and every
    record under ``findings``. A record dated more than ``max_clock_skew`` after ``now`` is dated
    ``now`` (its delivery, for the CLI) with a ``clock_skew`` note, as the ingest function does.
    A failure that names no tunnel (a gateway's line) is attributed as the ingest function does, with
    ``connection_map`` (``--map``; none: nothing to match), and says how under ``attribution``: the
    ones left unattributed, with the reason, are the ones the function counts and never applies.
    """
    classifier = Classifier()
    attribution = _Attribution(connection_map or ConnectionMap())
    for line in lines:
        try:
            yield _classify_line(line.rstrip("\r\n"), classifier, now, max_clock_skew, attribution)
        except Exception as exc:  # a defect on one line must not lose the lines after it
            yield _unread(classifier, now, f"{INTERNAL_ERROR}: {type(exc).__name__}", "Record could not be classified")


class _Attribution:
    """Attributes a run's failures that name no tunnel, and says how (or why not) in their output."""

    def __init__(self, connection_map: ConnectionMap) -> None:
        self.connection_map = connection_map

    def finding(self, finding: Finding, log_group: str | None = None) -> dict[str, Any]:
        """The finding's output, attributed where it is a failure naming no tunnel."""
        if not finding.is_failure or (finding.vpn_connection_id and finding.tunnel_ip):
            return finding.to_dict()
        attributed, found = attributed_finding(finding, self.connection_map, log_group=log_group)
        data = attributed.to_dict()
        data["attribution"] = {"attributed": found.attributed, "basis": found.basis}
        return data


def _classify_line(
    line: str, classifier: Classifier, now: datetime, max_skew: timedelta, attribution: _Attribution
) -> dict[str, Any]:
    stripped = line.strip()
    try:
        batch = _as_batch(stripped)
    except SubscriptionPayloadError as exc:
        return _unread(classifier, now, str(exc), f"Subscription payload could not be read: {exc}")
    if batch is None:
        event = trusted_time(parse_line(line, reference_time=now), now=now, max_skew=max_skew, delivered_at=now)
        return attribution.finding(classifier.classify(event))
    return _batch_result(ingest_batch(batch, classifier, now=now, max_clock_skew=max_skew), attribution)


def _unread(classifier: Classifier, now: datetime, error: str, summary: str) -> dict[str, Any]:
    """The output line of an input line that could not be read at all."""
    data = classifier.classify(parse_line("", reference_time=now)).to_dict()
    data["error"] = error
    data["summary"] = summary
    return data


def _as_batch(text: str) -> LogBatch | None:
    if looks_like_encoded_payload(text):
        return decode_subscription_data(text)
    if not text.startswith("{") or ('"awslogs"' not in text and '"logEvents"' not in text):
        return None
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None  # a broken (or absurdly nested) tunnel record; the line parser reports it
    if isinstance(document, dict) and "awslogs" in document:
        return decode_subscription_event(document)
    if isinstance(document, dict) and "logEvents" in document:
        return batch_from_json(document)
    return None


def _batch_result(report: IngestReport, attribution: _Attribution) -> dict[str, Any]:
    headline = _headline(report.findings)
    if headline is not None:
        data = attribution.finding(headline, report.log_group)
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
    data["findings"] = [attribution.finding(finding, report.log_group) for finding in report.findings]
    unattributed = [found for found in data["findings"] if not found.get("attribution", {}).get("attributed", True)]
    data["payload"]["unattributed"] = len(unattributed)
    if report.bad_records and "error" not in data:
        data["error"] = f"{len(report.bad_records)} record(s) in the payload could not be read"
    return data


def _headline(findings: list[Finding]) -> Finding | None:
    """The finding that best sums up a batch: the most severe failure, else the last record."""
    failures = [finding for finding in findings if finding.is_failure]
    if failures:
        return max(failures, key=lambda finding: finding.severity.rank)
    return findings[-1] if findings else None
