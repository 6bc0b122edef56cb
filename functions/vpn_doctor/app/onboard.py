"""Use case: one on-boarding run over the monitored connections (the scheduled ``onboard`` function), and the
read-only status of the same plan (``vpn-doctor onboard --status``).

Per connection: read its progress, let :func:`vpn_doctor.onboarding.plan_connection` decide, then act on the
plan: settle a change in flight (confirmed or failed), and send at most one new change, marked in flight
*before* it is sent. Every action is audited. One connection's failure never stops the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Protocol

from vpn_doctor.app.incidents import Monitoring
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import MONITOR_TAG, MonitorScope
from vpn_doctor.models import RemediationAction, RemediationStatus
from vpn_doctor.onboarding import (
    ConnectionProgress,
    InFlight,
    OnboardingPolicy,
    ProgressStatus,
    Step,
    TunnelPlan,
    TunnelProgress,
    plan_connection,
    settled,
)
from vpn_doctor.remediation import Change, Execution, TunnelModifier
from vpn_doctor.vpn import VpnConnectionInfo

_DENIED: Final = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})


class ConnectionLister(Protocol):
    """Lists VPN connections (``DescribeVpnConnections``); raises ``AwsCallFailed`` when EC2 refuses."""

    def connections(
        self, vpn_ids: Sequence[str] = (), *, tag_key: str | None = None, tag_value: str | None = None
    ) -> list[VpnConnectionInfo]:
        """Live connections: all, the listed ones, or those carrying a tag."""
        ...


class ProgressReader(Protocol):
    """Reads a connection's on-boarding progress."""

    def progress(self, vpn_connection_id: str) -> ConnectionProgress:
        """What earlier runs did on the connection."""
        ...


class OnboardingStore(ProgressReader, Protocol):
    """Progress and audit trail of on-boarding (DynamoDB in Lambda)."""

    def begin(self, vpn_connection_id: str, flight: InFlight) -> bool:
        """Mark a change in flight; False when the connection already has one."""
        ...

    def settle(self, vpn_connection_id: str, progress: TunnelProgress | None, tunnel_ip: str) -> None:
        """Record how the tunnel's change ended and lift the in-flight mark."""
        ...

    def audit(
        self,
        vpn_connection_id: str,
        tunnel_ip: str,
        *,
        what: str,
        reason: str,
        at: datetime,
        options: dict[str, Any] | None = None,
        error_code: str | None = None,
    ) -> None:
        """Append one line to the connection's audit trail."""
        ...


@dataclass(frozen=True, slots=True)
class OnboardPorts:
    """What a run reads and changes."""

    connections: ConnectionLister
    store: OnboardingStore
    modifier: TunnelModifier


@dataclass(slots=True)
class OnboardResult:
    """What one run saw and did (``errors``: AWS error codes; one connection's never stops the others)."""

    plans: list[TunnelPlan] = field(default_factory=list)
    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def logging(self) -> int:
        """Tunnels in scope that log where configured (after this run's confirmations)."""
        return sum(1 for plan in self.plans if plan.step in (Step.LOGGING, Step.CONFIRMED))

    @property
    def pending(self) -> int:
        """Tunnels in scope not logging where configured yet."""
        return sum(1 for plan in self.plans if plan.pending)


def monitored(connections: ConnectionLister, monitoring: Monitoring) -> list[VpnConnectionInfo]:
    """The connections the deployment watches (the same scope the poller reads)."""
    if monitoring.scope is MonitorScope.LIST:
        return connections.connections(monitoring.vpn_ids)
    if monitoring.scope is MonitorScope.TAG:
        return connections.connections(tag_key=MONITOR_TAG)
    return connections.connections()


def status(
    connections: ConnectionLister,
    store: ProgressReader,
    *,
    policy: OnboardingPolicy,
    monitoring: Monitoring,
    now: datetime,
) -> list[TunnelPlan]:
    """What a run would do now, per tunnel; reads only."""
    return [
        plan
        for connection in monitored(connections, monitoring)
        for plan in plan_connection(connection, store.progress(connection.vpn_connection_id), policy, now)
    ]


