"""What the functions that feed incidents share to wire themselves: settings and boto3-backed ports.

The state and poller functions' settings build on :class:`StateSettings`; the ingest function
builds its ports with :func:`log_ports` for its first batch that needs AWS (this module imports
boto3: ingest loads it only then).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Self

from pydantic import BeforeValidator, Field, model_validator

from handlers.wiring import FunctionSettings, Seconds
from vpn_doctor.app.incidents import Incidents, LookBack, Monitoring, PollPorts, StatePorts
from vpn_doctor.app.logs import LogPorts
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.connection_map import DynamoDbConnectionMap
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.incident_store import DynamoDbIncidentStore
from vpn_doctor.aws.logs import TunnelLogs
from vpn_doctor.aws.metrics import TunnelMetrics
from vpn_doctor.aws.onboarding_store import DynamoDbOnboardingStore
from vpn_doctor.aws.own_changes import AuditedChanges
from vpn_doctor.constants import (
    ENV_CLEAR_DELAY_SECONDS,
    ENV_EVENT_BUS_NAME,
    ENV_FLAP_TRANSITIONS,
    ENV_FLAP_WINDOW_SECONDS,
    ENV_INCIDENTS_TABLE,
    ENV_MAX_CLOCK_SKEW_SECONDS,
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_NO_TRAFFIC_MINUTES,
    ENV_POLL_INTERVAL_MINUTES,
    ENV_REMEDIATION_TABLE,
    ENV_ROUTES_DROP_PERCENT,
    ENV_ROUTES_HOLD_SECONDS,
    ENV_ROUTES_RELEARN_SECONDS,
    ENV_TUNNEL_LOG_GROUP_ARN,
    MonitorScope,
)
from vpn_doctor.incidents import IncidentPolicy, IncidentService
from vpn_doctor.own_changes import AllOwnChanges, OwnChanges
from vpn_doctor.records import DEFAULT_MAX_CLOCK_SKEW
from vpn_doctor.routes import RoutePolicy

_DEFAULTS = IncidentPolicy()
_ROUTES = RoutePolicy()


class StateSettings(FunctionSettings):
    """Settings of a function that applies state changes (state, poller)."""

    incidents_table: str = Field(alias=ENV_INCIDENTS_TABLE)
    event_bus_name: str = Field(alias=ENV_EVENT_BUS_NAME)
    clear_delay: Seconds = Field(_DEFAULTS.clear_delay, alias=ENV_CLEAR_DELAY_SECONDS, ge=timedelta(0))
    flap_transitions: int = Field(_DEFAULTS.flap_transitions, alias=ENV_FLAP_TRANSITIONS, ge=2)
    flap_window: Seconds = Field(_DEFAULTS.flap_window, alias=ENV_FLAP_WINDOW_SECONDS, gt=timedelta(0))
    # The log group a DOWN is explained from; unset: the tunnel's own configured log group.
    tunnel_log_group_arn: str | None = Field(None, alias=ENV_TUNNEL_LOG_GROUP_ARN)
    # Remediation's audit of vpn-doctor's own tunnel changes; unset: remediation is not deployed.
    remediation_table: str | None = Field(None, alias=ENV_REMEDIATION_TABLE)
    # How far ahead of now a state change's time is trusted (as a log record's, in the ingest function).
    max_clock_skew: Seconds = Field(DEFAULT_MAX_CLOCK_SKEW, alias=ENV_MAX_CLOCK_SKEW_SECONDS, ge=timedelta(0))

    def policy(self) -> IncidentPolicy:
        """The incident rules' thresholds."""
        return IncidentPolicy(
            clear_delay=self.clear_delay, flap_transitions=self.flap_transitions, flap_window=self.flap_window
        )

    def lookback(self) -> LookBack:
        """Where a DOWN without a cause is explained from."""
        return LookBack(log_group=self.tunnel_log_group_arn)


def _listed(value: object) -> object:
    return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


