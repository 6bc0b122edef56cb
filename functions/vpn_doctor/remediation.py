"""Policy-gated remediation through ``ModifyVpnTunnelOptions`` (pure: no boto3, no clock, no environment).

What may change, and why (each action is tied to the diagnosis check that justifies it):

- repeated DPD timeouts with DPD timeout action ``clear`` (check ``dpd_recovery`` failing) -> set the
  DPD timeout action to ``restart`` (or ``none`` where the policy says AWS must not act on DPD);
- idle timeouts or an AWS endpoint replacement with startup action ``add`` (check ``startup_action``
  failing) -> set the startup action to ``start``, only when the tunnel allows IKEv2;
- tunnel logging disabled (check ``tunnel_logging``) -> enable it to the deployment's log group;
- an AWS endpoint replacement pending on a tunnel with lifecycle control on, inside the deployment's configured window
  (an ``endpoint_replacement / scheduled`` incident, which only the poller's checks ahead open, and only when the
  deployment opts in: :mod:`vpn_doctor.app.ahead`) -> ``ReplaceVpnTunnel`` with ``ApplyPendingMaintenance``, the one
  action that is not a ``ModifyVpnTunnelOptions``.

Lifetimes, algorithms and routing are never changed: the diagnosis recommends them in the alert.
Each action is a rule in the list :data:`ACTIONS` (the first that proposes a change wins): a new
action is a rule function, its entry there, a :class:`~vpn_doctor.models.RemediationAction` member,
its text for the post-check and, if it sends another tunnel option, :data:`ALLOWED_OPTIONS`.

Guards, in the order they are applied: the mode (``off`` / ``dry-run`` / ``auto``, overridable per
connection by the tag :data:`~vpn_doctor.constants.REMEDIATE_TAG`, whose value must be one of those exactly, as
IAM compares it: see :func:`connection_mode`), a duplicate event returns the
first decision, the connection is ``available``, a tunnel that is UP is only interrupted when its
sibling has been UP long enough, a lock per connection, never both tunnels (the sibling was not
modified within the cooldown), a cooldown per tunnel and a daily budget per tunnel. The store and the
executor are passed in (DynamoDB and EC2 in Lambda, fakes in unit tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from vpn_doctor.constants import CONNECTION_SCOPE, PSEUDO_TUNNELS, REMEDIATE_TAG, DpdAction, Mode
from vpn_doctor.models import (
    CheckStatus,
    Diagnosis,
    Incident,
    IncidentTransition,
    RemediationAction,
    RemediationOutcome,
    RemediationStatus,
    TransitionKind,
    TunnelState,
)
from vpn_doctor.taxonomy import Category, Cause
from vpn_doctor.vpn import TunnelConfig, VpnConnectionInfo

# Most cautious first: an unreadable tag value may never make a connection less cautious.
_CAUTION: Final = (Mode.OFF, Mode.DRY_RUN, Mode.AUTO)
#: The values of the remediation tag vpn-doctor takes, exactly as written. IAM decides with StringEquals, which is
#: case-sensitive (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html),
#: whether a tagged connection may be modified (only "auto": stacks/remediation.py); the code reads the tag the same
#: way, so 'Auto' or 'dry_run' is never a mode here that IAM would refuse.
REMEDIATE_TAG_VALUES: Final = {mode.value: mode for mode in Mode}

# The only tunnel options vpn-doctor ever sends (lifetimes, algorithms, routing: recommendations only).
ALLOWED_OPTIONS: Final = frozenset({"DPDTimeoutAction", "StartupAction", "LogOptions"})
# Transitions worth acting on: a resolved or escalated incident needs no change.
_ACTIONABLE: Final = frozenset({TransitionKind.OPENED, TransitionKind.UPDATED, TransitionKind.FLAPPING})


@dataclass(frozen=True, slots=True)
class RemediationPolicy:
    """The deployment's remediation settings (defaults are the safe ones)."""

    mode: Mode = Mode.DRY_RUN
    cooldown: timedelta = timedelta(hours=1)
    daily_budget: int = 3
    sibling_up_minimum: timedelta = timedelta(minutes=10)
    # Where tunnel logging is enabled to; ``None`` disables that action.
    log_group_arn: str | None = None
    dpd_timeout_action: DpdAction = DpdAction.RESTART
    # DPD timeouts seen on the incident before the DPD action changes ("repeated").
    dpd_repeat_threshold: int = 2
    lock_lease: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        DpdAction(self.dpd_timeout_action)  # ValueError for anything else
        if self.daily_budget < 0 or self.cooldown < timedelta(0) or self.sibling_up_minimum < timedelta(0):
            raise ValueError("cooldown, budget and sibling-up minimum must not be negative")


