"""On-boarding: bring every watched tunnel's logging to the deployment's log group, safely (pure: no boto3, no clock).

Tunnel logging is switched on per tunnel with ``ModifyVpnTunnelOptions`` (``TunnelOptions.LogOptions.
CloudWatchLogOptions``: ``LogEnabled``, ``LogGroupArn``, ``LogOutputFormat`` and, for BGP, ``BgpLogEnabled``,
``BgpLogGroupArn``, ``BgpLogOutputFormat``; botocore's EC2 model). Any such request replaces the tunnel's endpoint:
"your connectivity over that tunnel can be interrupted for several minutes"
(https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-logs.html). So :func:`plan_connection` decides, for one
connection, at most one change per run and only when it is safe:

- only connections in the on-boarding scope (every monitored one, or those tagged ``vpn-doctor:logging=on``;
  ``off`` opts a connection out); the caller passes only monitored connections;
- never while the connection is not ``available``, and never while a change of one of its tunnels is in flight
  (sent, not yet read back): at most one tunnel of a connection is ever in flight;
- a tunnel that is UP only when its sibling has been UP for the remediation's sibling-up minimum
  (:func:`vpn_doctor.remediation.connection_guard`, the same rule and default), and not within that time after
  its sibling's own change was confirmed;
- only inside the optional maintenance window (UTC);
- a tunnel already logging to the group (and its BGP logs, where wanted) is left alone; one logging to another
  group is reported, never moved (someone else reads that group).

A change in flight is confirmed by reading the options back (and the tunnel UP again, if it was UP before); not
confirmed within ``confirm_timeout`` it counts as failed and is tried again after ``retry_backoff``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final

from vpn_doctor.constants import LOGGING_TAG, LoggingScope, LoggingTag
from vpn_doctor.models import TunnelState
from vpn_doctor.remediation import RemediationPolicy, connection_guard
from vpn_doctor.vpn import TunnelConfig, VpnConnectionInfo

_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW: Final = re.compile(
    r"(?:(?P<days>[a-z]{3}(?:,[a-z]{3})*) )?(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})(?: utc)?"  # times are UTC
)
OUTPUT_FORMAT: Final = "json"  # AWS's default; the ingest function reads json and text alike


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A daily UTC window ``start``-``end`` (may pass midnight), on ``days`` (0 = Monday; empty: every day).

    A window passing midnight belongs to the day it opens on: ``sat 23:00-01:00`` includes Sunday 00:30.
    """

    start: time
    end: time
    days: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("a maintenance window needs different start and end times")
        if not self.days <= set(range(7)):
            raise ValueError("maintenance window days are 0 (Monday) to 6 (Sunday)")

    @classmethod
    def parse(cls, text: str) -> MaintenanceWindow:
        """``"02:00-05:00"`` or ``"sat,sun 22:00-02:00"`` (UTC); ValueError with the expected form otherwise."""
        match = _WINDOW.fullmatch(text.strip().lower())
        if match is None:
            raise ValueError(f"maintenance window {text!r} is not like 'sat,sun 02:00-05:00' (UTC)")
        names = match["days"].split(",") if match["days"] else []
        unknown = [name for name in names if name not in _DAYS]
        if unknown:
            raise ValueError(f"maintenance window {text!r}: unknown day {unknown[0]!r} (use {', '.join(_DAYS)})")
        try:
            start, end = time.fromisoformat(match["start"]), time.fromisoformat(match["end"])
        except ValueError:
            raise ValueError(f"maintenance window {text!r}: times are HH:MM, 00:00 to 23:59") from None
        return cls(start=start, end=end, days=frozenset(_DAYS.index(name) for name in names))

    def __str__(self) -> str:
        days = ",".join(_DAYS[day] for day in sorted(self.days))
        span = f"{self.start:%H:%M}-{self.end:%H:%M}"
        return f"{days} {span}" if days else span

    def contains(self, now: datetime) -> bool:
        """Whether ``now`` is inside the window."""
        moment = now.astimezone(UTC)
        clock, day = moment.time(), moment.weekday()
        if self.start < self.end:
            inside = self.start <= clock < self.end
        elif clock >= self.start:
            inside = True
        elif clock < self.end:
            inside, day = True, (day - 1) % 7  # opened the day before
        else:
            inside = False
        return inside and (not self.days or day in self.days)

    def next_opening(self, now: datetime) -> datetime:
        """The first opening after ``now``."""
        moment = now.astimezone(UTC)
        for ahead in range(8):
            opening = datetime.combine(moment.date() + timedelta(days=ahead), self.start, UTC)
            if opening > moment and (not self.days or opening.weekday() in self.days):
                return opening
        raise AssertionError("a window with at least one day opens within a week")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class OnboardingPolicy:
    """The deployment's on-boarding settings."""

    log_group_arn: str
    scope: LoggingScope = LoggingScope.ALL
    bgp: bool = True  # BGP logs too, on connections that use BGP (not static routes only)
    window: MaintenanceWindow | None = None
    sibling_up_minimum: timedelta = RemediationPolicy().sibling_up_minimum
    # A sent change must read back (and the tunnel be UP again, if it was UP) within this time...
    confirm_timeout: timedelta = timedelta(minutes=30)
    # ... else it failed, and the tunnel is tried again after this.
    retry_backoff: timedelta = timedelta(hours=6)

    def __post_init__(self) -> None:
        if not self.log_group_arn.startswith("arn:"):
            raise ValueError(f"on-boarding needs the log group's ARN, not {self.log_group_arn!r}")
        if min(self.sibling_up_minimum, self.confirm_timeout, self.retry_backoff) < timedelta(0):
            raise ValueError("on-boarding durations must not be negative")


