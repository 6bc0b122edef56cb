"""Respond Lambda (bus: ``VPN Tunnel Incident``): diagnose, decide/execute remediation, publish the alert.

The detail is ``models.dump(IncidentTransition)``; the result goes back on the bus as ``VPN Tunnel
Alert`` (:func:`vpn_doctor.app.respond.respond_to_transition`). A failed publish fails the invocation:
EventBridge delivers the event again and the redelivery completes what was left undone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import count, counts_publish_failures, logger, metrics, trace_libraries, tracer
from handlers.respond_runtime import RespondSettings, respond_ports
from handlers.wiring import Once, load_settings
from vpn_doctor.app.respond import respond_to_transition
from vpn_doctor.constants import METRIC_INVALID_PAYLOADS, METRIC_REMEDIATIONS
from vpn_doctor.models import IncidentTransition, load

trace_libraries(("botocore",))


class Settings(RespondSettings):
    """The respond function's settings: the bus, the remediation mode, its resources and guards."""


settings = Once(lambda: load_settings(Settings))
ports = Once(lambda: respond_ports(settings()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@counts_publish_failures
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One incident transition in, at most one alert out."""
    config = settings().config()
    try:
        transition = load(IncidentTransition, event["detail"])
    except (KeyError, TypeError, ValueError) as exc:  # pydantic.ValidationError is a ValueError
        count(METRIC_INVALID_PAYLOADS)
        logger.error("Rejected event: not an incident transition", reason=str(exc)[:300])
        return {"status": "rejected"}
    incident = transition.incident
    logger.append_keys(
        vpn_connection_id=incident.vpn_connection_id, tunnel_ip=incident.tunnel_ip, incident_id=incident.incident_id
    )
    response = respond_to_transition(transition, ports(), config=config, now=datetime.now(UTC))
    outcome = response.outcome
    if response.alert is None:
        logger.info("Duplicate incident event: already handled", event_id=transition.event_id)
        return {"status": response.status, "remediation": outcome.status.value}
    if response.status == "published":
        count(METRIC_REMEDIATIONS, dimension=("Status", outcome.status.value))
    diagnosis = response.alert.diagnosis
    verdict = diagnosis.verdict.value if diagnosis is not None else None
    logger.info(
        "Remediation decision",
        status=outcome.status.value,
        action=outcome.action.value if outcome.action else None,
        reason=outcome.reason,
        error_code=outcome.error_code,
        verdict=verdict,
        alert=response.status,
    )
    return {"status": response.status, "remediation": outcome.status.value, "verdict": verdict}
