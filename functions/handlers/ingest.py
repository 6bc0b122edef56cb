"""Ingest Lambda: CloudWatch Logs subscription (tunnel, BGP and customer-gateway logs) -> findings -> incidents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, field_validator

from handlers.observability import (
    count,
    counts_publish_failures,
    logger,
    metrics,
    record_transitions,
    trace_libraries,
    tracer,
)
from handlers.wiring import FunctionSettings, Once, Seconds, load_settings
from vpn_doctor.app.logs import LogPorts, MapCache, deliver_log_batch
from vpn_doctor.attribution import valid_source_target
from vpn_doctor.classify import Classifier
from vpn_doctor.constants import (
    ENV_EVENT_BUS_NAME,
    ENV_GATEWAY_MAP,
    ENV_INCIDENTS_TABLE,
    ENV_MAX_CLOCK_SKEW_SECONDS,
    METRIC_ATTRIBUTED_FINDINGS,
    METRIC_BAD_RECORDS,
    METRIC_CLOCK_SKEWED_RECORDS,
    METRIC_CONTEXT_FAILURES,
    METRIC_FINDINGS,
    METRIC_INVALID_PAYLOADS,
    METRIC_OVERSIZED_PAYLOADS,
    METRIC_RECORDS,
    METRIC_REDACTED_VALUES,
    METRIC_UNATTRIBUTED_FINDINGS,
    METRIC_UNKNOWN_RECORDS,
)
from vpn_doctor.parsing import identity_from_name
from vpn_doctor.records import DEFAULT_MAX_CLOCK_SKEW
from vpn_doctor.subscription import PayloadTooLarge, SubscriptionPayloadError, decode_subscription_event


class Settings(FunctionSettings):
    """The ingest function's settings: the incidents table and the bus (a finding always reaches incidents)."""

    incidents_table: str = Field(alias=ENV_INCIDENTS_TABLE)
    event_bus_name: str = Field(alias=ENV_EVENT_BUS_NAME)
    # A record dated further ahead of the function's clock is dated at its delivery (and counted).
    max_clock_skew: Seconds = Field(DEFAULT_MAX_CLOCK_SKEW, alias=ENV_MAX_CLOCK_SKEW_SECONDS, ge=timedelta(0))
    # Gateways whose lines name no IP: log group / host / connection name -> "vpn-id" or "vpn-id/tunnel-ip".
    gateway_map: dict[str, str] = Field(default_factory=dict, alias=ENV_GATEWAY_MAP)

    @field_validator("gateway_map", mode="before")
    @classmethod
    def _read_json(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("gateway_map")
    @classmethod
    def _targets_name_connections(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(key for key, target in value.items() if not valid_source_target(target))
        if wrong:
            raise ValueError(f"{ENV_GATEWAY_MAP}: not 'vpn-id' or 'vpn-id/tunnel-ip' for {wrong}")
        return value


def _ports() -> LogPorts:
    # boto3 and the incident machinery load with the first batch that needs AWS: most batches are
    # healthy rekey chatter, and a cold start that reads only chatter spares ~100 ms. Traced from then on.
    trace_libraries(("botocore",))
    from handlers.incident_runtime import log_ports  # noqa: PLC0415 - see above

    return log_ports(settings().incidents_table, settings().event_bus_name)


settings = Once(lambda: load_settings(Settings))
ports = Once(_ports)
# One per instance: a tunnel's deliveries here are read in the context of the ones before (bounded).
classifier = Once(Classifier)
# The poller's connection map, read at most once per batch and kept for a few minutes (attribution).
connection_map = Once(lambda: MapCache(settings().gateway_map))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@counts_publish_failures
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Decode the subscription payload, classify every record, apply the failures, report what was found."""
    settings()
    try:
        batch = decode_subscription_event(event)
    except SubscriptionPayloadError as exc:
        # Raised again: Lambda retries, then keeps the event in the function's failure destination.
        count(METRIC_OVERSIZED_PAYLOADS if isinstance(exc, PayloadTooLarge) else METRIC_INVALID_PAYLOADS)
        keys = sorted(event)[:10] if isinstance(event, dict) else None
        logger.error("Rejected event", reason=str(exc), event_keys=keys)
        raise
    vpn_id, tunnel_ip = identity_from_name(batch.log_stream)
    logger.append_keys(log_group=batch.log_group, vpn_connection_id=vpn_id, tunnel_ip=tunnel_ip)
    delivered = deliver_log_batch(
        batch,
        classifier(),
        ports,
        now=datetime.now(UTC),
        max_clock_skew=settings().max_clock_skew,
        connection_map=connection_map(),
    )
    report = delivered.report
    if delivered.context_error:
        count(METRIC_CONTEXT_FAILURES)
        logger.warning("Earlier lines not read: records classified without them", code=delivered.context_error)
    if report.control_message:
        logger.info("Control message from CloudWatch Logs: subscription is reachable")
    else:
        count(METRIC_RECORDS, report.records)
        count(METRIC_UNKNOWN_RECORDS, report.unknown)
        count(METRIC_BAD_RECORDS, len(report.bad_records))
        count(METRIC_UNATTRIBUTED_FINDINGS, delivered.unattributed)
        count(METRIC_ATTRIBUTED_FINDINGS, delivered.attributed)
        count(METRIC_REDACTED_VALUES, delivered.redacted)
        count(METRIC_CLOCK_SKEWED_RECORDS, report.clock_skewed)
    for category, found in report.by_category.items():
        count(METRIC_FINDINGS, found, dimension=("Category", category))
    if delivered.map_error:
        logger.warning("Connection map not read: gateway lines attributed without it", code=delivered.map_error)
    for reason in delivered.unattributed_reasons:
        logger.warning("Failure not attributed to a tunnel: counted, no incident", reason=reason)
    for bad in report.bad_records:
        logger.warning("Bad record kept as unknown", reason=bad.reason, excerpt=bad.excerpt, event_id=bad.event_id)
    for finding in report.failures:
        logger.info(
            "Finding",
            category=finding.category.value,
            cause=finding.cause.value if finding.cause else None,
            severity=finding.severity.value,
            summary=finding.summary,
        )
    record_transitions(delivered.transitions)
    return report.to_dict()
