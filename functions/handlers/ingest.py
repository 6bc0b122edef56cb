"""Ingest Lambda: CloudWatch Logs subscription (tunnel, BGP and customer-gateway logs) -> findings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import logger, metrics, trace_libraries, tracer
from vpn_doctor.classify import Classifier
from vpn_doctor.constants import (
    ENV_INCIDENTS_TABLE,
    METRIC_BAD_RECORDS,
    METRIC_CONTEXT_FAILURES,
    METRIC_FINDINGS,
    METRIC_INVALID_PAYLOADS,
    METRIC_RECORDS,
    METRIC_UNKNOWN_RECORDS,
    METRICS_NAMESPACE,
)
from vpn_doctor.ingest import EarlierLines, IngestReport, ingest_batch
from vpn_doctor.parsing import identity_from_name
from vpn_doctor.subscription import SubscriptionPayloadError, decode_subscription_event

if TYPE_CHECKING:
    from types import ModuleType

    from vpn_doctor.aws.logs import TunnelLogs
    from vpn_doctor.models import IncidentTransition
    from vpn_doctor.records import TunnelEvent


@dataclass(slots=True)
class _Warm:
    """What this function instance keeps between invocations."""

    # One classifier for the instance's life: the deliveries of a tunnel that reach this instance
    # are read in the context of the ones before (a rekey every two minutes is a lifetime mismatch
    # only over several deliveries). Bounded (history per tunnel, least recently heard tunnels
    # forgotten); a redelivered record gets its finding again without being counted twice.
    classifier: Classifier = field(default_factory=Classifier)
    # The CloudWatch Logs adapter (and its boto3 client) of the first look-back, kept for the next.
    logs: TunnelLogs | None = None


_warm = _Warm()


def reset() -> None:
    """Forget what earlier invocations left: the classifier's memory, the logs client (tests, the demo)."""
    _warm.classifier = Classifier()
    _warm.logs = None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Decode the subscription payload, classify every record, report what was found."""
    try:
        batch = decode_subscription_event(event)
    except SubscriptionPayloadError as exc:
        metrics.add_metric(name=METRIC_INVALID_PAYLOADS, unit=MetricUnit.Count, value=1)
        logger.error(
            "Rejected event", reason=str(exc), event_keys=sorted(event)[:10] if isinstance(event, dict) else None
        )
        raise
    vpn_id, tunnel_ip = identity_from_name(batch.log_stream)
    logger.append_keys(log_group=batch.log_group, vpn_connection_id=vpn_id, tunnel_ip=tunnel_ip)
    report = ingest_batch(batch, _warm.classifier, earlier=_earlier_lines(batch.log_group, vpn_id, tunnel_ip))
    _record(report)
    _open_incidents(report)
    return report.to_dict()


def _open_incidents(report: IngestReport) -> None:
    """Failure findings -> incident service -> transitions on the bus (when the incidents table is configured)."""
    failures = [finding for finding in report.failures if finding.vpn_connection_id and finding.tunnel_ip]
    if not failures:
        return
    if not os.environ.get(ENV_INCIDENTS_TABLE):
        # Classification-only deployment (or a local run): findings are reported and logged above.
        logger.debug("Incidents not configured: findings not applied", variable=ENV_INCIDENTS_TABLE)
        return
    incidents = _incident_runtime()
    active = incidents.runtime()
    now = datetime.now(UTC)
    transitions: list[IncidentTransition] = []
    for finding in failures:
        transitions += active.service.on_finding(finding, event_id=incidents.event_id_of(finding), now=now)
    # A bus failure raises PublishFailed: Lambda retries the batch, whose duplicates publish the outbox.
    active.publish(transitions)


def _earlier_lines(log_group: str, vpn_id: str | None, tunnel_ip: str | None) -> EarlierLines | None:
    """The tunnel's earlier lines from its own log group (AWS tunnel log streams name the tunnel),
    read with the ingest function's FilterLogEvents grant; a failed read leaves the records without
    that context (logged, counted), never fails the batch."""
    if not (log_group and vpn_id and tunnel_ip):
        return None

    def read(start: datetime, end: datetime) -> list[TunnelEvent]:
        trace_libraries(("botocore",))
        from vpn_doctor.aws import AwsCallFailed  # noqa: PLC0415 - boto3 only for deliveries that need it
        from vpn_doctor.aws.logs import TunnelLogs  # noqa: PLC0415

        if _warm.logs is None:
            _warm.logs = TunnelLogs()
        try:
            lines = _warm.logs.lookback(log_group, vpn_id, tunnel_ip, start=start, end=end)
        except AwsCallFailed as exc:
            metrics.add_metric(name=METRIC_CONTEXT_FAILURES, unit=MetricUnit.Count, value=1)
            logger.warning("Earlier lines not read: records classified without them", code=exc.code)
            return []
        logger.debug("Earlier lines read for context", count=len(lines))
        return lines

    return read


def _incident_runtime() -> ModuleType:
    """The incident machinery (boto3, the DynamoDB store, the bus), loaded by the first batch with a
    failure to apply. Most batches are healthy rekey chatter and never need it: a cold start that only
    reads chatter does not import boto3 (about 100 ms). botocore is traced from then on."""
    trace_libraries(("botocore",))
    from handlers import incident_runtime  # noqa: PLC0415 - loaded on first use, see above

    return incident_runtime


def _record(report: IngestReport) -> None:
    if report.control_message:
        logger.info("Control message from CloudWatch Logs: subscription is reachable")
        return
    metrics.add_metric(name=METRIC_RECORDS, unit=MetricUnit.Count, value=report.records)
    metrics.add_metric(name=METRIC_UNKNOWN_RECORDS, unit=MetricUnit.Count, value=report.unknown)
    metrics.add_metric(name=METRIC_BAD_RECORDS, unit=MetricUnit.Count, value=len(report.bad_records))
    for category, count in report.by_category.items():
        with single_metric(
            name=METRIC_FINDINGS,
            unit=MetricUnit.Count,
            value=count,
            namespace=METRICS_NAMESPACE,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="Category", value=category)
    for bad in report.bad_records:
        logger.warning("Bad record kept as unknown", reason=bad.reason, excerpt=bad.excerpt, event_id=bad.event_id)
    for finding in report.failures:
        logger.info(
            "Finding",
            category=finding.category.value,
            cause=finding.cause.value if finding.cause else None,
            severity=finding.severity.value,
            summary=finding.summary,
            vpn_connection_id=finding.vpn_connection_id,
            tunnel_ip=finding.tunnel_ip,
        )
