"""Use case of the watchdog function: observe vpn-doctor's own health, alert once per condition, resolve once.

Each run observes every condition (``vpn_doctor.watchdog``), compares with the conditions already open (the
store), and for each change of state publishes one message to the alert topic, the path the stack's own alarms
take. A condition is opened in the store before its alert is published and marked published after: a publish
that fails stays pending and is published again by the next run (or the retried invocation), which also fails
with :class:`~vpn_doctor.app.publishing.PublishFailed`; a resolution is published before the condition is
closed, so it is retried the same way. A subject that could not be observed (an AWS error) keeps its state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from aws_lambda_powertools import Logger

from vpn_doctor.app.incidents import Monitoring, monitored
from vpn_doctor.app.ports import Connections
from vpn_doctor.app.publishing import PublishFailed
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import SERVICE_NAME
from vpn_doctor.watchdog import (
    DEFAULT_POLLER_QUIET,
    DEFAULT_QUIET,
    LoggedTunnel,
    Observation,
    decide,
    filter_observation,
    message,
    poller_observation,
    silent_tunnels,
    topic_observation,
)

logger = Logger(service=SERVICE_NAME, child=True)
ALERT_KIND = "vpn-doctor watchdog"


class WatchdogAws(Protocol):
    """What the watchdog reads (raises ``AwsCallFailed`` when AWS refuses)."""

    def last_events(self, log_group: str) -> Mapping[str, datetime]:
        """Each stream's ``lastEventTimestamp`` in the group (``DescribeLogStreams``)."""
        ...

    def filter_destinations(self, log_group: str) -> list[str]:
        """Destination ARNs of the group's subscription filters (``DescribeSubscriptionFilters``)."""
        ...

    def subscription_arns(self, topic_arn: str) -> list[str]:
        """The topic's subscription ARNs, ``PendingConfirmation`` for unconfirmed ones."""
        ...

    def invocations(self, function_name: str, *, start: datetime, end: datetime) -> float | None:
        """The function's AWS/Lambda ``Invocations`` over the window (``None``: no datapoint)."""
        ...


class Alerts(Protocol):
    """The alert topic (``vpn_doctor.aws.sns.AlertTopic``)."""

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, str], structured: bool) -> str:
        """Publish one message; raises ``AwsCallFailed``."""
        ...


@dataclass(frozen=True, slots=True)
class OpenCondition:
    """A condition the store holds open, and whether its alert went out."""

    key: str
    published: bool


class WatchdogStore(Protocol):
    """The watchdog's memory: open conditions and when it began watching (the incidents table in Lambda)."""

    def open_conditions(self) -> Mapping[str, OpenCondition]:
        """Every open condition by key."""
        ...

    def open(self, observation: Observation, now: datetime) -> bool:
        """Hold the condition open, its alert not yet published; ``False`` when it already was (another run's)."""
        ...

    def mark_published(self, key: str) -> None:
        """Its alert went out."""
        ...

    def close(self, key: str) -> None:
        """The condition ended and its resolution went out."""
        ...

    def watching_since(self, now: datetime) -> datetime:
        """When the watchdog first ran (``now`` on its first run, remembered)."""
        ...


@dataclass(frozen=True, slots=True)
class WatchdogPorts:
    """What a watchdog run calls out to."""

    aws: WatchdogAws
    connections: Connections
    alerts: Alerts
    store: WatchdogStore


@dataclass(frozen=True, slots=True)
class Watched:
    """What the watchdog watches, and how long a silence may last."""

    log_groups: tuple[str, ...]
    ingest_arn: str
    topic_arn: str
    poller_name: str
    monitoring: Monitoring = field(default_factory=Monitoring)
    quiet: timedelta = DEFAULT_QUIET
    poller_quiet: timedelta = DEFAULT_POLLER_QUIET


