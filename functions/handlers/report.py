"""Report Lambda (EventBridge schedule, weekly): the report of the last period, to the alert topic and the
configured chat channels (Slack, Teams), each once.

The window ends at the scheduled event's ``time``, so a retried or duplicated delivery computes the same
report, and the event's id keys the at-most-once publish (:mod:`vpn_doctor.app.report`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from handlers.observability import count, logger, metrics, trace_libraries, tracer
from handlers.wiring import FunctionSettings, Once, load_settings
from vpn_doctor import constants as names
from vpn_doctor.app.report import compute_report, publish_report, send_report_to_chats
from vpn_doctor.aws.idempotency import OnceInTable
from vpn_doctor.aws.report_reader import HISTORY_RETENTION, ReportReader
from vpn_doctor.aws.sns import AlertTopic
from vpn_doctor.channels import ChannelSettings, configured_channels
from vpn_doctor.incidents import IncidentPolicy

# Not http.client: its X-Ray patch records each request's URL, and a webhook URL is a credential.
trace_libraries(("botocore",))
# Scheduled events are delivered at least once; a week covers any late duplicate with margin.
_DUPLICATE_WINDOW = timedelta(days=7)


class Settings(FunctionSettings, ChannelSettings):
    """The tables to read, the topic to publish to (its variables are the alert topic channel's), the chat
    channels' variables (Slack's and Teams' secrets and dead-letter queues, as notify has them), the period."""

    incidents_table: str = Field(alias=names.ENV_INCIDENTS_TABLE)
    remediation_table: str | None = Field(None, alias=names.ENV_REMEDIATION_TABLE)
    flap_transitions: int = Field(IncidentPolicy().flap_transitions, alias=names.ENV_FLAP_TRANSITIONS, ge=2)
    period_days: int = Field(7, alias=names.ENV_REPORT_PERIOD_DAYS, ge=1, le=90)


settings = Once(lambda: load_settings(Settings))
reader = Once(lambda: ReportReader(settings().incidents_table, settings().remediation_table))
topic = Once(lambda: AlertTopic(settings().alert_topic_arn))
chats = Once(lambda: configured_channels(settings()))  # the topic's among them: it has no report layout
once = Once(lambda: OnceInTable(settings().incidents_table, function="report", expires_after=_DUPLICATE_WINDOW))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Compute and publish the report; a failed read or publish fails the invocation (retried)."""
    once().register_lambda_context(context)
    now = _event_time(event)
    event_id = str(event.get("id") or now.isoformat())
    report = compute_report(
        reader(),
        now=now,
        period=timedelta(days=settings().period_days),
        retention=HISTORY_RETENTION,
        flap_transitions=settings().flap_transitions,
    )
    if reader().unreadable:
        logger.warning("Store items left out of the report: not readable", unreadable=reader().unreadable)
    published = publish_report(
        report,
        topic=topic(),
        once=once(),
        event_id=event_id,
        chat_format=settings().chatbot_format,
    )
    if not published.duplicate:
        count(names.METRIC_REPORTS_PUBLISHED)
    # After the topic: a chat channel that could neither send nor dead-letter fails the invocation, and the
    # retry sends only what was not sent (the topic's and the other channels' records say they were).
    chatted = send_report_to_chats(report, channels=chats(), once=once(), event_id=event_id)
    result: dict[str, Any] = {
        "status": "duplicate" if published.duplicate else "sent",
        "message_id": published.message_id,
        "connections": len(report.connections),
        "incidents": sum(report.by_cause.values()),
        "chats": {item.channel: item.outcome for item in chatted},
    }
    logger.info("Report published", **result)
    return result


def _event_time(event: dict[str, Any]) -> datetime:
    """The scheduled event's time (the window's end); now when the event has none (a manual invoke)."""
    value = event.get("time")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            logger.warning("Event time is not ISO 8601; the report ends now", time=value[:40])
    return datetime.now(UTC)