class PollSettings(StateSettings):
    """The poller's settings: the state function's, which connections to watch, the traffic window."""

    monitor_scope: MonitorScope = Field(MonitorScope.ALL, alias=ENV_MONITOR_SCOPE)
    monitor_vpn_ids: Annotated[tuple[str, ...], BeforeValidator(_listed)] = Field((), alias=ENV_MONITOR_VPN_IDS)
    # The traffic findings' window (vpn_doctor.traffic); 0: off.
    no_traffic_minutes: int = Field(30, alias=ENV_NO_TRAFFIC_MINUTES, ge=0)
    poll_interval_minutes: int = Field(1, alias=ENV_POLL_INTERVAL_MINUTES, ge=1)
    # BGP routes lost (vpn_doctor.routes): how long the accepted routes must stay low, what share of the
    # baseline lost is low, how long low until the low count is the tunnel's new baseline.
    routes_hold: Seconds = Field(_ROUTES.hold, alias=ENV_ROUTES_HOLD_SECONDS, ge=timedelta(0))
    routes_drop_percent: int = Field(_ROUTES.drop_percent, alias=ENV_ROUTES_DROP_PERCENT, ge=1, le=100)
    routes_relearn: Seconds = Field(_ROUTES.relearn, alias=ENV_ROUTES_RELEARN_SECONDS, gt=timedelta(0))

    @model_validator(mode="after")
    def _scope_list_names_connections(self) -> Self:
        if self.monitor_scope is MonitorScope.LIST and not self.monitor_vpn_ids:
            raise ValueError(f"{ENV_MONITOR_SCOPE}=list needs {ENV_MONITOR_VPN_IDS}")
        return self

    def policy(self) -> IncidentPolicy:
        """The incident rules' thresholds, with the routes-lost rule's."""
        routes = RoutePolicy(hold=self.routes_hold, drop_percent=self.routes_drop_percent, relearn=self.routes_relearn)
        return replace(super().policy(), routes=routes)

    def monitoring(self) -> Monitoring:
        """What the poller watches."""
        window = timedelta(minutes=self.no_traffic_minutes) if self.no_traffic_minutes else None
        return Monitoring(
            scope=self.monitor_scope,
            vpn_ids=self.monitor_vpn_ids,
            no_traffic=window,
            poll_interval=timedelta(minutes=self.poll_interval_minutes),
        )


def incidents(table: str, bus: str, policy: IncidentPolicy) -> Incidents:
    """The incident service on the DynamoDB table, and the bus (clients created on first use)."""
    return Incidents(IncidentService(DynamoDbIncidentStore(table), policy), EventBus(bus))


def log_ports(table: str, bus: str) -> LogPorts:
    """The ingest function's ports: the tunnel log groups (look-back) and the incidents (default rules:
    findings use none of the thresholds the state sources configure)."""
    return LogPorts(
        logs=TunnelLogs(),
        incidents=incidents(table, bus, IncidentPolicy()),
        connection_map=DynamoDbConnectionMap(table),
    )


def own_changes(settings: StateSettings) -> AllOwnChanges:
    """vpn-doctor's own tunnel changes: the on-boarding's audit (incidents table, always there) and
    remediation's (its table, when deployed)."""
    sources: list[OwnChanges] = [DynamoDbOnboardingStore(settings.incidents_table)]
    if settings.remediation_table is not None:
        sources.append(AuditedChanges(settings.remediation_table))
    return AllOwnChanges(tuple(sources))


def state_ports(settings: StateSettings) -> StatePorts:
    """The state function's ports."""
    return StatePorts(
        incidents=incidents(settings.incidents_table, settings.event_bus_name, settings.policy()),
        connections=Ec2Reader(),
        logs=TunnelLogs(),
        own_changes=own_changes(settings),
    )


def poll_ports(settings: StateSettings) -> PollPorts:
    """The poller's ports: the state function's, and the traffic metrics."""
    state = state_ports(settings)
    return PollPorts(
        incidents=state.incidents,
        connections=state.connections,
        logs=state.logs,
        own_changes=state.own_changes,
        traffic=TunnelMetrics(),
        connection_map=DynamoDbConnectionMap(settings.incidents_table),
    )