@dataclass(frozen=True, slots=True)
class Change:
    """One ``ModifyVpnTunnelOptions`` request, the action it implements and why."""

    action: RemediationAction
    vpn_connection_id: str
    tunnel_ip: str
    tunnel_options: Mapping[str, Any]
    reason: str
    before: Mapping[str, Any]

    @property
    def request(self) -> dict[str, Any]:
        """The request parameters (without ``DryRun``), as the alert and the audit show them."""
        if self.action is RemediationAction.APPLY_PENDING_MAINTENANCE:
            return {
                "VpnConnectionId": self.vpn_connection_id,
                "VpnTunnelOutsideIpAddress": self.tunnel_ip,
                "ApplyPendingMaintenance": True,
            }
        return {
            "VpnConnectionId": self.vpn_connection_id,
            "VpnTunnelOutsideIpAddress": self.tunnel_ip,
            "TunnelOptions": dict(self.tunnel_options),
        }


@dataclass(frozen=True, slots=True)
class Execution:
    """What EC2 answered to one request, translated (``after`` holds the changed options read back)."""

    status: RemediationStatus  # DRY_RUN, APPLIED, TRY_LATER or FAILED
    message: str
    error_code: str | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TunnelHistory:
    """Past modifications of one tunnel (applied ones only: a dry run changes nothing)."""

    last_modified_at: datetime | None = None
    modified_today: int = 0


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One remediation decision, kept for people: who, why, before/after, result (never a key)."""

    event_id: str
    incident_id: str
    vpn_connection_id: str
    tunnel_ip: str
    mode: Mode
    outcome: RemediationOutcome
    decided_at: datetime
    actor: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    # False for transient refusals (lock held): a later delivery of the event may decide again.
    final: bool = True


class RemediationStore(Protocol):
    """Locks, counters, processed events and the audit trail (DynamoDB in Lambda)."""

    def outcome_for(self, event_id: str) -> RemediationOutcome | None:
        """The decision already taken for this event, if any."""

    def history(self, vpn_connection_id: str, now: datetime) -> Mapping[str, TunnelHistory]:
        """Modification history per tunnel outside IP (``modified_today`` counts the UTC day of ``now``)."""

    def acquire_lock(self, vpn_connection_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Take the connection's lock (or an expired one); False while a live lease is held."""

    def lock_holder(self, vpn_connection_id: str) -> str | None:
        """Who holds the connection's lock (its owner id), if anyone."""

    def release_lock(self, vpn_connection_id: str, owner: str) -> None:
        """Give the lock back (only if still ours)."""

    def record_modification(self, vpn_connection_id: str, tunnel_ip: str, now: datetime) -> None:
        """Count an applied modification (cooldown and daily budget)."""

    def record_decision(self, record: AuditRecord) -> None:
        """Write the audit record and, for a final decision, remember the event as processed."""


class TunnelModifier(Protocol):
    """Calls ``ModifyVpnTunnelOptions`` and translates the answer."""

    def modify(self, change: Change, *, dry_run: bool) -> Execution:
        """Send the change (``DryRun=True`` when ``dry_run``)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of :func:`remediate`: the outcome, and whether it repeats an earlier decision."""

    outcome: RemediationOutcome
    duplicate: bool = False
    change: Change | None = None


# --- policy ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionMode:
    """The mode for one connection, and, when its tag value was not one vpn-doctor takes, what was done instead."""

    mode: Mode
    note: str | None = None