class ProgressStatus(StrEnum):
    """What became of a tunnel's last on-boarding change."""

    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class InFlight:
    """A change sent (or about to be) and not yet confirmed; at most one per connection."""

    tunnel_ip: str
    changed_at: datetime
    was_up: bool  # the tunnel was UP when changed: it must be UP again before the change counts as done
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TunnelProgress:
    """The last settled on-boarding change of one tunnel."""

    tunnel_ip: str
    status: ProgressStatus
    settled_at: datetime
    detail: str = ""
    attempts: int = 1
    retry_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConnectionProgress:
    """What earlier runs did on one connection."""

    in_flight: InFlight | None = None
    tunnels: Mapping[str, TunnelProgress] = field(default_factory=dict)


class Step(StrEnum):
    """What a run does (or would do) about one tunnel."""

    LOGGING = "logging"  # already logging where configured: nothing to do
    CHANGE = "change"  # send the change now
    IN_FLIGHT = "in_flight"  # a change was sent; waiting for it to read back
    CONFIRMED = "confirmed"  # the change in flight read back: done
    FAILED = "failed"  # refused, or not confirmed in time; tried again later
    BLOCKED = "blocked"  # not now (reason, and when it may go if known)
    SKIPPED = "skipped"  # not in the on-boarding scope: never touched


@dataclass(frozen=True, slots=True)
class TunnelPlan:
    """One tunnel's step, why, and what the person reading the status needs to know."""

    vpn_connection_id: str
    tunnel_ip: str
    step: Step
    reason: str
    logging_enabled: bool
    log_group_arn: str | None
    bgp_logging_enabled: bool
    next_eligible: datetime | None = None
    last_change: datetime | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # the CloudWatchLogOptions to send (CHANGE)
    was_up: bool = False

    @property
    def pending(self) -> bool:
        """In scope and not logging where configured yet."""
        return self.step not in (Step.LOGGING, Step.CONFIRMED, Step.SKIPPED)


