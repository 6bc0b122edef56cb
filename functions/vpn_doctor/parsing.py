"""Parse one log line, from any supported source, into a :class:`TunnelEvent`.

Supported: AWS Site-to-Site VPN tunnel activity logs (JSON and the undocumented text format),
AWS BGP logs (JSON), strongSwan (charon filelog, syslog, journald, ``swanctl`` output), libreswan
(pluto syslog and log file), and the vendor gateways of :mod:`vpn_doctor.vendors` (Cisco ASA/FTD and
IOS, FortiGate, PAN-OS, Junos, RouterOS). A gateway's line usually arrives inside an envelope (syslog,
journald, a shipper's JSON): :func:`parse_line` opens those first (:mod:`vpn_doctor.envelope`, one
table tried in a documented order) and keeps what they said (host, program, pid, time) as evidence.
Parsing never raises: a line that fits no format becomes an event with source ``unparsed`` and an
``error`` field (naming the envelope it was found in), so the caller can still count, keep and report it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic_core import from_json

from vpn_doctor.envelope import MAX_DEPTH, Envelope, EnvelopeError, month_day_time, open_json, open_text, year_for
from vpn_doctor.records import VENDOR, VPN_CONNECTION_ID, PhaseState, Source, TunnelEvent, iso, usable_time
from vpn_doctor.redact import redact_event
from vpn_doctor.text import key_id, valid_unicode
from vpn_doctor.vendors import read_vendor_line

# The error of a line that fits no format. The classifier may still recognise it (the text
# format is undocumented and may be the bare details message), and then drops this error.
UNRECOGNISED_FORMAT = "not a recognised log format"

# Longest line kept in full; longer ones are cut (and say so) so a runaway record cannot
# blow up memory or an alert.
MAX_LINE_CHARS = 16_384

_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(rf"(?<![\d.]){_IPV4}(?![\d.])")
_IP_AFTER_VPN_ID = re.compile(rf"[\s|,;:_#/-]+(?P<ip>{_IPV4})(?![\d.])")

# Epoch values above this are milliseconds (year 2286 in seconds); AWS does not say which unit
# tunnel records use, so both are accepted.
_EPOCH_MS_THRESHOLD = 10_000_000_000

_TUNNEL_JSON_KEYS = frozenset(
    {"event_timestamp", "details", "dpd_enabled", "nat_t_detected", "ike_phase1_state", "ike_phase2_state"}
)

# Text format: key/value pairs with the JSON field names (``key=value``, ``key: value``,
# ``"key": value``), the details last as it may contain separators itself.
_TEXT_FIELD = re.compile(
    r"""["']?(?P<key>event_timestamp|timestamp|dpd_enabled|nat_t_detected|ike_phase1_state|ike_phase2_state)["']?
        \s*[:=]\s*
        (?P<value>"[^"]*"|'[^']*'|[^\s,;|]+(?:\s\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?)""",
    re.VERBOSE | re.IGNORECASE,
)
# The details value is quoted (and may be followed by more fields) or runs to the end of the
# line, or up to the next known field when a layout puts fields after it.
_TEXT_DETAILS = re.compile(
    r"""["']?details["']?\s*[:=]\s*
        (?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>(?:[^'\\]|\\.)*)'|(?P<value>.+?))
        (?=[\s,;|]+["']?(?:event_timestamp|timestamp|dpd_enabled|nat_t_detected|ike_phase1_state|ike_phase2_state)["']?\s*[:=]|\s*[,;|]?\s*$)""",
    re.VERBOSE | re.IGNORECASE,
)
_LEADING_ISO_TS = re.compile(
    r"^\s*(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s*[-|:,]?\s*"
)

