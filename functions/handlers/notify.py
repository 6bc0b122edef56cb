"""Notify Lambda: bus event "VPN Tunnel Alert" -> rendered messages -> SNS (e-mail, chat) and Slack.

Each channel is sent at most once per (incident, transition kind, transition event id): Powertools
idempotency records in the incidents table (``pk``/``sk``, TTL ``expires_at``) make a duplicate
delivery return the first result instead of sending again. A Slack message that still fails after
retries goes to the dead-letter queue intact; an SNS failure raises so the invocation is retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from handlers.observability import logger, metrics, trace_libraries, tracer
from handlers.runtime import LazyRuntime, SettingsError
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.slack import SlackWebhook
from vpn_doctor.aws.sns import AlertTopic
from vpn_doctor.constants import (
    DETAIL_TYPE_ALERT,
    ENV_ALERT_TOPIC_ARN,
    ENV_CHATBOT_FORMAT,
    ENV_CONSOLE_REGION,
    ENV_INCIDENTS_TABLE,
    ENV_SLACK_DLQ_URL,
    ENV_SLACK_SECRET_NAME,
    ENV_TUNNEL_LOG_GROUP_ARN,
    METRIC_ALERTS_PUBLISHED,
    METRIC_DUPLICATE_ALERTS,
    METRIC_INVALID_ALERTS,
    METRIC_SLACK_DEAD_LETTERED,
    METRIC_SLACK_POSTED,
)
from vpn_doctor.models import Alert, load
from vpn_doctor.render import RenderedAlert, render_alert

trace_libraries(("botocore", "httplib"))

# Buses deliver at least once, usually within minutes; two days covers late retries with margin.
IDEMPOTENCY_SECONDS: Final = 2 * 24 * 3600
IDEMPOTENCY_PK: Final = "idempotency#notify"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """The notify function's configuration (environment variable names in ``constants``)."""

    topic_arn: str
    incidents_table: str
    slack_secret_name: str | None
    slack_dlq_url: str | None
    chatbot_format: bool
    console_region: str | None
    tunnel_log_group: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifySettings:
        """Read and validate; raises :class:`SettingsError` naming the variable.

        Slack is optional, but a Slack secret without a dead-letter queue is refused: a failed
        message must never be silently lost.
        """
        missing = [name for name in (ENV_ALERT_TOPIC_ARN, ENV_INCIDENTS_TABLE) if not env.get(name)]
        if missing:
            raise SettingsError(f"{', '.join(missing)} not set")
        secret = env.get(ENV_SLACK_SECRET_NAME) or None
        dlq = env.get(ENV_SLACK_DLQ_URL) or None
        if secret and not dlq:
            raise SettingsError(f"{ENV_SLACK_SECRET_NAME} is set but {ENV_SLACK_DLQ_URL} is not")
        chatbot = env.get(ENV_CHATBOT_FORMAT, "").strip().lower()
        if chatbot not in _TRUE | _FALSE:
            raise SettingsError(f"{ENV_CHATBOT_FORMAT} must be true or false, not {chatbot!r}")
        return cls(
            topic_arn=env[ENV_ALERT_TOPIC_ARN],
            incidents_table=env[ENV_INCIDENTS_TABLE],
            slack_secret_name=secret,
            slack_dlq_url=dlq,
            chatbot_format=chatbot in _TRUE,
            console_region=env.get(ENV_CONSOLE_REGION) or env.get("AWS_REGION") or None,
            tunnel_log_group=env.get(ENV_TUNNEL_LOG_GROUP_ARN) or None,
        )


@dataclass(slots=True)
class NotifyRuntime:
    """Settings, adapters and the once-only senders, built on first use."""

    settings: NotifySettings
    topic: AlertTopic
    slack: SlackWebhook | None
    dead_letters: DeadLetterQueue | None
    idempotency: IdempotencyConfig
    persistence: DynamoDBPersistenceLayer
    _senders: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: NotifySettings) -> NotifyRuntime:
        """Adapters for the settings; clients are created lazily by each adapter."""
        return cls(
            settings=settings,
            topic=AlertTopic(settings.topic_arn),
            slack=SlackWebhook(settings.slack_secret_name) if settings.slack_secret_name else None,
            dead_letters=DeadLetterQueue(settings.slack_dlq_url) if settings.slack_dlq_url else None,
            idempotency=IdempotencyConfig(
                expires_after_seconds=IDEMPOTENCY_SECONDS,
                raise_on_no_idempotency_key=True,
                response_hook=_mark_duplicate,
            ),
            persistence=DynamoDBPersistenceLayer(
                table_name=settings.incidents_table,
                key_attr="pk",
                sort_key_attr="sk",
                static_pk_value=IDEMPOTENCY_PK,
                expiry_attr="expires_at",
            ),
        )

    def once(self, channel: str, send: Any) -> Any:
        """``send`` wrapped so that one idempotency key (keyword ``key``) sends at most once."""
        if channel not in self._senders:
            self._senders[channel] = idempotent_function(
                send,
                data_keyword_argument="key",
                persistence_store=self.persistence,
                config=self.idempotency,
                key_prefix=f"notify.{channel}",
            )
        return self._senders[channel]