@dataclass(slots=True)
class WatchdogResult:
    """What one run saw and told."""

    observations: list[Observation] = field(default_factory=list)
    alerted: list[Observation] = field(default_factory=list)
    resolved: list[Observation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_watchdog(ports: WatchdogPorts, watched: Watched, *, now: datetime) -> WatchdogResult:
    """Observe, alert what started, resolve what ended; raises ``PublishFailed`` when a message did not go out."""
    result = WatchdogResult()
    result.observations = _observe(ports, watched, result, now)
    opened = ports.store.open_conditions()
    decision = decide(result.observations, opened)
    # Conditions whose alert never went out (a failed publish) are published again while they still fail.
    unpublished = {key for key, condition in opened.items() if not condition.published}
    retry = [o for o in result.observations if o.failing and o.key in unpublished]
    failed: list[str] = []
    for observation in decision.alert:
        # Only the run that opened the condition tells it (a concurrent run's open fails); a failed publish
        # leaves it open and unpublished, for the next run to retry.
        if ports.store.open(observation, now) and _publish(ports.alerts, observation, resolved=False, failed=failed):
            ports.store.mark_published(observation.key)
            result.alerted.append(observation)
    for observation in retry:
        if _publish(ports.alerts, observation, resolved=False, failed=failed):
            ports.store.mark_published(observation.key)
            result.alerted.append(observation)
    for observation in decision.resolve:
        # A condition nobody was told about ends silently.
        told = opened[observation.key].published
        if not told or _publish(ports.alerts, observation, resolved=True, failed=failed):
            ports.store.close(observation.key)
            if told:
                result.resolved.append(observation)
    if failed:
        raise PublishFailed(ALERT_KIND, len(decision.alert) + len(retry) + len(decision.resolve), [], code=failed[0])
    return result


def _publish(alerts: Alerts, observation: Observation, *, resolved: bool, failed: list[str]) -> bool:
    subject, body = message(observation, resolved=resolved)
    attributes = {"kind": ALERT_KIND, "condition": observation.condition.value, "resolved": str(resolved).lower()}
    try:
        alerts.publish(subject=subject, message=body, attributes=attributes, structured=False)
    except AwsCallFailed as exc:
        logger.error("Watchdog message not published: retried by the next run", code=exc.code, key=observation.key)
        failed.append(exc.code)
        return False
    return True


def _observe(ports: WatchdogPorts, watched: Watched, result: WatchdogResult, now: datetime) -> list[Observation]:
    observed: list[Observation] = []
    try:
        count = ports.aws.invocations(watched.poller_name, start=now - watched.poller_quiet, end=now)
        observed.append(poller_observation(count, quiet=watched.poller_quiet))
    except AwsCallFailed as exc:
        result.errors.append(exc.code)
    try:
        arns = ports.aws.subscription_arns(watched.topic_arn)
        observed.append(topic_observation(watched.topic_arn, arns))
    except AwsCallFailed as exc:
        result.errors.append(exc.code)
    for group in watched.log_groups:
        try:
            observed.append(filter_observation(group, ports.aws.filter_destinations(group), watched.ingest_arn))
        except AwsCallFailed as exc:
            result.errors.append(exc.code)
    observed += _tunnels(ports, watched, result, now)
    return observed


def _tunnels(ports: WatchdogPorts, watched: Watched, result: WatchdogResult, now: datetime) -> list[Observation]:
    try:
        connections = monitored(ports.connections, watched.monitoring)
    except AwsCallFailed as exc:
        result.errors.append(exc.code)
        return []
    tunnels = [
        LoggedTunnel(connection.vpn_connection_id, tunnel.outside_ip, _group_name(tunnel.logging.log_group_arn))
        for connection in connections
        for tunnel in connection.tunnels
        if tunnel.logging.enabled and tunnel.logging.log_group_arn
    ]
    # A tunnel logging to a group vpn-doctor does not watch is not its to judge (``vpn-doctor selftest`` names it).
    tunnels = [tunnel for tunnel in tunnels if tunnel.log_group in watched.log_groups]
    last_events: dict[str, Mapping[str, datetime]] = {}
    for group in sorted({tunnel.log_group for tunnel in tunnels}):
        try:
            last_events[group] = ports.aws.last_events(group)
        except AwsCallFailed as exc:
            result.errors.append(exc.code)
    readable = [tunnel for tunnel in tunnels if tunnel.log_group in last_events]
    since = ports.store.watching_since(now)
    return silent_tunnels(readable, last_events, now=now, quiet=watched.quiet, watching_since=since)


def _group_name(arn: str | None) -> str:
    """The log group name of a log-group ARN (``...:log-group:<name>[:*]``)."""
    _, _, rest = (arn or "").partition(":log-group:")
    return rest.removesuffix(":*")