def onboard(ports: OnboardPorts, *, policy: OnboardingPolicy, monitoring: Monitoring, now: datetime) -> OnboardResult:
    """One run: settle changes in flight, send at most one change per connection, audit each action."""
    result = OnboardResult()
    try:
        connections = monitored(ports.connections, monitoring)
    except AwsCallFailed as exc:
        result.errors.append(exc.code)
        return result
    for connection in connections:
        try:
            _onboard_connection(ports, connection, policy, now, result)
        except AwsCallFailed as exc:
            result.errors.append(exc.code)
    return result


def _onboard_connection(
    ports: OnboardPorts, connection: VpnConnectionInfo, policy: OnboardingPolicy, now: datetime, result: OnboardResult
) -> None:
    vpn_id = connection.vpn_connection_id
    progress = ports.store.progress(vpn_id)
    plans = plan_connection(connection, progress, policy, now)
    result.plans.extend(plans)
    for plan in plans:
        if plan.step in (Step.CONFIRMED, Step.FAILED) and _settles_flight(plan, progress):
            record = settled(plan, progress.tunnels.get(plan.tunnel_ip), policy, now)
            ports.store.settle(vpn_id, record, plan.tunnel_ip)
            ports.store.audit(vpn_id, plan.tunnel_ip, what=plan.step.value, reason=plan.reason, at=now)
            if record.status is ProgressStatus.DONE:
                result.confirmed += 1
            else:
                result.failed += 1
        elif plan.step is Step.CHANGE:
            _send(ports, connection, plan, progress=progress, policy=policy, now=now, result=result)


def _settles_flight(plan: TunnelPlan, progress: ConnectionProgress) -> bool:
    """The plan ends the connection's change in flight (not a failed attempt still waiting out its backoff)."""
    return progress.in_flight is not None and progress.in_flight.tunnel_ip == plan.tunnel_ip


def _send(
    ports: OnboardPorts,
    connection: VpnConnectionInfo,
    plan: TunnelPlan,
    *,
    progress: ConnectionProgress,
    policy: OnboardingPolicy,
    now: datetime,
    result: OnboardResult,
) -> None:
    vpn_id = connection.vpn_connection_id
    options = dict(plan.options)
    if not ports.store.begin(vpn_id, InFlight(plan.tunnel_ip, now, plan.was_up, options)):
        return  # another run marked a change of this connection first: it is that run's to send
    change = Change(
        action=RemediationAction.ENABLE_TUNNEL_LOGGING,
        vpn_connection_id=vpn_id,
        tunnel_ip=plan.tunnel_ip,
        tunnel_options={"LogOptions": {"CloudWatchLogOptions": options}},
        reason=plan.reason,
        before={"LogEnabled": plan.logging_enabled, "LogGroupArn": plan.log_group_arn},
    )
    execution = ports.modifier.modify(change, dry_run=False)
    if execution.status is RemediationStatus.APPLIED:
        ports.store.audit(vpn_id, plan.tunnel_ip, what="sent", reason=plan.reason, at=now, options=options)
        result.sent += 1
        return
    reason, code = _refusal(execution), execution.error_code
    if execution.status is RemediationStatus.TRY_LATER:
        ports.store.settle(vpn_id, None, plan.tunnel_ip)
        ports.store.audit(
            vpn_id,
            plan.tunnel_ip,
            what="try_later",
            reason=reason,
            at=now,
            options=options,
            error_code=code,
        )
        return
    failed = replace(plan, step=Step.FAILED, reason=reason)
    ports.store.settle(vpn_id, settled(failed, progress.tunnels.get(plan.tunnel_ip), policy, now), plan.tunnel_ip)
    ports.store.audit(vpn_id, plan.tunnel_ip, what="failed", reason=reason, at=now, options=options, error_code=code)
    result.failed += 1


def _refusal(execution: Execution) -> str:
    """Why EC2 did not take the change, in on-boarding's words (the executor's speak of remediation tags)."""
    code = execution.error_code or ""
    if code in _DENIED:
        return (
            f"Not allowed ({code}): the onboard function's role may change tunnel logging only on connections in "
            "the on-boarding scope, and needs the log-delivery permissions; nothing was changed."
        )
    return execution.message
