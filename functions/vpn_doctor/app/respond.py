"""Use case of the respond function: respond to an incident transition (diagnose with the tunnel's
configuration and traffic, remediate under the policy's guards, schedule the post-check after a
modification, publish the alert).

At-least-once: the remediation decision is stored per transition event, and so is each follow-up
done after it (post-check scheduled, alert published). A redelivery whose decision is stored
completes what was left undone (a respond that died after modifying the tunnel, a bus that
refused the alert) and nothing else: never a second modification, never a second alert.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

from aws_lambda_powertools import Logger

from vpn_doctor.app.incidents import connection_or_none
from vpn_doctor.app.ports import Connections, PostCheckScheduling, TrafficReader
from vpn_doctor.app.post_check import PostCheckRequest
from vpn_doctor.app.publishing import EventPublisher, publish_all
from vpn_doctor.app.samples import DeviceSamples, with_sample_quote
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import DETAIL_TYPE_ALERT, SERVICE_NAME
from vpn_doctor.diagnosis import TunnelTraffic, diagnose
from vpn_doctor.models import (
    Alert,
    Incident,
    IncidentTransition,
    RemediationOutcome,
    RemediationStatus,
    TransitionKind,
    dump,
    iso,
)
from vpn_doctor.redact import redact_model
from vpn_doctor.remediation import RemediationPolicy, RemediationStore, TunnelModifier, remediate
from vpn_doctor.routing import other_tunnels_down, owner_of
from vpn_doctor.silences import MaintenanceWindows, Silence, hold_for, maintenance_window
from vpn_doctor.vpn import VpnConnectionInfo

logger = Logger(service=SERVICE_NAME, child=True)

ACTOR: Final = "vpn-doctor respond"
#: How long before the incident the diagnosis looks at the tunnel's traffic.
TRAFFIC_WINDOW: Final = timedelta(minutes=30)


class SilenceReader(Protocol):
    """The stored silences (vpn_doctor.aws.silence_store)."""

    def silences(self, *, ended_after: datetime | None = None) -> list[Silence]:
        """The silences not ended by ``ended_after``: one ``Query``."""
        ...


class FollowUp(StrEnum):
    """What is done after a decision, remembered with it."""

    POST_CHECK = "post_check"
    ALERT = "alert"


class DecisionStore(RemediationStore, Protocol):
    """The remediation store, plus the follow-ups done for a stored decision."""

    def follow_ups(self, event_id: str) -> frozenset[str] | None:
        """The follow-ups done for the event's stored decision; ``None`` when no decision is stored."""
        ...

    def mark_followed_up(self, event_id: str, follow_up: str) -> None:
        """Remember a follow-up done for the event's stored decision (nothing when none is stored)."""
        ...


@dataclass(frozen=True, slots=True)
class Remediation:
    """The ports of remediation (absent when the deployment's mode is off: nothing can modify)."""

    store: DecisionStore
    modifier: TunnelModifier
    scheduler: PostCheckScheduling


@dataclass(frozen=True, slots=True)
class RespondPorts:
    """What responding calls out to."""

    connections: Connections
    traffic: TrafficReader
    bus: EventPublisher
    remediation: Remediation | None
    silences: SilenceReader | None = None  # None: the deployment stores no silences (maintenance tags still hold)
    samples: DeviceSamples | None = None  # AWS's sample configurations, quoted in next steps (None: not read)


@dataclass(frozen=True, slots=True)
class RespondConfig:
    """The deployment's remediation policy, post-check delay, region (for console links) and configured
    maintenance windows (vpn_doctor.silences)."""

    policy: RemediationPolicy
    post_check_delay: timedelta = timedelta(minutes=15)
    region: str | None = None
    account: str | None = None  # the connection's account (the event's), a storm's possible common factor
    windows: MaintenanceWindows = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Response:
    """``published`` (a new decision's alert), ``completed`` (a redelivery finished what was left
    undone) or ``duplicate`` (everything was done: nothing published)."""

    status: str
    outcome: RemediationOutcome
    alert: Alert | None = None
    # Key-like values taken out of the alert (an EC2 error message may quote the request).
    redacted: int = 0


