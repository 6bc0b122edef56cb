"""Use case of the ingest function: deliver one log batch (classify, look back for context, apply
the failures to their tunnels' incidents, publish the transitions)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.ingest import EarlierLines, IngestReport, ingest_batch
from vpn_doctor.parsing import identity_from_name
from vpn_doctor.records import DEFAULT_MAX_CLOCK_SKEW
from vpn_doctor.redact import redacted_count

if TYPE_CHECKING:
    from vpn_doctor.app.incidents import Incidents
    from vpn_doctor.app.ports import TunnelLogReader
    from vpn_doctor.classify import Classifier
    from vpn_doctor.models import Finding, IncidentTransition, TunnelEvent
    from vpn_doctor.subscription import LogBatch


@dataclass(frozen=True, slots=True)
class LogPorts:
    """What a delivery calls out to: the tunnel's log group (look-back) and the incidents."""

    logs: TunnelLogReader
    incidents: Incidents


@dataclass(slots=True)
class LogDelivery:
    """What one batch produced: the report, the transitions published, a failed look-back's AWS code."""

    report: IngestReport
    transitions: list[IncidentTransition] = field(default_factory=list)
    published: int = 0
    context_error: str | None = None
    # Failure findings naming no tunnel (no connection id or tunnel IP): no incident can hold them.
    unattributed: int = 0
    # Key-like values parsing took out of the records' text (vpn_doctor.redact).
    redacted: int = 0


def deliver_log_batch(
    batch: LogBatch,
    classifier: Classifier,
    ports: Callable[[], LogPorts],
    *,
    now: datetime,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> LogDelivery:
    """Classify every record of the batch and apply its failures to incidents.

    ``classifier`` is the function instance's (a tunnel's deliveries are read in the context of the
    ones before). ``ports`` is called only when the batch needs AWS (a look-back, a failure to
    apply): most batches are healthy rekey chatter, so a cold start that reads only chatter never
    builds a client, nor loads the incident machinery. A refused look-back leaves the records
    without that context (``context_error``), never fails the batch; a failed publish raises
    :class:`~vpn_doctor.app.publishing.PublishFailed` (the batch is retried; duplicates publish the outbox).
    A record dated more than ``max_clock_skew`` ahead of ``now`` is dated at its delivery (a failure
    dated in the future would keep its incident from ever clearing) and says so (``clock_skew``).
    """
    delivery = LogDelivery(IngestReport())
    vpn_id, tunnel_ip = identity_from_name(batch.log_stream)
    earlier: EarlierLines | None = None
    if batch.log_group and vpn_id and tunnel_ip:

        def earlier(start: datetime, end: datetime) -> list[TunnelEvent]:
            try:
                return ports().logs.lookback(batch.log_group, vpn_id, tunnel_ip, start=start, end=end)
            except AwsCallFailed as exc:
                delivery.context_error = exc.code
                return []

    delivery.report = ingest_batch(batch, classifier, earlier=earlier, now=now, max_clock_skew=max_clock_skew)
    found = delivery.report.failures
    failures = [finding for finding in found if finding.vpn_connection_id and finding.tunnel_ip]
    delivery.unattributed = len(found) - len(failures)
    delivery.redacted = sum(redacted_count(finding.event) for finding in delivery.report.findings)
    if failures:
        # Loaded by the first batch with a failure (see above).
        from vpn_doctor.app.incidents import publish_transitions  # noqa: PLC0415
        from vpn_doctor.incidents import unique  # noqa: PLC0415

        incidents = ports().incidents
        for finding in failures:
            delivery.transitions += incidents.service.on_finding(finding, event_id=event_id_of(finding), now=now)
        # A leftover of the outbox is returned by every call for its tunnel: one message each.
        delivery.transitions = unique(delivery.transitions)
        delivery.published = publish_transitions(incidents, delivery.transitions)
    return delivery


def event_id_of(finding: Finding) -> str:
    """The finding's delivery id (CloudWatch Logs event id), or a digest of the record when absent."""
    if finding.event.event_id:
        return finding.event.event_id
    return "record:" + hashlib.sha256(finding.event.raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