def connection_mode(policy: RemediationPolicy, connection: VpnConnectionInfo | None) -> ConnectionMode:
    """The connection's tag overrides the deployment's mode; a value other than exactly ``off``, ``dry-run`` or
    ``auto`` (``Auto``, ``dry_run``, ``yes``) is never less cautious than dry-run, and the note says so."""
    if connection is None or REMEDIATE_TAG not in connection.tags:
        return ConnectionMode(policy.mode)
    value = connection.tags[REMEDIATE_TAG]
    if value in REMEDIATE_TAG_VALUES:
        return ConnectionMode(REMEDIATE_TAG_VALUES[value])
    mode = min(policy.mode, Mode.DRY_RUN, key=_CAUTION.index)
    accepted = ", ".join(f"'{known}'" for known in REMEDIATE_TAG_VALUES)
    return ConnectionMode(
        mode,
        f"The connection's tag {REMEDIATE_TAG} is {value[:64]!r}, not one of {accepted} (exactly, in lower case: "
        "IAM compares the tag case-sensitively and lets vpn-doctor modify a tagged connection only when it is "
        f"'auto'), so vpn-doctor treats the connection as {mode.value}.",
    )


def effective_mode(policy: RemediationPolicy, connection: VpnConnectionInfo | None) -> Mode:
    """The mode remediation runs in for this connection (see :func:`connection_mode`)."""
    return connection_mode(policy, connection).mode


@dataclass(frozen=True, slots=True)
class Proposal:
    """What an action rule proposes: the action, the tunnel options to send, why (for people)."""

    action: RemediationAction
    tunnel_options: dict[str, Any]
    reason: str


#: An action rule: the change it justifies for this incident and tunnel (``checks``: the diagnosis's
#: status per check id), or ``None``.
ActionRule = Callable[[Incident, TunnelConfig, Mapping[str, CheckStatus], RemediationPolicy], Proposal | None]
_FAILING: Final = (CheckStatus.FAIL, CheckStatus.WARN)


def _dpd_timeout_action(
    incident: Incident, tunnel: TunnelConfig, checks: Mapping[str, CheckStatus], policy: RemediationPolicy
) -> Proposal | None:
    """Repeated DPD timeouts with DPD timeout action ``clear``: set it to ``restart`` (or ``none`` by policy)."""
    dpd_failing = (
        incident.category is Category.DPD_TIMEOUT
        and tunnel.dpd_timeout_action == "clear"
        and checks.get("dpd_recovery") in _FAILING
    )
    # Repeated across incidents too: a DPD timeout every 20 minutes is a new incident each time.
    dpd_timeouts = incident.finding_count + incident.recurrence
    if not dpd_failing or dpd_timeouts < policy.dpd_repeat_threshold:
        return None
    target = DpdAction(policy.dpd_timeout_action)
    restart = target is DpdAction.RESTART
    why = (
        "so AWS re-initiates IKE negotiation after a DPD timeout"
        if restart
        else "because the policy says AWS must not act on DPD timeouts"
    )
    return Proposal(
        RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART if restart else RemediationAction.SET_DPD_TIMEOUT_ACTION_NONE,
        {"DPDTimeoutAction": target.value},
        f"{dpd_timeouts} DPD timeouts with DPD timeout action 'clear': set it to '{target.value}' {why}.",
    )


def _startup_action(
    incident: Incident, tunnel: TunnelConfig, checks: Mapping[str, CheckStatus], policy: RemediationPolicy
) -> Proposal | None:
    """Idle timeouts or an endpoint replacement with startup action ``add``: set it to ``start`` (IKEv2 only)."""
    startup_failing = (
        (incident.category is Category.IDLE_TIMEOUT or incident.maintenance)
        and tunnel.startup_action == "add"
        and checks.get("startup_action") in _FAILING
    )
    if not startup_failing or "ikev2" not in tunnel.ike_versions:
        return None
    cause = "an AWS endpoint replacement" if incident.maintenance else "idle timeouts"
    return Proposal(
        RemediationAction.SET_STARTUP_ACTION_START,
        {"StartupAction": "start"},
        f"After {cause} a tunnel with startup action 'add' waits for the customer gateway: set it to "
        "'start' so AWS initiates the tunnel (IKEv2).",
    )


