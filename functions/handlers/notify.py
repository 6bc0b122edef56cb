"""Notify Lambda: bus event "VPN Tunnel Alert" -> every configured channel, each at most once (app.notify)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any, Self

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, ValidationError, field_validator, model_validator

from handlers.observability import count, logger, metrics, trace_libraries, tracer
from handlers.wiring import Once, StormSettings, load_settings
from vpn_doctor import constants as names
from vpn_doctor.app.notify import (
    DEAD_LETTERED,
    DUPLICATE_WINDOW,
    HELD,
    SENT,
    AlertDelivery,
    DeliveryFailed,
    deliver_alert,
)
from vpn_doctor.app.rollup import decide
from vpn_doctor.aws.idempotency import OnceInTable
from vpn_doctor.aws.rollup_store import DynamoDbRollupStore
from vpn_doctor.aws.silence_store import DynamoDbSilenceStore
from vpn_doctor.channels import ChannelSettings, configured_channels, owned_channels
from vpn_doctor.models import Alert, load
from vpn_doctor.rollup import Verdict
from vpn_doctor.routing import Routing, parse_routing

# Not http.client: its X-Ray patch records each request's URL, and the webhook URL is a credential
# (the webhook adapter traces its posts in a subsegment without it).
trace_libraries(("botocore",))


class Settings(StormSettings, ChannelSettings):
    """The channels' variables, the duplicate-check table, what links in messages need, the storm thresholds."""

    incidents_table: str = Field(alias=names.ENV_INCIDENTS_TABLE)
    region: str | None = Field(default=None, alias="AWS_REGION")  # set by Lambda; the console links' region
    tunnel_log_group: str = Field(alias=names.ENV_TUNNEL_LOG_GROUP_ARN)  # Logs Insights link of alerts naming none
    routing: Routing = Field(default_factory=Routing, alias=names.ENV_ROUTING)  # by owner and severity

    @field_validator("routing", mode="before")
    @classmethod
    def _routing_from_json(cls, value: object) -> object:
        return parse_routing(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _owner_secrets_replace_configured_channels(self) -> Self:
        # An owner's own secret stands in for a channel's: the channel itself must be configured.
        missing = sorted(
            {channel for _, channel in self.routing.owner_secrets if not getattr(self, f"{channel}_secret_name")}
        )
        if missing:
            raise ValueError(f"{names.ENV_ROUTING} names owners' secrets for {', '.join(missing)}, not configured")
        return self


settings = Once(lambda: load_settings(Settings))
# The configured channels; for an owner whose route names its own secrets, the same channels with those.
channels = Once(lambda: owned_channels(configured_channels(settings()), settings().routing))
held_alerts = Once(lambda: DynamoDbSilenceStore(settings().incidents_table))
rollups = Once(lambda: DynamoDbRollupStore(settings().incidents_table))
once = Once(lambda: OnceInTable(settings().incidents_table, function="notify", expires_after=DUPLICATE_WINDOW))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Deliver the alert on every channel; a channel that neither sent nor dead-lettered fails the invocation."""
    once().register_lambda_context(context)
    try:
        if event.get("detail-type") != names.DETAIL_TYPE_ALERT:
            raise ValueError(f"detail-type is {event.get('detail-type')!r}, expected {names.DETAIL_TYPE_ALERT!r}")
        alert = load(Alert, event.get("detail") or {})
    except ValueError as exc:  # pydantic's ValidationError too: its field paths and error kinds, never the values
        count(names.METRIC_INVALID_ALERTS)
        errors = exc.errors()[:5] if isinstance(exc, ValidationError) else ()
        why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in errors) or str(exc)
        logger.error("Rejected alert event", reason=why, event_id=event.get("id"))
        return {"status": "rejected"}
    incident, kind, event_id = alert.transition.incident, alert.transition.kind.value, alert.transition.event_id
    logger.append_keys(incident_id=incident.incident_id, transition=kind, transition_event_id=event_id)
    logger.append_keys(vpn_connection_id=incident.vpn_connection_id, tunnel_ip=incident.tunnel_ip)
    links = {"console_region": settings().region, "log_group": settings().tunnel_log_group}
    now = datetime.now(UTC)
    try:
        delivery = deliver_alert(
            alert,
            channels=channels().for_owner(alert.owner),
            once=once(),
            routing=settings().routing,
            held_alerts=held_alerts(),
            now=now,
            rollup=partial(decide, store=rollups(), policy=settings().rollup_policy(), now=now),
            **links,
        )
    except DeliveryFailed as failure:
        _count(failure.delivery, "Alert not delivered on every channel; the event will be retried")
        raise
    message = "Duplicate alert delivery: nothing sent again" if delivery.duplicate else "Alert delivered"
    status = delivery.summary()["status"]
    if status == HELD:
        message = "Alert held: nothing sent"
    elif status in (Verdict.ROLLED_UP, Verdict.STORM_HELD, Verdict.STALE):
        message = f"Alert {status.replace('_', ' ')}: nothing new for its connection's message"
    return _count(delivery, message)


def _count(delivery: AlertDelivery, message: str) -> dict[str, Any]:
    # One log line with every channel's outcome; a metric per channel for what it did in this invocation.
    summary = delivery.summary()
    (logger.error if delivery.failed else logger.info)(message, **summary)
    if delivery.duplicate:
        count(names.METRIC_DUPLICATE_ALERTS)
    if delivery.redacted:
        count(names.METRIC_REDACTED_VALUES, delivery.redacted)
    metric = {SENT: names.METRIC_ALERTS_PUBLISHED, DEAD_LETTERED: names.METRIC_ALERTS_DEAD_LETTERED}
    for item in (item for item in delivery.delivered if not item.duplicate and item.outcome in metric):
        count(metric[item.outcome], dimension=("Channel", item.channel))
    return summary
