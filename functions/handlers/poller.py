"""Poller Lambda (EventBridge schedule): VgwTelemetry of the monitored connections -> state changes.

Gives virtual-private-gateway VPNs the tunnel-state events AWS does not send, resolves incidents
whose tunnel has been UP for the clear delay, and (when ``VPN_DOCTOR_SILENCE_MINUTES`` is set)
reports UP tunnels that carried no data. Every poll also publishes what a tunnel's outbox still
holds (a publish that failed earlier); a failed publish fails the invocation (it is retried, and
the next poll flushes the outbox anyway).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.incident_runtime import IncidentRuntime, runtime
from handlers.observability import logger, metrics, trace_libraries, tracer
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import METRIC_POLL_ERRORS, METRIC_SILENT_TUNNELS, MONITOR_TAG
from vpn_doctor.diagnosis import TunnelTraffic
from vpn_doctor.incidents import StoreContention, unique
from vpn_doctor.models import IncidentTransition, TunnelState
from vpn_doctor.telemetry import silent_tunnels, telemetry_changes
from vpn_doctor.vpn import VpnConnectionInfo

trace_libraries(("botocore",))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Poll every monitored connection once; one connection's failure never stops the others."""
    now = datetime.now(UTC)
    active = runtime()
    settings = active.settings
    try:
        if settings.monitor_scope == "list":
            connections = active.ec2.connections(settings.monitor_vpn_ids)
        elif settings.monitor_scope == "tag":
            connections = active.ec2.connections(tag_key=MONITOR_TAG)
        else:
            connections = active.ec2.connections()
    except AwsCallFailed as exc:
        metrics.add_metric(name=METRIC_POLL_ERRORS, unit=MetricUnit.Count, value=1)
        logger.error("Could not list VPN connections", code=exc.code, try_later=exc.try_later)
        return {"connections": 0, "changes": 0, "transitions": [], "errors": [exc.code]}
    transitions: list[IncidentTransition] = []
    changes = 0
    errors: list[str] = []
    for connection in connections:
        try:
            applied, found = _poll(active, connection, now)
        except (AwsCallFailed, StoreContention) as exc:
            code = exc.code if isinstance(exc, AwsCallFailed) else "StoreContention"
            metrics.add_metric(name=METRIC_POLL_ERRORS, unit=MetricUnit.Count, value=1)
            logger.error("Poll failed", vpn_connection_id=connection.vpn_connection_id, code=code)
            errors.append(code)
            continue
        transitions += applied
        changes += found
    transitions = unique(transitions)  # a leftover of the outbox is returned by every call for its tunnel
    published = active.publish(transitions)
    return {
        "connections": len(connections),
        "changes": changes,
        "transitions": [t.kind.value for t in transitions],
        "published": published,
        "errors": errors,
    }


def _poll(
    active: IncidentRuntime, connection: VpnConnectionInfo, now: datetime
) -> tuple[list[IncidentTransition], int]:
    service = active.service
    records = {t.outside_ip: service.record(connection.vpn_connection_id, t.outside_ip) for t in connection.tunnels}
    changes = telemetry_changes(connection, records, now=now)
    transitions: list[IncidentTransition] = []
    for change in changes:
        logger.info(
            "Telemetry change",
            vpn_connection_id=change.vpn_connection_id,
            tunnel_ip=change.tunnel_ip,
            state=change.state.value,
            status_message=change.status_message,
        )
        transitions += active.apply_state(change, now=now)
    changed = {change.tunnel_ip for change in changes}
    for tunnel in connection.tunnels:
        if tunnel.outside_ip in changed:
            continue
        if records[tunnel.outside_ip].incident is not None:
            transitions += service.tick(connection.vpn_connection_id, tunnel.outside_ip, now=now)
        else:
            transitions += records[tunnel.outside_ip].outbox  # leftovers of a failed publish
    if active.settings.silence is not None:
        _silence(active, connection, now)
    return transitions, len(changes)


def _silence(active: IncidentRuntime, connection: VpnConnectionInfo, now: datetime) -> None:
    quiet = active.settings.silence
    if quiet is None:
        return
    traffic: dict[str, TunnelTraffic] = {}
    for tunnel in connection.tunnels:
        if tunnel.telemetry is not None and tunnel.telemetry.status is TunnelState.UP:
            traffic[tunnel.outside_ip] = active.metrics.traffic(
                connection.vpn_connection_id, tunnel.outside_ip, start=now - quiet, end=now
            )
    silent = silent_tunnels(connection, traffic, quiet=quiet, now=now)
    for change in silent:
        metrics.add_metric(name=METRIC_SILENT_TUNNELS, unit=MetricUnit.Count, value=1)
        logger.warning("Silent tunnel", vpn_connection_id=change.vpn_connection_id, tunnel_ip=change.tunnel_ip)
    active.publish_state_changes(silent)
