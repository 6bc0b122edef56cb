"""Poller Lambda (EventBridge schedule): VgwTelemetry of the monitored connections -> state changes.

Gives virtual-private-gateway VPNs the tunnel-state events AWS does not send, resolves incidents
whose tunnel has been UP for the clear delay, publishes what a tunnel's outbox still holds and,
every 30 minutes, judges the connections' traffic (``VPN_DOCTOR_NO_TRAFFIC_MINUTES``, default 30:
no traffic, one-way traffic, static-routing asymmetry; :mod:`vpn_doctor.traffic`), and announces the
held incidents still open once their silence or maintenance window has ended (:mod:`vpn_doctor.app.silences`).
After the poll it warns ahead of AWS endpoint replacements a tunnel will not recover from by itself, and of tunnel
certificates about to expire (:mod:`vpn_doctor.app.ahead`: each connection every 6 hours, each certificate daily).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.ahead_runtime import AheadSettings, ahead_ports
from handlers.incident_runtime import PollSettings, poll_ports
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
from handlers.wiring import Once, StormSettings, load_settings
from vpn_doctor.app.ahead import warn_ahead
from vpn_doctor.app.incidents import poll_connections
from vpn_doctor.app.rollup import end_storm
from vpn_doctor.app.silences import announce_released
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.incident_store import DynamoDbIncidentStore
from vpn_doctor.aws.rollup_store import DynamoDbRollupStore
from vpn_doctor.aws.silence_store import DynamoDbSilenceStore
from vpn_doctor.constants import METRIC_POLL_ERRORS, METRIC_VANISHED_CONNECTIONS

trace_libraries(("botocore",))


class Settings(PollSettings, AheadSettings, StormSettings):
    """The poller's settings: the state function's, the monitor scope, the traffic window, the checks ahead, the
    storm window."""


settings = Once(lambda: load_settings(Settings))
# A storm whose window passed without a new failure ends with one summary (vpn_doctor.app.rollup).
storms = Once(lambda: DynamoDbRollupStore(settings().incidents_table, batch_reads=True))
ports = Once(lambda: poll_ports(settings()))
# Endpoint replacements and certificate expiry ahead of time (vpn_doctor.app.ahead).
checks_ahead = Once(lambda: ahead_ports(ports().incidents, settings()))
# Held incidents whose silence or maintenance window has ended are announced once (vpn_doctor.app.silences).
releases = Once(
    lambda: (
        DynamoDbSilenceStore(settings().incidents_table),
        DynamoDbIncidentStore(settings().incidents_table),
        EventBus(settings().event_bus_name),
    )
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@counts_publish_failures
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Poll every monitored connection once; one connection's failure never stops the others."""
    now = datetime.now(UTC)
    config = settings()
    polled = poll_connections(ports(), monitoring=config.monitoring(), lookback=config.lookback(), now=now)
    for change in polled.changes:
        logger.info(
            "Telemetry change",
            vpn_connection_id=change.vpn_connection_id,
            tunnel_ip=change.tunnel_ip,
            state=change.state.value,
            status_message=change.status_message,
        )
    for finding in polled.traffic:
        logger.warning(
            "Traffic finding",
            vpn_connection_id=finding.vpn_connection_id,
            category=finding.category.value,
            cause=finding.cause.value if finding.cause else None,
        )
    ahead = warn_ahead(polled.seen, checks_ahead(), ahead=config.ahead(config.monitoring().poll_interval), now=now)
    for warning in ahead.warnings:
        logger.warning("Warning ahead", vpn_connection_id=warning.vpn_connection_id, summary=warning.summary)
    count(METRIC_POLL_ERRORS, len(polled.errors) + len(ahead.errors))
    count(METRIC_VANISHED_CONNECTIONS, len(polled.newly_vanished))
    record_transitions([*polled.transitions, *ahead.transitions])
    record_expected(polled.expected)
    released = announce_released(*releases(), now=now)
    if released:
        logger.info("Held incidents announced: their hold has ended", incident_ids=released)
    storm = end_storm(storms(), releases()[2], policy=config.rollup_policy(), now=now)
    if storm is not None:
        logger.info("Storm over: its summary published", storm_id=storm.storm_id, still_broken=storm.broken_count)
    return {
        "connections": polled.connections,
        "vanished": polled.vanished,
        "changes": len(polled.changes),
        "transitions": [t.kind.value for t in polled.transitions],
        "expected": [expected.note for expected in polled.expected],
        "published": polled.published,
        "traffic_findings": len(polled.traffic),
        "errors": polled.errors + ahead.errors,
        "ahead": {
            "status_reads": ahead.status_reads,
            "certificate_reads": ahead.certificate_reads,
            "warnings": len(ahead.warnings),
            "published": ahead.published,
        },
        "released": released,
        "storm_ended": storm.storm_id if storm is not None else None,
    }