_RUNTIME: LazyRuntime[NotifyRuntime] = LazyRuntime(lambda env: NotifyRuntime.build(NotifySettings.from_env(env)))


def runtime() -> NotifyRuntime:
    """The process-wide runtime, built from the environment on first use."""
    return _RUNTIME.get()


def reset() -> None:
    """Forget settings and clients (tests and the demo change the environment between runs)."""
    _RUNTIME.reset()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Render the alert once, publish it to SNS and post it to Slack, each at most once."""
    active = runtime()
    active.idempotency.register_lambda_context(context)
    alert = _read(event)
    if alert is None:
        return {"status": "rejected"}
    transition = alert.transition
    incident = transition.incident
    logger.append_keys(
        vpn_connection_id=incident.vpn_connection_id,
        tunnel_ip=incident.tunnel_ip,
        incident_id=incident.incident_id,
        transition=transition.kind.value,
        transition_event_id=transition.event_id,
    )
    settings = active.settings
    rendered = render_alert(alert, console_region=settings.console_region, log_group=settings.tunnel_log_group)
    key = {"incident_id": incident.incident_id, "transition": transition.kind.value, "event_id": transition.event_id}
    email = active.once("sns", _publish)(key=key, rendered=rendered, active=active)
    slack: dict[str, Any] = {"outcome": "disabled"}
    if active.slack is not None:
        slack = active.once("slack", _post)(key=key, rendered=rendered, active=active)
    duplicate = bool(email.get("duplicate")) and (slack.get("outcome") == "disabled" or bool(slack.get("duplicate")))
    if duplicate:
        metrics.add_metric(name=METRIC_DUPLICATE_ALERTS, unit=MetricUnit.Count, value=1)
        logger.info("Duplicate alert delivery: nothing sent again")
    return {"status": "duplicate" if duplicate else "sent", "title": rendered.view.title, "sns": email, "slack": slack}


def _read(event: Mapping[str, Any]) -> Alert | None:
    detail_type = event.get("detail-type") if isinstance(event, Mapping) else None
    detail = event.get("detail") if isinstance(event, Mapping) else None
    reason: str | None = None
    if detail_type != DETAIL_TYPE_ALERT:
        reason = f"detail-type is {detail_type!r}, expected {DETAIL_TYPE_ALERT!r}"
    elif not isinstance(detail, Mapping):
        reason = "detail is not an object"
    else:
        try:
            return load(Alert, detail)
        except ValidationError as exc:
            # Field paths and error kinds only: the input values stay out of the log.
            reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:5])
    metrics.add_metric(name=METRIC_INVALID_ALERTS, unit=MetricUnit.Count, value=1)
    logger.error(
        "Rejected alert event", reason=reason, event_id=event.get("id") if isinstance(event, Mapping) else None
    )
    return None


def _publish(*, key: dict[str, str], rendered: RenderedAlert, active: NotifyRuntime) -> dict[str, Any]:
    view = rendered.view
    try:
        message_id = active.topic.publish(
            subject=rendered.email.subject,
            message=rendered.sns_message(chatbot_format=active.settings.chatbot_format),
            attributes={
                "category": view.category.value,
                "severity": view.severity.value,
                "vpn_connection_id": view.vpn_connection_id,
                "transition": view.kind.value,
            },
            structured=True,
        )
    except AwsCallFailed as exc:
        logger.error("SNS publish failed; the event will be retried", code=exc.code, try_later=exc.try_later)
        raise
    metrics.add_metric(name=METRIC_ALERTS_PUBLISHED, unit=MetricUnit.Count, value=1)
    logger.info("Alert published", title=view.title, message_id=message_id)
    return {"outcome": "published", "message_id": message_id}


def _post(*, key: dict[str, str], rendered: RenderedAlert, active: NotifyRuntime) -> dict[str, Any]:
    slack, dead_letters = active.slack, active.dead_letters
    if slack is None or dead_letters is None:
        raise SettingsError("Slack needs both the webhook secret and the dead-letter queue")
    result = slack.post(rendered.slack)
    if result.delivered:
        metrics.add_metric(name=METRIC_SLACK_POSTED, unit=MetricUnit.Count, value=1)
        logger.info("Slack message posted", title=rendered.view.title)
        return {"outcome": "posted"}
    try:
        message_id = dead_letters.send(channel="slack", payload=rendered.slack, reason=result.reason, context=key)
    except AwsCallFailed as exc:
        # Nowhere to keep the message: fail the invocation so it is retried rather than lost.
        logger.error("Slack failed and the dead-letter queue refused the message", reason=result.reason, code=exc.code)
        raise
    metrics.add_metric(name=METRIC_SLACK_DEAD_LETTERED, unit=MetricUnit.Count, value=1)
    logger.warning("Slack message dead-lettered", reason=result.reason, status=result.status, message_id=message_id)
    return {"outcome": "dead_lettered", "reason": result.reason, "message_id": message_id}


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    # Called only when a stored result is returned instead of running the sender again.
    return {**response, "duplicate": True} if isinstance(response, dict) else response
