"""Vendor gateways' own log lines: which vendor wrote a line, its message, the peer and tunnel it names.

The readers of :data:`VENDOR_FORMATS` are tried in order on a line with its envelope already removed
(:mod:`vpn_doctor.envelope`); each looks for the mark its vendor's syslog messages carry:

- Cisco ASA / FTD: ``%ASA-<severity>-<6-digit id>:`` (``%FTD-`` on Firepower Threat Defense).
- Cisco IOS / IOS-XE: ``%<FACILITY>-<severity>-<MNEMONIC>:`` (``%CRYPTO-5-IKEV2_SESSION_STATUS:``).
- Fortinet FortiGate: ``key=value`` event logs with ``logid=`` and ``type=event``.
- Palo Alto PAN-OS: the CSV system log (``1,<receive time>,<serial>,SYSTEM,vpn,...``).
- Juniper Junos (SRX): ``kmd``/``iked`` lines and ``KMD_...`` event tags (also as RFC 5424's MSGID).
- MikroTik RouterOS: ``ipsec,error ...`` (the line's logging topics, then the message).

The message the catalogue reads (``catalogue/vendors.py``) keeps the vendor's id in front (``%ASA-3-713123:
...``, ``ike-nego-p1-fail: ...``, ``logid=0101037124 ...``) so the evidence shows it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from vpn_doctor.envelope import LazyPattern
from vpn_doctor.records import Source

_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_ONLY = LazyPattern(rf"{_IPV4}$")


class VendorLine(NamedTuple):
    """What a vendor's line says: who wrote it, the message the catalogue reads, the peer and tunnel."""

    source: Source
    vendor: str  # in vpn_doctor.playbook's words: cisco, paloalto, fortinet, juniper, mikrotik
    message: str
    peer: str | None = None
    conn: str | None = None
    #: The device's own time, when the line carries one with its year; ``time_note`` says when its
    #: zone had to be assumed.
    timestamp: datetime | None = None
    time_note: str | None = None


_DEVICE_NO_ZONE = "the device's time has no zone: read as UTC"


# --- Cisco ----------------------------------------------------------------------------------------

_ASA = LazyPattern(r"(?:^|[\s:])%(?P<id>(?:ASA|FTD|PIX)-[0-7]-\d{6}):\s*(?P<text>.*)$", re.DOTALL)
_IOS = LazyPattern(r"(?:^|[\s:*])%(?P<id>[A-Z][A-Z0-9_]*-[0-7]-[A-Z0-9_]+):\s*(?P<text>.*)$", re.DOTALL)
_ASA_PEER = (
    LazyPattern(rf"\bIP = (?P<ip>{_IPV4})\b"),
    LazyPattern(rf"\bRemote:(?P<ip>{_IPV4}):\d+"),
)
_ASA_GROUP = LazyPattern(r"\bGroup = (?P<group>[^,]+),")
# ASA's `logging timestamp` (with its year) before the message id: "Dec 02 2026 04:22:37:".
_CISCO_TIME = LazyPattern(r"(?P<ts>[A-Z][a-z]{2} {1,2}\d{1,2} \d{4} \d{2}:\d{2}:\d{2})")
_IOS_PEER = (
    LazyPattern(rf"\bpeer (?:at )?(?P<ip>{_IPV4})\b", re.IGNORECASE),
    LazyPattern(rf"\bPeer (?P<ip>{_IPV4}):\d+"),
    LazyPattern(rf"\bfrom (?P<ip>{_IPV4})\b"),
)


def _cisco(body: str, program: str | None, msgid: str | None) -> VendorLine | None:
    del program, msgid
    if "%" not in body:
        return None
    if (asa := _ASA.search(body)) is not None:
        message = f"%{asa.group('id')}: {asa.group('text').strip()}"
        group = _ASA_GROUP.search(message)
        moment = _device_time(body[: asa.start()])
        return VendorLine(
            Source.CISCO_ASA,
            "cisco",
            message,
            _first(_ASA_PEER, message),
            group and group.group("group"),
            moment,
            _DEVICE_NO_ZONE if moment else None,
        )
    if (ios := _IOS.search(body)) is not None:
        message = f"%{ios.group('id')}: {ios.group('text').strip()}"
        return VendorLine(Source.CISCO_IOS, "cisco", message, _first(_IOS_PEER, message))
    return None


