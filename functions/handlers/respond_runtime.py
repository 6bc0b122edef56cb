"""The respond function's settings and boto3-backed ports."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from handlers.wiring import FunctionSettings, Seconds
from vpn_doctor.app.respond import Remediation, RespondConfig, RespondPorts
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.ec2_modify import Ec2TunnelModifier
from vpn_doctor.aws.metrics import TunnelMetrics
from vpn_doctor.aws.remediation_store import DynamoDbRemediationStore
from vpn_doctor.aws.scheduler import PostCheckScheduler
from vpn_doctor.aws.silence_store import DynamoDbSilenceStore
from vpn_doctor.constants import (
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_MAINTENANCE_WINDOWS,
    ENV_POST_CHECK_DELAY_SECONDS,
    ENV_POST_CHECK_ROLE_ARN,
    ENV_POST_CHECK_TARGET_ARN,
    ENV_REMEDIATION_COOLDOWN_SECONDS,
    ENV_REMEDIATION_DAILY_BUDGET,
    ENV_REMEDIATION_DPD_ACTION,
    ENV_REMEDIATION_MODE,
    ENV_REMEDIATION_SIBLING_UP_SECONDS,
    ENV_REMEDIATION_TABLE,
    ENV_TUNNEL_LOG_GROUP_ARN,
    DpdAction,
    Mode,
)
from vpn_doctor.remediation import RemediationPolicy
from vpn_doctor.silences import MaintenanceWindows, parse_windows_json

_DEFAULTS = RemediationPolicy()


def _mode(value: object) -> object:
    return (Mode.parse(value) or value) if isinstance(value, str) else value


class RespondSettings(FunctionSettings):
    """The bus, the remediation mode, the resources remediation needs (unless off) and its guards."""

    event_bus_name: str = Field(alias=ENV_EVENT_BUS_NAME)
    mode: Annotated[Mode, BeforeValidator(_mode)] = Field(_DEFAULTS.mode, alias=ENV_REMEDIATION_MODE)
    # The stack creates these unless the deployment's mode is off (no table, no IAM to modify, so no
    # tag can turn remediation on).
    remediation_table: str | None = Field(None, alias=ENV_REMEDIATION_TABLE)
    post_check_target_arn: str | None = Field(None, alias=ENV_POST_CHECK_TARGET_ARN)
    post_check_role_arn: str | None = Field(None, alias=ENV_POST_CHECK_ROLE_ARN)
    cooldown: Seconds = Field(_DEFAULTS.cooldown, alias=ENV_REMEDIATION_COOLDOWN_SECONDS, ge=timedelta(0))
    daily_budget: int = Field(_DEFAULTS.daily_budget, alias=ENV_REMEDIATION_DAILY_BUDGET, ge=0)
    sibling_up_minimum: Seconds = Field(
        _DEFAULTS.sibling_up_minimum, alias=ENV_REMEDIATION_SIBLING_UP_SECONDS, ge=timedelta(0)
    )
    dpd_timeout_action: DpdAction = Field(_DEFAULTS.dpd_timeout_action, alias=ENV_REMEDIATION_DPD_ACTION)
    post_check_delay: Seconds = Field(
        timedelta(minutes=15), alias=ENV_POST_CHECK_DELAY_SECONDS, ge=timedelta(minutes=1)
    )
    # Where tunnel logging is enabled to (a remediation action) and the alert's log link.
    tunnel_log_group_arn: str | None = Field(None, alias=ENV_TUNNEL_LOG_GROUP_ARN)
    region: str | None = Field(None, alias="AWS_REGION")  # set by Lambda; the alert's console links
    incidents_table: str | None = Field(None, alias=ENV_INCIDENTS_TABLE)  # the silences (vpn_doctor.silences)
    # Recurring maintenance windows from the deploy configuration (vpn_doctor.silences.parse_windows).
    maintenance_windows: MaintenanceWindows = Field(default_factory=dict, alias=ENV_MAINTENANCE_WINDOWS)

    @field_validator("maintenance_windows", mode="before")
    @classmethod
    def _windows_from_json(cls, value: object) -> object:
        return parse_windows_json(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _remediation_has_its_resources(self) -> Self:
        if self.mode is not Mode.OFF:
            missing = [
                name
                for name, value in (
                    (ENV_REMEDIATION_TABLE, self.remediation_table),
                    (ENV_POST_CHECK_TARGET_ARN, self.post_check_target_arn),
                    (ENV_POST_CHECK_ROLE_ARN, self.post_check_role_arn),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"{ENV_REMEDIATION_MODE}={self.mode.value} needs {', '.join(missing)}")
        return self

    def config(self) -> RespondConfig:
        """The remediation policy, post-check delay and region."""
        policy = RemediationPolicy(
            mode=self.mode,
            cooldown=self.cooldown,
            daily_budget=self.daily_budget,
            sibling_up_minimum=self.sibling_up_minimum,
            log_group_arn=self.tunnel_log_group_arn,
            dpd_timeout_action=self.dpd_timeout_action,
        )
        return RespondConfig(
            policy=policy,
            post_check_delay=self.post_check_delay,
            region=self.region,
            windows=self.maintenance_windows,
        )


def respond_ports(settings: RespondSettings) -> RespondPorts:
    """EC2 (read and modify), CloudWatch metrics, the bus and, unless off, the remediation table and Scheduler."""
    remediation = None
    if settings.remediation_table and settings.post_check_target_arn and settings.post_check_role_arn:
        remediation = Remediation(
            store=DynamoDbRemediationStore(settings.remediation_table),
            modifier=Ec2TunnelModifier(),
            scheduler=PostCheckScheduler(
                target_arn=settings.post_check_target_arn, role_arn=settings.post_check_role_arn
            ),
        )
    # One EC2 reader: connections, and AWS's device sample configurations quoted in the alert's next steps.
    ec2 = Ec2Reader()
    return RespondPorts(
        connections=ec2,
        traffic=TunnelMetrics(),
        bus=EventBus(settings.event_bus_name),
        remediation=remediation if settings.mode is not Mode.OFF else None,
        silences=DynamoDbSilenceStore(settings.incidents_table) if settings.incidents_table else None,
        samples=ec2,
    )
