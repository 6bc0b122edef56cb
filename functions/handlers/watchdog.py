"""Watchdog Lambda (EventBridge schedule): is vpn-doctor itself still seeing the tunnels and able to tell?

Alerts once (to the alert topic) when a logged tunnel goes silent, the poller stops, a subscription filter
disappears or the topic has no confirmed subscription; resolves once when that ends (``vpn_doctor.watchdog``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BeforeValidator, Field

from handlers.observability import count, counts_publish_failures, logger, metrics, trace_libraries, tracer
from handlers.wiring import FunctionSettings, Once, load_settings
from vpn_doctor.app.incidents import Monitoring
from vpn_doctor.app.watchdog import WatchdogPorts, Watched, run_watchdog
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.sns import AlertTopic
from vpn_doctor.aws.watchdog import DynamoDbWatchdogStore, WatchdogReader
from vpn_doctor.constants import (
    ENV_ALERT_TOPIC_ARN,
    ENV_INCIDENTS_TABLE,
    ENV_INGEST_FUNCTION_ARN,
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_POLLER_FUNCTION_NAME,
    ENV_WATCHDOG_POLLER_QUIET_MINUTES,
    ENV_WATCHDOG_QUIET_HOURS,
    ENV_WATCHED_LOG_GROUPS,
    METRIC_WATCHDOG_ALERTS,
    METRIC_WATCHDOG_ERRORS,
    METRIC_WATCHDOG_RESOLVED,
    MonitorScope,
)
from vpn_doctor.watchdog import DEFAULT_POLLER_QUIET, DEFAULT_QUIET

trace_libraries(("botocore",))


def _listed(value: object) -> object:
    return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


Listed = Annotated[tuple[str, ...], BeforeValidator(_listed)]


class Settings(FunctionSettings):
    """What the watchdog watches (the stack's log groups, ingest, the poller, the topic) and its thresholds."""

    incidents_table: str = Field(alias=ENV_INCIDENTS_TABLE)
    alert_topic_arn: str = Field(alias=ENV_ALERT_TOPIC_ARN)
    log_groups: Listed = Field(alias=ENV_WATCHED_LOG_GROUPS, min_length=1)
    ingest_arn: str = Field(alias=ENV_INGEST_FUNCTION_ARN)
    poller_name: str = Field(alias=ENV_POLLER_FUNCTION_NAME)
    monitor_scope: MonitorScope = Field(MonitorScope.ALL, alias=ENV_MONITOR_SCOPE)
    monitor_vpn_ids: Listed = Field((), alias=ENV_MONITOR_VPN_IDS)
    quiet_hours: float = Field(DEFAULT_QUIET.total_seconds() / 3600, alias=ENV_WATCHDOG_QUIET_HOURS, ge=2)
    poller_quiet_minutes: float = Field(
        DEFAULT_POLLER_QUIET.total_seconds() / 60, alias=ENV_WATCHDOG_POLLER_QUIET_MINUTES, ge=5
    )

    def watched(self) -> Watched:
        """What one run watches."""
        return Watched(
            log_groups=self.log_groups,
            ingest_arn=self.ingest_arn,
            topic_arn=self.alert_topic_arn,
            poller_name=self.poller_name,
            monitoring=Monitoring(scope=self.monitor_scope, vpn_ids=self.monitor_vpn_ids),
            quiet=timedelta(hours=self.quiet_hours),
            poller_quiet=timedelta(minutes=self.poller_quiet_minutes),
        )


settings = Once(lambda: load_settings(Settings))
ports = Once(
    lambda: WatchdogPorts(
        aws=WatchdogReader(),
        connections=Ec2Reader(),
        alerts=AlertTopic(settings().alert_topic_arn),
        store=DynamoDbWatchdogStore(settings().incidents_table),
    )
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@counts_publish_failures
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Observe every condition once; alert what started, resolve what ended."""
    result = run_watchdog(ports(), settings().watched(), now=datetime.now(UTC))
    for observation in result.alerted:
        logger.warning("Watchdog condition", key=observation.key, detail=observation.detail)
    for observation in result.resolved:
        logger.info("Watchdog condition resolved", key=observation.key, detail=observation.detail)
    if result.errors:
        logger.error("Watchdog could not observe everything", codes=sorted(set(result.errors)))
    # Counted only when there is something to count: a metric that receives data is billed ($0.30 a month).
    for name, value in (
        (METRIC_WATCHDOG_ALERTS, len(result.alerted)),
        (METRIC_WATCHDOG_RESOLVED, len(result.resolved)),
        (METRIC_WATCHDOG_ERRORS, len(result.errors)),
    ):
        if value:
            count(name, value)
    return {
        "observed": len(result.observations),
        "failing": sorted(o.key for o in result.observations if o.failing),
        "alerted": [o.key for o in result.alerted],
        "resolved": [o.key for o in result.resolved],
        "errors": result.errors,
    }
