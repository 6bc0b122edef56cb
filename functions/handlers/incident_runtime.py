"""What the state, poller and ingest handlers share: settings, adapters, the incident service, publishing.

Settings are read once from the environment (names in ``vpn_doctor.constants``) on first use;
boto3 clients are created lazily by the adapters. :func:`reset` forgets both (tests, the demo).

Publishing (:meth:`IncidentRuntime.publish`) is the outbox's other half: the service returns the
transitions to publish (new ones and the tunnel's leftovers); once the bus took them all they are
removed from the outbox; if the bus failed, :class:`PublishFailed` fails the invocation so Lambda
and EventBridge redeliver, and the redelivery publishes what the outbox still holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from handlers.observability import logger, metrics
from handlers.runtime import LazyRuntime, SettingsError, integer, required, seconds
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.incident_store import DynamoDbIncidentStore
from vpn_doctor.aws.logs import TunnelLogs
from vpn_doctor.aws.metrics import TunnelMetrics
from vpn_doctor.classify import Classifier
from vpn_doctor.constants import (
    DETAIL_TYPE_STATE_CHANGE,
    ENV_CLEAR_DELAY_SECONDS,
    ENV_EVENT_BUS_NAME,
    ENV_FLAP_TRANSITIONS,
    ENV_FLAP_WINDOW_SECONDS,
    ENV_INCIDENTS_TABLE,
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_SILENCE_MINUTES,
    ENV_TUNNEL_LOG_GROUP_ARN,
    METRIC_INCIDENT_TRANSITIONS,
    METRIC_PUBLISH_FAILURES,
    METRICS_NAMESPACE,
)
from vpn_doctor.incidents import IncidentPolicy, IncidentService, unique
from vpn_doctor.models import Finding, IncidentTransition, TunnelState, TunnelStateChange, dump
from vpn_doctor.vpn import VpnConnectionInfo

MONITOR_SCOPES = ("all", "tag", "list")


class PublishFailed(RuntimeError):
    """The bus did not take every transition: they stay in the outbox; fail so the event is redelivered."""


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    """Configuration of the incident pipeline, from the function's environment."""

    incidents_table: str
    event_bus_name: str
    policy: IncidentPolicy = field(default_factory=IncidentPolicy)
    monitor_scope: str = "all"
    monitor_vpn_ids: tuple[str, ...] = ()
    tunnel_log_group: str | None = None
    silence: timedelta | None = None
    lookback: timedelta = timedelta(minutes=15)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IncidentSettings:
        """Read and validate; raises :class:`SettingsError` naming the variable."""
        table = required(env, ENV_INCIDENTS_TABLE)
        bus = required(env, ENV_EVENT_BUS_NAME)
        scope = env.get(ENV_MONITOR_SCOPE, "all").strip().lower() or "all"
        if scope not in MONITOR_SCOPES:
            raise SettingsError(f"{ENV_MONITOR_SCOPE} must be one of {', '.join(MONITOR_SCOPES)}, not {scope!r}")
        ids = tuple(part.strip() for part in env.get(ENV_MONITOR_VPN_IDS, "").split(",") if part.strip())
        if scope == "list" and not ids:
            raise SettingsError(f"{ENV_MONITOR_SCOPE}=list needs {ENV_MONITOR_VPN_IDS}")
        defaults = IncidentPolicy()
        policy = replace(
            defaults,
            clear_delay=seconds(env, ENV_CLEAR_DELAY_SECONDS, defaults.clear_delay),
            flap_transitions=integer(env, ENV_FLAP_TRANSITIONS, defaults.flap_transitions, minimum=2),
            flap_window=seconds(env, ENV_FLAP_WINDOW_SECONDS, defaults.flap_window),
        )
        silence_minutes = integer(env, ENV_SILENCE_MINUTES, 0)
        return cls(
            incidents_table=table,
            event_bus_name=bus,
            policy=policy,
            monitor_scope=scope,
            monitor_vpn_ids=ids,
            tunnel_log_group=env.get(ENV_TUNNEL_LOG_GROUP_ARN, "").strip() or None,
            silence=timedelta(minutes=silence_minutes) if silence_minutes > 0 else None,
        )