# --- Fortinet FortiGate ---------------------------------------------------------------------------

_FORTI_MARK = LazyPattern(r'\blog_?id="?\d{10}"?')
# FortiOS 5 left values with spaces unquoted (error_reason=no matching gateway ...): a bare value
# runs to the next " key=".
_FORTI_PAIR = LazyPattern(r'(?P<key>[a-z_]+)=(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>.*?)(?=\s+[a-z_]+=|\s*$))')
# The fields the catalogue and a person need, in this order (FortiOS 5.x wrote rem_ip, vpn_tunnel,
# error_reason; 6.x and later remip, vpntunnel, reason).
_FORTI_SHOWN = ("logid", "subtype", "logdesc", "msg", "action", "status", "result", "reason", "error_reason")


def _fortigate(body: str, program: str | None, msgid: str | None) -> VendorLine | None:
    del program, msgid
    if "id=" not in body or _FORTI_MARK.search(body) is None:
        return None
    pairs = {
        m.group("key"): m.group("quoted") if m.group("quoted") is not None else m.group("bare")
        for m in _FORTI_PAIR.finditer(body)
    }
    if pairs.get("type") not in ("event", None):
        return None
    pairs.setdefault("logid", pairs.get("log_id", ""))
    shown = " ".join(
        f'{key}="{pairs[key]}"' if " " in pairs[key] else f"{key}={pairs[key]}"
        for key in _FORTI_SHOWN
        if pairs.get(key)
    )
    peer = pairs.get("remip") or pairs.get("rem_ip")
    conn = pairs.get("vpntunnel") or pairs.get("vpn_tunnel")
    return VendorLine(
        Source.FORTIGATE,
        "fortinet",
        shown,
        peer if peer and _IPV4_ONLY.match(peer) else None,
        conn if conn and conn != "N/A" else None,
        *_forti_time(pairs),
    )


# --- Palo Alto PAN-OS -----------------------------------------------------------------------------

_PANOS_MARK = LazyPattern(r"(?:^|\s)(?P<csv>\d,\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2},[^,]*,SYSTEM,.*)$", re.DOTALL)
# System log fields (PAN-OS syslog field descriptions): 8 Event ID, 9 Object, 12 Module, 13 Severity,
# 14 Description.
_PANOS_EVENT, _PANOS_OBJECT, _PANOS_DESCRIPTION = 8, 9, 14
_PANOS_PEER = (
    LazyPattern(rf"(?:Failed|Established) SA: {_IPV4}\[\d+\]-(?P<ip>{_IPV4})\["),
    LazyPattern(rf"\bpeer (?:IP |address )?(?P<ip>{_IPV4})\b", re.IGNORECASE),
)


def _panos(body: str, program: str | None, msgid: str | None) -> VendorLine | None:
    del program, msgid
    if ",SYSTEM," not in body or (mark := _PANOS_MARK.search(body)) is None:
        return None
    fields = next(csv.reader([mark.group("csv")]), [])
    if len(fields) <= _PANOS_DESCRIPTION:
        return None
    event, description = fields[_PANOS_EVENT], fields[_PANOS_DESCRIPTION].strip()
    message = f"{event}: {description}"
    return VendorLine(
        Source.PANOS, "paloalto", message, _first(_PANOS_PEER, description), fields[_PANOS_OBJECT] or None
    )


# --- Juniper Junos --------------------------------------------------------------------------------

_JUNOS_TAG = LazyPattern(r"(?:^|\s)(?P<tag>KMD_[A-Z0-9_]+):\s*(?P<text>.*)$", re.DOTALL)
_JUNOS_PROGRAMS = frozenset({"kmd", "iked"})
_JUNOS_RELAYED = LazyPattern(r"(?:^|\s)(?:kmd|iked)\[\d+\]:?\s+(?P<text>.*)$", re.DOTALL)
_JUNOS_PEER = (
    LazyPattern(rf"\bVPN \S+ from (?P<ip>{_IPV4}) is\b"),
    LazyPattern(rf"\bRemote gateway: (?P<ip>{_IPV4})\b"),
    LazyPattern(rf"\bRemote: (?P<ip>{_IPV4})\b"),
    LazyPattern(rf"\bGateway: \S+, Local: {_IPV4}/\d+, Remote: (?P<ip>{_IPV4})"),
)
_JUNOS_VPN = LazyPattern(r"\b(?:vpn name: |VPN: |VPN )(?P<vpn>[^\s,]+)")