def respond_to_transition(
    transition: IncidentTransition,
    ports: RespondPorts,
    *,
    config: RespondConfig,
    now: datetime,
    known_keys: Collection[str] = (),
) -> Response:
    """Diagnose, remediate (policy-gated), schedule the post-check, publish the alert.

    ``known_keys`` (the connection's pre-shared keys, as read by then) are masked in the alert, with
    every key-like value (:mod:`vpn_doctor.redact`): an EC2 error message may quote a request.
    Raises :class:`~vpn_doctor.app.publishing.PublishFailed` when the alert was not published: the
    event is delivered again, and the redelivery publishes the stored decision's alert."""
    incident = transition.incident
    connection = connection_or_none(ports.connections, incident.vpn_connection_id)
    diagnosis = diagnose(incident, connection, traffic=_traffic(ports.traffic, incident), now=now)
    if transition.kind is not TransitionKind.RESOLVED:
        diagnosis = with_sample_quote(diagnosis, incident, connection, ports.samples, known_keys=known_keys)
    remediation = ports.remediation
    silences = _silences(ports.silences, now)
    hold = hold_for(incident.vpn_connection_id, connection, silences, now=now, windows=config.windows)
    _check_maintenance_tag(connection)
    done: frozenset[str] = frozenset()
    redelivered = False
    if hold is not None:
        # Held: recorded and announced on release, but nothing is changed while someone works on the connection.
        outcome = RemediationOutcome(
            RemediationStatus.BLOCKED, f"Not remediated: {hold.reason} (until {iso(hold.until)}).", decided_at=now
        )
    elif remediation is None:
        outcome = RemediationOutcome(RemediationStatus.OFF, "Remediation is off for this deployment.", decided_at=now)
    else:
        try:
            decision = remediate(
                transition,
                connection,
                diagnosis,
                policy=config.policy,
                store=remediation.store,
                modifier=remediation.modifier,
                now=now,
                actor=ACTOR,
            )
        except AwsCallFailed as exc:
            # The remediation table is unavailable: without its guards nothing may change; the alert still goes out.
            logger.error("Remediation store unavailable", code=exc.code, operation=exc.operation)
            outcome = RemediationOutcome(
                RemediationStatus.TRY_LATER,
                f"The remediation table could not be used ({exc.code}): nothing was changed.",
                error_code=exc.code,
                decided_at=now,
            )
        else:
            outcome = decision.outcome
            if decision.duplicate:
                stored = remediation.store.follow_ups(transition.event_id)
                if stored is None or _complete(stored, outcome):
                    return Response("duplicate", outcome)
                done, redelivered = stored, True
    if remediation is not None and outcome.status is RemediationStatus.APPLIED and FollowUp.POST_CHECK not in done:
        outcome = _schedule_post_check(remediation, config.post_check_delay, transition, outcome, now)
    alert = Alert(
        transition=transition,
        diagnosis=diagnosis,
        remediation=outcome,
        region=config.region,
        log_group=_log_group(connection, incident.tunnel_ip) or config.policy.log_group_arn,
        owner=owner_of(connection),
        other_tunnels_down=other_tunnels_down(connection, incident.tunnel_ip),
        held=hold,
        tunnels=tuple(tunnel.outside_ip for tunnel in connection.tunnels) if connection is not None else (),
        account=config.account,
        customer_gateway_ip=connection.customer_gateway_ip if connection is not None else None,
    )
    alert, redacted = redact_model(alert, known_keys)
    publish_all(ports.bus, DETAIL_TYPE_ALERT, [dump(alert)])
    if remediation is not None:
        _mark(remediation.store, transition.event_id, FollowUp.ALERT)
    return Response("completed" if redelivered else "published", alert.remediation or outcome, alert, redacted)


def _silences(reader: SilenceReader | None, now: datetime) -> list[Silence]:
    if reader is None:
        return []
    try:
        return reader.silences(ended_after=now)
    except AwsCallFailed as exc:
        # Unreadable silences hold nothing: a page too many beats a silenced outage nobody hears of.
        logger.error("Silences not read: the alert is not held by a silence", code=exc.code)
        return []


def _check_maintenance_tag(connection: VpnConnectionInfo | None) -> None:
    # A malformed window holds nothing: said in the log, so whoever set the tag can find out why.
    try:
        maintenance_window(connection.tags if connection is not None else {})
    except ValueError as exc:
        logger.warning("Maintenance tag not understood: it holds nothing", reason=str(exc))


def _complete(done: frozenset[str], outcome: RemediationOutcome) -> bool:
    scheduled = FollowUp.POST_CHECK in done or outcome.status is not RemediationStatus.APPLIED
    return scheduled and FollowUp.ALERT in done


def _traffic(reader: TrafficReader, incident: Incident) -> TunnelTraffic | None:
    """The tunnel's traffic before the incident; ``None`` (no traffic check) when CloudWatch refused."""
    tunnel = (incident.vpn_connection_id, incident.tunnel_ip)
    try:
        found = reader.traffic([tunnel], start=incident.opened_at - TRAFFIC_WINDOW, end=incident.opened_at)
    except AwsCallFailed as exc:
        logger.warning("Traffic not read: diagnosed without it", code=exc.code)
        return None
    return found.get(tunnel)


def _schedule_post_check(
    remediation: Remediation,
    delay: timedelta,
    transition: IncidentTransition,
    outcome: RemediationOutcome,
    now: datetime,
) -> RemediationOutcome:
    request = PostCheckRequest(transition=transition, remediation=outcome, modified_at=outcome.decided_at or now)
    try:
        name = remediation.scheduler.schedule(transition.event_id, now + delay, dump(request))
    except AwsCallFailed as exc:
        logger.error("Post-check not scheduled", code=exc.code)
        return replace(
            outcome,
            reason=f"{outcome.reason} The post-check could not be scheduled ({exc.code}): check the tunnel is UP "
            f"within {int(delay.total_seconds() // 60)} min.",
        )
    logger.info("Post-check scheduled", schedule=name, at=iso(now + delay))
    _mark(remediation.store, transition.event_id, FollowUp.POST_CHECK)
    return outcome


def _mark(store: DecisionStore, event_id: str, follow_up: FollowUp) -> None:
    try:
        store.mark_followed_up(event_id, follow_up.value)
    except AwsCallFailed as exc:
        # Done all the same; a redelivery would do it again, idempotently (same schedule, notify's once-only send).
        logger.warning("Follow-up not remembered", follow_up=follow_up.value, code=exc.code)


def _log_group(connection: VpnConnectionInfo | None, tunnel_ip: str) -> str | None:
    tunnel = connection.tunnel(tunnel_ip) if connection is not None else None
    if tunnel is None or not tunnel.logging.enabled:
        return None
    return tunnel.logging.log_group_arn