def _tunnel_logging(
    incident: Incident, tunnel: TunnelConfig, checks: Mapping[str, CheckStatus], policy: RemediationPolicy
) -> Proposal | None:
    """Tunnel logging off: enable it to the deployment's log group (when it has one)."""
    if tunnel.logging.enabled or checks.get("tunnel_logging") not in _FAILING or not policy.log_group_arn:
        return None
    return Proposal(
        RemediationAction.ENABLE_TUNNEL_LOGGING,
        {"LogOptions": {"CloudWatchLogOptions": _log_options(tunnel, policy.log_group_arn)}},
        "Tunnel activity logging is off: enable it so the cause of the next failure can be read.",
    )


def _apply_pending_maintenance(
    incident: Incident, tunnel: TunnelConfig, checks: Mapping[str, CheckStatus], policy: RemediationPolicy
) -> Proposal | None:
    """A pending endpoint replacement, inside the deployment's window (the only time such an incident opens), on a
    tunnel with lifecycle control on: apply it now, while the sibling carries the traffic."""
    scheduled = incident.category is Category.ENDPOINT_REPLACEMENT and incident.cause is Cause.SCHEDULED
    if not scheduled or not tunnel.lifecycle_control:
        return None
    return Proposal(
        RemediationAction.APPLY_PENDING_MAINTENANCE,
        {},
        "AWS has an endpoint replacement pending for this tunnel (lifecycle control on): apply it now, inside the "
        "configured window, rather than when AWS applies it.",
    )


#: Every remediation action, most useful first: the first rule that proposes a change wins.
ACTIONS: Final[tuple[ActionRule, ...]] = (
    _apply_pending_maintenance,
    _dpd_timeout_action,
    _startup_action,
    _tunnel_logging,
)


def select_change(
    incident: Incident, connection: VpnConnectionInfo, diagnosis: Diagnosis, policy: RemediationPolicy
) -> Change | str:
    """The one change the diagnosis justifies for this tunnel, or why there is none."""
    tunnel = connection.tunnel(incident.tunnel_ip)
    if tunnel is None and incident.tunnel_ip == CONNECTION_SCOPE:
        return "A connection-level incident (its tunnels' traffic): no tunnel option to change; see the advice."
    if tunnel is None and incident.tunnel_ip in PSEUDO_TUNNELS:
        return "A warning ahead of time for the connection: vpn-doctor changes no tunnel option for it; see the advice."
    if tunnel is None:
        return f"The connection has no tunnel with outside IP {incident.tunnel_ip}."
    checks = {check.check_id: check.status for check in diagnosis.checks}
    for rule in ACTIONS:
        proposal = rule(incident, tunnel, checks, policy)
        if proposal is not None:
            return Change(
                action=proposal.action,
                vpn_connection_id=connection.vpn_connection_id,
                tunnel_ip=tunnel.outside_ip,
                tunnel_options=proposal.tunnel_options,
                reason=proposal.reason,
                before=tunnel_options_summary(tunnel),
            )
    return _nothing_reason(incident, tunnel, policy)


def _nothing_reason(incident: Incident, tunnel: TunnelConfig, policy: RemediationPolicy) -> str:
    dpd_clear = incident.category is Category.DPD_TIMEOUT and tunnel.dpd_timeout_action == "clear"
    if dpd_clear and incident.finding_count + incident.recurrence < policy.dpd_repeat_threshold:
        return f"One DPD timeout so far: the DPD timeout action changes only after {policy.dpd_repeat_threshold}."
    if (incident.category is Category.IDLE_TIMEOUT or incident.maintenance) and "ikev2" not in tunnel.ike_versions:
        return "The tunnel allows only IKEv1: AWS cannot initiate it, so the startup action stays 'add'."
    return (
        "No tunnel option that vpn-doctor may change would help: lifetime, algorithm and routing changes are "
        "recommendations in this alert, never automatic."
    )


