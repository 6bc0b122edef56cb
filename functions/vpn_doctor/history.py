"""What the classifier remembers of each tunnel: its recent lines, when it was last heard of, and
which delivered lines it has seen already.

Memory is bounded by count and by bytes: ``history_size`` lines, ``history_window`` of time and
``tunnel_bytes`` per tunnel (the oldest lines leave first), and ``max_tunnels`` tunnels and
``total_bytes`` for all of them (the least recently heard of tunnel is forgotten first), so a
long-lived classifier (the ingest function keeps one between invocations) stays small whatever the
lines hold. A forgotten line only loses context (a rule reading it sees a shorter history); a
forgotten tunnel starts again as a new one.
"""

from __future__ import annotations

import re
import sys
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from vpn_doctor.catalogue import Rule, Tag
from vpn_doctor.records import Finding, Source, TunnelEvent


@dataclass(frozen=True, slots=True)
class ClassifierSettings:
    """Thresholds of the context rules and bounds of the history."""

    # A DELETE from the peer after this long without any record of the tunnel is an idle timeout.
    idle_quiet: timedelta = timedelta(minutes=10)
    # A DELETE this close to rekey activity is a failed rekey.
    rekey_window: timedelta = timedelta(minutes=2)
    # Benign rekey collisions become a problem when this many occur within ``repeat_window``.
    collision_repeats: int = 3
    repeat_window: timedelta = timedelta(minutes=10)
    # More CHILD_SA rekeys than this within ``repeat_window`` point at a lifetime mismatch.
    rekeys_for_lifetime_mismatch: int = 4
    # This many routes withdrawn by the BGP peer within ``withdrawal_window`` are a route loss.
    withdrawals_for_route_loss: int = 10
    withdrawal_window: timedelta = timedelta(minutes=5)
    # A negotiation started this many times within ``attempt_window`` without coming up in between
    # failed (each start after the first proves the one before it failed): the shape of a failure
    # in a quiet log (charon at level 0) that prints no failure line. Three starts are two whole
    # attempts that failed; with strongSwan's default retransmits (4 s x 1.8^n, 5 tries, about
    # 165 s per attempt) that is about 6 minutes, well inside the window.
    attempts_for_failure: int = 3
    attempt_window: timedelta = timedelta(minutes=30)
    # How much history is kept per tunnel, and for how many tunnels.
    history_size: int = 64
    history_window: timedelta = timedelta(minutes=30)
    max_tunnels: int = 256
    # Bytes of lines kept per tunnel and in all (the ingest function has 256 MB; a line may be 16 KB).
    tunnel_bytes: int = 256 * 1024
    total_bytes: int = 24 * 1024 * 1024


# What one remembered line costs besides its text: the event, finding, tuple and dict entries.
_LINE_OVERHEAD = 1024


def line_bytes(event: TunnelEvent) -> int:
    """About how many bytes remembering a line holds: its texts (as Python keeps them) and overhead."""
    size = sys.getsizeof(event.raw) + _LINE_OVERHEAD
    if event.message is not event.raw:
        size += sys.getsizeof(event.message)
    fields = event.fields
    return size + sum(sys.getsizeof(value) for value in fields.values()) if fields else size


# The exchange an AWS tunnel line belongs to: its request and its response carry the same ``(id=...)``.
_EXCHANGE_ID = re.compile(r"\(id=([^)\s]+)\)")


def exchange_id(event: TunnelEvent) -> str | None:
    """The IKE exchange id a line names (``(id=0x1f)``, lower case), if any."""
    found = _EXCHANGE_ID.search(event.message)
    return found.group(1).lower() if found else None