def _junos(body: str, program: str | None, msgid: str | None) -> VendorLine | None:
    if msgid and msgid.startswith("KMD_") and not body.startswith(msgid):
        body = f"{msgid}: {body}"  # Junos structured-data syslog moves the event tag to the MSGID
    if (relayed := _JUNOS_RELAYED.search(body)) is not None:
        # A relay's header in front of the device's own "host kmd[pid]:" (an envelope inside the body).
        program, body = "kmd", relayed.group("text")
    tagged = _JUNOS_TAG.search(body)
    if tagged is None and (program or "").lower() not in _JUNOS_PROGRAMS:
        return None
    message = f"{tagged.group('tag')}: {tagged.group('text').strip()}" if tagged else body.strip()
    vpn = _JUNOS_VPN.search(message)
    return VendorLine(Source.JUNOS, "juniper", message, _first(_JUNOS_PEER, message), vpn and vpn.group("vpn"))


# --- MikroTik RouterOS ----------------------------------------------------------------------------

_ROUTEROS = LazyPattern(
    r"^(?:<\d{1,3}>)?(?P<topics>(?:[a-z0-9-]+,)*ipsec(?:,[a-z0-9!-]+)*):?\s+(?P<text>.*)$", re.DOTALL
)
_ROUTEROS_PEER = (
    LazyPattern(rf"<=>(?P<ip>{_IPV4})\["),
    LazyPattern(rf"^(?P<ip>{_IPV4})\s"),
    LazyPattern(rf"\bpeer: (?:ADDR4:)?(?P<ip>{_IPV4})\b"),
)


def _routeros(body: str, program: str | None, msgid: str | None) -> VendorLine | None:
    del msgid
    if program and "," in program and "ipsec" in program:
        body = f"{program} {body}"  # rsyslog may take the topics for the program tag
    if "ipsec" not in body[:64] or (match := _ROUTEROS.match(body)) is None:
        return None
    text = match.group("text").strip()
    message = f"{match.group('topics')} {text}"
    return VendorLine(Source.ROUTEROS, "mikrotik", message, _first(_ROUTEROS_PEER, text))


def _device_time(prefix: str) -> datetime | None:
    """The ASA's own time before its message id, when it has a year (``logging timestamp``)."""
    match = _CISCO_TIME.search(prefix)
    if match is None:
        return None
    try:
        return datetime.strptime(" ".join(match.group("ts").split()), "%b %d %Y %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _forti_time(pairs: dict[str, str]) -> tuple[datetime | None, str | None]:
    """FortiOS's date= and time= fields, in the zone of its tz= field (FortiOS 6.2 and later)."""
    date, clock, zone = pairs.get("date"), pairs.get("time"), pairs.get("tz")
    if not date or not clock:
        return None, None
    try:
        moment = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
        if zone:
            return datetime.strptime(f"{date} {clock} {zone}", "%Y-%m-%d %H:%M:%S %z").astimezone(UTC), None
    except ValueError:
        return None, None
    return moment.replace(tzinfo=UTC), _DEVICE_NO_ZONE


def _first(patterns: tuple[LazyPattern, ...], text: str) -> str | None:
    for pattern in patterns:
        if (match := pattern.search(text)) is not None:
            return match.group("ip")
    return None


#: The vendor line readers, in the order they are tried: ``(body, program, msgid) -> VendorLine | None``.
VENDOR_FORMATS: tuple[tuple[str, Callable[[str, str | None, str | None], VendorLine | None]], ...] = (
    ("cisco", _cisco),
    ("fortinet", _fortigate),
    ("paloalto", _panos),
    ("juniper", _junos),
    ("mikrotik", _routeros),
)


def read_vendor_line(body: str, program: str | None = None, msgid: str | None = None) -> VendorLine | None:
    """The vendor line a body is, if any reader of :data:`VENDOR_FORMATS` recognises it."""
    for _, reader in VENDOR_FORMATS:
        found = reader(body, program, msgid)
        if found is not None:
            return found
    return None