def _log_options(tunnel: TunnelConfig, log_group_arn: str) -> dict[str, Any]:
    options: dict[str, Any] = {"LogEnabled": True, "LogGroupArn": log_group_arn, "LogOutputFormat": "json"}
    # The request replaces the whole CloudWatchLogOptions: keep BGP logging as it is.
    if tunnel.logging.bgp_enabled:
        options["BgpLogEnabled"] = True
        if tunnel.logging.bgp_log_group_arn:
            options["BgpLogGroupArn"] = tunnel.logging.bgp_log_group_arn
        if tunnel.logging.bgp_output_format:
            options["BgpLogOutputFormat"] = tunnel.logging.bgp_output_format
    return options


def tunnel_options_summary(tunnel: TunnelConfig) -> dict[str, Any]:
    """The options remediation may touch, as they are now (for audit before/after; no key)."""
    return {
        "DPDTimeoutAction": tunnel.dpd_timeout_action,
        "StartupAction": tunnel.startup_action,
        "LogEnabled": tunnel.logging.enabled,
        "LogGroupArn": tunnel.logging.log_group_arn,
    }


# --- guards ------------------------------------------------------------------------------------


def connection_guard(
    connection: VpnConnectionInfo, tunnel_ip: str, policy: RemediationPolicy, now: datetime
) -> str | None:
    """Why the connection's current state forbids the change now, or ``None``."""
    if connection.state != "available":
        return f"The connection is '{connection.state}', not 'available': a change may be in progress; try later."
    tunnel = connection.tunnel(tunnel_ip)
    own = tunnel.telemetry if tunnel is not None else None
    if own is not None and own.status is TunnelState.DOWN:
        return None  # a tunnel that is down cannot be interrupted
    # UP, or not known to be down: treat it as carrying traffic.
    state = "is UP" if own is not None and own.status is TunnelState.UP else "may be UP (no telemetry)"
    sibling = connection.sibling(tunnel_ip)
    telemetry = sibling.telemetry if sibling is not None else None
    if telemetry is None or telemetry.status is not TunnelState.UP:
        return (
            f"Tunnel {tunnel_ip} {state} and its sibling is not UP: a modification could interrupt the only tunnel "
            "carrying traffic."
        )
    up_for = now - telemetry.last_status_change if telemetry.last_status_change is not None else None
    if up_for is None or up_for < policy.sibling_up_minimum:
        return (
            f"Tunnel {tunnel_ip} {state} and its sibling has been UP for less than "
            f"{_human(policy.sibling_up_minimum)}: not interrupting it yet."
        )
    return None


def history_guard(
    history: Mapping[str, TunnelHistory], tunnel_ip: str, policy: RemediationPolicy, now: datetime
) -> str | None:
    """Why earlier modifications forbid this one (never both tunnels, cooldown, budget), or ``None``."""
    for other_ip, other in history.items():
        recent = other.last_modified_at is not None and now - other.last_modified_at < policy.cooldown
        if other_ip != tunnel_ip and recent and other.last_modified_at is not None:
            return (
                f"The other tunnel ({other_ip}) of this connection was modified at "
                f"{other.last_modified_at:%H:%M} UTC: vpn-doctor never modifies both tunnels."
            )
    own = history.get(tunnel_ip, TunnelHistory())
    if own.last_modified_at is not None and now - own.last_modified_at < policy.cooldown:
        return (
            f"Cooldown: this tunnel was modified at {own.last_modified_at:%H:%M} UTC; the next change is allowed "
            f"after {_human(policy.cooldown)}."
        )
    if own.modified_today >= policy.daily_budget:
        return f"Daily budget used: {own.modified_today} of {policy.daily_budget} modifications of this tunnel today."
    return None


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# --- the decision ------------------------------------------------------------------------------


