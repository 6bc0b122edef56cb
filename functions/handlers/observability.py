"""One Logger, Metrics and Tracer for every handler (service ``vpn-doctor``, namespace ``VpnDoctor``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from vpn_doctor.app.publishing import PublishFailed
from vpn_doctor.constants import (
    METRIC_EXPECTED_NOTICES,
    METRIC_INCIDENT_TRANSITIONS,
    METRIC_PUBLISH_FAILURES,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)
from vpn_doctor.own_changes import ExpectedNotice

if TYPE_CHECKING:
    from vpn_doctor.models import IncidentTransition

# The library our functions call out with: botocore (every AWS call). Patching only it, instead of
# every library the X-Ray SDK knows (sqlite3, requests, httpx, database drivers, ...), spares each
# cold start importing and patching the rest. Never http.client: its patch records each request's
# URL (``http.request.url``), and a chat webhook's URL is a credential; the webhook adapter traces
# its posts itself, without the URL.
TRACED_LIBRARIES = ("botocore",)

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
# Each handler patches what it calls out with (patching botocore imports it): see trace_libraries.
tracer = Tracer(service=SERVICE_NAME, auto_patch=False)


def trace_libraries(libraries: Sequence[str] = TRACED_LIBRARIES) -> None:
    """Trace the calls these libraries make (X-Ray subsegments), from now on; patching twice is a no-op.

    A handler calls it at import for the libraries it always uses; the ingest handler only when it
    first needs AWS (most of its batches never do)."""
    tracer.patch(modules=libraries)


def count(name: str, value: int = 1, *, dimension: tuple[str, str] | None = None) -> None:
    """Add ``value`` to a metric (namespace ``VpnDoctor``); with a ``(name, value)`` dimension, as its own
    metric line, so one invocation can count several dimension values of one metric."""
    if dimension is None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=METRICS_NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension[0], value=dimension[1])


def record_transitions(transitions: Sequence[IncidentTransition]) -> None:
    """Count the published incident transitions by kind, one structured log line each (models hold no secrets)."""
    for transition in transitions:
        count(METRIC_INCIDENT_TRANSITIONS, dimension=("Kind", transition.kind.value))
        incident = transition.incident
        logger.info(
            "Incident transition",
            transition=transition.kind.value,
            incident_id=incident.incident_id,
            vpn_connection_id=incident.vpn_connection_id,
            tunnel_ip=incident.tunnel_ip,
            category=incident.category.value,
            cause=incident.cause.value if incident.cause else None,
            severity=incident.severity.value,
            status=incident.status.value,
            maintenance=incident.maintenance,
            reason=transition.reason,
            event_id=transition.event_id,
        )


_Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def counts_publish_failures(handler: _Handler) -> _Handler:
    """Count ``PublishFailures`` when the handler raises :class:`PublishFailed`, then re-raise it (the
    invocation fails and is retried; the stack alarms on the metric). Goes under ``metrics.log_metrics``,
    which flushes the metric even when the handler raises."""

    @functools.wraps(handler)
    def counted(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return handler(event, context)
        except PublishFailed:
            count(METRIC_PUBLISH_FAILURES)
            raise

    return counted


def record_expected(expected: Iterable[ExpectedNotice]) -> None:
    """Log and count the signals caused by vpn-doctor's own tunnel changes (no incident, no alert)."""
    for notice in expected:
        count(METRIC_EXPECTED_NOTICES)
        logger.info(
            "Expected after vpn-doctor's own change: no incident, no alert",
            note=notice.note,
            audit_ref=notice.change.ref,
            source=notice.notice.source.value,
            state=notice.notice.state.value,
            vpn_connection_id=notice.notice.vpn_connection_id,
            tunnel_ip=notice.change.tunnel_ip,
            event_id=notice.notice.event_id,
        )
