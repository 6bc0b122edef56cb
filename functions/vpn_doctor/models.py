"""Typed values that flow through the pipeline: parsed log records and classified findings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter

from vpn_doctor.taxonomy import Category, Cause, Severity


class Source(StrEnum):
    """Where a record came from (decides which parser read it)."""

    AWS_TUNNEL_JSON = "aws_tunnel_json"
    AWS_TUNNEL_TEXT = "aws_tunnel_text"
    AWS_BGP = "aws_bgp"
    STRONGSWAN = "strongswan"
    LIBRESWAN = "libreswan"
    UNPARSED = "unparsed"


class PhaseState(StrEnum):
    """IKE phase 1 / phase 2 state as AWS logs it (compared case-insensitively on input)."""

    ESTABLISHED = "Established"
    REKEYING = "Rekeying"
    NEGOTIATING = "Negotiating"
    DOWN = "Down"

    @classmethod
    def parse(cls, value: object) -> PhaseState | None:
        """Read a state from a log field, any case; ``None`` when absent or not a known state."""
        if not isinstance(value, str):
            return None
        return _PHASE_STATES.get(value.strip().lower())


_PHASE_STATES = {state.value.lower(): state for state in PhaseState}

_Frozen = TypeVar("_Frozen")
_NO_VALUE = object()  # stands for "not passed" where a field's default comes from a factory


def slot_filling_init(cls: type[_Frozen]) -> type[_Frozen]:
    """Give a frozen, slotted dataclass a faster ``__init__`` with the same parameters and defaults.

    The one ``dataclass(frozen=True)`` generates sets each field through ``object.__setattr__``;
    this one sets the slots through their descriptors, which costs about half as much. The class
    stays frozen (assigning an attribute still raises), and equality, hashing and ``replace`` are
    the dataclass's own. Used on the models built once or more per log record (the ingest path
    builds a few thousand per batch).
    """
    namespace: dict[str, Any] = {"_NO_VALUE": _NO_VALUE}
    parameters: list[str] = []
    body: list[str] = []
    for index, item in enumerate(fields(cls)):  # type: ignore[arg-type]
        if not item.init or item.kw_only:
            raise TypeError(f"{cls.__name__}.{item.name}: only plain positional fields are supported")
        if item.default is not MISSING:
            namespace[f"_default_{index}"] = item.default
            parameters.append(f"{item.name}=_default_{index}")
        elif item.default_factory is not MISSING:
            namespace[f"_factory_{index}"] = item.default_factory
            parameters.append(f"{item.name}=_NO_VALUE")
            body.append(f"    if {item.name} is _NO_VALUE: {item.name} = _factory_{index}()")
        else:
            parameters.append(item.name)
        namespace[f"_set_{index}"] = getattr(cls, item.name).__set__
        body.append(f"    _set_{index}(self, {item.name})")
    exec(f"def __init__(self, {', '.join(parameters)}):\n" + "\n".join(body), namespace)  # noqa: S102 - as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


@slot_filling_init
@dataclass(frozen=True, slots=True)
class TunnelEvent:
    """One log record, from any source, normalised.

    ``vpn_connection_id`` and ``tunnel_ip`` identify the tunnel (AWS puts them in the log
    stream name, customer-gateway logs in their connection names or peer addresses).
    ``timestamp`` is always timezone-aware UTC when known.
    """

    source: Source
    message: str
    raw: str
    vpn_connection_id: str | None = None
    tunnel_ip: str | None = None
    timestamp: datetime | None = None
    ike_phase1_state: PhaseState | None = None
    ike_phase2_state: PhaseState | None = None
    dpd_enabled: bool | None = None
    nat_t_detected: bool | None = None
    # Source-specific extras: BGP type/status/prefix, strongSwan daemon and connection name, ...
    fields: Mapping[str, str] = field(default_factory=dict)
    # Where the record was read from, e.g. the CloudWatch Logs event id, for de-duplication.
    event_id: str | None = None

    @property
    def tunnel_key(self) -> str:
        """A stable key for the tunnel this record belongs to (``?`` for unknown parts)."""
        return f"{self.vpn_connection_id or '?'}#{self.tunnel_ip or '?'}"


@slot_filling_init
@dataclass(frozen=True, slots=True)
class Evidence:
    """A log line that decided a finding, as a person should see it."""

    message: str
    timestamp: datetime | None
    source: Source
    ike_phase1_state: PhaseState | None = None
    ike_phase2_state: PhaseState | None = None

    @classmethod
    def of(cls, event: TunnelEvent) -> Evidence:
        """The evidence line for one event."""
        return cls(
            message=event.message,
            timestamp=event.timestamp,
            source=event.source,
            ike_phase1_state=event.ike_phase1_state,
            ike_phase2_state=event.ike_phase2_state,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "timestamp": iso(self.timestamp),
            "message": self.message,
            "source": self.source.value,
            "ike_phase1_state": _value(self.ike_phase1_state),
            "ike_phase2_state": _value(self.ike_phase2_state),
        }


@slot_filling_init
@dataclass(frozen=True, slots=True)
class Finding:
    """A classified record: what it means, how bad it is, and the lines that say so.

    ``context`` holds the tunnel's earlier lines that decided the verdict (none for most records);
    :attr:`evidence` is those lines followed by the record itself, built when asked for: the ingest
    path classifies thousands of records per batch and only the failures are ever shown.
    """

    category: Category
    cause: Cause | None
    severity: Severity
    summary: str
    rule_id: str
    event: TunnelEvent
    context: tuple[Evidence, ...] = ()
    error: str | None = None

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        """The lines that decided this finding, oldest first; the record itself is the last."""
        return (*self.context, Evidence.of(self.event))

    @property
    def vpn_connection_id(self) -> str | None:
        return self.event.vpn_connection_id

    @property
    def tunnel_ip(self) -> str | None:
        return self.event.tunnel_ip

    @property
    def timestamp(self) -> datetime | None:
        return self.event.timestamp

    @property
    def is_failure(self) -> bool:
        """True when this finding describes a problem worth an incident."""
        return self.category.is_failure

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON contract (architecture.md): at least category, cause, severity,
        vpn_connection_id, tunnel and summary; ``error`` only for records that could not be read."""
        data: dict[str, Any] = {
            "category": self.category.value,
            "cause": _value(self.cause),
            "severity": self.severity.value,
            "vpn_connection_id": self.event.vpn_connection_id,
            "tunnel": self.event.tunnel_ip,
            "timestamp": iso(self.event.timestamp),
            "summary": self.summary,
            "source": self.event.source.value,
            "rule": self.rule_id,
            "ike_phase1_state": _value(self.event.ike_phase1_state),
            "ike_phase2_state": _value(self.event.ike_phase2_state),
            "evidence": [item.to_dict() for item in self.evidence],
        }
        if self.error is not None:
            data["error"] = self.error
        return data


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, or ``None``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _value(member: StrEnum | None) -> str | None:
    return None if member is None else member.value


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


class RemediationStatus(StrEnum):
    OFF = "off"  # remediation disabled for this connection
    NOT_NEEDED = "not_needed"  # nothing safe and useful to change
    DRY_RUN = "dry_run"  # would change (DryRun=True call succeeded)
    APPLIED = "applied"
    BLOCKED = "blocked"  # a guard refused (cooldown, budget, sibling down, lock held, ...)
    TRY_LATER = "try_later"  # AWS said not now (connection modifying, throttled)
    FAILED = "failed"  # AWS refused (access denied, unknown connection, ...)


@dataclass(frozen=True, slots=True)
class RemediationOutcome:
    """The remediation decision for one incident, as the alert and the audit log show it."""

    status: RemediationStatus
    reason: str
    action: RemediationAction | None = None
    # The ModifyVpnTunnelOptions request (never a pre-shared key).
    parameters: Mapping[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    decided_at: datetime | None = None


# --- alerts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """Everything a renderer needs for one message about one incident transition."""

    transition: IncidentTransition
    diagnosis: Diagnosis | None = None
    remediation: RemediationOutcome | None = None
    region: str | None = None
    log_group: str | None = None
    escalation: str | None = None


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
