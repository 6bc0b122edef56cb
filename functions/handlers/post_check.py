"""Post-check Lambda (EventBridge Scheduler one-time schedule after a modification): is the tunnel UP again?

The schedule's input is what respond wrote (:class:`vpn_doctor.app.post_check.PostCheckRequest`). When
the tunnel is UP nothing is sent; otherwise an ``escalated`` alert goes on the bus.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from handlers.observability import count, counts_publish_failures, logger, metrics, trace_libraries, tracer
from handlers.wiring import FunctionSettings, Once, load_settings
from vpn_doctor.app.post_check import PostCheckPorts, PostCheckRequest, run_post_check
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, METRIC_ESCALATIONS, METRIC_INVALID_PAYLOADS
from vpn_doctor.models import load

trace_libraries(("botocore",))


class Settings(FunctionSettings):
    """The post-check function's settings: the bus, and the region Lambda sets (console links)."""

    event_bus_name: str = Field(alias=ENV_EVENT_BUS_NAME)
    region: str | None = Field(None, alias="AWS_REGION")


settings = Once(lambda: load_settings(Settings))
ports = Once(lambda: PostCheckPorts(connections=Ec2Reader(), bus=EventBus(settings().event_bus_name)))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@counts_publish_failures
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Re-check one modified tunnel; escalate when it is not UP."""
    region = settings().region
    try:
        request = load(PostCheckRequest, event)
    except (TypeError, ValueError) as exc:  # pydantic.ValidationError is a ValueError
        count(METRIC_INVALID_PAYLOADS)
        logger.error("Rejected post-check input", reason=str(exc)[:300])
        return {"status": "rejected"}
    incident = request.transition.incident
    logger.append_keys(
        vpn_connection_id=incident.vpn_connection_id, tunnel_ip=incident.tunnel_ip, incident_id=incident.incident_id
    )
    action = request.remediation.action.value if request.remediation.action else None
    alert = run_post_check(request, ports(), region=region, now=datetime.now(UTC))
    if alert is None:
        logger.info("Post-check: tunnel is UP again", action=action)
        return {"status": "recovered"}
    count(METRIC_ESCALATIONS)
    logger.warning("Post-check: escalating", escalation=alert.escalation, action=action)
    return {"status": "escalated", "escalation": alert.escalation}
