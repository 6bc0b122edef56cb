"""Typed values that flow through the pipeline: parsed log records and classified findings (from
:mod:`vpn_doctor.records`), tunnel states, incidents, diagnoses, remediation outcomes and alerts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar, cast

from pydantic import AfterValidator, TypeAdapter

from vpn_doctor.records import Evidence, Finding, PhaseState, Source, TunnelEvent, iso
from vpn_doctor.taxonomy import Category, Cause, Severity

__all__ = [
    "Alert",
    "CheckStatus",
    "ConnectionChange",
    "ConnectionChangeKind",
    "ConnectionState",
    "Diagnosis",
    "DiagnosisCheck",
    "Evidence",
    "Finding",
    "Incident",
    "IncidentStatus",
    "IncidentTransition",
    "PhaseState",
    "RemediationAction",
    "RemediationOutcome",
    "RemediationStatus",
    "Source",
    "StateSource",
    "StormKind",
    "StormMember",
    "StormNotice",
    "TransitionKind",
    "TunnelEvent",
    "TunnelPart",
    "TunnelState",
    "TunnelStateChange",
    "Verdict",
    "dump",
    "iso",
    "load",
]

# --- tunnel state -----------------------------------------------------------------------------


class TunnelState(StrEnum):
    """Whether a tunnel carries traffic, as a state source reports it."""

    UP = "UP"
    DOWN = "DOWN"
    UNKNOWN = "UNKNOWN"


class StateSource(StrEnum):
    """Where a state change came from."""

    CLOUDWATCH_ALARM = "cloudwatch_alarm"
    NETWORK_MANAGER = "network_manager"
    AWS_HEALTH = "aws_health"
    TELEMETRY_POLL = "telemetry_poll"
    LOG_FINDING = "log_finding"
    POST_CHECK = "post_check"


@dataclass(frozen=True, slots=True)
class TunnelStateChange:
    """One normalised state signal for one tunnel (or, for some Health notices, a connection).

    ``event_id`` is the delivering event's id: the same id twice is the same signal (at-least-once
    delivery), never two transitions. ``maintenance`` marks AWS endpoint replacement notices.
    """

    vpn_connection_id: str
    tunnel_ip: str | None
    state: TunnelState
    source: StateSource
    observed_at: datetime
    event_id: str
    reason: str = ""
    status_message: str | None = None
    layer: str | None = None  # "ipsec" or "bgp" where the source says
    maintenance: bool = False
    details: Mapping[str, str] = field(default_factory=dict)


# --- incidents --------------------------------------------------------------------------------


class IncidentStatus(StrEnum):
    """Lifecycle of an incident; at most one open (``open`` or ``flapping``) per tunnel."""

    OPEN = "open"
    FLAPPING = "flapping"
    RESOLVED = "resolved"


class TransitionKind(StrEnum):
    """What happened to an incident; each kind is worth one message at most."""

    OPENED = "opened"
    UPDATED = "updated"  # only for material changes (worse severity, new category, tunnel state)
    FLAPPING = "flapping"
    RESOLVED = "resolved"
    ESCALATED = "escalated"  # remediation post-check failed, or the incident outlived its budget


@dataclass(frozen=True, slots=True)
class Incident:
    """The single open problem of one tunnel (connection id + outside IP)."""

    incident_id: str
    vpn_connection_id: str
    tunnel_ip: str
    status: IncidentStatus
    category: Category
    cause: Cause | None
    severity: Severity
    summary: str
    opened_at: datetime
    updated_at: datetime
    last_state: TunnelState = TunnelState.UNKNOWN
    state_since: datetime | None = None
    resolved_at: datetime | None = None
    # Recent UP/DOWN flips (bounded), for the flap roll-up.
    state_flips: tuple[datetime, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    finding_count: int = 0
    maintenance: bool = False
    escalated: bool = False
    # Whether people were told that the failure repeats (told once per incident).
    repeat_noticed: bool = False
    version: int = 0
    # How many incidents of the same category this tunnel had in the 24 hours before this one.
    recurrence: int = 0

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    @property
    def duration(self) -> timedelta | None:
        """How long the incident lasted (``None`` while open)."""
        return None if self.resolved_at is None else self.resolved_at - self.opened_at

    @property
    def logs_say_down(self) -> bool:
        """Whether the tunnel's own logs show a phase Down since its last state change.

        Logs can be ahead of the state sources (alarms lag by minutes): people were already told
        "DOWN" when a finding said so, and a state source confirming it later is no news."""
        for item in reversed(self.evidence):
            if PhaseState.DOWN not in (item.ike_phase1_state, item.ike_phase2_state):
                continue
            return self.state_since is None or item.timestamp is None or item.timestamp >= self.state_since
        return False


@dataclass(frozen=True, slots=True)
class IncidentTransition:
    """An incident changed in a way people should hear about."""

    kind: TransitionKind
    incident: Incident
    at: datetime
    event_id: str  # the event that caused it: the idempotency key downstream
    reason: str = ""


# --- diagnosis --------------------------------------------------------------------------------


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check result, not a password
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"


class Verdict(StrEnum):
    """Will the tunnel come back by itself, and if not, which side must change."""

    WILL_SELF_HEAL = "will_self_heal"
    NEEDS_AWS_CHANGE = "needs_aws_side_change"
    NEEDS_CGW_CHANGE = "needs_customer_gateway_change"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True, slots=True)
class DiagnosisCheck:
    """One configuration check, with a reason a person can act on."""

    check_id: str
    title: str
    status: CheckStatus
    reason: str
    recommendation: str | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What the configuration says about an incident."""

    vpn_connection_id: str
    tunnel_ip: str | None
    verdict: Verdict
    verdict_reason: str
    checks: tuple[DiagnosisCheck, ...] = ()
    next_steps: tuple[str, ...] = ()
    connection_name: str | None = None
    vendor: str | None = None
    diagnosed_at: datetime | None = None

    @property
    def failed(self) -> tuple[DiagnosisCheck, ...]:
        return tuple(check for check in self.checks if check.status in (CheckStatus.FAIL, CheckStatus.WARN))