# strongSwan: "[<syslog prefix>] 12[IKE] <conn|3> message" (filelog, syslog/journal, swanctl).
_CHARON = re.compile(
    r"""^(?P<prefix>.*?)
        (?:(?P<thread>\d{1,3})\[|\[)(?P<group>[A-Z]{2,4})\]\s
        (?:<(?P<conn>[^|>]*)(?:\|(?P<unique>\d+))?>\s)?
        (?P<msg>.*)$""",
    re.VERBOSE,
)
# libreswan: "... pluto[123]: "conn"[1] 198.51.100.1 #2: message" (instance and peer optional), or
# pluto's own log file (``logfile=``, ``logtime=yes``): "Nov 27 03:43:46.077806: "conn" #1: message".
_PLUTO = re.compile(
    r"""^(?:(?P<prefix>.*?)\bpluto\[\d+\]:|(?P<logtime>[A-Z][a-z]{2}\s{1,2}\d{1,2}\s\d{2}:\d{2}:\d{2}\.\d{6}):)\s
        (?:"(?P<conn>[^"]+)"(?:\[\d+\])?(?:\s(?P<peer>[0-9a-fA-F:.]+))?(?:\s\#(?P<serial>\d+))?:\s)?
        (?P<msg>.*)$""",
    re.VERBOSE,
)
# What pluto and charon print after a syslog/journald envelope named them (charon-systemd's journal
# lines have no "NN[GRP]" prefix, and usually no "<conn|N>" either).
_PLUTO_BODY = re.compile(
    r"""^(?:"(?P<conn>[^"]+)"(?:\[\d+\])?(?:\s(?P<peer>[0-9a-fA-F:.]+))?(?:\s\#(?P<serial>\d+))?:\s)?(?P<msg>.*)$""",
    re.DOTALL,
)
_CHARON_BODY = re.compile(r"^(?:<(?P<conn>[^|>]*)(?:\|(?P<unique>\d+))?>\s)?(?P<msg>.*)$", re.DOTALL)
#: Program names strongSwan's IKE daemon logs under (syslog ident, journald SYSLOG_IDENTIFIER).
_CHARON_PROGRAMS = frozenset({"charon", "charon-systemd", "charon-nm", "charon-cmd", "charon-svc"})
# Syslog timestamps: RFC 3164 ("Nov 26 23:30:01", no year) or RFC 3339.
_SYSLOG_BSD_TS = re.compile(r"^(?P<ts>[A-Z][a-z]{2}\s+\d{1,2}\s\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)")
_SYSLOG_ISO_TS = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
# The remote peer named in a strongSwan/libreswan message (the AWS endpoint, seen from the CGW).
_PEER_PATTERNS = (
    re.compile(rf"initiating (?:IKE_SA|Main Mode|Aggressive Mode) \S+ to (?P<ip>{_IPV4})"),
    re.compile(rf"received packet: from (?P<ip>{_IPV4})\["),
    re.compile(rf"sending packet: from {_IPV4}\[\d+\] to (?P<ip>{_IPV4})\["),
    re.compile(rf"established between {_IPV4}\[[^\]]*\]\.\.\.(?P<ip>{_IPV4})\["),
    re.compile(rf"(?P<ip>{_IPV4}) is initiating an? (?:IKE_SA|Main Mode|Aggressive Mode)"),
)


class _Origin(NamedTuple):
    """Where a line was read: what fills in what the line does not say itself."""

    reference_time: datetime | None = None
    vpn_connection_id: str | None = None
    tunnel_ip: str | None = None
    event_id: str | None = None


def parse_line(
    line: str,
    *,
    reference_time: datetime | None = None,
    stream_identity: tuple[str | None, str | None] = (None, None),
    event_id: str | None = None,
) -> TunnelEvent:
    """Parse one log line of any supported format.

    ``reference_time`` (e.g. the CloudWatch Logs event time) supplies the timestamp when the
    line has none, and the year for syslog timestamps that lack one. ``stream_identity`` (the
    connection id and tunnel IP of the log stream, see :func:`identity_from_name`) fills what the
    record does not say itself, and ``event_id`` (the log event's id) is stamped on the event.
    A lone surrogate in the line (not Unicode: it could not be printed, stored or sent) becomes
    U+FFFD; an event id unfit for a key (see :func:`vpn_doctor.text.key_id`) becomes its digest; a
    time outside the usable range (:data:`vpn_doctor.records.EARLIEST_USABLE_TIME`) is replaced by
    the reference time and the record says why (``error``). Never raises.
    """
    usable_reference = reference_time if usable_time(reference_time) else None
    origin = _Origin(usable_reference, *stream_identity, None if event_id is None else key_id(event_id))
    raw = valid_unicode(line.rstrip("\r\n"))
    text, cut = _truncate(raw)
    stripped = text.strip()
    if not stripped:
        return _unparsed(text, "empty record", origin)
    try:
        event = _read(stripped, origin)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # defensive: never escape
        event = _unparsed(stripped, f"could not parse record: {exc}", origin)
    if cut:
        event = _with_error(event, f"record longer than {MAX_LINE_CHARS} characters was truncated")
    if event.timestamp is not None and not usable_time(event.timestamp):
        event = _with_error(
            replace(event, timestamp=usable_reference),
            f"record time {iso(event.timestamp)} cannot be used (outside 1970-9000); the delivery time is used",
        )
    return redact_event(event)  # key material never enters the system (vpn_doctor.redact)


