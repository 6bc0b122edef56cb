"""Redaction of key-like material in text that enters vpn-doctor or leaves it (evidence, alerts, AWS
error messages).

Gateways sometimes log their configuration, pre-shared key included (``ipsec.secrets`` lines, a
Cisco ``pre-shared-key`` command echoed back, a strongSwan ``secret = ...`` dump), and an AWS error
message may quote a request. What is replaced by :data:`MASK`:

1. **A value after a keyword and ``=`` or ``:``**: ``psk``, ``pre-shared[-key]``, ``preshared[-key]``,
   ``PreSharedKey``, ``key``, ``secret``, ``password``, ``passwd`` (any case, the keyword standing
   alone or after ``_``/``-``/``.``, so ``client_secret=`` counts and ``rekey=``, ``keyexchange=``
   do not). The value is a quoted string or everything up to whitespace, a quote, ``,`` or ``;``.
2. **A value after a pre-shared-key keyword and a space** (``PSK "abc"``, ``pre-shared-key 0 s3cr3t``,
   with Cisco's optional encryption type digit): only a quoted value, or one of 8+ characters holding
   a digit or ``.``/``_`` (AWS pre-shared keys are 8-64 of letters, digits, ``.`` and ``_``), so that
   the prose of a log line ("with pre-shared key successful") stays readable.
3. **Any known key, wherever it stands**: the tunnels' ``PreSharedKey`` options of a
   ``DescribeVpnConnections`` answer (:func:`known_keys`).

Every function returns how many values it replaced, for the ``RedactedValues`` metric.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any, Final, TypeVar

from vpn_doctor.models import dump, load
from vpn_doctor.records import TunnelEvent

_M = TypeVar("_M")

MASK: Final = "<redacted>"
#: The ``fields`` key of a parsed record whose text had values redacted (how many, as text).
REDACTED_FIELD: Final = "redacted"
# AWS pre-shared keys are at least 8 characters; shorter "known" values would mask ordinary words.
_MIN_KNOWN_KEY = 8

_PSK_WORDS = r"psk|pre[-_ ]?shared(?:[-_ ]?keys?)?|preshared(?:[-_ ]?keys?)?"
_KEYWORDS = rf"{_PSK_WORDS}|keys?|secrets?|passwords?|passwd"
_QUOTED = r"\"[^\"]*\"|'[^']*'"
# Both are tried only where a keyword starts (see redact): a regex scanning every position of every
# line (a lookbehind, case-insensitive alternatives) cost more than parsing the line.
_ASSIGNED = re.compile(rf"(?i)(?P<word>{_KEYWORDS})(?P<sep>[\"']?\s*[:=]\s*)(?P<value>{_QUOTED}|[^\s,;\"']+)")
_SPACED = re.compile(
    rf"(?i)(?P<word>{_PSK_WORDS})(?P<sep>\s+(?:\d\s+)?)"
    rf"(?P<value>{_QUOTED}|(?=[A-Za-z0-9._]*[0-9._])[A-Za-z0-9._]{{8,}})"
)
_KEY_NAME = re.compile(rf"(?i)^(?:.*[_.-])?(?:{_KEYWORDS})$")
# How each keyword starts, in lower case; a keyword standing after a letter or digit is part of a
# longer word (``rekey=``, ``ikelifetime``) and is not one.
_STARTS: Final = ("psk", "pre", "key", "secret", "passw")
_START: Final = re.compile("|".join(_STARTS))
_ALNUM: Final = frozenset(string.ascii_letters + string.digits)
# ASCII-only lower case keeps every index where it was (str.lower() may not, for some letters).
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def redact(text: str, known: Collection[str] = ()) -> tuple[str, int]:
    """``text`` with key-like values (see the module's patterns) and every ``known`` key replaced by
    :data:`MASK`; and how many values were replaced."""
    count = 0
    if known:
        for key in sorted((k for k in known if len(k) >= _MIN_KNOWN_KEY), key=len, reverse=True):
            found = text.count(key)
            if found:
                text = text.replace(key, MASK)
                count += found
    starts = _keyword_starts(text)
    pieces: list[str] = []
    done = 0
    for start in starts:
        if start < done:
            continue
        match = _ASSIGNED.match(text, start) or _SPACED.match(text, start)
        if match is None or match.group("value").strip("\"'") == MASK:
            continue
        value = match.group("value")
        quote = value[0] if value[0] in "\"'" else ""  # kept, so a JSON line stays JSON
        pieces += [text[done : match.start("value")], f"{quote}{MASK}{quote}"]
        done = match.end()
        count += 1
    return "".join([*pieces, text[done:]]), count


def _keyword_starts(text: str) -> list[int]:
    """Where a keyword may start in ``text`` (any case, not inside a longer word), in order."""
    lowered = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
    # Most lines hold none of the starts: five substring tests say so fastest. Otherwise one scan
    # finds them all in order (a start inside another start's match follows a letter: not a keyword).
    psk, pre, key, secret, passw = _STARTS
    if (
        psk not in lowered
        and pre not in lowered
        and key not in lowered
        and secret not in lowered
        and passw not in lowered
    ):
        return []
    return [at for found in _START.finditer(lowered) if (at := found.start()) == 0 or text[at - 1] not in _ALNUM]


def redact_event(event: TunnelEvent) -> TunnelEvent:
    """A parsed record with its message and raw line redacted; the count is kept in its ``fields``."""
    if event.message in event.raw and not _keyword_starts(event.raw):
        return event  # the usual record: no keyword in its line, so none in its message either
    message, in_message = redact(event.message)
    raw, in_raw = redact(event.raw)
    if not (in_message or in_raw):
        return event
    fields = {**event.fields, REDACTED_FIELD: str(max(in_message, in_raw))}
    return replace(event, message=message, raw=raw, fields=fields)


def redacted_count(event: TunnelEvent) -> int:
    """How many values parsing redacted from this record."""
    value = event.fields.get(REDACTED_FIELD, "0")
    return int(value) if value.isdigit() else 0


def redact_document(document: Any, known: Collection[str] = ()) -> tuple[Any, int]:
    """A JSON-ready document (dicts, lists, strings, numbers) with every string redacted; and the count.

    Keys are kept as they are (they are field names); a string under a key-like name (``PreSharedKey``,
    ``psk``, ``client_secret``, ...) is replaced whole."""
    if isinstance(document, str):
        return redact(document, known)
    if isinstance(document, Mapping):
        total = 0
        out: dict[Any, Any] = {}
        for name, value in document.items():
            if isinstance(value, str) and value and value != MASK and _KEY_NAME.match(str(name)):
                out[name], found = MASK, 1
            else:
                out[name], found = redact_document(value, known)
            total += found
        return out, total
    if isinstance(document, list | tuple):
        total = 0
        items = []
        for value in document:
            item, found = redact_document(value, known)
            items.append(item)
            total += found
        return items, total
    return document, 0


def redact_model(value: _M, known: Collection[str] = ()) -> tuple[_M, int]:
    """A model (an ``Alert``, an outcome: anything :func:`vpn_doctor.models.dump` takes) with every
    text in it redacted; and the count. The same object when nothing was redacted."""
    document, count = redact_document(dump(value), known)
    return (load(type(value), document) if count else value), count


def known_keys(describe_response: Mapping[str, Any]) -> frozenset[str]:
    """The tunnels' pre-shared keys in a ``DescribeVpnConnections`` answer (``Options.TunnelOptions[].
    PreSharedKey``, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_TunnelOption.html)."""
    keys: set[str] = set()
    for connection in describe_response.get("VpnConnections") or ():
        options = connection.get("Options") or {}
        for tunnel in options.get("TunnelOptions") or ():
            key = tunnel.get("PreSharedKey")
            if isinstance(key, str) and key:
                keys.add(key)
    return frozenset(keys)