# --- remediation ------------------------------------------------------------------------------


class RemediationAction(StrEnum):
    SET_DPD_TIMEOUT_ACTION_RESTART = "set_dpd_timeout_action_restart"
    SET_DPD_TIMEOUT_ACTION_NONE = "set_dpd_timeout_action_none"
    SET_STARTUP_ACTION_START = "set_startup_action_start"
    ENABLE_TUNNEL_LOGGING = "enable_tunnel_logging"
    # ReplaceVpnTunnel with ApplyPendingMaintenance: AWS's pending endpoint replacement, applied inside the window.
    APPLY_PENDING_MAINTENANCE = "apply_pending_maintenance"


class RemediationStatus(StrEnum):
    OFF = "off"  # remediation disabled for this connection
    NOT_NEEDED = "not_needed"  # nothing safe and useful to change
    DRY_RUN = "dry_run"  # would change (DryRun=True call succeeded)
    APPLIED = "applied"
    BLOCKED = "blocked"  # a guard refused (cooldown, budget, sibling down, lock held, ...)
    TRY_LATER = "try_later"  # AWS said not now (connection modifying, throttled)
    FAILED = "failed"  # AWS refused (access denied, unknown connection, ...)


#: How deep free-form data (an EC2 request's parameters, at most 4 levels) may nest: far below what
#: pydantic writes back out (about 255 levels), so whatever is read can be stored and sent again.
MAX_NESTING = 32


def _shallow(value: Mapping[str, Any]) -> Mapping[str, Any]:
    level: list[Any] = [value]
    for _ in range(MAX_NESTING):
        level = [
            item
            for container in level
            for item in (container.values() if isinstance(container, Mapping) else container)
            if isinstance(item, Mapping | list | tuple)
        ]
        if not level:
            return value
    raise ValueError(f"nested deeper than {MAX_NESTING} levels")


@dataclass(frozen=True, slots=True)
class RemediationOutcome:
    """The remediation decision for one incident, as the alert and the audit log show it."""

    status: RemediationStatus
    reason: str
    action: RemediationAction | None = None
    # The ModifyVpnTunnelOptions request (never a pre-shared key).
    parameters: Annotated[Mapping[str, Any], AfterValidator(_shallow)] = field(default_factory=dict)
    error_code: str | None = None
    decided_at: datetime | None = None


# --- connections (the roll-up of a connection's tunnels, vpn_doctor.rollup) -------------------


class ConnectionState(StrEnum):
    """A connection's state as people see it: its tunnels rolled up (:mod:`vpn_doctor.rollup`)."""

    OK = "ok"
    IMPAIRED = "impaired"  # an open incident, no tunnel DOWN (log-only, traffic): still carrying traffic
    REDUNDANCY_LOST = "redundancy_lost"  # some tunnels DOWN, not all
    OUTAGE = "outage"  # every tunnel DOWN

    @property
    def words(self) -> str:
        """As titles say it."""
        return _CONNECTION_WORDS[self]


_CONNECTION_WORDS: Mapping[ConnectionState, str] = {
    ConnectionState.OK: "OK",
    ConnectionState.IMPAIRED: "IMPAIRED",
    ConnectionState.REDUNDANCY_LOST: "REDUNDANCY LOST",
    ConnectionState.OUTAGE: "OUTAGE",
}


