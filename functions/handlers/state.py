"""State Lambda: EventBridge state events (TunnelState alarms, Network Manager, AWS Health) -> incidents."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from handlers.incident_runtime import StateSettings, state_ports
from handlers.observability import (
    count,
    counts_publish_failures,
    logger,
    metrics,
    record_transitions,
    trace_libraries,
    tracer,
)
from handlers.wiring import Once, load_settings
from vpn_doctor.app.incidents import StatePorts, apply_state_changes
from vpn_doctor.aws.onboarding_store import DynamoDbOnboardingStore
from vpn_doctor.aws.own_changes import AuditedChanges
from vpn_doctor.constants import (
    ENV_REMEDIATION_TABLE,
    METRIC_EXPECTED_NOTICES,
    METRIC_REJECTED_EVENTS,
    METRIC_STATE_EVENTS,
)
from vpn_doctor.own_changes import AllOwnChanges, OwnChanges
from vpn_doctor.state_events import RejectedEvent, normalise

trace_libraries(("botocore",))


class Settings(StateSettings):
    """The state function's settings: the incident table, the bus, the incident rules, the look-back, and
    the table holding vpn-doctor's audit of its own tunnel changes (unset: it makes none)."""

    remediation_table: str | None = Field(None, alias=ENV_REMEDIATION_TABLE)


def _ports(settings: Settings) -> StatePorts:
    # vpn-doctor's own tunnel changes: the on-boarding's (incidents table, always there) and remediation's.
    sources: list[OwnChanges] = [DynamoDbOnboardingStore(settings.incidents_table)]
    if settings.remediation_table is not None:
        sources.append(AuditedChanges(settings.remediation_table))
    return replace(state_ports(settings), own_changes=AllOwnChanges(tuple(sources)))


settings = Once(lambda: load_settings(Settings))
ports = Once(lambda: _ports(settings()))


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
    applied = apply_state_changes(result, ports(), lookback=lookback, now=now)
    record_transitions(applied.transitions)
    for expected in applied.expected:
        count(METRIC_EXPECTED_NOTICES)
        logger.info(
            "AWS Health notice expected: no incident, no alert",
            note=expected.note,
            audit_ref=expected.change.ref,
            vpn_connection_id=expected.notice.vpn_connection_id,
            tunnel_ip=expected.change.tunnel_ip,
            event_id=expected.notice.event_id,
        )
    return {
        "rejected": None,
        "changes": len(result),
        "transitions": [t.kind.value for t in applied.transitions],
        "published": applied.published,
        "expected": [expected.note for expected in applied.expected],
    }