def _read(text: str, origin: _Origin) -> TunnelEvent:
    """Open the envelopes around a line, outermost first and at most :data:`~vpn_doctor.envelope.MAX_DEPTH`
    of them, then read the line inside."""
    body, envelope = text, None
    while True:
        opened = _open(body, envelope, origin)
        if isinstance(opened, TunnelEvent):
            return _enveloped(opened, envelope, text)
        if isinstance(opened, EnvelopeError):
            return _enveloped(_unparsed(body, opened.error, origin), envelope, text)
        envelope = opened._replace(outer=envelope)
        body = envelope.body.strip()


def _open(body: str, envelope: Envelope | None, origin: _Origin) -> TunnelEvent | Envelope | EnvelopeError:
    """The next envelope around ``body``, or the event of the line when no (further) envelope fits.
    JSON is decoded once: an AWS record is read as such, any other object is tried as a JSON envelope."""
    record = _json_object(body, origin) if body.startswith("{") else None
    if isinstance(record, TunnelEvent):
        return record  # an AWS record, the usual line: no envelope to look for
    reference = _reference(envelope, origin)
    deeper = _depth(envelope) < MAX_DEPTH
    if record is not None:
        opened = open_json(record, reference) if deeper else None
        return opened or _unparsed(body, "JSON record has none of the VPN tunnel log fields", origin)
    opened = open_text(body, reference) if deeper else None
    if opened is None or (isinstance(opened, Envelope) and not opened.complete and not _is_gateway_line(opened)):
        return _read_line(body, envelope, origin)
    return opened


def _depth(envelope: Envelope | None) -> int:
    depth = 0
    while envelope is not None:
        depth, envelope = depth + 1, envelope.outer
    return depth


def _reference(envelope: Envelope | None, origin: _Origin) -> datetime | None:
    """The time a year-less time inside is placed by: the envelope's own time, else the delivery time."""
    moment = None if envelope is None else envelope.time()
    return moment or origin.reference_time


def _read_line(body: str, envelope: Envelope | None, origin: _Origin) -> TunnelEvent:
    """The line inside every envelope: a gateway daemon's or vendor's line, else AWS's text format."""
    if envelope is not None:
        # Inside an envelope, the envelope's time is the line's unless the line carries its own.
        origin = origin._replace(reference_time=_reference(envelope, origin))
    gateway = _gateway_line(body, envelope, origin)
    if gateway is not None:
        return gateway
    event = _parse_text(body, origin)
    if envelope is not None and event.fields.get("error") == UNRECOGNISED_FORMAT:
        kinds = envelope.evidence()["envelope"]
        named = f" from {envelope.program}" if envelope.program else ""
        event = replace(
            event, fields={**event.fields, "error": f"{UNRECOGNISED_FORMAT} inside the {kinds} envelope{named}"}
        )
    return event


def _is_gateway_line(envelope: Envelope) -> bool:
    """Whether an envelope that named no host or program holds a gateway's line (``Envelope.complete``)."""
    return _gateway_line(envelope.body.strip(), envelope, _Origin()) is not None


def _gateway_line(body: str, envelope: Envelope | None, origin: _Origin) -> TunnelEvent | None:
    """A customer gateway's line: libreswan's pluto, strongSwan's charon (with its ``NN[GRP]`` prefix,
    or without it under a charon program name, as charon-systemd logs to journald), or a vendor's."""
    program = None if envelope is None else envelope.program
    if program == "pluto":
        return _parse_libreswan(body, _PLUTO_BODY.match(body), origin)
    if (pluto := _PLUTO.match(body)) is not None:
        return _parse_libreswan(body, pluto, origin)
    if (charon := _CHARON.match(body)) is not None and _looks_like_charon(charon):
        return _parse_strongswan(body, charon, origin, envelope)
    if program in _CHARON_PROGRAMS:
        return _parse_strongswan(body, _CHARON_BODY.match(body), origin, envelope)
    vendor = read_vendor_line(body, program, None if envelope is None else envelope.msgid)
    if vendor is None:
        return None
    return TunnelEvent(
        source=vendor.source,
        message=vendor.message,
        raw=body,
        vpn_connection_id=identity_from_name(vendor.conn)[0] if vendor.conn else origin.vpn_connection_id,
        tunnel_ip=vendor.peer or origin.tunnel_ip,
        timestamp=vendor.timestamp or origin.reference_time,
        fields={
            VENDOR: vendor.vendor,
            **({"conn": vendor.conn} if vendor.conn else {}),
            **({"time_note": vendor.time_note} if vendor.time_note else {}),
        },
        event_id=origin.event_id,
    )