@dataclass(slots=True)
class IncidentRuntime:
    """Settings plus lazily created adapters and the incident service."""

    settings: IncidentSettings
    store: DynamoDbIncidentStore = field(init=False)
    bus: EventBus = field(init=False)
    ec2: Ec2Reader = field(default_factory=Ec2Reader)
    logs: TunnelLogs = field(default_factory=TunnelLogs)
    metrics: TunnelMetrics = field(default_factory=TunnelMetrics)
    service: IncidentService = field(init=False)

    def __post_init__(self) -> None:
        self.store = DynamoDbIncidentStore(self.settings.incidents_table)
        self.bus = EventBus(self.settings.event_bus_name)
        self.service = IncidentService(self.store, self.settings.policy)

    def apply_state(self, change: TunnelStateChange, *, now: datetime) -> list[IncidentTransition]:
        """Apply one state change (expanded to tunnels when it names none), then check for resolution."""
        transitions: list[IncidentTransition] = []
        for tunnel_change in self.expand(change, now=now):
            cause = None
            if tunnel_change.state is TunnelState.DOWN and tunnel_change.tunnel_ip:
                record = self.service.record(tunnel_change.vpn_connection_id, tunnel_change.tunnel_ip)
                if record.incident is None or not record.incident.category.is_failure:
                    cause = self.cause_from_logs(tunnel_change)
            transitions += self.service.on_state(tunnel_change, now=now, cause=cause)
            if tunnel_change.tunnel_ip:
                transitions += self.service.tick(tunnel_change.vpn_connection_id, tunnel_change.tunnel_ip, now=now)
        # Each call returns the tunnel's outbox leftovers too: one message each.
        return unique(transitions)

    def expand(self, change: TunnelStateChange, *, now: datetime) -> list[TunnelStateChange]:
        """Per-tunnel changes for a change that names only the connection (Health, connection-level alarm)."""
        if change.tunnel_ip:
            return [change]
        if change.state is TunnelState.UNKNOWN and not change.maintenance:
            return []  # information about the connection, nothing to apply to a tunnel
        if change.maintenance:
            keep = self.settings.policy.maintenance_window * 2
            self.store.save_connection_notice(change.vpn_connection_id, change.observed_at, now=now, keep=keep)
        connection = self._connection(change.vpn_connection_id)
        if connection is None:
            return []
        return [
            replace(change, tunnel_ip=tunnel.outside_ip)
            for tunnel in connection.tunnels
            if change.maintenance or (tunnel.telemetry is not None and tunnel.telemetry.status is change.state)
        ]

    def cause_from_logs(self, change: TunnelStateChange) -> Finding | None:
        """The worst (then latest) failure in the tunnel's logs over the look-back before a DOWN."""
        tunnel_ip = change.tunnel_ip
        if not tunnel_ip:
            return None
        group = self.settings.tunnel_log_group
        connection = self._connection(change.vpn_connection_id) if group is None else None
        if connection is not None:
            tunnel = connection.tunnel(tunnel_ip)
            group = tunnel.logging.log_group_arn if tunnel is not None and tunnel.logging.enabled else None
        if not group:
            return None
        start = change.observed_at - self.settings.lookback
        try:
            events = self.logs.lookback(
                group, change.vpn_connection_id, tunnel_ip, start=start, end=change.observed_at + timedelta(minutes=1)
            )
        except AwsCallFailed as exc:
            logger.warning("Log look-back failed", code=exc.code, operation=exc.operation)
            return None
        failures = [finding for finding in Classifier().classify_all(events) if finding.is_failure]
        if not failures:
            return None
        return max(enumerate(failures), key=lambda pair: (pair[1].severity.rank, pair[0]))[1]

    def _connection(self, vpn_connection_id: str) -> VpnConnectionInfo | None:
        try:
            return self.ec2.connection(vpn_connection_id)
        except AwsCallFailed as exc:
            logger.warning("DescribeVpnConnections failed", code=exc.code, vpn_connection_id=vpn_connection_id)
            return None

    def publish(self, transitions: Sequence[IncidentTransition]) -> int:
        """Publish transitions on the bus, then remove them from the outbox; count and log them.

        Raises :class:`PublishFailed` when the bus did not take them all (they stay in the outbox
        and are published again by the redelivery or the tunnel's next event)."""
        transitions = unique(transitions)
        if not transitions:
            return 0
        for transition in transitions:
            log_transition(transition)
            _count(METRIC_INCIDENT_TRANSITIONS, "Kind", transition.kind.value)
        try:
            report = self.bus.publish_transitions(transitions)
        except AwsCallFailed as exc:
            _publish_failed(transitions, exc.code)
            raise PublishFailed(f"PutEvents failed ({exc.code}); the transitions stay in the outbox") from None
        if report.failed:
            # Which entries failed is not known: all stay in the outbox (at-least-once is fine).
            metrics.add_metric(name=METRIC_PUBLISH_FAILURES, unit=MetricUnit.Count, value=len(report.failed))
            logger.error("Some transitions were not published", failures=report.failed)
            raise PublishFailed(f"{len(report.failed)} of {len(transitions)} transitions not published")
        try:
            self.service.delivered(transitions)
        except AwsCallFailed as exc:
            # Published all the same: the leftovers are published again on the tunnel's next event.
            logger.warning("Outbox not cleared after publishing", code=exc.code, operation=exc.operation)
        return report.published

    def publish_state_changes(self, changes: Iterable[TunnelStateChange]) -> None:
        """Publish state changes (e.g. silent tunnels) for users' own targets and dashboards."""
        details = [dump(change) for change in changes]
        if not details:
            return
        try:
            report = self.bus.publish(DETAIL_TYPE_STATE_CHANGE, details)
        except AwsCallFailed as exc:
            metrics.add_metric(name=METRIC_PUBLISH_FAILURES, unit=MetricUnit.Count, value=len(details))
            logger.error("State changes not published", code=exc.code)
            return
        if report.failed:
            metrics.add_metric(name=METRIC_PUBLISH_FAILURES, unit=MetricUnit.Count, value=len(report.failed))


