"""Silences and maintenance windows: while one covers a connection, its incidents are still recorded but
their messages are held and remediation does not run.

Two kinds:

- a **silence**, added with ``vpn-doctor silence add`` for a while (``--for 2h``): by VPN connection id, by
  tag (``KEY=VALUE`` on the connection) or by customer gateway IP (resolved to the customer gateway ids
  carrying that IP when added, since the connection names its customer gateway by id only). Stored in the
  incidents table with its expiry and who added (and lifted) it, when and why (:mod:`vpn_doctor.aws.silence_store`).
- a **recurring maintenance window**, the connection's ``vpn-doctor:maintenance`` tag, in the grammar of the
  on-boarding's window (:class:`vpn_doctor.onboarding.MaintenanceWindow`): ``[DAYS ]HH:MM-HH:MM[ UTC]``, days
  ``mon`` .. ``sun`` comma-separated (case-insensitive; none: every day), times in UTC; a window whose end is
  before its start passes midnight and belongs to the day it opens on (``SAT 23:00-01:00`` covers Sunday 00:30).
  Example: ``SUN 02:00-04:00 UTC``.
- **recurring windows from the deploy configuration** (``maintenance_windows``, passed to respond as JSON in
  :data:`~vpn_doctor.constants.ENV_MAINTENANCE_WINDOWS`): a selector (a VPN connection id, a tag ``KEY=VALUE``
  or ``*`` for every connection) mapped to one window or a list of windows, in the same grammar; they hold exactly
  like the tag's (:func:`parse_windows`, one parser for the stack's validation and the function).

Respond decides the hold (it reads the connection, so its tags and customer gateway, for the alert anyway) with
one ``Query`` of the stored silences; notify sends nothing for a held alert and remembers it; when the hold has
ended, the poller announces each remembered incident still open once (:mod:`vpn_doctor.app.silences`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from vpn_doctor.constants import VPN_CONNECTION_ID_PATTERN
from vpn_doctor.models import Hold
from vpn_doctor.onboarding import MaintenanceWindow
from vpn_doctor.vpn import VpnConnectionInfo

MAINTENANCE_TAG: Final = "vpn-doctor:maintenance"
#: The deploy configuration's key of recurring windows (selector -> window or windows).
WINDOWS_KEY: Final = "maintenance_windows"
EVERY_CONNECTION: Final = "*"
#: Configured windows: selector (VPN id, ``KEY=VALUE`` or ``*``) -> its windows.
MaintenanceWindows = Mapping[str, tuple[MaintenanceWindow, ...]]
#: The longest silence: a forgotten one must not hide an estate for longer than a month.
LONGEST: Final = timedelta(days=30)
_DURATION: Final = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?")


class Scope(StrEnum):
    """What a silence covers."""

    VPN = "vpn"  # one connection, by id
    TAG = "tag"  # every connection tagged KEY=VALUE
    CGW = "cgw"  # every connection of the customer gateway(s) with this IP


@dataclass(frozen=True, slots=True)
class Silence:
    """A stored silence and its audit: who added it, when and why; who lifted it and when."""

    silence_id: str
    scope: Scope
    value: str  # the VPN id, ``KEY=VALUE`` or the customer gateway's IP
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str  # the caller's ARN (STS GetCallerIdentity)
    customer_gateway_ids: tuple[str, ...] = ()  # a CGW silence: the gateways carrying the IP when it was added
    lifted_at: datetime | None = None
    lifted_by: str | None = None

    @property
    def ended_at(self) -> datetime:
        """When the silence stops (or stopped) holding: its expiry, or its lift if earlier."""
        return min(self.ends_at, self.lifted_at) if self.lifted_at else self.ends_at

    def active(self, now: datetime) -> bool:
        """Whether the silence holds at ``now``."""
        return self.starts_at <= now < self.ended_at

    def covers(self, vpn_connection_id: str, connection: VpnConnectionInfo | None) -> bool:
        """Whether the silence names this connection (by id, tag or customer gateway)."""
        if self.scope is Scope.VPN:
            return self.value == vpn_connection_id
        if connection is None:  # the connection could not be read: only a silence by id can match
            return False
        if self.scope is Scope.TAG:
            key, _, value = self.value.partition("=")
            return connection.tags.get(key) == value
        return connection.customer_gateway_id in self.customer_gateway_ids

    def lifted(self, *, by: str, at: datetime) -> Silence:
        """The silence lifted by ``by`` at ``at`` (its expiry is kept for the audit)."""
        return replace(self, lifted_at=at, lifted_by=by)


def new_silence(
    scope: Scope,
    value: str,
    *,
    duration: timedelta,
    reason: str,
    created_by: str,
    now: datetime,
    customer_gateway_ids: Iterable[str] = (),
) -> Silence:
    """A silence starting ``now``; ValueError on an empty reason, a bad target or a duration out of range."""
    if not reason.strip():
        raise ValueError("a silence needs a reason (--reason)")
    if not timedelta(0) < duration <= LONGEST:
        raise ValueError(f"a silence lasts more than 0 and at most {LONGEST.days} days")
    if scope is Scope.VPN and not re.fullmatch(r"vpn-[0-9a-f]{8,17}", value):
        raise ValueError(f"{value!r} is not a VPN connection id (vpn-...)")
    if scope is Scope.TAG and not value.partition("=")[0].strip():
        raise ValueError(f"tag {value!r} is not KEY=VALUE")
    gateways = tuple(sorted(set(customer_gateway_ids)))
    if scope is Scope.CGW and not gateways:
        raise ValueError(f"no customer gateway has the IP {value}")
    return Silence(
        silence_id=uuid.uuid4().hex[:12],
        scope=scope,
        value=value,
        starts_at=now,
        ends_at=now + duration,
        reason=reason.strip(),
        created_by=created_by,
        customer_gateway_ids=gateways,
    )


def parse_duration(text: str) -> timedelta:
    """``2h``, ``90m``, ``1d``, ``1h30m``; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None:
        raise ValueError(f"duration {text!r} is not like 2h, 90m, 1d or 1h30m")
    return timedelta(days=int(match["d"] or 0), hours=int(match["h"] or 0), minutes=int(match["m"] or 0))