def scope_reason(connection: VpnConnectionInfo, scope: LoggingScope) -> str | None:
    """Why the connection is outside the on-boarding scope, or ``None`` when it is in."""
    tag = connection.tags.get(LOGGING_TAG)
    if scope is LoggingScope.NONE:
        return "On-boarding is off (logging.enable is 'none')."
    if tag is not None and tag not in tuple(LoggingTag):
        return (
            f"Tag {LOGGING_TAG}={tag!r} is neither 'on' nor 'off' (exact, lower case: IAM compares tag values "
            "as they are): left alone."
        )
    if tag == LoggingTag.OFF:
        return f"Tagged {LOGGING_TAG}=off: opted out of on-boarding."
    if scope is LoggingScope.TAGGED and tag != LoggingTag.ON:
        return f"Not tagged {LOGGING_TAG}=on (logging.enable is 'tagged')."
    return None


def wants_bgp(connection: VpnConnectionInfo, policy: OnboardingPolicy) -> bool:
    """BGP logs are wanted where the policy asks for them and the connection uses BGP."""
    return policy.bgp and not connection.static_routes_only


def logging_gap(connection: VpnConnectionInfo, tunnel: TunnelConfig, policy: OnboardingPolicy) -> str | None:
    """What the tunnel's logging lacks, or ``None`` when it logs where configured."""
    logging = tunnel.logging
    if not logging.enabled:
        return "tunnel logging is off"
    if logging.log_group_arn != policy.log_group_arn:
        return f"tunnel logs go to {logging.log_group_arn}"
    if wants_bgp(connection, policy):
        if not logging.bgp_enabled:
            return "BGP logging is off"
        if logging.bgp_log_group_arn != policy.log_group_arn:
            return f"BGP logs go to {logging.bgp_log_group_arn}"
    return None


def _elsewhere(connection: VpnConnectionInfo, tunnel: TunnelConfig, policy: OnboardingPolicy) -> str | None:
    """The other log group this tunnel already logs to (tunnel or BGP logs), which on-boarding never moves."""
    logging = tunnel.logging
    if logging.enabled and logging.log_group_arn and logging.log_group_arn != policy.log_group_arn:
        return logging.log_group_arn
    bgp_group = logging.bgp_log_group_arn
    if wants_bgp(connection, policy) and logging.bgp_enabled and bgp_group and bgp_group != policy.log_group_arn:
        return bgp_group
    return None


def log_options(connection: VpnConnectionInfo, tunnel: TunnelConfig, policy: OnboardingPolicy) -> dict[str, Any]:
    """The ``CloudWatchLogOptions`` to send: the request replaces them whole, so BGP logging the policy does not
    ask for is kept as it is."""
    logging = tunnel.logging
    options: dict[str, Any] = {
        "LogEnabled": True,
        "LogGroupArn": policy.log_group_arn,
        "LogOutputFormat": logging.output_format or OUTPUT_FORMAT,
    }
    if wants_bgp(connection, policy):
        options |= {
            "BgpLogEnabled": True,
            "BgpLogGroupArn": policy.log_group_arn,
            "BgpLogOutputFormat": logging.bgp_output_format or OUTPUT_FORMAT,
        }
    elif logging.bgp_enabled:
        options["BgpLogEnabled"] = True
        if logging.bgp_log_group_arn:
            options["BgpLogGroupArn"] = logging.bgp_log_group_arn
        if logging.bgp_output_format:
            options["BgpLogOutputFormat"] = logging.bgp_output_format
    return options


def _is_up(tunnel: TunnelConfig | None) -> bool:
    return tunnel is not None and tunnel.telemetry is not None and tunnel.telemetry.status is TunnelState.UP


