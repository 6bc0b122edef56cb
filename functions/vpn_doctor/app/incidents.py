"""Use cases of the state sources: apply state changes to tunnels' incidents (state function) and
poll the monitored connections' telemetry (poller function); publishing the transitions.

Publishing is the outbox's other half: the incident service returns the transitions to publish
(new ones and the tunnel's leftovers); once the bus took them all they are removed from the outbox;
when it did not, :class:`~vpn_doctor.app.publishing.PublishFailed` fails the invocation, and the
redelivery (or the tunnel's next event) publishes what the outbox still holds.

A poll's cost: the monitored connections' records are read in batches (one ``BatchGetItem`` per 100
keys; the connection-level records only when the poll judges traffic), the outbox leftovers of every tunnel
with one ``Query``, and a tunnel is written only when its rule changes something: a poll that finds
nothing changed writes nothing (a BGP tunnel's accepted routes included: :mod:`vpn_doctor.routes`). Traffic
(``GetMetricData``, billed per metric requested) is read only every ``traffic_every`` (default 30 minutes:
:data:`TRAFFIC_EVERY`), two metrics per UP tunnel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from aws_lambda_powertools import Logger

from vpn_doctor.app.ports import ConnectionMapWriter, Connections, TrafficReader, TunnelLogReader
from vpn_doctor.app.publishing import EventPublisher, publish_all
from vpn_doctor.attribution import map_of
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.classify import Classifier
from vpn_doctor.constants import (
    CONNECTION_SCOPE,
    DETAIL_TYPE_INCIDENT,
    DETAIL_TYPE_STATE_CHANGE,
    MONITOR_TAG,
    SERVICE_NAME,
    MonitorScope,
)
from vpn_doctor.incidents import IncidentService, StoreContention, TunnelRecord, trusted_change, unique
from vpn_doctor.models import Finding, IncidentTransition, StateSource, TunnelState, TunnelStateChange, dump
from vpn_doctor.own_changes import (
    ExpectedNotice,
    OwnChange,
    OwnChanges,
    change_behind,
    could_be_ours,
    search_window,
)
from vpn_doctor.records import CLOCK_SKEW, DEFAULT_MAX_CLOCK_SKEW
from vpn_doctor.routes import RouteObservation
from vpn_doctor.telemetry import routes_observation, telemetry_changes
from vpn_doctor.traffic import PERIOD, traffic_findings
from vpn_doctor.vpn import VpnConnectionInfo

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass(frozen=True, slots=True)
class Incidents:
    """Where findings and state changes go: the incident service (its store) and the bus."""

    service: IncidentService
    bus: EventPublisher


@dataclass(frozen=True, slots=True)
class StatePorts:
    """What applying a state change calls out to; ``own_changes``: vpn-doctor's audited tunnel changes
    (``None``: this deployment makes none, so every AWS Health notice is AWS's own)."""

    incidents: Incidents
    connections: Connections
    logs: TunnelLogReader
    own_changes: OwnChanges | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class PollPorts(StatePorts):
    """What a poll calls out to: the state ports, the tunnels' traffic and where the connection map
    (what ingest attributes gateway lines with) is kept; ``None``: not kept."""

    traffic: TrafficReader
    connection_map: ConnectionMapWriter | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class LookBack:
    """Where and how far back a DOWN without a cause is explained from the tunnel's logs."""

    log_group: str | None = None  # None: the tunnel's own configured log group
    window: timedelta = timedelta(minutes=15)


#: How often the poller reads the traffic metrics. GetMetricData is billed per metric requested (two per
#: UP tunnel a read, whatever the window): every 30 minutes keeps 100 tunnels with everything on under
#: $10 a month (bench/cost.py); every 5 minutes would cost six times as much for the reads.
TRAFFIC_EVERY: Final = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Monitoring:
    """Which connections the poller watches, and how it judges their traffic (:mod:`vpn_doctor.traffic`).

    ``no_traffic``: the window of the traffic findings (no traffic, one-way, asymmetry); ``None``
    turns them off. ``traffic_every``: how often the metrics are read (a poll whose minute falls in
    the slot reads them); ``poll_interval``: the poller's schedule, so a slower poller never skips it."""

    scope: MonitorScope = MonitorScope.ALL
    vpn_ids: tuple[str, ...] = ()
    no_traffic: timedelta | None = None  # the deployment's default is 30 minutes (handlers' settings)
    traffic_every: timedelta = TRAFFIC_EVERY
    poll_interval: timedelta = timedelta(minutes=1)

    def traffic_due(self, now: datetime) -> bool:
        """Whether the poll at ``now`` reads the traffic metrics."""
        if self.no_traffic is None:
            return False
        every = max(1, int(self.traffic_every.total_seconds() // 60))
        interval = max(1, int(self.poll_interval.total_seconds() // 60))
        return int(now.timestamp() // 60) % every < interval


@dataclass(slots=True)
class StateResult:
    """What applying state changes (or a poll) produced."""

    transitions: list[IncidentTransition] = field(default_factory=list)
    published: int = 0
    # AWS Health notices caused by vpn-doctor's own changes: recorded, never applied to an incident.
    expected: list[ExpectedNotice] = field(default_factory=list)
    clock_skewed: int = 0  # changes dated beyond the clock skew, dated at their receipt instead


@dataclass(slots=True)
class PollResult(StateResult):
    """What one poll saw and did; ``errors`` are AWS error codes (one connection's never stops the others)."""

    connections: int = 0
    vanished: list[str] = field(default_factory=list)  # listed connections that no longer exist
    newly_vanished: list[str] = field(default_factory=list)  # ... reported by this poll (once each)
    changes: list[TunnelStateChange] = field(default_factory=list)
    traffic: list[Finding] = field(default_factory=list)  # traffic findings of this poll (none when not due)
    errors: list[str] = field(default_factory=list)
    # The monitored connections as this poll read them (the checks ahead of time reuse them: vpn_doctor.app.ahead).
    seen: list[VpnConnectionInfo] = field(default_factory=list)


def publish_transitions(incidents: Incidents, transitions: Sequence[IncidentTransition]) -> int:
    """Publish transitions (``VPN Tunnel Incident``), then remove them from the outbox.

    Raises :class:`~vpn_doctor.app.publishing.PublishFailed` when the bus did not take them all
    (which entries failed is not known: all stay in the outbox; at-least-once is fine)."""
    transitions = unique(transitions)
    published = publish_all(incidents.bus, DETAIL_TYPE_INCIDENT, [dump(t) for t in transitions])
    try:
        incidents.service.delivered(transitions)
    except AwsCallFailed as exc:
        # Published all the same: the leftovers are published again on the tunnel's next event.
        logger.warning("Outbox not cleared after publishing", code=exc.code, operation=exc.operation)
    return published


def apply_state_changes(
    changes: Sequence[TunnelStateChange],
    ports: StatePorts,
    *,
    lookback: LookBack,
    now: datetime,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> StateResult:
    """Apply normalised state changes to their tunnels' incidents and publish the transitions. A change
    dated more than ``max_clock_skew`` ahead of ``now`` is dated ``now`` (:func:`trusted_change`),
    logged and counted in ``clock_skewed``; an AWS Health notice about a change vpn-doctor made itself, or the
    changed tunnel's DOWN during it, is returned as expected instead of applied."""
    result = StateResult()
    transitions: list[IncidentTransition] = []
    for change in _trusted(changes, now, max_clock_skew, result):
        if (ours := _own_change_behind(change, ports, now)) is not None:
            result.expected.append(ExpectedNotice(change, ours))
            continue
        transitions += _apply(change, ports, lookback, now)
    # A leftover of the outbox is returned by every call for its tunnel: one message each.
    result.transitions = unique(transitions)
    result.published = publish_transitions(ports.incidents, result.transitions)
    return result


def _own_change_behind(change: TunnelStateChange, ports: StatePorts, now: datetime) -> OwnChange | None:
    """The audited vpn-doctor change that caused this signal (a Health notice, the changed tunnel's DOWN), if
    any. When the audit cannot be read the signal is applied as usual (a maintenance label or an incident at
    worst), never dropped unexplained."""
    if ports.own_changes is None or not could_be_ours(change):
        return None
    since, until = search_window(change)
    try:
        found = ports.own_changes.changes(change.vpn_connection_id, since=since, until=until)
    except AwsCallFailed as exc:
        logger.warning("Audit not read: the Health notice is taken as AWS's own", code=exc.code)
        return None
    return change_behind(change, found, now=now)


def _trusted(
    changes: Sequence[TunnelStateChange], now: datetime, max_skew: timedelta, result: StateResult
) -> list[TunnelStateChange]:
    """The changes as :func:`trusted_change` dates them; each one dated anew is logged and counted."""
    trusted = [trusted_change(change, now=now, max_skew=max_skew) for change in changes]
    for change in trusted:
        if (note := change.details.get(CLOCK_SKEW)) is not None:
            result.clock_skewed += 1
            logger.warning(
                "State change time beyond the clock skew",
                vpn_connection_id=change.vpn_connection_id,
                tunnel_ip=change.tunnel_ip,
                source=change.source.value,
                clock_skew=note,
            )
    return trusted


def poll_connections(ports: PollPorts, *, monitoring: Monitoring, lookback: LookBack, now: datetime) -> PollResult:
    """Compare every monitored connection's telemetry with the stored states, apply the changes and
    (when due) the traffic findings, resolve what has been clear long enough, flush outbox leftovers,
    report vanished connections (once each). (Telemetry times are EC2's own clock, never taken later than
    ``now``: :func:`vpn_doctor.telemetry.telemetry_changes`.)"""
    result = PollResult()
    try:
        connections = monitored(ports.connections, monitoring)
    except AwsCallFailed as exc:
        logger.error("Could not list VPN connections", code=exc.code, try_later=exc.try_later)
        result.errors.append(exc.code)
        return result
    result.connections = len(connections)
    result.seen = connections
    _keep_map(ports, connections, result)
    service = ports.incidents.service
    try:
        result.transitions += service.leftovers()  # a failed or interrupted publish, any tunnel's
    except AwsCallFailed as exc:
        logger.error("Outbox not read: leftovers wait for the next poll", code=exc.code)
        result.errors.append(exc.code)
    traffic: dict[str, list[Finding]] = {}
    due = monitoring.traffic_due(now)
    if due:
        traffic = _traffic(connections, ports, monitoring=monitoring, lookback=lookback, result=result, now=now)
    for group in _groups(connections):
        for connection, records in _records(service, group, with_traffic=due):
            try:
                if isinstance(records, AwsCallFailed):
                    raise records
                result.transitions += _poll(connection, records, ports, result, lookback=lookback, now=now)
                if due:
                    found = traffic.get(connection.vpn_connection_id, [])
                    result.transitions += _traffic_incident(
                        connection, records, found, service, monitoring=monitoring, now=now
                    )
            except (AwsCallFailed, StoreContention) as exc:
                code = exc.code if isinstance(exc, AwsCallFailed) else "StoreContention"
                logger.error("Poll failed", vpn_connection_id=connection.vpn_connection_id, code=code)
                result.errors.append(code)
    result.transitions = unique(result.transitions)
    _vanished(connections, monitoring, ports.incidents, result, now)
    result.published = publish_transitions(ports.incidents, result.transitions)
    return result


def _keep_map(ports: PollPorts, connections: Sequence[VpnConnectionInfo], result: PollResult) -> None:
    """Store the connection map ingest attributes gateway lines with (written only when it changed)."""
    if ports.connection_map is None:
        return
    try:
        ports.connection_map.save(map_of(connections))
    except AwsCallFailed as exc:
        logger.error("Connection map not stored: gateway lines use the previous one", code=exc.code)
        result.errors.append(exc.code)


# Connections whose records one read fetches: 50 connections, their 100 tunnel records and 50 notices (and,
# when the poll judges traffic, 50 connection-level records), in BatchGetItem calls of 100 keys.
_GROUP = 50


def _groups(connections: Sequence[VpnConnectionInfo]) -> list[Sequence[VpnConnectionInfo]]:
    return [connections[start : start + _GROUP] for start in range(0, len(connections), _GROUP)]


def _records(
    service: IncidentService, group: Sequence[VpnConnectionInfo], *, with_traffic: bool = False
) -> list[tuple[VpnConnectionInfo, Mapping[tuple[str, str], TunnelRecord] | AwsCallFailed]]:
    """The group's records in one read (``with_traffic``: the connection-level records too, only read
    by the polls that judge traffic); when that fails, each connection's on its own, so one
    connection whose records cannot be read never stops the others."""

    def tunnels(connections: Sequence[VpnConnectionInfo]) -> list[tuple[str, str]]:
        scope = (CONNECTION_SCOPE,) if with_traffic else ()
        return [(c.vpn_connection_id, ip) for c in connections for ip in (*(t.outside_ip for t in c.tunnels), *scope)]

    try:
        records = service.records(tunnels(group))
        return [(connection, records) for connection in group]
    except AwsCallFailed:
        pass
    alone: list[tuple[VpnConnectionInfo, Mapping[tuple[str, str], TunnelRecord] | AwsCallFailed]] = []
    for connection in group:
        try:
            alone.append((connection, service.records(tunnels([connection]))))
        except AwsCallFailed as exc:
            alone.append((connection, exc))
    return alone


def monitored(connections: Connections, monitoring: Monitoring) -> list[VpnConnectionInfo]:
    """The connections in the monitoring scope (the poller's, and the watchdog's)."""
    if monitoring.scope is MonitorScope.LIST:
        return connections.connections(monitoring.vpn_ids)
    if monitoring.scope is MonitorScope.TAG:
        return connections.connections(tag_key=MONITOR_TAG)
    return connections.connections()


def _vanished(
    connections: Sequence[VpnConnectionInfo],
    monitoring: Monitoring,
    incidents: Incidents,
    result: PollResult,
    now: datetime,
) -> None:
    """Listed connections EC2 no longer has (deleted): skipped by every poll, reported once each
    (a log line, the result's ``newly_vanished`` for the metric, a state-change event on the bus)."""
    if monitoring.scope is not MonitorScope.LIST:
        return  # a tag or the whole account: a deleted connection simply stops being watched
    found = {connection.vpn_connection_id for connection in connections}
    result.vanished = [vpn for vpn in dict.fromkeys(monitoring.vpn_ids) if vpn not in found]
    if not result.vanished:
        return
    try:
        result.newly_vanished = incidents.service.store.mark_vanished(result.vanished, now=now)
    except AwsCallFailed as exc:
        logger.error("Vanished connections not recorded: reported by a later poll", code=exc.code)
        result.errors.append(exc.code)
        return
    changes = [
        TunnelStateChange(
            vpn_connection_id=vpn,
            tunnel_ip=None,
            state=TunnelState.UNKNOWN,
            source=StateSource.TELEMETRY_POLL,
            observed_at=now,
            event_id=f"vanished:{vpn}",
            reason="Connection no longer exists (deleted?): no longer polled; remove it from the monitored list",
            details={"vanished": "true"},
        )
        for vpn in result.newly_vanished
    ]
    for vpn in result.newly_vanished:
        logger.warning("Monitored VPN connection no longer exists: skipped from now on", vpn_connection_id=vpn)
    publish_all(incidents.bus, DETAIL_TYPE_STATE_CHANGE, [dump(change) for change in changes])


def _poll(
    connection: VpnConnectionInfo,
    records: Mapping[tuple[str, str], TunnelRecord],
    ports: PollPorts,
    result: PollResult,
    *,
    lookback: LookBack,
    now: datetime,
) -> list[IncidentTransition]:
    vpn = connection.vpn_connection_id
    mine = {
        t.outside_ip: records.get((vpn, t.outside_ip)) or TunnelRecord(vpn, t.outside_ip) for t in connection.tunnels
    }
    changes = telemetry_changes(connection, mine, now=now)
    result.changes += changes
    # The accepted BGP routes of each tunnel (dynamic routing only), applied with the tunnel's other news in
    # one write, and only when its routes' state changes (vpn_doctor.routes): a steady poll writes nothing.
    routes = {t.outside_ip: observed for t in connection.tunnels if (observed := routes_observation(connection, t))}
    transitions: list[IncidentTransition] = []
    for change in changes:
        if (ours := _own_change_behind(change, ports, now)) is not None:
            # The tunnel's outage during vpn-doctor's own change: nothing applied, so the record keeps its
            # last state and a poll after the expected outage sees (and applies) a tunnel still DOWN.
            result.expected.append(ExpectedNotice(change, ours))
            continue
        ip = change.tunnel_ip or ""
        transitions += _apply(change, ports, lookback, now, known=mine.get(ip), routes=routes.get(ip))
    changed = {change.tunnel_ip for change in changes}
    service = ports.incidents.service
    for tunnel in connection.tunnels:
        ip, record = tunnel.outside_ip, mine[tunnel.outside_ip]
        if ip in changed:
            continue
        if (observed := routes.get(ip)) is not None:
            transitions += service.on_routes(vpn, ip, observed, now=now, known=record)
        elif record.incident is not None:
            transitions += service.tick(vpn, ip, now=now, known=record)
    return transitions


def _traffic(
    connections: Sequence[VpnConnectionInfo],
    ports: PollPorts,
    *,
    monitoring: Monitoring,
    lookback: LookBack,
    result: PollResult,
    now: datetime,
) -> dict[str, list[Finding]]:
    """Every connection's traffic finding, from one batched read of the UP tunnels' metrics.

    The read covers the window and one period more, ending at the last whole period: the newest
    period may not be published yet, and a missing datapoint is no data, never zero bytes."""
    window = monitoring.no_traffic
    if window is None:
        return {}
    up = [
        (connection.vpn_connection_id, tunnel.outside_ip)
        for connection in connections
        for tunnel in connection.tunnels
        if tunnel.telemetry is not None and tunnel.telemetry.status is TunnelState.UP
    ]
    if not up:
        return {}
    period = int(PERIOD.total_seconds())
    end = datetime.fromtimestamp(now.timestamp() // period * period, tz=now.tzinfo)
    try:
        read = ports.traffic.traffic(up, start=end - window - PERIOD, end=end, period=period)
    except AwsCallFailed as exc:
        logger.error("Traffic not read: traffic findings wait for the next read", code=exc.code)
        result.errors.append(exc.code)
        return {}
    found: dict[str, list[Finding]] = {}
    for connection in connections:
        vpn = connection.vpn_connection_id
        mine = {ip: observed for (owner, ip), observed in read.items() if owner == vpn}
        findings = traffic_findings(
            connection, mine, window=window, now=now, nat_t=partial(_nat_t, connection, ports, lookback, now)
        )
        if findings:
            found[vpn] = findings
            result.traffic += findings
    return found


# How far back the tunnel logs are searched for a record saying whether NAT-T is in use.
NAT_T_LOOKBACK = timedelta(hours=6)


def _nat_t(connection: VpnConnectionInfo, ports: PollPorts, lookback: LookBack, now: datetime) -> bool | None:
    """Whether the connection's newest AWS tunnel log record says NAT-T is in use (``None``: no record says)."""
    latest: tuple[datetime, bool] | None = None
    for tunnel in connection.tunnels:
        group = lookback.log_group or (tunnel.logging.log_group_arn if tunnel.logging.enabled else None)
        if not group:
            continue
        try:
            events = ports.logs.lookback(
                group, connection.vpn_connection_id, tunnel.outside_ip, start=now - NAT_T_LOOKBACK, end=now
            )
        except AwsCallFailed as exc:
            logger.warning("NAT-T not read from the tunnel logs", code=exc.code, operation=exc.operation)
            continue
        for event in events:
            newer = event.timestamp is not None and (latest is None or event.timestamp >= latest[0])
            if event.nat_t_detected is not None and event.timestamp is not None and newer:
                latest = (event.timestamp, event.nat_t_detected)
    return None if latest is None else latest[1]


def _traffic_incident(
    connection: VpnConnectionInfo,
    records: Mapping[tuple[str, str], TunnelRecord],
    findings: Sequence[Finding],
    service: IncidentService,
    *,
    monitoring: Monitoring,
    now: datetime,
) -> list[IncidentTransition]:
    """The connection-level incident: each read that finds the condition adds to it (one event id per
    read slot, so a retried poll is a duplicate); it resolves once no read found it for the incident
    rules' ``quiet_resolve`` (the record has no tunnel state of its own)."""
    vpn = connection.vpn_connection_id
    transitions: list[IncidentTransition] = []
    slot = int(now.timestamp() // max(60, int(monitoring.traffic_every.total_seconds())))
    for finding in findings:
        event_id = f"traffic:{vpn}:{finding.cause}:{slot}"
        transitions += service.on_finding(finding, event_id=event_id, now=now)
    record = records.get((vpn, CONNECTION_SCOPE))
    if not findings and record is not None and record.incident is not None:
        transitions += service.tick(vpn, CONNECTION_SCOPE, now=now, known=record)
    return transitions


def _apply(
    change: TunnelStateChange,
    ports: StatePorts,
    lookback: LookBack,
    now: datetime,
    *,
    known: TunnelRecord | None = None,
    routes: RouteObservation | None = None,
) -> list[IncidentTransition]:
    """One state change (expanded to tunnels when it names none), then a resolution check;
    ``known``: the tunnel's record, already read by a poll (a change naming its tunnel), ``routes``: the
    poll's view of that tunnel's accepted BGP routes."""
    service = ports.incidents.service
    transitions: list[IncidentTransition] = []
    for tunnel_change in _expand(change, ports, now):
        cause = None
        if tunnel_change.state is TunnelState.DOWN and tunnel_change.tunnel_ip:
            record = known or service.record(tunnel_change.vpn_connection_id, tunnel_change.tunnel_ip)
            if record.incident is None or not record.incident.category.is_failure:
                cause = _cause_from_logs(tunnel_change, ports, lookback)
        transitions += service.on_state(tunnel_change, now=now, cause=cause, known=known, routes=routes)
        if tunnel_change.tunnel_ip and known is None:
            # on_state already checked for a resolution on the record it saved; a poll (``known``)
            # resolves through its own tick of unchanged tunnels.
            transitions += service.tick(tunnel_change.vpn_connection_id, tunnel_change.tunnel_ip, now=now)
    return transitions


def _expand(change: TunnelStateChange, ports: StatePorts, now: datetime) -> list[TunnelStateChange]:
    """Per-tunnel changes for a change that names only the connection (Health, connection-level alarm)."""
    if change.tunnel_ip:
        return [change]
    if change.state is TunnelState.UNKNOWN and not change.maintenance:
        return []  # information about the connection, nothing to apply to a tunnel
    service = ports.incidents.service
    if change.maintenance:
        keep = service.policy.maintenance_window * 2
        service.store.save_connection_notice(change.vpn_connection_id, change.observed_at, now=now, keep=keep)
    connection = connection_or_none(ports.connections, change.vpn_connection_id)
    if connection is None:
        return []
    return [
        replace(change, tunnel_ip=tunnel.outside_ip)
        for tunnel in connection.tunnels
        if change.maintenance or (tunnel.telemetry is not None and tunnel.telemetry.status is change.state)
    ]


def _cause_from_logs(change: TunnelStateChange, ports: StatePorts, lookback: LookBack) -> Finding | None:
    """The worst (then latest) failure in the tunnel's logs over the look-back before a DOWN."""
    tunnel_ip = change.tunnel_ip
    if not tunnel_ip:
        return None
    group = lookback.log_group
    if group is None:
        connection = connection_or_none(ports.connections, change.vpn_connection_id)
        tunnel = connection.tunnel(tunnel_ip) if connection is not None else None
        group = tunnel.logging.log_group_arn if tunnel is not None and tunnel.logging.enabled else None
    if not group:
        return None
    start, end = change.observed_at - lookback.window, change.observed_at + timedelta(minutes=1)
    try:
        events = ports.logs.lookback(group, change.vpn_connection_id, tunnel_ip, start=start, end=end)
    except AwsCallFailed as exc:
        logger.warning("Log look-back failed", code=exc.code, operation=exc.operation)
        return None
    failures = [finding for finding in Classifier().classify_all(events) if finding.is_failure]
    if not failures:
        return None
    return max(enumerate(failures), key=lambda pair: (pair[1].severity.rank, pair[0]))[1]


def connection_or_none(connections: Connections, vpn_connection_id: str) -> VpnConnectionInfo | None:
    """The connection, or ``None`` when it does not exist or EC2 refused (logged with AWS's code)."""
    try:
        return connections.connection(vpn_connection_id)
    except AwsCallFailed as exc:
        logger.warning("DescribeVpnConnections failed", code=exc.code, vpn_connection_id=vpn_connection_id)
        return None
