"""Onboard Lambda (EventBridge schedule): switch the watched tunnels' logging on, one safe change at a time.

Settings come from the stack (``logging`` in the deploy configuration); the plan is the core's
(:mod:`vpn_doctor.onboarding`), the run the use case's (:func:`vpn_doctor.app.onboard.onboard`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Self

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BeforeValidator, Field, model_validator

from handlers.observability import count, logger, metrics, trace_libraries, tracer
from handlers.wiring import FunctionSettings, Once, Seconds, load_settings
from vpn_doctor.app.incidents import Monitoring
from vpn_doctor.app.onboard import OnboardPorts, onboard
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.ec2_modify import Ec2TunnelModifier
from vpn_doctor.aws.onboarding_store import DynamoDbOnboardingStore
from vpn_doctor.constants import (
    ENV_INCIDENTS_TABLE,
    ENV_LOGGING_BGP,
    ENV_LOGGING_SCOPE,
    ENV_LOGGING_SIBLING_UP_SECONDS,
    ENV_LOGGING_WINDOW,
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_TUNNEL_LOG_GROUP_ARN,
    METRIC_ONBOARDING_FAILED,
    METRIC_ONBOARDING_LOGGING,
    METRIC_ONBOARDING_ONBOARDED,
    METRIC_ONBOARDING_PENDING,
    LoggingScope,
    MonitorScope,
)
from vpn_doctor.onboarding import MaintenanceWindow, OnboardingPolicy
from vpn_doctor.remediation import RemediationPolicy

trace_libraries(("botocore",))


def _listed(value: object) -> object:
    return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


def _window(value: object) -> object:
    return MaintenanceWindow.parse(value) if isinstance(value, str) else value


class Settings(FunctionSettings):
    """Where logs go, which connections, when, and the table holding progress and audit."""

    incidents_table: str = Field(alias=ENV_INCIDENTS_TABLE)
    log_group_arn: str = Field(alias=ENV_TUNNEL_LOG_GROUP_ARN)
    scope: LoggingScope = Field(LoggingScope.ALL, alias=ENV_LOGGING_SCOPE)
    bgp: bool = Field(True, alias=ENV_LOGGING_BGP)
    window: Annotated[MaintenanceWindow | None, BeforeValidator(_window)] = Field(None, alias=ENV_LOGGING_WINDOW)
    sibling_up: Seconds = Field(
        RemediationPolicy().sibling_up_minimum, alias=ENV_LOGGING_SIBLING_UP_SECONDS, ge=timedelta(0)
    )
    monitor_scope: MonitorScope = Field(MonitorScope.ALL, alias=ENV_MONITOR_SCOPE)
    monitor_vpn_ids: Annotated[tuple[str, ...], BeforeValidator(_listed)] = Field((), alias=ENV_MONITOR_VPN_IDS)

    @model_validator(mode="after")
    def _scope_list_names_connections(self) -> Self:
        if self.monitor_scope is MonitorScope.LIST and not self.monitor_vpn_ids:
            raise ValueError(f"{ENV_MONITOR_SCOPE}=list needs {ENV_MONITOR_VPN_IDS}")
        return self

    def policy(self) -> OnboardingPolicy:
        """The on-boarding policy these settings describe."""
        return OnboardingPolicy(
            log_group_arn=self.log_group_arn,
            scope=self.scope,
            bgp=self.bgp,
            window=self.window,
            sibling_up_minimum=self.sibling_up,
        )

    def monitoring(self) -> Monitoring:
        """The connections the deployment watches."""
        return Monitoring(scope=self.monitor_scope, vpn_ids=self.monitor_vpn_ids)


settings = Once(lambda: load_settings(Settings))
ports = Once(
    lambda: OnboardPorts(
        connections=Ec2Reader(device_names=False),
        store=DynamoDbOnboardingStore(settings().incidents_table),
        modifier=Ec2TunnelModifier(),
    )
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One on-boarding run over every monitored connection."""
    config = settings()
    result = onboard(ports(), policy=config.policy(), monitoring=config.monitoring(), now=datetime.now(UTC))
    for plan in result.plans:
        if plan.step.value in ("change", "confirmed", "failed"):
            logger.info(
                "On-boarding",
                vpn_connection_id=plan.vpn_connection_id,
                tunnel_ip=plan.tunnel_ip,
                step=plan.step.value,
                reason=plan.reason,
            )
    # CloudWatch bills each metric that receives data ($0.30 a month, prorated by the hour): the progress is
    # counted while on-boarding has something to show (the run that finishes it reports pending 0), and
    # nothing once every tunnel logs; changes and failures only when there are some.
    if result.pending or result.sent or result.confirmed or result.failed:
        count(METRIC_ONBOARDING_LOGGING, result.logging)
        count(METRIC_ONBOARDING_PENDING, result.pending)
    for name, value in ((METRIC_ONBOARDING_ONBOARDED, result.confirmed), (METRIC_ONBOARDING_FAILED, result.failed)):
        if value:
            count(name, value)
    if result.errors:
        # The connections concerned are tried again next run; the Errors alarm is for crashes, not refusals.
        logger.warning("On-boarding could not read or change some connections", errors=result.errors)
    return {
        "tunnels": len(result.plans),
        "logging": result.logging,
        "pending": result.pending,
        "sent": result.sent,
        "confirmed": result.confirmed,
        "failed": result.failed,
        "errors": result.errors,
    }
