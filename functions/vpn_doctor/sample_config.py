"""AWS's own sample configuration for a connection's gateway: which device type, and the lines that fix a cause (pure).

EC2 returns, for a connection and a device type from ``GetVpnConnectionDeviceTypes``, the configuration AWS
tested for that device (``GetVpnConnectionDeviceSampleConfiguration``; see "Download the configuration file",
https://docs.aws.amazon.com/vpn/latest/s2svpn/SetUpVPNConnections.html#vpn-download-config, and the examples
at https://docs.aws.amazon.com/vpn/latest/s2svpn/example-configuration-files.html). The text holds both
tunnels, each under an ``IPSec Tunnel #N`` heading, **and each tunnel's pre-shared key**: :func:`quote`
keeps only the lines that set what a diagnosed cause is about (DPD, lifetimes, proposals, NAT-T,
traffic selectors), never a line naming a key, and masks every key-like value left
(:mod:`vpn_doctor.redact`). The whole text is never stored, logged or sent.

Which device: the connection's ``vpn-doctor:device-type`` tag names a device type by its id (as
``aws ec2 get-vpn-connection-device-types`` lists it) or by words of its vendor, platform and software
(``"Cisco ASA 9.7"``); without the tag, a vendor known from the logs or the gateway's name is used
only when AWS lists a single device type for it. An ambiguous choice quotes nothing and says why.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from vpn_doctor.redact import MASK, redact
from vpn_doctor.taxonomy import Cause

#: At most this many lines are quoted for one diagnosis, each at most :data:`MAX_LINE` characters.
MAX_LINES: Final = 8
MAX_LINE: Final = 160


class Topic(StrEnum):
    """What a quoted line sets."""

    DPD = "dead peer detection"
    LIFETIMES = "lifetimes"
    PROPOSALS = "proposals"
    NAT_T = "NAT traversal"
    SELECTORS = "traffic selectors"


# Which topics fix which cause (the cause the logs named) ...
TOPICS_BY_CAUSE: Final[dict[Cause, tuple[Topic, ...]]] = {
    Cause.PEER_NOT_RESPONSIVE: (Topic.DPD,),
    Cause.PEER_DELETE_IDLE: (Topic.DPD,),
    Cause.NO_TRAFFIC: (Topic.DPD,),
    Cause.LIFETIME_MISMATCH: (Topic.LIFETIMES,),
    Cause.REKEY_FAILED: (Topic.LIFETIMES, Topic.PROPOSALS),
    Cause.PROPOSAL_MISMATCH: (Topic.PROPOSALS,),
    Cause.PFS_MISMATCH: (Topic.PROPOSALS,),
    Cause.IKE_VERSION_MISMATCH: (Topic.PROPOSALS,),
    Cause.TS_UNACCEPTABLE: (Topic.SELECTORS,),
    Cause.MULTIPLE_SELECTORS: (Topic.SELECTORS,),
    Cause.NAT_T_BLOCKED: (Topic.NAT_T,),
}
# ... and which fix a failed configuration check (vpn_doctor.diagnosis check ids).
TOPICS_BY_CHECK: Final[dict[str, tuple[Topic, ...]]] = {
    "dpd_recovery": (Topic.DPD,),
    "lifetimes": (Topic.LIFETIMES,),
    "proposals": (Topic.PROPOSALS,),
    "ike_versions": (Topic.PROPOSALS,),
    "encryption_domain": (Topic.SELECTORS,),
}

# What a configuration line setting each topic looks like, across the vendors' syntaxes of AWS's samples
# (Cisco "isakmp keepalive", "lifetime seconds"; Junos "dead-peer-detection", "lifetime-seconds";
# FortiOS "set dpd", "set keylife"; PAN-OS "dead-peer-detection", "lifetime"; strongSwan "dpddelay",
# "ikelifetime", "ike=", "esp="; the generic file's "- Lifetime : 28800 seconds").
_TOPIC_LINES: Final[dict[Topic, re.Pattern[str]]] = {
    Topic.DPD: re.compile(r"keepalive|\bdpd|dead[-_ ]peer", re.IGNORECASE),
    Topic.LIFETIMES: re.compile(
        r"life[-_ ]?time|keylife|lifebytes|\brekey(?:margin|fuzz)?\b|life-?seconds", re.IGNORECASE
    ),
    Topic.PROPOSALS: re.compile(
        r"\bencryption\b|encryption-algorithm|authentication-algorithm|\bhash\b|integrity|\bprf\b|"
        r"\bgroup\s*\d|dh[-_ ]?group|dhgrp|\bpfs\b|perfect forward|proposal|transform-set|"
        r"\b(?:ike|esp)\s*=|\bike-?version|\bversion\s+v?[12]\b|keyexchange",
        re.IGNORECASE,
    ),
    Topic.NAT_T: re.compile(r"nat[-_ ]?t\b|nat[-_ ]?traversal|\bnatt\b|forceencaps|\b4500\b", re.IGNORECASE),
    Topic.SELECTORS: re.compile(
        r"access-list|proxy[-_ ]?id|proxy-identity|traffic[-_ ]selector|(?:src|dst)-subnet|(?:left|right)subnet|"
        r"match address|(?:local|remote)[-_ ]ts\b|\b(?:local|remote)[-_ ]?(?:network|subnet)",
        re.IGNORECASE,
    ),
}
# A line that names a key is never quoted, whatever else it sets.
_KEY_LINE: Final = re.compile(
    r"pre[-_ ]?shared|preshared|\bpsk|psksecret|\bsecret\b|\bpassword|authentication-key|ascii-text|\bkey\s*[:=]",
    re.IGNORECASE,
)
_TUNNEL_HEADING: Final = re.compile(r"IPSec\s+Tunnel\s*#\s*(?P<number>\d+)", re.IGNORECASE)
_COMMENT: Final = re.compile(r"^\s*(?:!|#|//|;|\*|=+\s*$|-{3,}\s*$)")
# Prose around the settings (the generic file's "We recommend configuring DPD ... as follows:"): not quoted.
_HEADING: Final = re.compile(r":\s*$")
_PROSE_WORDS: Final = 8


@dataclass(frozen=True, slots=True)
class DeviceType:
    """One entry of ``GetVpnConnectionDeviceTypes``."""

    device_type_id: str
    vendor: str
    platform: str
    software: str

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.vendor, self.platform, self.software) if part)


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    """The device type chosen for a connection, or why none was (``device`` ``None``)."""

    device: DeviceType | None
    why: str


def choose_device(types: Sequence[DeviceType], *, tag: str | None, vendor: str | None) -> DeviceChoice:
    """The device type named by the connection's tag (an id, or words of vendor/platform/software), else
    the only one AWS lists for ``vendor`` (vpn_doctor.playbook's vendor words: cisco, juniper, ...)."""
    if tag and tag.strip():
        wanted = tag.strip()
        by_id = [t for t in types if t.device_type_id == wanted]
        if by_id:
            return DeviceChoice(by_id[0], f"device type {wanted} (tag)")
        words = _words(wanted)
        # Each word of the tag starts a word of the device's label ("ASA 9.7" names "ASA 9.7+ VTI").
        matches = [t for t in types if all(any(w.startswith(word) for w in _words(t.label)) for word in words)]
        if len(matches) == 1:
            return DeviceChoice(matches[0], f"device type {matches[0].device_type_id} matches the tag {wanted!r}")
        if not matches:
            return DeviceChoice(None, f"no device type AWS lists matches the tag {wanted!r}")
        return DeviceChoice(None, _ambiguous(f"the tag {wanted!r}", matches))
    if vendor:
        wanted_vendor = _squashed(vendor)
        matches = [t for t in types if wanted_vendor in _squashed(t.vendor)]
        if len(matches) == 1:
            return DeviceChoice(matches[0], f"the only device type AWS lists for vendor {vendor}")
        if matches:
            return DeviceChoice(None, _ambiguous(f"vendor {vendor}", matches))
    return DeviceChoice(None, "the gateway's device type is not known: tag the connection vpn-doctor:device-type")


def _ambiguous(what: str, matches: Sequence[DeviceType]) -> str:
    listed = "; ".join(f"{t.device_type_id} {t.label}" for t in matches[:5])
    more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
    return f"{len(matches)} device types match {what} ({listed}{more}): tag the connection vpn-doctor:device-type"


def _squashed(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _words(text: str) -> frozenset[str]:
    return frozenset(word for word in re.split(r"[^a-z0-9.+]+", text.lower()) if word)


def topics_for(cause: Cause | None, failed_checks: Iterable[str]) -> tuple[Topic, ...]:
    """The topics whose lines fix the incident's cause and its failed configuration checks, in that order."""
    found: list[Topic] = list(TOPICS_BY_CAUSE.get(cause, ())) if cause is not None else []
    for check in failed_checks:
        found.extend(TOPICS_BY_CHECK.get(check, ()))
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class QuotedLine:
    topic: Topic
    number: int  # 1-based line number in the sample
    text: str
    under: str | None = None  # the block the line belongs to (its nearest less-indented line)


@dataclass(frozen=True, slots=True)
class SampleQuote:
    device: DeviceType
    tunnel_number: int | None
    lines: tuple[QuotedLine, ...]
    masked: int = 0  # key-like values masked in what is quoted (should be 0: key lines are skipped)

    def step(self) -> str:
        """The quote as one next step a person can follow."""
        where = f" for tunnel #{self.tunnel_number}" if self.tunnel_number else ""
        parts = [
            f"`{line.text}`" + (f" (under `{line.under}`)" if line.under else "") + f" [{line.topic}]"
            for line in self.lines
        ]
        return f"AWS's sample configuration for {self.device.label}{where} sets: " + "; ".join(parts) + "."


def quote(
    sample: str,
    device: DeviceType,
    topics: Sequence[Topic],
    *,
    tunnel_ip: str | None,
    tunnel_number: int | None,
    known_keys: Collection[str] = (),
) -> SampleQuote | None:
    """The sample's lines for ``topics`` in the tunnel's section (found by its outside IP, else its number);
    ``None`` when none is found. Key lines are skipped and key-like values masked."""
    if not topics:
        return None
    lines = sample.splitlines()
    start, end, number = _section(lines, tunnel_ip, tunnel_number)
    quoted: list[QuotedLine] = []
    masked = 0
    seen: set[str] = set()
    for topic in topics:
        pattern = _TOPIC_LINES[topic]
        for index in range(start, end):
            raw = lines[index]
            text = raw.strip()
            if not text or _COMMENT.match(raw) or _KEY_LINE.search(raw) or not pattern.search(text) or _prose(text):
                continue
            if text in seen:
                continue
            seen.add(text)
            clean, count = redact(text[:MAX_LINE], known_keys)
            under = _parent(lines, index, start)
            under_clean, under_count = redact(under[:MAX_LINE], known_keys) if under else (None, 0)
            masked += count + under_count
            if MASK in clean:
                continue
            quoted.append(QuotedLine(topic, index + 1, clean, under_clean))
            if len(quoted) >= MAX_LINES:
                break
        if len(quoted) >= MAX_LINES:
            break
    if not quoted:
        return None
    return SampleQuote(device, number, tuple(quoted), masked)


def _section(lines: Sequence[str], tunnel_ip: str | None, tunnel_number: int | None) -> tuple[int, int, int | None]:
    """The line range of the tunnel's ``IPSec Tunnel #N`` section: the one naming its outside IP, else the Nth;
    the whole text when the sample has no such headings."""
    starts: list[tuple[int, int]] = []
    for index, line in enumerate(lines):
        heading = _TUNNEL_HEADING.search(line)
        if heading is not None and (not starts or int(heading.group("number")) != starts[-1][1]):
            starts.append((index, int(heading.group("number"))))
    if not starts:
        return 0, len(lines), None
    sections = [
        (begin, starts[i + 1][0] if i + 1 < len(starts) else len(lines), number)
        for i, (begin, number) in enumerate(starts)
    ]
    if tunnel_ip:
        address = re.compile(rf"(?<![\d.]){re.escape(tunnel_ip)}(?![\d.])")
        naming = [s for s in sections if any(address.search(line) for line in lines[s[0] : s[1]])]
        if len(naming) == 1:
            return naming[0]
    for section in sections:
        if section[2] == tunnel_number:
            return section
    return 0, len(lines), None


def _parent(lines: Sequence[str], index: int, start: int) -> str | None:
    """The nearest earlier configuration line indented less than line ``index`` (its block), if any."""
    indent = _indent(lines[index])
    if indent == 0:
        return None
    for back in range(index - 1, start - 1, -1):
        raw = lines[back]
        if not raw.strip() or _COMMENT.match(raw):
            continue
        if _indent(raw) < indent:
            return None if _KEY_LINE.search(raw) else raw.strip()
    return None


def _prose(text: str) -> bool:
    """A sentence or a heading around the settings, not a setting."""
    return bool(_HEADING.search(text)) or (len(text.split()) > _PROSE_WORDS and not any(c.isdigit() for c in text))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))