def maintenance_window(tags: Mapping[str, str]) -> MaintenanceWindow | None:
    """The connection's recurring window (its ``vpn-doctor:maintenance`` tag); ValueError when malformed."""
    text = tags.get(MAINTENANCE_TAG, "").strip()
    return MaintenanceWindow.parse(text) if text else None


def parse_windows(document: object) -> dict[str, tuple[MaintenanceWindow, ...]]:
    """The configured windows: an object mapping a selector (a VPN connection id, a tag ``KEY=VALUE`` or ``*``)
    to a window or a list of windows in the tag's grammar. ValueError naming the selector and what is wrong."""
    if not isinstance(document, Mapping):
        raise ValueError("expected an object mapping a VPN id, KEY=VALUE or * to windows")
    parsed: dict[str, tuple[MaintenanceWindow, ...]] = {}
    for selector, value in document.items():
        if not isinstance(selector, str) or not _valid_selector(selector):
            raise ValueError(f"{selector!r}: not a VPN connection id (vpn-...), a tag KEY=VALUE or *")
        texts: Any = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
            raise ValueError(f"{selector}: expected a window like 'SUN 02:00-04:00 UTC' or a list of them")
        try:
            parsed[selector] = tuple(MaintenanceWindow.parse(text) for text in texts)
        except ValueError as exc:
            raise ValueError(f"{selector}: {exc}") from None
    return parsed


def parse_windows_json(text: str | None) -> dict[str, tuple[MaintenanceWindow, ...]]:
    """The configured windows from their JSON text (respond's variable); empty or unset: none."""
    if not text or not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{WINDOWS_KEY} is not valid JSON ({exc.msg})") from None
    return parse_windows(document)


def _valid_selector(selector: str) -> bool:
    if selector == EVERY_CONNECTION or re.fullmatch(VPN_CONNECTION_ID_PATTERN, selector):
        return True
    key, equals, _ = selector.partition("=")
    return bool(equals and key.strip())


def _selects(selector: str, vpn_connection_id: str, connection: VpnConnectionInfo | None) -> bool:
    """Whether a configured selector names the connection (a tag selector needs the connection read)."""
    if selector in (EVERY_CONNECTION, vpn_connection_id):
        return True
    key, equals, value = selector.partition("=")
    return bool(equals) and connection is not None and connection.tags.get(key) == value


def _windows_of(
    vpn_connection_id: str, connection: VpnConnectionInfo | None, configured: MaintenanceWindows
) -> list[tuple[MaintenanceWindow, str]]:
    """The connection's recurring windows and where each comes from: its tag (a malformed one holds nothing),
    then every configured selector naming it."""
    found: list[tuple[MaintenanceWindow, str]] = []
    try:
        tagged = maintenance_window(connection.tags) if connection is not None else None
    except ValueError:
        tagged = None
    if tagged is not None:
        found.append((tagged, f"{MAINTENANCE_TAG} tag"))
    for selector, windows in configured.items():
        if _selects(selector, vpn_connection_id, connection):
            found += [(window, f"{WINDOWS_KEY} {selector}") for window in windows]
    return found


def window_closing(window: MaintenanceWindow, now: datetime) -> datetime:
    """When the occurrence of ``window`` that contains ``now`` closes (``now`` must be inside it)."""
    moment = now.astimezone(UTC)
    opened_on = moment.date()
    if not window.start < window.end and moment.time() < window.end:
        opened_on -= timedelta(days=1)  # a window passing midnight, opened the day before
    opening = datetime.combine(opened_on, window.start, UTC)
    length = datetime.combine(opened_on, window.end, UTC) - opening
    return opening + (length if length > timedelta(0) else length + timedelta(days=1))


def hold_for(
    vpn_connection_id: str,
    connection: VpnConnectionInfo | None,
    silences: Iterable[Silence],
    *,
    now: datetime,
    windows: MaintenanceWindows | None = None,
) -> Hold | None:
    """Why the connection's alerts are held at ``now``: the active silence covering it that lasts longest,
    else the recurring window it is inside (its tag's or a configured one, ``windows``) that closes last;
    ``None`` when nothing holds them.

    A malformed maintenance tag holds nothing (respond logs it: :func:`maintenance_window` says what is wrong).
    """
    covering = [s for s in silences if s.active(now) and s.covers(vpn_connection_id, connection)]
    if covering:
        silence = max(covering, key=lambda s: s.ended_at)
        reason = f"silenced by {silence.created_by}: {silence.reason}"
        return Hold(reason=reason, until=silence.ended_at, held_at=now, silence_id=silence.silence_id)
    inside = [
        (window_closing(window, now), window, source)
        for window, source in _windows_of(vpn_connection_id, connection, windows or {})
        if window.contains(now)
    ]
    if not inside:
        return None
    until, window, source = max(inside, key=lambda found: found[0])
    return Hold(reason=f"maintenance window {window} UTC ({source})", until=until, held_at=now)


def still_held(hold: Hold, silences: Iterable[Silence], *, now: datetime) -> bool:
    """Whether a held alert's hold still applies: its silence is active (not lifted, not expired), or, for a
    maintenance window, its occurrence has not closed."""
    if hold.silence_id is None:
        return now < hold.until
    return any(s.silence_id == hold.silence_id and s.active(now) for s in silences)