def preview(
    incident: Incident,
    connection: VpnConnectionInfo,
    diagnosis: Diagnosis,
    *,
    now: datetime,
    policy: RemediationPolicy | None = None,
) -> RemediationOutcome | None:
    """What the policy would do for this incident in dry-run, without any call (for ``vpn-doctor diagnose``)."""
    policy = policy or RemediationPolicy()
    selected = select_change(incident, connection, diagnosis, policy)
    if isinstance(selected, str):
        return RemediationOutcome(RemediationStatus.NOT_NEEDED, selected, decided_at=now)
    blocked = connection_guard(connection, selected.tunnel_ip, policy, now)
    if blocked is not None:
        return RemediationOutcome(RemediationStatus.BLOCKED, blocked, selected.action, selected.request, decided_at=now)
    return RemediationOutcome(
        RemediationStatus.DRY_RUN, f"Would change: {selected.reason}", selected.action, selected.request, decided_at=now
    )


@dataclass(frozen=True, slots=True)
class _Context:
    store: RemediationStore
    transition: IncidentTransition
    mode: Mode
    actor: str
    now: datetime
    policy: RemediationPolicy
    # Why the connection's tag was not taken as written (said first in every decision's reason).
    note: str | None = None


def _noted(note: str | None, reason: str) -> str:
    return reason if note is None else f"{note} {reason}"


def remediate(
    transition: IncidentTransition,
    connection: VpnConnectionInfo | None,
    diagnosis: Diagnosis,
    *,
    policy: RemediationPolicy,
    store: RemediationStore,
    modifier: TunnelModifier,
    now: datetime,
    actor: str = "vpn-doctor",
) -> Decision:
    """Decide, guard, execute (or dry-run) and audit one remediation for one incident transition."""
    chosen = connection_mode(policy, connection)
    mode = chosen.mode
    if mode is Mode.OFF:
        return Decision(
            _outcome(RemediationStatus.OFF, _noted(chosen.note, "Remediation is off for this connection."), now)
        )
    if transition.kind not in _ACTIONABLE:
        reason = _noted(chosen.note, f"The incident is {transition.kind.value}.")
        return Decision(_outcome(RemediationStatus.NOT_NEEDED, reason, now))
    earlier = store.outcome_for(transition.event_id)
    if earlier is not None:
        return Decision(earlier, duplicate=True)
    context = _Context(store, transition, mode, actor, now, policy, chosen.note)
    if connection is None:
        return _decided(context, None, RemediationStatus.NOT_NEEDED, "The connection could not be read.")
    selected = select_change(transition.incident, connection, diagnosis, policy)
    if isinstance(selected, str):
        return _decided(context, None, RemediationStatus.NOT_NEEDED, selected)
    blocked = connection_guard(connection, selected.tunnel_ip, policy, now)
    if blocked is not None:
        status = RemediationStatus.TRY_LATER if connection.state != "available" else RemediationStatus.BLOCKED
        return _decided(context, selected, status, blocked)
    if mode is Mode.DRY_RUN:
        return _execute(context, modifier, selected)
    owner = transition.event_id
    if not store.acquire_lock(connection.vpn_connection_id, owner, now, policy.lock_lease):
        if store.lock_holder(connection.vpn_connection_id) == owner:
            # Another delivery of this same event holds the lock: it decides and alerts, this one stays silent.
            held = _outcome(RemediationStatus.BLOCKED, "A concurrent delivery of this event is handling it.", now)
            return Decision(held, duplicate=True)
        return _decided(
            context,
            selected,
            RemediationStatus.BLOCKED,
            "Another remediation of this connection is in progress (lock held).",
            final=False,
        )
    try:
        # Re-read under the lock: a concurrent delivery of the same event, or a change of the sibling
        # tunnel that finished while we waited, must not lead to a second modification.
        earlier = store.outcome_for(transition.event_id)
        if earlier is not None:
            return Decision(earlier, duplicate=True)
        return _execute(context, modifier, selected)
    finally:
        store.release_lock(connection.vpn_connection_id, owner)


_DRY: Final = (
    "Nothing was sent to EC2 (in dry-run vpn-doctor may not modify connections), so permissions are not verified."
)


