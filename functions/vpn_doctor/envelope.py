"""Envelopes: what a syslog daemon, journald or a log shipper wraps around a gateway's own line.

A customer gateway's line reaches CloudWatch Logs inside one (sometimes two) of these, never bare.
:func:`open_text` and :func:`open_json` try a small table of envelope readers, in this order, and the
first that fits returns the line inside (``body``) with what the envelope said about it (time, host,
program, pid) kept as evidence:

Text lines (:data:`TEXT_ENVELOPES`):

1. ``rfc5424``: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD]|- MSG`` (RFC 5424 section 6; rsyslog's
   ``RSYSLOG_SyslogProtocol23Format``, util-linux ``logger --rfc5424``, Junos structured-data).
2. ``iso8601``: ``TIMESTAMP HOST TAG[PID]: MSG`` with an RFC 3339 time (rsyslog's high-precision
   ``RSYSLOG_FileFormat``, the default of many distributions; ``journalctl -o short-iso``).
3. ``rfc3164``: ``[<PRI>]Mmm dd hh:mm:ss[.ffffff] [HOST] TAG[PID]: MSG`` (RFC 3164 section 4.1; rsyslog's
   ``RSYSLOG_TraditionalFileFormat``; ``journalctl -o short`` and ``short-precise``, which print the
   same header with a zero-padded day).

JSON records (:data:`JSON_ENVELOPES`), tried only on JSON that is not an AWS tunnel or BGP record:

4. ``journald_json``: ``journalctl -o json`` (``MESSAGE``, ``__REALTIME_TIMESTAMP`` in microseconds,
   ``_HOSTNAME``, ``SYSLOG_IDENTIFIER``, ``_PID``); charon-systemd adds ``IKE_SA_NAME`` and
   ``IKE_SA_UNIQUE_ID``, which stand in for the ``<conn|N>`` prefix its journal lines do not carry.
5. ``shipper_json``: a shipper's wrapping with the line in ``log`` (Fluent Bit's tail and forward
   inputs, Docker's json-file) or ``message`` (the CloudWatch agent's and Fluent Bit's syslog parsers,
   most JSON log layouts), and the time, host and program in the usual neighbouring keys.

Times are never invented silently: a time with no zone (RFC 3164, journald ``short``) is read as
UTC and the envelope's ``time_note`` says so; RFC 3164 has no year, which is taken from the time the
line arrived with (the CloudWatch Logs event time, ``reference_time``): the latest year, up to eight
years back for 29 February, that puts the line no more than a day after it arrived. Without a
reference the time stays unknown, and the note says why. An envelope whose header is recognised but
broken (an impossible date) is an :class:`EnvelopeError` naming the envelope.

A line can be wrapped twice (a shipper's JSON around a syslog line): the caller opens envelopes one
at a time, at most :data:`MAX_DEPTH`. Each reader is one anchored regular expression (or one dict
lookup), so a line that fits none costs a few failed matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple


class LazyPattern:
    """A regular expression compiled when first used: an AWS tunnel record (most records) never needs
    the envelope and vendor patterns, so a cold start compiles none of them."""

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source = source
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    def _pattern(self) -> re.Pattern[str]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self._source, self._flags)
        return compiled

    def match(self, text: str) -> re.Match[str] | None:
        """``re.Pattern.match``."""
        return self._pattern().match(text)

    def search(self, text: str) -> re.Match[str] | None:
        """``re.Pattern.search``."""
        return self._pattern().search(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        """``re.Pattern.finditer``."""
        return self._pattern().finditer(text)


#: At most this many envelopes are opened around one line (a shipper's JSON around a syslog line).
MAX_DEPTH = 2

# A host as syslog daemons write it: a name or an address (no brackets, no colon at its end, so
# "12[CFG]" or "charon:" are never taken for one).
_HOST = r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9._:-]*[A-Za-z0-9.])?)"
# A program tag (RFC 3164's TAG, journald's SYSLOG_IDENTIFIER) and its optional pid. rsyslog writes a
# message it received as RFC 5424 with "APP[PROCID]" and no colon: the colon is optional after a pid.
_TAG = r"(?P<program>[A-Za-z_][\w./@-]{0,47})(?:\[(?P<pid>\d{1,10})\]:?|:)"
_PRI = r"(?:<(?P<pri>\d{1,3})>)"

_RFC5424 = LazyPattern(
    rf"""^{_PRI}1\s(?P<ts>\S+)\s(?P<host>\S+)\s(?P<program>\S+)\s(?P<pid>\S+)\s(?P<msgid>\S+)\s
        (?P<sd>-|(?:\[(?:[^\]\\"]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?:\s(?P<msg>.*))?$""",
    re.VERBOSE | re.DOTALL,
)
_ISO_TS = r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)"
_BSD_TS = r"(?P<ts>[A-Z][a-z]{2}\s{1,2}\d{1,2}\s\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)"
# Host and tag, tag alone (a local log without hostname), or host alone (devices that send no tag:
# FortiGate, MikroTik, Cisco with its %FAC-SEV-MNEMONIC in the message).
_ISO8601 = LazyPattern(
    rf"^{_PRI}?{_ISO_TS}\s+(?:{_HOST}\s+{_TAG}|{_TAG.replace('program', 'program2').replace('pid', 'pid2')}"
    rf"|(?P<host3>[A-Za-z0-9][A-Za-z0-9._-]*)(?=\s+[%A-Za-z0-9\"]))\s?(?P<msg>.*)$",
    re.DOTALL,
)
_RFC3164 = LazyPattern(
    rf"^{_PRI}?{_BSD_TS}\s+(?:{_HOST}\s+{_TAG}|{_TAG.replace('program', 'program2').replace('pid', 'pid2')}"
    rf"|(?P<host3>[A-Za-z0-9][A-Za-z0-9._-]*)(?=\s+[%A-Za-z0-9\"]))\s?(?P<msg>.*)$",
    re.DOTALL,
)

#: How far back a year without a date (29 February) is looked for.
_LEAP_SEARCH_YEARS = 8
#: A line may be dated this far after the time it arrived with (clocks drift, deliveries batch).
_FUTURE_SLACK = timedelta(days=1)

_NO_ZONE = "the envelope's time has no zone: read as UTC"
_NO_YEAR = "RFC 3164 time has no year: the year is taken from the time the line arrived with"


class Envelope(NamedTuple):
    """One opened envelope: the line inside it and what the envelope said about that line.
    (A named tuple, not a dataclass: it is defined at every cold start, where a slotted dataclass costs more.)"""

    kind: str
    body: str
    timestamp: datetime | None = None
    host: str | None = None
    program: str | None = None
    pid: str | None = None
    msgid: str | None = None
    #: Set when the time is less than the envelope printed or nothing (no zone, no year): why.
    time_note: str | None = None
    #: Whether the header named both a host and a program. Without both, only a gateway format found
    #: inside makes it an envelope: "<time> <word> <text>" or "<time> <word>: <text>" is also how
    #: AWS's undocumented text format may start.
    complete: bool = True
    #: Extra identity an envelope carries (charon-systemd's journal fields: connection name, IKE SA id).
    conn: str | None = None
    sa: str | None = None
    outer: Envelope | None = None

    def evidence(self) -> dict[str, str]:
        """The envelope as evidence fields of the event (``envelope``, ``host``, ``program``, ``pid``,
        ``time_note``); an outer envelope's kind is listed first (``shipper_json+rfc3164``)."""
        kinds = [self.kind]
        outer = self.outer
        while outer is not None:
            kinds.insert(0, outer.kind)
            outer = outer.outer
        found = {"envelope": "+".join(kinds)}
        for key in ("host", "program", "pid", "msgid", "time_note"):
            value = getattr(self, key) or _inherited(self.outer, key)
            if value:
                found[key] = value
        return found

    def time(self) -> datetime | None:
        """The line's time: this envelope's, else an outer envelope's."""
        if self.timestamp is not None:
            return self.timestamp
        return None if self.outer is None else self.outer.time()


def _inherited(envelope: Envelope | None, key: str) -> str | None:
    while envelope is not None:
        value = getattr(envelope, key)
        if value:
            return str(value)
        envelope = envelope.outer
    return None


class EnvelopeError(NamedTuple):
    """An envelope that was recognised but cannot be read; ``error`` names it and says why."""

    kind: str
    error: str


Opened = Envelope | EnvelopeError | None


def open_text(line: str, reference_time: datetime | None) -> Opened:
    """The first text envelope (:data:`TEXT_ENVELOPES`, in order) that fits the line, if any."""
    for _, reader in TEXT_ENVELOPES:
        opened = reader(line, reference_time)
        if opened is not None:
            return opened
    return None


def open_json(record: Mapping[str, Any], reference_time: datetime | None) -> Opened:
    """The first JSON envelope (:data:`JSON_ENVELOPES`, in order) that fits a decoded JSON object."""
    for _, reader in JSON_ENVELOPES:
        opened = reader(record, reference_time)
        if opened is not None:
            return opened
    return None


# --- text envelopes -------------------------------------------------------------------------------


def _rfc5424(line: str, reference_time: datetime | None) -> Opened:
    del reference_time  # RFC 5424 times carry their year and zone
    if not line.startswith("<"):
        return None
    match = _RFC5424.match(line)
    if match is None:
        return None
    stamp = match.group("ts")
    note = None
    if stamp == "-":
        moment = None
        note = "RFC 5424 NILVALUE time: the delivery time is used"
    else:
        moment, note = _iso_time(stamp)
        if moment is None:
            return EnvelopeError("rfc5424", f"RFC 5424 envelope: time {stamp!r} is not a valid RFC 3339 time")
    return Envelope(
        kind="rfc5424",
        body=(match.group("msg") or "").lstrip("\ufeff"),  # RFC 5424 allows a BOM before a UTF-8 MSG
        timestamp=moment,
        host=_nil(match.group("host")),
        program=_nil(match.group("program")),
        pid=_nil(match.group("pid")),
        msgid=_nil(match.group("msgid")),
        time_note=note,
    )


def _iso8601(line: str, reference_time: datetime | None) -> Opened:
    del reference_time
    if not (line[:1].isdigit() or line.startswith("<")):
        return None
    match = _ISO8601.match(line)
    if match is None:
        return None
    moment, note = _iso_time(match.group("ts"))
    if moment is None:
        return EnvelopeError("iso8601", f"ISO 8601 syslog envelope: time {match.group('ts')!r} is not a valid time")
    return _header_envelope("iso8601", match, moment, note)


def _rfc3164(line: str, reference_time: datetime | None) -> Opened:
    if not (line[:1].isupper() or line.startswith("<")):
        return None
    match = _RFC3164.match(line)
    if match is None:
        return None
    stamp = match.group("ts")
    parsed = month_day_time(stamp)
    if parsed is None:
        return EnvelopeError("rfc3164", f"RFC 3164 envelope: time {stamp!r} is not a valid date")
    moment = year_for(parsed, reference_time)
    note = f"{_NO_YEAR}; {_NO_ZONE}"
    if moment is None:
        note = "RFC 3164 time has no year and the line came with no delivery time: its time is unknown"
    return _header_envelope("rfc3164", match, moment, note)


def month_day_time(stamp: str) -> datetime | None:
    """``Mmm dd hh:mm:ss[.ffffff]`` read in the leap year 2000 (so 29 February is a date), for
    :func:`year_for` to place; ``None`` when it is no date."""
    text = " ".join(stamp.split())
    try:
        return datetime.strptime(f"2000 {text}", "%Y %b %d %H:%M:%S.%f" if "." in text else "%Y %b %d %H:%M:%S")
    except ValueError:
        return None


def year_for(parsed: datetime, reference_time: datetime | None) -> datetime | None:
    """A year-less time (month, day, time of day in ``parsed``) placed in the latest year that puts it
    no more than a day after ``reference_time`` (the time the line arrived with): a December line read
    in January is last year's, a 1 January line a few seconds early is next year's, and 29 February
    is the last leap year's. ``None`` without a reference: the year is not invented."""
    if reference_time is None:
        return None
    reference = reference_time.astimezone(UTC)
    for year in range(reference.year + 1, reference.year - _LEAP_SEARCH_YEARS, -1):
        try:
            moment = parsed.replace(year=year, tzinfo=UTC)
        except ValueError:  # 29 February of a common year
            continue
        if moment - reference <= _FUTURE_SLACK:
            return moment
    return None


def _header_envelope(kind: str, match: re.Match[str], moment: datetime | None, note: str | None) -> Envelope:
    groups = match.groupdict()
    program = groups.get("program") or groups.get("program2")
    return Envelope(
        kind=kind,
        body=groups["msg"],
        timestamp=moment,
        host=groups.get("host") or groups.get("host3"),
        program=program,
        pid=groups.get("pid") or groups.get("pid2"),
        time_note=note,
        complete=program is not None and groups.get("host") is not None,
    )


def _iso_time(stamp: str) -> tuple[datetime | None, str | None]:
    text = stamp.replace(",", ".")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python's ISO reader takes at most microseconds; rsyslog may print nanoseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None, None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC), _NO_ZONE
    return moment.astimezone(UTC), None


def _nil(value: str | None) -> str | None:
    return None if value in (None, "-") else value


# --- JSON envelopes -------------------------------------------------------------------------------


def _journald(record: Mapping[str, Any], reference_time: datetime | None) -> Opened:
    del reference_time  # journald's times are absolute
    message = record.get("MESSAGE")
    if message is None or not ("__REALTIME_TIMESTAMP" in record or "SYSLOG_IDENTIFIER" in record or "_PID" in record):
        return None
    if isinstance(message, list):
        # journalctl prints a MESSAGE that is not valid UTF-8 as an array of byte values.
        try:
            message = bytes(message).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return EnvelopeError("journald_json", "journald JSON envelope: MESSAGE is neither text nor bytes")
    if not isinstance(message, str):
        return EnvelopeError("journald_json", "journald JSON envelope: MESSAGE is not text")
    moment = None
    note = None
    stamp = record.get("__REALTIME_TIMESTAMP") or record.get("_SOURCE_REALTIME_TIMESTAMP")
    if stamp is not None:
        try:
            moment = datetime.fromtimestamp(int(stamp) / 1_000_000, tz=UTC)  # microseconds since the epoch
        except (TypeError, ValueError, OverflowError, OSError):
            return EnvelopeError(
                "journald_json", f"journald JSON envelope: __REALTIME_TIMESTAMP {stamp!r} is not a time"
            )
    else:
        note = "journald JSON record without __REALTIME_TIMESTAMP: the delivery time is used"
    return Envelope(
        kind="journald_json",
        body=message,
        timestamp=moment,
        host=_text(record.get("_HOSTNAME")),
        program=_text(record.get("SYSLOG_IDENTIFIER")) or _text(record.get("_COMM")),
        pid=_text(record.get("_PID")) or _text(record.get("SYSLOG_PID")),
        time_note=note,
        conn=_text(record.get("IKE_SA_NAME")),
        sa=_text(record.get("IKE_SA_UNIQUE_ID")),
    )


# Where shippers put the line, its time, host and program (Fluent Bit, the CloudWatch agent, Docker).
_SHIPPER_LINE_KEYS = ("log", "message", "msg")
_SHIPPER_TIME_KEYS = ("time", "timestamp", "@timestamp", "date")
_SHIPPER_HOST_KEYS = ("host", "hostname", "_HOSTNAME")
_SHIPPER_PROGRAM_KEYS = ("ident", "program", "appname", "SYSLOG_IDENTIFIER")


def _shipper(record: Mapping[str, Any], reference_time: datetime | None) -> Opened:
    key = next((name for name in _SHIPPER_LINE_KEYS if name in record), None)
    if key is None:
        return None
    line = record[key]
    if not isinstance(line, str):
        return EnvelopeError("shipper_json", f"shipper JSON envelope: the {key!r} field is not text")
    moment, note = None, None
    for name in _SHIPPER_TIME_KEYS:
        if name in record:
            moment, note = _shipper_time(record[name], reference_time)
            if moment is None:
                note = f"shipper JSON envelope: its {name} is not a time; the line's own or the delivery time is used"
            break
    return Envelope(
        kind="shipper_json",
        body=line.rstrip("\r\n"),
        timestamp=moment,
        host=next((_text(record[name]) for name in _SHIPPER_HOST_KEYS if name in record), None),
        program=next((_text(record[name]) for name in _SHIPPER_PROGRAM_KEYS if name in record), None),
        pid=_text(record.get("pid")),
        time_note=note,
    )


def _shipper_time(value: object, reference_time: datetime | None) -> tuple[datetime | None, str | None]:
    if isinstance(value, bool):
        return None, None
    if isinstance(value, int | float):
        seconds = float(value)
        # Fluent Bit's "date" is seconds with a fraction; some layouts use milliseconds.
        if seconds > 10_000_000_000:
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, tz=UTC), None
        except (OverflowError, OSError, ValueError):
            return None, None
    if isinstance(value, str):
        moment, note = _iso_time(value.strip())
        if moment is None and (parsed := month_day_time(value)) is not None:
            # Fluent Bit's syslog-rfc3164 parser keeps the header's time as it was.
            return year_for(parsed, reference_time), f"{_NO_YEAR}; {_NO_ZONE}"
        return moment, note
    return None, None


def _text(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


#: The text envelopes, in the order they are tried.
TEXT_ENVELOPES: tuple[tuple[str, Callable[[str, datetime | None], Opened]], ...] = (
    ("rfc5424", _rfc5424),
    ("iso8601", _iso8601),
    ("rfc3164", _rfc3164),
)

#: The JSON envelopes, in the order they are tried (after the AWS record layouts).
JSON_ENVELOPES: tuple[tuple[str, Callable[[Mapping[str, Any], datetime | None], Opened]], ...] = (
    ("journald_json", _journald),
    ("shipper_json", _shipper),
)
