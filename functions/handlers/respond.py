"""Respond Lambda (bus: ``VPN Tunnel Incident``): diagnose, decide/execute remediation, publish the alert.

The detail is ``models.dump(IncidentTransition)``; the result goes back on the bus as ``VPN Tunnel
Alert`` (:func:`vpn_doctor.app.respond.respond_to_transition`). A failed publish fails the invocation:
EventBridge delivers the event again and the redelivery completes what was left undone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import count, counts_publish_failures, logger, metrics, trace_libraries, tracer
from handlers.respond_runtime import RespondSettings, respond_ports
from handlers.wiring import Once, load_settings
from vpn_doctor.app.respond import RespondPorts, respond_to_transition
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.ec2_modify import Ec2TunnelModifier
from vpn_doctor.constants import METRIC_INVALID_PAYLOADS, METRIC_REDACTED_VALUES, METRIC_REMEDIATIONS
from vpn_doctor.models import IncidentTransition, load
from vpn_doctor.redact import known_keys, redact

trace_libraries(("botocore",))


class Settings(RespondSettings):
    """The respond function's settings: the bus, the remediation mode, its resources and guards."""


# DescribeVpnConnections answers hold the tunnels' pre-shared keys in clear. The reader never keeps
# them; these are kept only to be masked wherever EC2 quotes them back (an error message may quote
# the request), for this invocation.
_known_keys: set[str] = set()


def _keep_keys(parsed: dict[str, Any], **_: Any) -> None:
    _known_keys.update(known_keys(parsed))


def _mask_error_message(parsed: dict[str, Any], **_: Any) -> None:
    # botocore emits after-call before it raises the ClientError built from ``parsed``: masked here,
    # the message is clean in the outcome, the stored decision, the audit record and the alert.
    error = parsed.get("Error")
    if isinstance(error, dict) and isinstance(error.get("Message"), str):
        error["Message"] = redact(error["Message"], _known_keys)[0]


def _ports() -> RespondPorts:
    built = respond_ports(settings())
    clients = [built.connections.client] if isinstance(built.connections, Ec2Reader) else []
    if built.remediation is not None and isinstance(built.remediation.modifier, Ec2TunnelModifier):
        clients.append(built.remediation.modifier.client)
    for client in clients:
        client.meta.events.register("after-call.ec2.DescribeVpnConnections", _keep_keys)
        client.meta.events.register("after-call.ec2", _mask_error_message)
    return built


settings = Once(lambda: load_settings(Settings))
ports = Once(_ports)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@counts_publish_failures
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One incident transition in, at most one alert out."""
    config = replace(settings().config(), account=event.get("account") or None)
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
    _known_keys.clear()
    response = respond_to_transition(transition, ports(), config=config, now=datetime.now(UTC), known_keys=_known_keys)
    outcome = response.outcome
    if response.alert is None:
        logger.info("Duplicate incident event: already handled", event_id=transition.event_id)
        return {"status": response.status, "remediation": outcome.status.value}
    if response.status == "published":
        count(METRIC_REMEDIATIONS, dimension=("Status", outcome.status.value))
    if response.redacted:
        count(METRIC_REDACTED_VALUES, response.redacted)
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