class _Budget:
    """The bytes held by every tunnel's lines together (shared by the histories of one classifier)."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


class Seen(NamedTuple):
    """One line of a tunnel's history: the line, its finding, its catalogue row's tags, the bytes it
    holds (:func:`line_bytes`, counted once when remembered and given back when forgotten) and the
    exchange id it names (:func:`exchange_id`, read once when remembered, not by every later line)."""

    event: TunnelEvent
    finding: Finding
    tags: frozenset[Tag]
    size: int
    exchange: str | None


class Attempts:
    """One connection's negotiations that started and have not come up yet: the IKE SAs initiated
    (by it, or by its peer as a responder sees them) since an IKE SA last came up, and the CHILD_SAs
    it started since a CHILD_SA last came up (a rekey of the same CHILD_SA starts a new one).

    Shared by the histories of every IKE SA of the connection (charon gives each attempt of a
    restart, and each IKE SA a responder sees, its own number), and kept per connection
    (:func:`connection_key`), bounded: the latest ``attempts_for_failure`` starts of each kind, how
    many there were, the first, and the latest failure line seen since the first."""

    __slots__ = (
        "child",
        "child_count",
        "child_first",
        "child_up",
        "failure",
        "ike",
        "ike_count",
        "ike_first",
        "ike_without_child",
    )

    def __init__(self, settings: ClassifierSettings) -> None:
        size = max(settings.attempts_for_failure, 1)
        self.ike: deque[TunnelEvent] = deque(maxlen=size)
        self.ike_count = 0
        self.ike_first: TunnelEvent | None = None
        self.child: deque[TunnelEvent] = deque(maxlen=size)
        self.child_count = 0
        self.child_first: TunnelEvent | None = None
        #: Whether a CHILD_SA of the connection was up before the starts counted (so they are rekeys).
        self.child_up = False
        #: The latest failure finding with a cause since the oldest start still counted.
        self.failure: Finding | None = None
        #: The line of an IKE SA that came up after a start and has had no CHILD_SA since.
        self.ike_without_child: TunnelEvent | None = None

    def note(self, finding: Finding, tags: frozenset[Tag]) -> None:
        """Take a classified line into account (only lines of negotiation starts, SAs coming up and
        failures change anything)."""
        event = finding.event
        if Tag.IKE_INITIATING in tags:
            if not self.ike:
                self.ike_first, self.ike_count = event, 0
            self.ike.append(event)
            self.ike_count += 1
        elif Tag.CHILD_STARTING in tags:
            if not self.child:
                self.child_first, self.child_count = event, 0
            self.child.append(event)
            self.child_count += 1
        elif Tag.IKE_ESTABLISHED in tags:
            # Only after a start: an IKEv2 IKE SA rekey also logs "established", and moves the
            # CHILD_SAs to the new IKE SA without a line.
            if self.ike:
                self.ike_without_child = event
            self.ike.clear()
            self.failure = None
        elif _CHILD_UP & tags and _came_up(event):
            self.child.clear()
            self.child_up = True
            self.ike_without_child = None
            self.failure = None
        elif finding.cause is not None and finding.category.is_failure and (self.ike or self.child):
            self.failure = finding


# A CHILD_SA came up: a new one, or the new SA of a rekey ("CHILD_SA x{2} established", "inbound
# CHILD_SA x{2} established", "CHILD_SA x{1} rekeyed"); the rekey row also matches the start of a
# rekey at level 1, which is no success.
_CHILD_UP = frozenset({Tag.CHILD_SA_UP, Tag.CHILD_REKEY})


def _came_up(event: TunnelEvent) -> bool:
    message = event.message
    return "established" in message or "rekeyed" in message


_DAEMONS = frozenset({Source.STRONGSWAN, Source.LIBRESWAN})


def connection_key(event: TunnelEvent) -> str | None:
    """Which connection a line's negotiation belongs to. A gateway daemon's line: the connection id
    of its log stream (not the address in the line: charon's lines name whichever peer or local
    address they talk about), else the connection name the daemon prints; ``None`` when neither is
    known (a responder's first line, before a configuration is selected, in an unidentified stream:
    counting those together would mix every peer's attempts). Other lines: ``None`` (only the
    daemons' lines start negotiations; AWS's records say outright what failed)."""
    if event.source not in _DAEMONS:
        return None
    if event.vpn_connection_id:
        return f"{event.vpn_connection_id}#daemon"
    conn = event.fields.get("conn")
    return f"conn:{conn}" if conn else None


class TunnelHistory:
    """One tunnel's recent lines, oldest first, with what the context rules read besides them."""

    __slots__ = (
        "_budget",
        "_delivered",
        "_lines",
        "attempts",
        "attempts_key",
        "bytes",
        "cgw_rekeys",
        "last_seen",
        "settings",
    )

    def __init__(
        self, settings: ClassifierSettings, last_seen: datetime | None = None, budget: _Budget | None = None
    ) -> None:
        self.settings = settings
        self._lines: deque[Seen] = deque(maxlen=settings.history_size)
        #: Bytes held by the lines (see :func:`line_bytes`), also counted in the classifier's budget.
        self.bytes = 0
        self._budget = budget or _Budget()
        #: When the tunnel was last heard of, before the line being classified.
        self.last_seen = last_seen
        #: Customer-gateway CHILD_SA rekey times: a daemon logs dozens of lines between two rekeys
        #: (DPD, packets), far more than the line history keeps.
        self.cgw_rekeys: deque[datetime] = deque(maxlen=settings.history_size)
        # The findings of the lines in the history that came from CloudWatch Logs (with a log event
        # id), by line and time: a line delivered again gets its finding again, not counted twice.
        self._delivered: dict[tuple[str, datetime | None], Finding] = {}
        #: The negotiations not come up yet of the connection of the line being classified (set by
        #: :meth:`Histories.of` for each line; ``None`` when the line names no connection), and its key.
        self.attempts: Attempts | None = None
        self.attempts_key: str | None = None

    def __iter__(self) -> Iterator[Seen]:
        return iter(self._lines)

    def __reversed__(self) -> Iterator[Seen]:
        return reversed(self._lines)

    def within(self, now: datetime | None, window: timedelta) -> list[Seen]:
        """The lines at most ``window`` before ``now``, oldest first (all of them when a time is unknown)."""
        return [
            seen for seen in self._lines if now is None or (at := seen.event.timestamp) is None or now - at <= window
        ]

    def repeats(self, rule: Rule, now: datetime | None) -> list[Seen]:
        """The earlier lines of the same catalogue row within the repeat window, oldest first."""
        rule_id = rule.rule_id
        horizon = None if now is None else now - self.settings.repeat_window
        return [
            seen
            for seen in self._lines
            if seen.finding.rule_id == rule_id
            and (horizon is None or (at := seen.event.timestamp) is None or at >= horizon)
        ]

    def delivered_before(self, event: TunnelEvent) -> Finding | None:
        """The finding of the same line delivered before (at-least-once delivery), if it is still here.

        Known by its line and time, not its id: a line read back from the log group
        (FilterLogEvents) is the same line as the one delivered, whatever ids the two carry."""
        if event.event_id is None:
            return None
        return self._delivered.get((event.raw, event.timestamp))

    def remember(self, finding: Finding, tags: frozenset[Tag]) -> None:
        """Add a classified line (the oldest leaves a full history)."""
        event = finding.event
        moment = event.timestamp
        lines = self._lines
        if len(lines) == lines.maxlen:
            self._forget(lines.popleft())
        seen = Seen(event, finding, tags, line_bytes(event), exchange_id(event))
        lines.append(seen)
        self._hold(seen.size)
        # Over its bytes, the tunnel forgets its oldest lines (the newest always stays).
        while self.bytes > self.settings.tunnel_bytes and len(lines) > 1:
            self._forget(lines.popleft())
        if event.event_id is not None:
            self._delivered[(event.raw, moment)] = finding
        if self.attempts is not None:
            self.attempts.note(finding, tags)
        if moment is not None and (self.last_seen is None or moment > self.last_seen):
            self.last_seen = moment

    def age_out(self, now: datetime | None) -> None:
        """Forget the lines older than the history window before ``now`` (the time of the line
        about to be classified)."""
        if now is None:
            return
        horizon = now - self.settings.history_window
        lines = self._lines
        while lines and (oldest := lines[0].event.timestamp) is not None and oldest < horizon:
            self._forget(lines.popleft())

    def release(self) -> None:
        """Give the tunnel's bytes back to the budget (the tunnel is being forgotten)."""
        self._hold(-self.bytes)

    def _hold(self, size: int) -> None:
        self.bytes += size
        self._budget.used += size

    def _forget(self, seen: Seen) -> None:
        event = seen.event
        self._hold(-seen.size)
        if event.event_id is not None:
            self._delivered.pop((event.raw, event.timestamp), None)


