"""State Lambda: EventBridge state events (TunnelState alarms, Network Manager, AWS Health) -> incidents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.incident_runtime import StateSettings, state_ports
from handlers.observability import (
    count,
    counts_publish_failures,
    logger,
    metrics,
    record_expected,
    record_transitions,
    trace_libraries,
    tracer,
)
from handlers.wiring import Once, load_settings
from vpn_doctor.app.ahead import warn_scheduled
from vpn_doctor.app.incidents import apply_state_changes
from vpn_doctor.constants import METRIC_CLOCK_SKEWED_RECORDS, METRIC_REJECTED_EVENTS, METRIC_STATE_EVENTS
from vpn_doctor.state_events import RejectedEvent, normalise

trace_libraries(("botocore",))


class Settings(StateSettings):
    """The state function's settings: the incident table, the bus, the incident rules, the look-back, and
    the table holding remediation's audit of vpn-doctor's own tunnel changes (unset: remediation is off)."""


settings = Once(lambda: load_settings(Settings))
ports = Once(lambda: state_ports(settings()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@counts_publish_failures
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Normalise the event, apply it to the tunnels' incidents, publish the transitions."""
    now = datetime.now(UTC)
    lookback = settings().lookback()
    result = normalise(event)
    if isinstance(result, RejectedEvent):
        count(METRIC_REJECTED_EVENTS)
        logger.warning(
            "Rejected state event",
            reason=result.reason,
            source=result.source,
            detail_type=result.detail_type,
            event_id=result.event_id,
        )
        return {"rejected": result.reason, "changes": 0, "transitions": []}
    for change in result:
        count(METRIC_STATE_EVENTS)
        logger.append_keys(vpn_connection_id=change.vpn_connection_id, tunnel_ip=change.tunnel_ip)
        logger.info(
            "State change",
            state=change.state.value,
            source=change.source.value,
            maintenance=change.maintenance,
            reason=change.reason,
            event_id=change.event_id,
        )
    applied = apply_state_changes(result, ports(), lookback=lookback, now=now, max_clock_skew=settings().max_clock_skew)
    # AWS Health's scheduled replacements: a warning ahead for a tunnel that will not come back by itself.
    warned = warn_scheduled(result, ports(), now=now)
    count(METRIC_CLOCK_SKEWED_RECORDS, applied.clock_skewed)
    record_transitions(applied.transitions)
    record_expected(applied.expected)
    return {
        "rejected": None,
        "changes": len(result),
        "transitions": [t.kind.value for t in applied.transitions],
        "published": applied.published,
        "warned_ahead": warned,
        "expected": [expected.note for expected in applied.expected],
    }
