"""The ingest use case: a decoded log batch in, classified findings and a report out (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from vpn_doctor.classify import Classifier
from vpn_doctor.parsing import identity_from_name, parse_line
from vpn_doctor.records import (
    CLOCK_SKEW,
    DEFAULT_MAX_CLOCK_SKEW,
    Finding,
    TunnelEvent,
    clock_skew_note,
    usable_time,
)
from vpn_doctor.subscription import BadLogEvent, LogBatch
from vpn_doctor.taxonomy import Category
from vpn_doctor.text import excerpt


def trusted_time(
    event: TunnelEvent, *, now: datetime, max_skew: timedelta, delivered_at: datetime | None
) -> TunnelEvent:
    """The event, or, when it is dated more than ``max_skew`` ahead of ``now``, the event dated at its
    delivery (``delivered_at`` when usable, never later than ``now``) with a :data:`CLOCK_SKEW` note in
    its fields."""
    moment = event.timestamp
    if moment is None or moment - now <= max_skew:
        return event
    used = delivered_at if usable_time(delivered_at) and delivered_at <= now else now
    return replace(event, timestamp=used, fields={**event.fields, CLOCK_SKEW: clock_skew_note(moment, now, used)})


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be (fully) read: why, and where it came from."""

    reason: str
    excerpt: str
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"reason": self.reason, "excerpt": self.excerpt, "event_id": self.event_id}


@dataclass(slots=True)
class IngestReport:
    """What one batch produced."""

    log_group: str | None = None
    log_stream: str | None = None
    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    bad_records: list[BadRecord] = field(default_factory=list)
    control_message: bool = False
    # The tunnel's earlier lines read back from its log group to put this delivery in context.
    context_records: int = 0
    # Records dated too far ahead of the receiving clock (dated at their delivery instead).
    clock_skewed: int = 0

    @property
    def failures(self) -> list[Finding]:
        """Findings that describe a problem (the ones that go on to incidents)."""
        return [finding for finding in self.findings if finding.is_failure]

    @property
    def by_category(self) -> Counter[str]:
        """How many findings of each category."""
        return Counter(finding.category.value for finding in self.findings)

    @property
    def unknown(self) -> int:
        """Records that were read but not recognised (or not read at all)."""
        return sum(1 for finding in self.findings if finding.category is Category.UNKNOWN)

    def to_dict(self, *, include_healthy: bool = False) -> dict[str, Any]:
        """JSON-ready summary (healthy findings are counted, not listed, unless asked)."""
        listed = [f for f in self.findings if include_healthy or f.category is not Category.HEALTHY]
        return {
            "log_group": self.log_group,
            "log_stream": self.log_stream,
            "control_message": self.control_message,
            "records": self.records,
            "context_records": self.context_records,
            "clock_skewed": self.clock_skewed,
            "by_category": dict(sorted(self.by_category.items())),
            "bad_records": [bad.to_dict() for bad in self.bad_records],
            "findings": [finding.to_dict() for finding in listed],
        }


def events_of_message(
    message: str,
    *,
    reference_time: datetime | None = None,
    stream_identity: tuple[str | None, str | None] = (None, None),
    event_id: str | None = None,
) -> Iterator[TunnelEvent]:
    """The records in one log event: a JSON record is one record even when pretty-printed;
    syslog shipped in one event may hold several lines. ``stream_identity`` and ``event_id`` are
    stamped on each record as :func:`vpn_doctor.parsing.parse_line` says."""
    stripped = message.strip()
    if stripped.startswith("{") or "\n" not in stripped:
        yield parse_line(stripped, reference_time=reference_time, stream_identity=stream_identity, event_id=event_id)
        return
    for line in stripped.splitlines():
        if line.strip():
            yield parse_line(line, reference_time=reference_time, stream_identity=stream_identity, event_id=event_id)


#: The tunnel's records between two times, oldest first (the caller knows the log group and tunnel).
EarlierLines = Callable[[datetime, datetime], Sequence[TunnelEvent]]