class Histories:
    """Every tunnel's history, by tunnel (see :func:`history_key`), least recently heard of first."""

    def __init__(self, settings: ClassifierSettings, last_seen: Mapping[str, datetime] | None = None) -> None:
        self._settings = settings
        self._tunnels: dict[str, TunnelHistory] = {}
        self._seeded: dict[str, datetime] = dict(last_seen or {})
        self._budget = _Budget()
        # Per connection (not per IKE SA), least recently used first, at most ``max_tunnels``.
        self._attempts: dict[str, Attempts] = {}

    @property
    def bytes(self) -> int:
        """Bytes held by every tunnel's lines (at most ``total_bytes`` plus the line being classified)."""
        return self._budget.used

    def of(self, event: TunnelEvent) -> TunnelHistory:
        """The history of the event's tunnel, now the most recently used (the least recently used
        are forgotten beyond ``max_tunnels`` tunnels or ``total_bytes``)."""
        key = history_key(event)
        history = self._tunnels.pop(key, None)
        if history is None:
            history = TunnelHistory(self._settings, self._seeded.get(key), self._budget)
        tunnels = self._tunnels
        bounds = self._settings
        while tunnels and (len(tunnels) >= bounds.max_tunnels or self._budget.used > bounds.total_bytes):
            tunnels.pop(next(iter(tunnels))).release()
        tunnels[key] = history
        # A history's lines may name different connections (charon's lines are kept by IKE SA or by
        # the address they name): the connection is the line's own. Looked up only when it changes.
        connection = connection_key(event)
        if connection != history.attempts_key:
            history.attempts_key = connection
            history.attempts = None if connection is None else self._attempts_of(connection)
        return history

    def _attempts_of(self, key: str) -> Attempts:
        connections = self._attempts
        attempts = connections.get(key)
        if attempts is None:
            # At most ``max_tunnels`` connections, the first created forgotten first.
            while len(connections) >= self._settings.max_tunnels:
                connections.pop(next(iter(connections)))
            attempts = connections[key] = Attempts(self._settings)
        return attempts

    @property
    def last_seen(self) -> dict[str, datetime]:
        """When each tunnel (by history key) was last heard of, for seeding a later classifier."""
        seen = dict(self._seeded)
        seen.update((key, tunnel.last_seen) for key, tunnel in self._tunnels.items() if tunnel.last_seen is not None)
        return seen


def history_key(event: TunnelEvent) -> str:
    """Which history a line belongs to: its tunnel; customer-gateway lines without addresses group by
    connection name."""
    sa = event.fields.get("sa") if event.source is Source.STRONGSWAN else None
    if sa and event.vpn_connection_id:
        # A charon line names whichever peer it talks about (the responder's lines name the
        # initiator) and the connection name is missing until a config is selected: the IKE SA's
        # unique id is what all lines of one negotiation share. (pluto numbers each SA, phase 1
        # and phase 2 apart, so its serial is no tunnel key.)
        return f"{event.vpn_connection_id}#sa:{sa}"
    if event.vpn_connection_id or event.tunnel_ip:
        return event.tunnel_key
    conn = event.fields.get("conn")
    return f"conn:{conn}" if conn else event.tunnel_key