def _plan(connection: VpnConnectionInfo, tunnel: TunnelConfig, step: Step, reason: str, **extra: Any) -> TunnelPlan:
    return TunnelPlan(
        vpn_connection_id=connection.vpn_connection_id,
        tunnel_ip=tunnel.outside_ip,
        step=step,
        reason=reason,
        logging_enabled=tunnel.logging.enabled,
        log_group_arn=tunnel.logging.log_group_arn,
        bgp_logging_enabled=tunnel.logging.bgp_enabled,
        **extra,
    )


def _in_flight_step(
    connection: VpnConnectionInfo, flight: InFlight, policy: OnboardingPolicy, now: datetime
) -> tuple[Step, str]:
    tunnel = connection.tunnel(flight.tunnel_ip)
    if tunnel is None:
        return Step.FAILED, f"The connection no longer has tunnel {flight.tunnel_ip} (its endpoint was replaced)."
    gap = logging_gap(connection, tunnel, policy)
    back = not flight.was_up or _is_up(tunnel)
    if gap is None and back:
        changed = f"{flight.changed_at:%H:%M}"
        return Step.CONFIRMED, f"Logging to {policy.log_group_arn} confirmed (changed at {changed} UTC)."
    if now - flight.changed_at >= policy.confirm_timeout:
        why = gap if gap is not None else "the tunnel is not UP again"
        return Step.FAILED, f"Not confirmed {_human(policy.confirm_timeout)} after the change: {why}."
    waiting = "the options to read back" if gap is not None else "the tunnel to come back UP"
    return Step.IN_FLIGHT, f"Changed at {flight.changed_at:%H:%M} UTC; waiting for {waiting}."


def _guard(
    connection: VpnConnectionInfo,
    tunnel: TunnelConfig,
    *,
    progress: ConnectionProgress,
    settled_now: Mapping[str, datetime],
    policy: OnboardingPolicy,
    now: datetime,
) -> tuple[Step, str, datetime | None] | None:
    """Why this tunnel may not change now (BLOCKED, or FAILED while a failed attempt waits) and when it may,
    or ``None``."""
    if connection.state != "available":
        why = f"The connection is '{connection.state}', not 'available': a change may be in progress."
        return Step.BLOCKED, why, None
    if progress.in_flight is not None:
        flight = progress.in_flight
        why = f"Tunnel {flight.tunnel_ip} of this connection is being changed: one tunnel at a time."
        return Step.BLOCKED, why, None
    own = progress.tunnels.get(tunnel.outside_ip)
    if own is not None and own.status is ProgressStatus.FAILED and own.retry_after and own.retry_after > now:
        return Step.FAILED, f"The last attempt failed ({own.detail}) Trying again later.", own.retry_after
    if policy.window is not None and not policy.window.contains(now):
        return Step.BLOCKED, f"Outside the maintenance window ({policy.window} UTC).", policy.window.next_opening(now)
    done = {ip: p.settled_at for ip, p in progress.tunnels.items() if p.status is ProgressStatus.DONE}
    for other_ip, settled in (done | dict(settled_now)).items():
        if other_ip != tunnel.outside_ip and now - settled < policy.sibling_up_minimum:
            return (
                Step.BLOCKED,
                f"Its sibling ({other_ip}) was on-boarded at {settled:%H:%M} UTC: waiting "
                f"{_human(policy.sibling_up_minimum)} before interrupting this one.",
                settled + policy.sibling_up_minimum,
            )
    blocked = connection_guard(
        connection, tunnel.outside_ip, RemediationPolicy(sibling_up_minimum=policy.sibling_up_minimum), now
    )
    if blocked is not None:
        sibling = connection.sibling(tunnel.outside_ip)
        telemetry = sibling.telemetry if sibling is not None else None
        up_since = telemetry.last_status_change if telemetry and telemetry.status is TunnelState.UP else None
        return Step.BLOCKED, blocked, up_since + policy.sibling_up_minimum if up_since is not None else None
    return None