@dataclass(frozen=True, slots=True)
class TunnelPart:
    """One tunnel (or the connection-level pseudo tunnel ``connection``) as its connection sees it."""

    tunnel_ip: str
    state: TunnelState = TunnelState.UNKNOWN
    incident_id: str | None = None  # its open incident
    category: Category | None = None
    cause: Cause | None = None
    severity: Severity | None = None
    summary: str = ""
    evidence: tuple[Evidence, ...] = ()
    at: datetime | None = None  # the newest of its own alerts applied to it
    reported_at: datetime | None = None  # the newest EC2 report of it carried by another tunnel's alert
    resolved_ids: tuple[str, ...] = ()  # its recently resolved incidents: an incident never reopens (late alerts)


class ConnectionChangeKind(StrEnum):
    """What happened to a connection, as told to people."""

    OPENED = "opened"  # OK -> a problem
    CHANGED = "changed"  # one problem state -> another
    UPDATED = "updated"  # same state, news about one of its tunnels (update, flapping, escalation)
    RESOLVED = "resolved"  # back to OK


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """One change of a connection's state (or news in the same state): one message per channel."""

    vpn_connection_id: str
    incident_id: str  # the connection-level incident: PagerDuty's dedup_key
    kind: ConnectionChangeKind
    previous: ConnectionState
    state: ConnectionState
    severity: Severity
    at: datetime
    opened_at: datetime
    tunnels: tuple[TunnelPart, ...] = ()


@dataclass(frozen=True, slots=True)
class StormMember:
    """A connection that failed during a storm, with what it may share with the others."""

    vpn_connection_id: str
    at: datetime
    account: str | None = None
    region: str | None = None
    customer_gateway_ip: str | None = None
    state: ConnectionState = ConnectionState.OUTAGE


class StormKind(StrEnum):
    """The two messages of a storm."""

    OPENED = "opened"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class StormNotice:
    """A grouped message: many connections failed within the storm window (:mod:`vpn_doctor.rollup`)."""

    storm_id: str  # PagerDuty's dedup_key while the storm lasts
    kind: StormKind
    started_at: datetime
    at: datetime
    count: int  # connections in the storm
    members: tuple[StormMember, ...] = ()  # named (bounded)
    factors: tuple[str, ...] = ()  # what they have in common
    still_broken: tuple[StormMember, ...] = ()  # at the end: those not recovered (bounded)
    broken_count: int = 0
    window_seconds: int = 120


# --- alerts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold:
    """Why an alert's messages are held (:mod:`vpn_doctor.silences`): a silence or a maintenance window, until when."""

    reason: str
    until: datetime
    held_at: datetime
    silence_id: str | None = None  # None: the connection's recurring maintenance window


@dataclass(frozen=True, slots=True)
class Alert:
    """Everything a renderer needs for one message about one incident transition."""

    transition: IncidentTransition
    diagnosis: Diagnosis | None = None
    remediation: RemediationOutcome | None = None
    region: str | None = None
    log_group: str | None = None
    escalation: str | None = None
    # The connection's owner (its ``vpn-doctor:owner`` tag) and its other tunnels EC2 reported DOWN, as read
    # with the connection when the alert was made: routing picks channels by the owner, and a pager keeps the
    # connection's page open while another tunnel is still down.
    owner: str | None = None
    other_tunnels_down: tuple[str, ...] = ()
    # Set by respond while a silence covers the connection: notify sends nothing (vpn_doctor.silences).
    held: Hold | None = None
    # Set on the one announcement made when a silence ended with the incident still open: what held it.
    released_from: Hold | None = None
    # The connection's tunnels (outside IPs) and where it lives, as respond read them (roll-up, storm factors).
    tunnels: tuple[str, ...] = ()
    account: str | None = None
    customer_gateway_ip: str | None = None
    # Set by notify's roll-up (vpn_doctor.rollup): the connection's change this alert makes, or the storm's message.
    connection: ConnectionChange | None = None
    storm: StormNotice | None = None


_T = TypeVar("_T")

# --- JSON transport (EventBridge details, DynamoDB documents, the demo's timeline) ------------


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def dump(value: Any) -> dict[str, Any]:
    """A model as JSON-ready data (datetimes as ISO strings, enums as values)."""
    data = _adapter(type(value)).dump_python(value, mode="json")
    if not isinstance(data, dict):
        raise TypeError(f"{type(value).__name__} does not dump to an object")
    return data


def load(cls: type[_T], data: Mapping[str, Any]) -> _T:
    """The inverse of :func:`dump`; raises ``pydantic.ValidationError`` on bad data."""
    return cast(_T, _adapter(cls).validate_python(data))
