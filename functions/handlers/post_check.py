"""Post-check Lambda (EventBridge Scheduler one-time schedule after a modification): is the tunnel UP again?

The schedule's input is what the respond function wrote: the incident ``transition``, the applied
``remediation`` and ``modified_at``. When the tunnel is UP nothing is sent; otherwise an alert whose
transition kind is ``escalated`` goes on the bus with the escalation text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import logger, metrics, trace_libraries, tracer
from handlers.runtime import LazyRuntime, SettingsError, region
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.constants import (
    DETAIL_TYPE_ALERT,
    ENV_EVENT_BUS_NAME,
    METRIC_ESCALATIONS,
    METRIC_INVALID_PAYLOADS,
    METRIC_PUBLISH_FAILURES,
)
from vpn_doctor.models import (
    Alert,
    IncidentTransition,
    RemediationOutcome,
    TransitionKind,
    TunnelState,
    dump,
    load,
)
from vpn_doctor.remediation import post_check

trace_libraries(("botocore",))


@dataclass(frozen=True, slots=True)
class PostCheckSettings:
    """The post-check function's configuration."""

    event_bus_name: str
    region: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PostCheckSettings:
        """Read and validate; raises :class:`SettingsError` naming the variable."""
        bus = env.get(ENV_EVENT_BUS_NAME, "").strip()
        if not bus:
            raise SettingsError(f"{ENV_EVENT_BUS_NAME} is not set")
        return cls(event_bus_name=bus, region=region(env))


@dataclass(slots=True)
class PostCheckRuntime:
    """Settings plus the adapters (clients created on first use)."""

    settings: PostCheckSettings
    ec2: Ec2Reader = field(default_factory=Ec2Reader)
    bus: EventBus = field(init=False)

    def __post_init__(self) -> None:
        self.bus = EventBus(self.settings.event_bus_name)


_RUNTIME: LazyRuntime[PostCheckRuntime] = LazyRuntime(lambda env: PostCheckRuntime(PostCheckSettings.from_env(env)))


def runtime() -> PostCheckRuntime:
    """The process-wide runtime, built from the environment on first use."""
    return _RUNTIME.get()


def reset() -> None:
    """Forget settings and clients (tests and the demo change the environment between runs)."""
    _RUNTIME.reset()


@dataclass(frozen=True, slots=True)
class PostCheckRequest:
    """What respond scheduled."""

    transition: IncidentTransition
    remediation: RemediationOutcome
    modified_at: datetime


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Re-check one modified tunnel; escalate when it is not UP."""
    active = runtime()
    try:
        request = load(PostCheckRequest, event)
    except (TypeError, ValueError) as exc:  # pydantic.ValidationError is a ValueError
        metrics.add_metric(name=METRIC_INVALID_PAYLOADS, unit=MetricUnit.Count, value=1)
        logger.error("Rejected post-check input", reason=str(exc)[:300])
        return {"status": "rejected"}
    incident = request.transition.incident
    logger.append_keys(
        vpn_connection_id=incident.vpn_connection_id, tunnel_ip=incident.tunnel_ip, incident_id=incident.incident_id
    )
    return check(active, request, now=datetime.now(UTC))


def check(active: PostCheckRuntime, request: PostCheckRequest, *, now: datetime) -> dict[str, Any]:
    """Read the tunnel's telemetry; publish an escalated alert when it did not come back."""
    incident = request.transition.incident
    try:
        connection = active.ec2.connection(incident.vpn_connection_id)
    except AwsCallFailed as exc:
        # An unknown state is not a failed change: fail this invocation so the asynchronous retry asks again.
        logger.warning("DescribeVpnConnections failed; the post-check will be retried", code=exc.code)
        raise
    escalation = post_check(
        connection,
        incident.tunnel_ip,
        action=request.remediation.action,
        modified_at=request.modified_at,
        now=now,
    )
    if escalation is None:
        logger.info("Post-check: tunnel is UP again", action=_action(request))
        return {"status": "recovered"}
    metrics.add_metric(name=METRIC_ESCALATIONS, unit=MetricUnit.Count, value=1)
    logger.warning("Post-check: escalating", escalation=escalation)
    tunnel = connection.tunnel(incident.tunnel_ip) if connection is not None else None
    state = tunnel.telemetry.status if tunnel is not None and tunnel.telemetry is not None else TunnelState.UNKNOWN
    escalated = IncidentTransition(
        kind=TransitionKind.ESCALATED,
        incident=replace(incident, escalated=True, last_state=state, updated_at=now),
        at=now,
        event_id=f"post-check:{request.transition.event_id}",
        reason=escalation,
    )
    alert = Alert(
        transition=escalated,
        remediation=request.remediation,
        region=active.settings.region,
        escalation=escalation,
    )
    try:
        report = active.bus.publish(DETAIL_TYPE_ALERT, [dump(alert)])
    except AwsCallFailed as exc:
        metrics.add_metric(name=METRIC_PUBLISH_FAILURES, unit=MetricUnit.Count, value=1)
        logger.error("Escalation not published", code=exc.code)
        raise
    if report.failed:
        metrics.add_metric(name=METRIC_PUBLISH_FAILURES, unit=MetricUnit.Count, value=len(report.failed))
        logger.error("Escalation not published", failures=report.failed)
        return {"status": "not_published", "escalation": escalation}
    return {"status": "escalated", "escalation": escalation}


def _action(request: PostCheckRequest) -> str | None:
    action = request.remediation.action
    return action.value if action is not None else None
