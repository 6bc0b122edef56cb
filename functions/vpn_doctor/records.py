"""What the ingest path builds per log record: the parsed record (:class:`TunnelEvent`), its verdict
(:class:`Finding`) and the lines shown as evidence (:class:`Evidence`).

Apart from the rest of :mod:`vpn_doctor.models` (incidents, diagnoses, alerts, JSON transport), so
that the ingest function imports only what every batch uses; ``vpn_doctor.models`` re-exports all of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeGuard

from vpn_doctor.constants import VPN_CONNECTION_ID_PATTERN
from vpn_doctor.taxonomy import Category, Cause, Severity


class Source(StrEnum):
    """Where a record came from (decides which parser read it)."""

    AWS_TUNNEL_JSON = "aws_tunnel_json"
    AWS_TUNNEL_TEXT = "aws_tunnel_text"
    AWS_BGP = "aws_bgp"
    STRONGSWAN = "strongswan"
    LIBRESWAN = "libreswan"
    # Vendor gateways, as their own syslog messages say (vpn_doctor.vendors).
    CISCO_ASA = "cisco_asa"
    CISCO_IOS = "cisco_ios"
    PANOS = "paloalto_panos"
    FORTIGATE = "fortinet_fortigate"
    JUNOS = "juniper_junos"
    ROUTEROS = "mikrotik_routeros"
    UNPARSED = "unparsed"
    AWS_METRICS = "aws_metrics"  # not a log: the AWS/VPN data metrics (vpn_doctor.traffic's findings)
    # not a log: what an AWS API says ahead of time (replacement status, Health notices, ACM; vpn_doctor.replacement)
    AWS_API = "aws_api"
    AWS_TELEMETRY = "aws_telemetry"  # not a log: DescribeVpnConnections' VgwTelemetry (vpn_doctor.routes)


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

#: The times a record may carry and still be used. Windows of minutes to days are subtracted from
#: and added to a record's time (history, incidents), which ``datetime`` cannot do near its limits
#: (years 1 and 9999); and nothing a tunnel logs predates the epoch (a gateway without a clock logs 1970).
EARLIEST_USABLE_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_USABLE_TIME = datetime(9000, 1, 1, tzinfo=UTC)


#: The field (and the finding's JSON key) of a record dated too far ahead of the receiving clock:
#: what it said, and the delivery time used instead (see :func:`vpn_doctor.ingest.trusted_time`).
CLOCK_SKEW = "clock_skew"
#: How far ahead of the receiving clock a record's (or a state change's) time is trusted by default.
#: A time further ahead (a gateway's clock gone wrong) would keep its incident from ever clearing.
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)


def clock_skew_note(moment: datetime, now: datetime, used: datetime) -> str:
    """What a :data:`CLOCK_SKEW` note says (a record's or a state change's): the time given, how far
    ahead of the receiving clock ``now`` it is, and the time used instead."""
    return f"time {iso(moment)} is {moment - now} ahead of the receiving clock; {iso(used)} is used"


def usable_time(moment: datetime | None) -> TypeGuard[datetime]:
    """Whether a known time lies in the usable range (see :data:`EARLIEST_USABLE_TIME`)."""
    return moment is not None and EARLIEST_USABLE_TIME <= moment < LATEST_USABLE_TIME


#: A VPN connection id as AWS writes it (``vpn-`` and 8 or 17 hex digits), alone or inside a name
#: (a log stream, a resource id, a connection name): the one definition, for parsing and validation.
VPN_CONNECTION_ID = re.compile(rf"(?<![0-9A-Za-z]){VPN_CONNECTION_ID_PATTERN}(?![0-9a-f])")


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
        if (envelope := envelope_of(self.event)) is not None:
            data["envelope"] = envelope
        if (vendor := self.event.fields.get(VENDOR)) is not None:
            data[VENDOR] = vendor
        if self.error is not None:
            data["error"] = self.error
        if (skew := self.event.fields.get(CLOCK_SKEW)) is not None:
            data[CLOCK_SKEW] = skew
        return data


#: The event fields an envelope (syslog, journald, a shipper's JSON: vpn_doctor.envelope) leaves as
#: evidence; ``envelope`` names the kinds, outermost first.
ENVELOPE_FIELDS = ("envelope", "host", "program", "pid", "msgid", "time_note")
#: The field (and the finding's JSON key) naming the gateway vendor a line came from, in
#: :mod:`vpn_doctor.playbook`'s words (``cisco``, ``paloalto``, ``fortinet``, ``juniper``, ``mikrotik``, ...).
VENDOR = "vendor"


def envelope_of(event: TunnelEvent) -> dict[str, str] | None:
    """What the envelope around a record said (kind, host, program, pid, ...), or ``None`` without one."""
    if "envelope" not in event.fields:
        return None
    return {key: event.fields[key] for key in ENVELOPE_FIELDS if key in event.fields}


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, or ``None``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _value(member: StrEnum | None) -> str | None:
    return None if member is None else member.value