def ingest_batch(
    batch: LogBatch,
    classifier: Classifier,
    *,
    earlier: EarlierLines | None = None,
    now: datetime | None = None,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> IngestReport:
    """Parse and classify every record of a batch. Never raises for bad records: they are
    classified ``unknown`` with an error and listed in ``bad_records``. Given ``now``, a record dated
    more than ``max_clock_skew`` ahead of it is dated at its delivery (:func:`trusted_time`) and counted.

    CloudWatch Logs delivers a tunnel's lines within seconds of their writing, so the lines a
    DELETE or a rekey collision must be read with (a quiet period before it, a rekey just before,
    earlier collisions) came in earlier deliveries. When the batch holds such a record and
    ``earlier`` is given, the tunnel's lines of the classifier's history window before the batch are read
    first (not reported again: only the classifier's history takes them)."""
    report = IngestReport(log_group=batch.log_group, log_stream=batch.log_stream)
    if batch.is_control:
        report.control_message = True
        return report
    report.bad_records.extend(_bad(event) for event in batch.bad_events)
    # One stream is one tunnel: read its identity once, not once per record.
    identity = identity_from_name(batch.log_stream) if batch.log_stream else (None, None)
    records: Iterable[TunnelEvent] = _records(batch, identity, now, max_clock_skew)
    if earlier is not None:
        records = list(records)
        report.context_records = _put_in_context(records, classifier, earlier)
    _classify_into(report, records, classifier)
    report.records += len(batch.bad_events)
    return report


def _put_in_context(records: Sequence[TunnelEvent], classifier: Classifier, earlier: EarlierLines) -> int:
    """Feed the classifier the tunnel's lines from before the batch when a record needs them;
    returns how many it took."""
    if not any(classifier.reads_earlier_deliveries(record) for record in records):
        return 0
    times = [record.timestamp for record in records if record.timestamp is not None]
    if not times:
        return 0
    start = min(times)
    lines = earlier(start - classifier.history_window, start)
    if not lines:
        return 0
    # The delivery's own records read back are left to the delivery, known as the classifier knows
    # a delivered record: by line and time (whatever event id FilterLogEvents gives them).
    own = {(record.raw, record.timestamp) for record in records}
    context = [line for line in lines if (line.raw, line.timestamp) not in own]
    classifier.classify_all(context)
    return len(context)


def _classify_into(report: IngestReport, events: Iterable[TunnelEvent], classifier: Classifier) -> None:
    """Classify the events in one pass; a record read with an error is also listed as a bad record."""
    findings = classifier.classify_all(events)
    report.findings.extend(findings)
    report.records += len(findings)
    for finding in findings:
        event = finding.event
        if CLOCK_SKEW in event.fields:
            report.clock_skewed += 1
        if finding.error:
            report.bad_records.append(BadRecord(finding.error, excerpt(event.raw), event_id=event.event_id))


def _records(
    batch: LogBatch, identity: tuple[str | None, str | None], now: datetime | None, max_skew: timedelta
) -> Iterator[TunnelEvent]:
    """Every record of a batch, in order, stamped with the stream's identity and its event's id
    (dated at its delivery when its own time is too far ahead of ``now``)."""
    for event_id, timestamp, message in batch.events:
        for event in events_of_message(message, reference_time=timestamp, stream_identity=identity, event_id=event_id):
            yield event if now is None else trusted_time(event, now=now, max_skew=max_skew, delivered_at=timestamp)


def ingest_events(events: Iterable[TunnelEvent], classifier: Classifier) -> IngestReport:
    """Classify already-parsed events (CLI and tests)."""
    report = IngestReport()
    _classify_into(report, events, classifier)
    return report


def _bad(event: BadLogEvent) -> BadRecord:
    return BadRecord(reason=f"log event {event.index}: {event.reason}", excerpt=event.excerpt)