def _enveloped(event: TunnelEvent, envelope: Envelope | None, raw: str) -> TunnelEvent:
    """The event of the line inside ``envelope``: the whole line as ``raw``, the envelope as evidence,
    and the envelope's time when the line had none of its own."""
    if envelope is None:
        return event
    fields = {**envelope.evidence(), **event.fields}
    return replace(event, raw=raw, fields=fields, timestamp=event.timestamp or envelope.time())


def _json_object(text: str, origin: _Origin) -> TunnelEvent | dict[str, Any]:
    """A JSON line: the event of an AWS record (or of JSON that cannot be read), else the object."""
    # pydantic-core's parser (already loaded with Powertools) reads every JSON record: about three
    # times as fast as ``json`` on these small objects, and strict (a lone surrogate escape is an error).
    try:
        record = from_json(text)
    except ValueError as exc:
        return _salvage_json(text, f"malformed JSON ({exc})", origin)
    if not isinstance(record, dict):
        return _unparsed(text, "JSON record is not an object", origin)
    if _is_aws_record(record):
        return _from_mapping(record, text, origin)
    return record


def _is_aws_record(record: Mapping[str, Any]) -> bool:
    return (
        "resource_id" in record
        or record.get("type") in ("BGPStatus", "RouteStatus")
        or not _TUNNEL_JSON_KEYS.isdisjoint(record)
    )


def parse_record(record: Mapping[str, Any], *, reference_time: datetime | None = None) -> TunnelEvent:
    """Parse an already-decoded JSON record (tunnel or BGP)."""
    raw = json.dumps(record, separators=(",", ":"), default=str)
    return _from_mapping(record, raw, _Origin(reference_time))


def with_identity(event: TunnelEvent, *, log_stream: str | None) -> TunnelEvent:
    """Fill the connection id and tunnel IP from a CloudWatch Logs stream name.

    AWS names tunnel log streams after the VPN connection id and the tunnel outside IP; the
    record itself may not carry them. Values already in the record win.
    """
    if not log_stream:
        return event
    vpn_id, tunnel_ip = identity_from_name(log_stream)
    return replace(
        event,
        vpn_connection_id=event.vpn_connection_id or vpn_id,
        tunnel_ip=event.tunnel_ip or tunnel_ip,
    )


def identity_from_name(name: str) -> tuple[str | None, str | None]:
    """``(vpn connection id, tunnel outside IPv4)`` found in a stream, resource or connection name."""
    vpn = VPN_CONNECTION_ID.search(name)
    ip = _IPV4_RE.search(name)
    return (vpn.group(0) if vpn else None, ip.group(0) if ip else None)


def parse_epoch(value: object) -> datetime | None:
    """An epoch timestamp in seconds or milliseconds (number or numeric string) as UTC."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or number < 0:
        return None
    if number > _EPOCH_MS_THRESHOLD:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_timestamp(value: object, *, reference_time: datetime | None = None) -> datetime | None:
    """A timestamp in any form the logs use: epoch (s or ms), ISO 8601, or syslog without a year."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return parse_epoch(value)
    text = str(value).strip().strip("\"'")
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return parse_epoch(text)
    iso = text.replace(",", ".")
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return _parse_bsd_syslog_time(text, reference_time)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_bsd_syslog_time(text: str, reference_time: datetime | None) -> datetime | None:
    """ "Nov 26 23:30:01" has no year: the one rule of :func:`vpn_doctor.envelope.year_for` places it
    by the reference time (a December line read in January is last year's)."""
    parsed = month_day_time(text)
    return None if parsed is None else year_for(parsed, reference_time)