def _execute(context: _Context, modifier: TunnelModifier, change: Change) -> Decision:
    history = context.store.history(change.vpn_connection_id, context.now)
    blocked = history_guard(history, change.tunnel_ip, context.policy, context.now)
    if blocked is not None:
        return _decided(context, change, RemediationStatus.BLOCKED, blocked)
    if set(change.tunnel_options) - ALLOWED_OPTIONS:
        raise ValueError(f"refusing to change {sorted(set(change.tunnel_options) - ALLOWED_OPTIONS)}")
    if context.mode is Mode.DRY_RUN:
        # IAM cannot tell DryRun=True from a real call, so a dry-run deployment's role may not modify at all
        # (stacks/remediation.py): nothing is sent, and nothing about permissions is claimed.
        return _decided(context, change, RemediationStatus.DRY_RUN, f"Dry run, would change: {change.reason} {_DRY}")
    result = modifier.modify(change, dry_run=False)
    if result.status is RemediationStatus.APPLIED:
        context.store.record_modification(change.vpn_connection_id, change.tunnel_ip, context.now)
        reason = f"Changed: {change.reason} The tunnel is interrupted for a few minutes; a post-check follows."
    else:
        reason = result.message
    return _decided(context, change, result.status, reason, error_code=result.error_code, after=result.after)


def _decided(
    context: _Context,
    change: Change | None,
    status: RemediationStatus,
    reason: str,
    *,
    error_code: str | None = None,
    after: Mapping[str, Any] | None = None,
    final: bool = True,
) -> Decision:
    outcome = RemediationOutcome(
        status=status,
        reason=_noted(context.note, reason),
        action=change.action if change else None,
        parameters=change.request if change else {},
        error_code=error_code,
        decided_at=context.now,
    )
    incident = context.transition.incident
    context.store.record_decision(
        AuditRecord(
            event_id=context.transition.event_id,
            incident_id=incident.incident_id,
            vpn_connection_id=incident.vpn_connection_id,
            tunnel_ip=incident.tunnel_ip,
            mode=context.mode,
            outcome=outcome,
            decided_at=context.now,
            actor=context.actor,
            before=dict(change.before) if change else {},
            after=dict(after or {}),
            final=final,
        )
    )
    return Decision(outcome, change=change)


def _outcome(status: RemediationStatus, reason: str, now: datetime) -> RemediationOutcome:
    return RemediationOutcome(status=status, reason=reason, decided_at=now)


# --- post-check --------------------------------------------------------------------------------

_ACTION_TEXT: Final = {
    RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART: "set the DPD timeout action to 'restart'",
    RemediationAction.SET_DPD_TIMEOUT_ACTION_NONE: "set the DPD timeout action to 'none'",
    RemediationAction.SET_STARTUP_ACTION_START: "set the startup action to 'start'",
    RemediationAction.ENABLE_TUNNEL_LOGGING: "enabled tunnel logging",
    RemediationAction.APPLY_PENDING_MAINTENANCE: "applied AWS's pending endpoint replacement (ReplaceVpnTunnel)",
}


def post_check(
    connection: VpnConnectionInfo | None,
    tunnel_ip: str,
    *,
    action: RemediationAction | None,
    modified_at: datetime,
    now: datetime,
) -> str | None:
    """``None`` when the tunnel is UP again after the modification, else the escalation text for people."""
    tunnel = connection.tunnel(tunnel_ip) if connection is not None else None
    telemetry = tunnel.telemetry if tunnel is not None else None
    if telemetry is not None and telemetry.status is TunnelState.UP:
        return None
    did = _ACTION_TEXT.get(action, "modified the tunnel options") if action is not None else "modified the tunnel"
    minutes = max(1, int((now - modified_at).total_seconds() // 60))
    if connection is None or tunnel is None:
        state = "could not be found"
    else:
        state = f"is still {telemetry.status.value if telemetry else 'UNKNOWN'}"
        if telemetry is not None and telemetry.status_message:
            state += f" ({telemetry.status_message})"
    return (
        f"Escalation: tunnel {tunnel_ip} of {connection.vpn_connection_id if connection else 'the connection'} "
        f"{state} {minutes} min after vpn-doctor {did} at {modified_at:%H:%M} UTC. The change did not bring it "
        "back: someone must look at the customer gateway (see the diagnosis). vpn-doctor will not change this "
        "tunnel again before its cooldown ends."
    )