def log_transition(transition: IncidentTransition) -> None:
    """One structured log line per transition (models hold no secrets)."""
    incident = transition.incident
    logger.info(
        "Incident transition",
        transition=transition.kind.value,
        incident_id=incident.incident_id,
        vpn_connection_id=incident.vpn_connection_id,
        tunnel_ip=incident.tunnel_ip,
        category=incident.category.value,
        cause=incident.cause.value if incident.cause else None,
        severity=incident.severity.value,
        status=incident.status.value,
        maintenance=incident.maintenance,
        reason=transition.reason,
        event_id=transition.event_id,
    )


def _publish_failed(transitions: Sequence[IncidentTransition], code: str) -> None:
    # The outbox holds these transitions until published; the log says what is waiting.
    metrics.add_metric(name=METRIC_PUBLISH_FAILURES, unit=MetricUnit.Count, value=len(transitions))
    logger.error("Transitions not published", code=code, transitions=[dump(t) for t in transitions])


def _count(name: str, dimension: str, value: str) -> None:
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=METRICS_NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension, value=value)


def event_id_of(finding: Finding) -> str:
    """The finding's delivery id (CloudWatch Logs event id), or a digest of the record when absent."""
    if finding.event.event_id:
        return finding.event.event_id
    return "record:" + hashlib.sha256(finding.event.raw.encode()).hexdigest()[:32]


_RUNTIME: LazyRuntime[IncidentRuntime] = LazyRuntime(lambda env: IncidentRuntime(IncidentSettings.from_env(env)))


def runtime() -> IncidentRuntime:
    """The process-wide runtime, built from the environment on first use."""
    return _RUNTIME.get()


def reset() -> None:
    """Forget settings and clients (tests and the demo change the environment between runs)."""
    _RUNTIME.reset()