def plan_connection(
    connection: VpnConnectionInfo, progress: ConnectionProgress, policy: OnboardingPolicy, now: datetime
) -> tuple[TunnelPlan, ...]:
    """Every tunnel's step this run: at most one CHANGE, never while a change of the connection is in flight."""
    out_of_scope = scope_reason(connection, policy.scope)
    flight = progress.in_flight
    plans: dict[str, TunnelPlan] = {}
    settled_now: dict[str, datetime] = {}
    if flight is not None:
        step, reason = _in_flight_step(connection, flight, policy, now)
        tunnel = connection.tunnel(flight.tunnel_ip) or TunnelConfig(outside_ip=flight.tunnel_ip)
        plans[flight.tunnel_ip] = _plan(connection, tunnel, step, reason, last_change=flight.changed_at)
        if step is not Step.IN_FLIGHT:
            settled_now[flight.tunnel_ip] = now
            progress = ConnectionProgress(None, progress.tunnels)
    changing = False
    for tunnel in connection.tunnels:
        if tunnel.outside_ip in plans:
            continue
        own = progress.tunnels.get(tunnel.outside_ip)
        last = own.settled_at if own is not None else None
        if out_of_scope is not None:
            plans[tunnel.outside_ip] = _plan(connection, tunnel, Step.SKIPPED, out_of_scope, last_change=last)
            continue
        gap = logging_gap(connection, tunnel, policy)
        if gap is None:
            reason = f"Logging to {policy.log_group_arn}."
            plans[tunnel.outside_ip] = _plan(connection, tunnel, Step.LOGGING, reason, last_change=last)
            continue
        elsewhere = _elsewhere(connection, tunnel, policy)
        if elsewhere is not None:
            reason = (
                f"Already logs to {elsewhere}; vpn-doctor does not move it (someone may read that group): list it "
                "in tunnel_log_groups to watch it, or point the tunnel at the configured group yourself."
            )
            plans[tunnel.outside_ip] = _plan(connection, tunnel, Step.BLOCKED, reason, last_change=last)
            continue
        guard = _guard(connection, tunnel, progress=progress, settled_now=settled_now, policy=policy, now=now)
        if changing:
            guard = (Step.BLOCKED, "Another tunnel of this connection is changed first: one tunnel at a time.", None)
        if guard is not None:
            step, reason, eligible = guard
            plans[tunnel.outside_ip] = _plan(
                connection, tunnel, step, f"{_sentence(gap)}. {reason}", next_eligible=eligible, last_change=last
            )
            continue
        changing = True
        plans[tunnel.outside_ip] = _plan(
            connection,
            tunnel,
            Step.CHANGE,
            f"{_sentence(gap)}: switching it to {policy.log_group_arn}.",
            last_change=last,
            options=log_options(connection, tunnel, policy),
            was_up=_is_up(tunnel),
            next_eligible=now,
        )
    return tuple(plans[tunnel.outside_ip] for tunnel in connection.tunnels if tunnel.outside_ip in plans) + tuple(
        plan for ip, plan in plans.items() if connection.tunnel(ip) is None
    )


def settled(
    plan: TunnelPlan, previous: TunnelProgress | None, policy: OnboardingPolicy, now: datetime
) -> TunnelProgress:
    """The progress record after a change settled as ``plan`` says (CONFIRMED: done; otherwise failed)."""
    if plan.step is Step.CONFIRMED:
        return TunnelProgress(plan.tunnel_ip, ProgressStatus.DONE, now, plan.reason)
    attempts = (previous.attempts + 1) if previous is not None and previous.status is ProgressStatus.FAILED else 1
    return TunnelProgress(plan.tunnel_ip, ProgressStatus.FAILED, now, plan.reason, attempts, now + policy.retry_backoff)


def summary(plans: Sequence[TunnelPlan]) -> dict[str, int]:
    """Counts per step, for metrics and the status line."""
    counts = {step.value: 0 for step in Step}
    for plan in plans:
        counts[plan.step.value] += 1
    return counts


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes else f"{minutes} min"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