def _parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().strip("\"'").lower()
        if lowered in ("true", "yes", "1", "enabled"):
            return True
        if lowered in ("false", "no", "0", "disabled"):
            return False
    if isinstance(value, int | float):
        return bool(value)
    return None


def _truncate(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_LINE_CHARS:
        return text, False
    return text[:MAX_LINE_CHARS], True


def _unparsed(text: str, error: str, origin: _Origin) -> TunnelEvent:
    return TunnelEvent(
        source=Source.UNPARSED,
        message=text.strip(),
        raw=text,
        vpn_connection_id=origin.vpn_connection_id,
        tunnel_ip=origin.tunnel_ip,
        timestamp=origin.reference_time,
        fields={"error": error},
        event_id=origin.event_id,
    )


def _with_error(event: TunnelEvent, error: str) -> TunnelEvent:
    previous = event.fields.get("error")
    fields = dict(event.fields)
    fields["error"] = f"{previous}; {error}" if previous else error
    return replace(event, fields=fields)


# --- AWS JSON (tunnel and BGP) -------------------------------------------------------------


def _from_mapping(record: Mapping[str, Any], raw: str, origin: _Origin) -> TunnelEvent:
    if "resource_id" in record or record.get("type") in ("BGPStatus", "RouteStatus"):
        return _bgp_event(record, raw, origin)
    if _TUNNEL_JSON_KEYS.isdisjoint(record):
        return _unparsed(raw, "JSON record has none of the VPN tunnel log fields", origin)
    details = record.get("details")
    message = details if isinstance(details, str) else ("" if details is None else json.dumps(details))
    fields: dict[str, str] = {}
    if not message:
        fields["error"] = "tunnel record has no details message"
    vpn_id, tunnel_ip = _identity_fields(record)
    return TunnelEvent(
        source=Source.AWS_TUNNEL_JSON,
        message=message.strip(),
        raw=raw,
        vpn_connection_id=vpn_id or origin.vpn_connection_id,
        tunnel_ip=tunnel_ip or origin.tunnel_ip,
        timestamp=_record_time(record, origin.reference_time),
        ike_phase1_state=PhaseState.parse(record.get("ike_phase1_state")),
        ike_phase2_state=PhaseState.parse(record.get("ike_phase2_state")),
        dpd_enabled=_parse_bool(record.get("dpd_enabled")),
        nat_t_detected=_parse_bool(record.get("nat_t_detected")),
        fields=fields,
        event_id=origin.event_id,
    )


def _identity_fields(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Connection id / tunnel IP if a record (or a tool that enriched it) carries them."""
    vpn_id = record.get("vpn_connection_id") or record.get("VpnConnectionId")
    tunnel_ip = record.get("tunnel_outside_ip") or record.get("TunnelOutsideIpAddress")
    return (
        vpn_id if isinstance(vpn_id, str) and VPN_CONNECTION_ID.fullmatch(vpn_id) else None,
        tunnel_ip if isinstance(tunnel_ip, str) and _IPV4_RE.fullmatch(tunnel_ip) else None,
    )


def _record_time(record: Mapping[str, Any], reference_time: datetime | None) -> datetime | None:
    return (
        parse_timestamp(record.get("event_timestamp"))
        or parse_timestamp(record.get("timestamp"), reference_time=reference_time)
        or reference_time
    )


def _bgp_event(record: Mapping[str, Any], raw: str, origin: _Origin) -> TunnelEvent:
    resource_id = record.get("resource_id")
    vpn_id, tunnel_ip = identity_from_name(resource_id) if isinstance(resource_id, str) else (None, None)
    body = record.get("message")
    fields: dict[str, str] = {}
    for key in ("type", "status"):
        if isinstance(record.get(key), str):
            fields[f"bgp_{key}"] = record[key]
    if isinstance(body, Mapping):
        details = body.get("details")
        message = details if isinstance(details, str) else ""
        for key in ("prefix", "asPath", "localPref", "med", "nextHopIp", "weight"):
            if body.get(key) is not None:
                fields[f"bgp_{key}"] = str(body[key])
    else:
        message = body if isinstance(body, str) else ""
    if not message:
        fields["error"] = "BGP record has no message details"
    return TunnelEvent(
        source=Source.AWS_BGP,
        message=message.strip(),
        raw=raw,
        vpn_connection_id=vpn_id or origin.vpn_connection_id,
        tunnel_ip=tunnel_ip or origin.tunnel_ip,
        timestamp=_record_time(record, origin.reference_time),
        fields=fields,
        event_id=origin.event_id,
    )


_SALVAGE_STRING = r'"{key}"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)'
_SALVAGE_SCALAR = r'"{key}"\s*:\s*(?P<value>[^,}}\s]+)'


def _salvage_json(text: str, error: str, origin: _Origin) -> TunnelEvent:
    """Keep what a truncated or broken JSON record still says (its details and phase states)."""
    found: dict[str, str] = {}
    for key in ("details", "ike_phase1_state", "ike_phase2_state", "timestamp", "resource_id"):
        match = re.search(_SALVAGE_STRING.format(key=key), text)
        if match:
            found[key] = match.group("value")
    for key in ("event_timestamp", "dpd_enabled", "nat_t_detected"):
        match = re.search(_SALVAGE_SCALAR.format(key=key), text)
        if match:
            found[key] = match.group("value")
    if not found.get("details"):
        return _unparsed(text, error, origin)
    vpn_id, tunnel_ip = identity_from_name(found.get("resource_id", ""))
    return TunnelEvent(
        source=Source.AWS_BGP if "resource_id" in found else Source.AWS_TUNNEL_JSON,
        message=found["details"].strip(),
        raw=text,
        vpn_connection_id=vpn_id or origin.vpn_connection_id,
        tunnel_ip=tunnel_ip or origin.tunnel_ip,
        timestamp=_record_time(found, origin.reference_time),
        ike_phase1_state=PhaseState.parse(found.get("ike_phase1_state")),
        ike_phase2_state=PhaseState.parse(found.get("ike_phase2_state")),
        dpd_enabled=_parse_bool(found.get("dpd_enabled")),
        nat_t_detected=_parse_bool(found.get("nat_t_detected")),
        fields={"error": f"{error}; kept the fields that could be read"},
        event_id=origin.event_id,
    )


# --- AWS text format (undocumented: lenient) --------------------------------------------------


def _parse_text(text: str, origin: _Origin) -> TunnelEvent:
    values: dict[str, str] = {}
    details_match = _TEXT_DETAILS.search(text)
    # Fields may come before or after the details: read them everywhere but inside it.
    head = text[: details_match.start()] + " " + text[details_match.end() :] if details_match else text
    for match in _TEXT_FIELD.finditer(head):
        values.setdefault(match.group("key").lower(), match.group("value").strip("\"'"))
    leading_ts = _LEADING_ISO_TS.match(text)
    if details_match:
        message = _details_value(details_match)
    elif values:
        message = _TEXT_FIELD.sub("", text).strip(" ,;|\t")
    elif leading_ts:
        message = text[leading_ts.end() :].strip()
    else:
        # No structure at all: keep the whole line; the classifier may still recognise it.
        return _unparsed(text, UNRECOGNISED_FORMAT, origin)
    if leading_ts and "timestamp" not in values:
        values["timestamp"] = leading_ts.group("ts")
        message = message.removeprefix(leading_ts.group(0).strip()).strip()
    # Only the fields around the details may name the tunnel: an address inside the message is
    # the customer gateway's (e.g. "mismatch with cgw: 198.51.100.7"), never the tunnel's.
    vpn_id, tunnel_ip = identity_from_name(head) if details_match else _leading_identity(text)
    return TunnelEvent(
        source=Source.AWS_TUNNEL_TEXT,
        message=message,
        raw=text,
        vpn_connection_id=vpn_id or origin.vpn_connection_id,
        tunnel_ip=tunnel_ip or origin.tunnel_ip,
        timestamp=_record_time(values, origin.reference_time),
        ike_phase1_state=PhaseState.parse(values.get("ike_phase1_state")),
        ike_phase2_state=PhaseState.parse(values.get("ike_phase2_state")),
        dpd_enabled=_parse_bool(values.get("dpd_enabled")),
        nat_t_detected=_parse_bool(values.get("nat_t_detected")),
        event_id=origin.event_id,
    )


def _leading_identity(text: str) -> tuple[str | None, str | None]:
    """Without a details field the message cannot be told apart from a header, so only a
    connection id, and an address right after it (``vpn-... | 203.0.113.5 | ...``), name the tunnel."""
    vpn = VPN_CONNECTION_ID.search(text)
    if vpn is None:
        return None, None
    ip = _IP_AFTER_VPN_ID.match(text, vpn.end())
    return vpn.group(0), ip.group("ip") if ip else None


def _details_value(match: re.Match[str]) -> str:
    quoted = match.group("dq") if match.group("dq") is not None else match.group("sq")
    if quoted is not None:
        return re.sub(r"\\(.)", r"\1", quoted).strip()
    return match.group("value").strip()


# --- customer gateways: strongSwan and libreswan -------------------------------------------


def _looks_like_charon(match: re.Match[str]) -> bool:
    """Guard against text that merely contains ``[ABC]``: the prefix must be empty, a syslog
    header or a timestamp, i.e. the bracketed group must start the message proper."""
    prefix = match.group("prefix").strip()
    return not prefix or prefix.endswith(":") or bool(_SYSLOG_BSD_TS.match(prefix) or _SYSLOG_ISO_TS.match(prefix))


def _syslog_time(prefix: str, reference_time: datetime | None) -> datetime | None:
    prefix = prefix.strip()
    if (iso := _SYSLOG_ISO_TS.match(prefix)) is not None:
        return parse_timestamp(iso.group("ts"))
    if (bsd := _SYSLOG_BSD_TS.match(prefix)) is not None:
        return _parse_bsd_syslog_time(bsd.group("ts"), reference_time)
    return None


def _peer_ip(message: str) -> str | None:
    for pattern in _PEER_PATTERNS:
        if (match := pattern.search(message)) is not None:
            return match.group("ip")
    return None


def _cgw_identity(conn: str | None, message: str) -> tuple[str | None, str | None]:
    vpn_id, ip = identity_from_name(conn) if conn else (None, None)
    return vpn_id, ip or _peer_ip(message)


def _parse_strongswan(
    text: str, match: re.Match[str] | None, origin: _Origin, envelope: Envelope | None = None
) -> TunnelEvent:
    groups = {} if match is None else match.groupdict()
    message = (groups.get("msg") or text).strip()
    conn, unique = groups.get("conn"), groups.get("unique")
    if conn and conn.isdigit() and not unique:
        # "<3>": an IKE SA before a connection was selected shows its unique id only.
        conn, unique = None, conn
    if envelope is not None:
        # charon-systemd's journal lines carry neither "NN[GRP]" nor "<conn|N>": journald's
        # IKE_SA_NAME / IKE_SA_UNIQUE_ID fields say the same.
        conn, unique = conn or envelope.conn, unique or envelope.sa
    vpn_id, peer = _cgw_identity(conn, message)
    fields = {"daemon": "charon"}
    if groups.get("group"):
        fields["group"] = groups["group"]
    if conn:
        fields["conn"] = conn
    if unique:
        fields["sa"] = unique
    return TunnelEvent(
        source=Source.STRONGSWAN,
        message=message,
        raw=text,
        vpn_connection_id=vpn_id or origin.vpn_connection_id,
        tunnel_ip=peer or origin.tunnel_ip,
        timestamp=_syslog_time(groups.get("prefix") or "", origin.reference_time) or origin.reference_time,
        fields=fields,
        event_id=origin.event_id,
    )


def _parse_libreswan(text: str, match: re.Match[str] | None, origin: _Origin) -> TunnelEvent:
    if match is None:  # _PLUTO_BODY matches every line; the check is for the type checker
        return _unparsed(text, UNRECOGNISED_FORMAT, origin)
    message = match.group("msg").strip()
    conn = match.group("conn")
    vpn_id, peer = _cgw_identity(conn, message)
    if match.group("peer") and _IPV4_RE.fullmatch(match.group("peer")):
        peer = peer or match.group("peer")
    fields = {"daemon": "pluto"}
    if conn:
        fields["conn"] = conn
    if match.group("serial"):
        fields["sa"] = match.group("serial")
    return TunnelEvent(
        source=Source.LIBRESWAN,
        message=message,
        raw=text,
        vpn_connection_id=vpn_id or origin.vpn_connection_id,
        tunnel_ip=peer or origin.tunnel_ip,
        timestamp=_syslog_time(
            match.groupdict().get("prefix") or match.groupdict().get("logtime") or "", origin.reference_time
        )
        or origin.reference_time,
        fields=fields,
        event_id=origin.event_id,
    )
