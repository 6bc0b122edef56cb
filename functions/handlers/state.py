"""State Lambda: EventBridge state events (TunnelState alarms, Network Manager, AWS Health) -> incidents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.incident_runtime import runtime
from handlers.observability import logger, metrics, trace_libraries, tracer
from vpn_doctor.constants import METRIC_REJECTED_EVENTS, METRIC_STATE_EVENTS
from vpn_doctor.incidents import unique
from vpn_doctor.state_events import RejectedEvent, normalise

trace_libraries(("botocore",))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Normalise the event, apply it to the tunnel's incident, publish the transitions."""
    now = datetime.now(UTC)
    result = normalise(event)
    if isinstance(result, RejectedEvent):
        metrics.add_metric(name=METRIC_REJECTED_EVENTS, unit=MetricUnit.Count, value=1)
        logger.warning(
            "Rejected state event",
            reason=result.reason,
            source=result.source,
            detail_type=result.detail_type,
            event_id=result.event_id,
        )
        return {"rejected": result.reason, "changes": 0, "transitions": []}
    active = runtime()
    transitions = []
    for change in result:
        logger.append_keys(vpn_connection_id=change.vpn_connection_id, tunnel_ip=change.tunnel_ip)
        metrics.add_metric(name=METRIC_STATE_EVENTS, unit=MetricUnit.Count, value=1)
        logger.info(
            "State change",
            state=change.state.value,
            source=change.source.value,
            maintenance=change.maintenance,
            reason=change.reason,
            event_id=change.event_id,
        )
        transitions += active.apply_state(change, now=now)
    transitions = unique(transitions)  # a leftover of the outbox is returned by every call for its tunnel
    published = active.publish(transitions)  # PublishFailed fails the invocation: EventBridge redelivers
    return {
        "rejected": None,
        "changes": len(result),
        "transitions": [t.kind.value for t in transitions],
        "published": published,
    }
