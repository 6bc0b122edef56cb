"""Classify tunnel events into findings, using the catalogue and each tunnel's recent history.

The classifier is pure and stateful only in memory: feed it events in order (per tunnel) and it
remembers a bounded window of each tunnel's recent events, so a line can be read in context
(a retransmit after a DPD request is a DPD timeout; the same retransmit during IKE_SA_INIT is a
peer that never answered phase 1). Callers that see a tunnel across invocations can seed
``last_seen`` so a DELETE after a long quiet period is recognised as an idle timeout.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from vpn_doctor.catalogue import CATALOGUE, FAMILY_OF_SOURCE, Context, Rule
from vpn_doctor.parsing import UNRECOGNISED_FORMAT, parse_line
from vpn_doctor.records import Evidence, Finding, PhaseState, Source, TunnelEvent
from vpn_doctor.taxonomy import Category, Cause, Severity


@dataclass(frozen=True, slots=True)
class ClassifierSettings:
    """Thresholds for the context rules."""

    # A DELETE from the peer after this long without any record of the tunnel is an idle timeout.
    idle_quiet: timedelta = timedelta(minutes=10)
    # A DELETE this close to rekey activity is a failed rekey.
    rekey_window: timedelta = timedelta(minutes=2)
    # Benign rekey collisions become a problem when this many occur within ``repeat_window``.
    collision_repeats: int = 3
    repeat_window: timedelta = timedelta(minutes=10)
    # More CHILD_SA rekeys than this within ``repeat_window`` point at a lifetime mismatch.
    rekeys_for_lifetime_mismatch: int = 4
    # How much history is kept per tunnel, and for how many tunnels (the least recently heard of
    # is forgotten first: a long-lived classifier's memory stays bounded).
    history_size: int = 64
    history_window: timedelta = timedelta(minutes=30)
    max_tunnels: int = 256


@dataclass(slots=True)
class _Verdict:
    """What a context rule decided instead of the row's own meaning (not frozen: built per record)."""

    category: Category
    cause: Cause | None
    severity: Severity
    summary: str
    context_lines: tuple[TunnelEvent, ...] = ()


def _base(rule: Rule, match: re.Match[str]) -> _Verdict:
    """The row's own verdict, what a context rule refines."""
    return _Verdict(rule.category, rule.cause, rule.severity, rule.render_summary(match))


# An entry of a per-row index: the record's number in its tunnel's sequence (which tells whether
# it is still in the tunnel's history), its finding and, for rekey-rate rows, its exchange id.
_Indexed = tuple[int, Finding, str | None]


@dataclass(slots=True)
class _Tunnel:
    """What the classifier remembers of one tunnel (one history key)."""

    # The findings of its recent records (a finding carries its record, its row and its verdict:
    # all a context rule reads back), oldest first.
    history: deque[Finding]
    # How many records it has had: numbers the records, so that an index entry is known to be in
    # the history (which drops only from its old end) by its number alone.
    count: int = 0
    last_seen: datetime | None = None
    # Per row whose context rule counts its own earlier lines (rekey rate, collisions), that row's
    # entries of the history, so the rule does not scan the whole history per record.
    by_rule: dict[str, deque[_Indexed]] = field(default_factory=dict)
    # Customer-gateway CHILD_SA rekey times: a daemon logs dozens of lines between two rekeys
    # (DPD, packets), far more than the line history keeps.
    cgw_rekeys: deque[datetime] | None = None
    # The exchange id of the record being classified, when its row is a rekey-rate row (read once).
    exchange: str | None = None
    # The findings of the history's records that came from CloudWatch Logs (with a log event id),
    # by (line, time): a record delivered again gets its finding again, and is not counted twice.
    delivered: dict[tuple[str, datetime | None], Finding] = field(default_factory=dict)


class Classifier:
    """Turns :class:`TunnelEvent` into :class:`Finding`, one finding per event, never raising."""

    def __init__(
        self,
        *,
        catalogue: Iterable[Rule] = CATALOGUE,
        settings: ClassifierSettings | None = None,
        last_seen: Mapping[str, datetime] | None = None,
    ) -> None:
        self._settings = settings or ClassifierSettings()
        rules = tuple(catalogue)
        self._rules: dict[Source, tuple[Rule, ...]] = {
            source: tuple(rule for rule in rules if rule.family == family)
            for source, family in FAMILY_OF_SOURCE.items()
        }
        self._tunnels: dict[str, _Tunnel] = {}
        self._indexed_rules = frozenset(
            rule.rule_id for rule in rules if rule.context is Context.REKEY_RATE or rule.rule_id == _COLLISION_RULE
        )
        self._exchange_rules = frozenset(rule.rule_id for rule in rules if rule.context is Context.REKEY_RATE)
        # Per source, the literals of the rows whose context rule reads earlier deliveries ("" for a
        # row without one, which any line may match).
        self._earlier_needles: dict[Source, tuple[str, ...]] = {
            source: tuple(rule.needle for rule in source_rules if rule.context in _READS_EARLIER_DELIVERIES)
            for source, source_rules in self._rules.items()
        }
        self._seeded: dict[str, datetime] = dict(last_seen or {})

    def classify(self, event: TunnelEvent) -> Finding:
        """Classify one event in the context of the tunnel's earlier events."""
        return self.classify_all((event,))[0]

    def classify_all(self, events: Iterable[TunnelEvent]) -> list[Finding]:
        """Classify events in the order given, each in the context of its tunnel's earlier events.

        One loop for a whole batch: a batch is mostly one tunnel's records, so the tunnel's state
        is looked up again only when the tunnel changes. Per-record work dominates ingest, hence
        the locals."""
        findings: list[Finding] = []
        rules_of = self._rules
        window = self._settings.history_window
        key: str | None = None
        vpn_id: str | None = None
        tunnel_ip: str | None = None
        tunnel = _NO_TUNNEL
        after_strongswan = False  # the key in hand may be a strongSwan line's (by IKE SA), not the tunnel's
        for event in events:
            # The same connection id and tunnel IP (the same objects, as a batch's records share
            # them) make the same key, without building it again; lines without them and strongSwan
            # lines key by other fields.
            if (
                event.vpn_connection_id is not vpn_id
                or event.tunnel_ip is not tunnel_ip
                or not (vpn_id or tunnel_ip)  # keyed by other fields (connection name), or the first record
                or event.source is Source.STRONGSWAN
                or after_strongswan
            ):
                after_strongswan = event.source is Source.STRONGSWAN
                vpn_id, tunnel_ip = event.vpn_connection_id, event.tunnel_ip
                next_key = _history_key(event)
                if next_key != key:
                    key = next_key
                    tunnel = self._tunnel(key)
            # Known by its line and time, not its id: a line read back from the log group
            # (FilterLogEvents) is the same line as the one delivered, whatever ids the two carry.
            delivered = (event.raw, event.timestamp) if event.event_id is not None else None
            if delivered is not None and (again := tunnel.delivered.get(delivered)) is not None:
                findings.append(again)  # at-least-once delivery: the same record, the same finding
                continue
            history = tunnel.history
            moment = event.timestamp
            if moment is not None and history:
                horizon = moment - window
                while history and (oldest := history[0].event.timestamp) is not None and oldest < horizon:
                    _forget(tunnel, history.popleft())
            rule, match = _first_row(rules_of[event.source], event.message)
            finding = self._unknown(event) if rule is None or match is None else self._judge(rule, match, event, tunnel)
            tunnel.count += 1
            if len(history) == history.maxlen:
                _forget(tunnel, history[0])  # about to leave the history
            history.append(finding)
            if delivered is not None:
                tunnel.delivered[delivered] = finding
            if moment is not None and (tunnel.last_seen is None or moment > tunnel.last_seen):
                tunnel.last_seen = moment
            findings.append(finding)
        return findings

    def _judge(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> Finding:
        """The finding of a line its catalogue row matched: the row's meaning, or what the row's
        context rule makes of it; indexed when its row is counted."""
        if event.source is Source.UNPARSED:
            event = _recognised(event)
        rule_id = rule.rule_id
        counts_exchanges = rule_id in self._exchange_rules
        if counts_exchanges:
            tunnel.exchange = _exchange_id(event)
        # Most rows need no context, and most context rules keep the row's meaning (None).
        verdict = None if rule.context is None else _CONTEXT_RULES[rule.context](self, rule, match, event, tunnel)
        if verdict is None:
            finding = Finding(
                rule.category,
                rule.cause,
                rule.severity,
                rule.render_summary(match),
                rule_id,
                event,
                (),
                event.fields.get("error"),
            )
        else:
            finding = Finding(
                verdict.category,
                verdict.cause,
                verdict.severity,
                verdict.summary,
                rule_id,
                event,
                tuple(Evidence.of(line) for line in verdict.context_lines),
                event.fields.get("error"),
            )
        if rule_id in self._indexed_rules:
            index = tunnel.by_rule.get(rule_id)
            if index is None:
                # No longer than the history itself: anything older has left the history too.
                index = tunnel.by_rule[rule_id] = deque(maxlen=tunnel.history.maxlen)
            index.append((tunnel.count, finding, tunnel.exchange if counts_exchanges else None))
        return finding

    def reads_earlier_deliveries(self, event: TunnelEvent) -> bool:
        """Whether this record's verdict depends on its tunnel's lines from before its own delivery:
        a DELETE from the peer (idle after a quiet period, failed around a rekey) or a rekey collision
        (a problem when repeated). CloudWatch Logs delivers a tunnel's lines seconds after they are
        written, so those earlier lines came in earlier deliveries; see :func:`vpn_doctor.ingest.ingest_batch`."""
        # A line without the literal of any such row cannot be one: no regex for most lines.
        lowered = event.message.lower()
        if not any(needle in lowered for needle in self._earlier_needles[event.source]):
            return False
        rule, _ = _first_row(self._rules[event.source], event.message)
        return rule is not None and rule.context in _READS_EARLIER_DELIVERIES

    @property
    def history_window(self) -> timedelta:
        """How far back a tunnel's history reaches (the longest window a context rule reads)."""
        return self._settings.history_window

    @property
    def last_seen(self) -> Mapping[str, datetime]:
        """When each tunnel (by history key) was last heard of, for seeding a later classifier."""
        seen = dict(self._seeded)
        seen.update((key, tunnel.last_seen) for key, tunnel in self._tunnels.items() if tunnel.last_seen is not None)
        return seen

    def _tunnel(self, key: str) -> _Tunnel:
        """The tunnel's state, now the most recently used (the least recently used beyond
        ``max_tunnels`` is forgotten)."""
        tunnel = self._tunnels.pop(key, None)
        if tunnel is None:
            history: deque[Finding] = deque(maxlen=self._settings.history_size)
            tunnel = _Tunnel(history, last_seen=self._seeded.get(key))
        self._tunnels[key] = tunnel
        while len(self._tunnels) > self._settings.max_tunnels:
            del self._tunnels[next(iter(self._tunnels))]
        return tunnel

    def _unknown(self, event: TunnelEvent) -> Finding:
        error = event.fields.get("error")
        states = _states_text(event)
        if error:
            summary = f"Record could not be read: {error}"
        else:
            summary = "Unrecognised record" + (f" ({states})" if states else "")
        return Finding(
            category=Category.UNKNOWN,
            cause=None,
            severity=Severity.INFO,
            summary=summary,
            rule_id="unknown",
            event=event,
            error=error if error else None,
        )

    def _recent_entries(self, tunnel: _Tunnel, rule_id: str, now: datetime | None) -> list[_Indexed]:
        """The tunnel's history entries of one row within the repeat window, in order (what
        filtering the history by row and time gives), from the row's index."""
        index = tunnel.by_rule.get(rule_id)
        if not index:
            return []
        # The history only drops entries from its old end: an entry is still in it when its number
        # is no lower than the oldest's.
        oldest = tunnel.count - len(tunnel.history)
        while index and index[0][0] < oldest:
            index.popleft()
        if now is None:
            return list(index)
        horizon = now - self._settings.repeat_window  # one subtraction, not one per entry
        return [entry for entry in index if (at := entry[1].event.timestamp) is None or at >= horizon]

    def _recent_of_rule(self, tunnel: _Tunnel, rule_id: str, now: datetime | None) -> list[Finding]:
        """The findings of :meth:`_recent_entries`."""
        return [entry[1] for entry in self._recent_entries(tunnel, rule_id, now)]

    # --- context rules (one per catalogue Context) --------------------------------------------

    def _peer_delete(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> _Verdict | None:
        """A DELETE from the peer: idle timeout after a quiet period, failed rekey around rekey
        activity, otherwise the row's own meaning."""
        history = tunnel.history
        base = _base(rule, match)
        settings = self._settings
        if event.source in _CGW_SOURCES and (after := _cgw_rekey_just_done(event, history)) is not None:
            return _Verdict(
                Category.HEALTHY,
                Cause.REKEY_OK,
                Severity.INFO,
                f"{base.summary} at the end of a rekey (the old SA is retired)",
                (after,),
            )
        previous_at = tunnel.last_seen
        if event.timestamp is not None and previous_at is not None:
            quiet = event.timestamp - previous_at
            if quiet >= settings.idle_quiet:
                minutes = int(quiet.total_seconds() // 60)
                return _Verdict(
                    Category.IDLE_TIMEOUT,
                    Cause.PEER_DELETE_IDLE,
                    Severity.WARNING,
                    f"The customer gateway closed the tunnel after {minutes} minutes without activity "
                    "(idle timeout): keep traffic flowing or raise the device's idle timeout",
                    tuple(seen.event for seen in history)[-1:],
                )
        rekeying = [
            seen.event
            for seen in _within(history, event.timestamp, settings.rekey_window)
            if seen.cause is Cause.REKEY_OK or _is_rekeying(seen.event)
        ]
        if rekeying or _is_rekeying(event):
            return _Verdict(
                Category.REKEY_FAILURE,
                Cause.REKEY_FAILED,
                Severity.WARNING,
                base.summary + " during a rekey: compare phase 1/2 lifetimes and PFS settings",
                tuple(rekeying[-2:]),
            )
        return base

    def _proposal_phase(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> _Verdict | None:
        """Phase 1 or phase 2, by the record's phase states or by whether an IKE SA is up;
        a phase 2 mismatch while rekeying is a PFS / DH group mismatch."""
        history = tunnel.history
        base = _base(rule, match)
        if event.source is Source.STRONGSWAN:
            return _cgw_proposal_phase(base, history)
        ike_up = _ike_sa_up(event, history)
        if ike_up is None:
            ike_up = base.category is not Category.IKE_PHASE1_FAILURE
        if not ike_up:
            refused = replace(base, category=Category.IKE_PHASE1_FAILURE, cause=Cause.PROPOSAL_MISMATCH)
            ikev1 = [seen.event for seen in history if _IKEV1_REQUEST.search(seen.event.message)]
            if event.source is Source.LIBRESWAN and ikev1:
                return replace(refused, summary=refused.summary + _IKEV1_HINT, context_lines=(ikev1[-1],))
            return refused
        rekey_lines = tuple(
            seen.event
            for seen in _within(history, event.timestamp, self._settings.rekey_window)
            if seen.cause is Cause.REKEY_OK or _mentions_child_rekey(seen.event)
        )
        if base.cause is Cause.PFS_MISMATCH or rekey_lines or _mentions_child_rekey(event):
            return _Verdict(
                Category.IPSEC_PHASE2_FAILURE,
                Cause.PFS_MISMATCH,
                base.severity,
                "Phase 2 rekey failed on the DH group: PFS must be enabled on the customer gateway with a "
                "DH group AWS allows",
                rekey_lines[-2:],
            )
        return replace(
            base,
            category=Category.IPSEC_PHASE2_FAILURE,
            cause=Cause.PROPOSAL_MISMATCH,
            summary=base.summary if "phase 2" in base.summary.lower() else base.summary + " (phase 2)",
        )

    def _retransmit(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> _Verdict | None:
        """Which request went unanswered decides the class: IKE_SA_INIT (no response at phase 1),
        IKE_AUTH over UDP 4500 (NAT-T blocked), a DPD request (DPD timeout) or a rekey."""
        history = tunnel.history
        base = _base(rule, match)
        message_id = match.groupdict().get("mid")
        context: tuple[TunnelEvent, ...] = ()
        if message_id is None:
            # "giving up" / "peer not responding" lines carry no id: use the last retransmit's.
            for seen in reversed(history):
                earlier = _RETRANSMIT.search(seen.event.message)
                if earlier is not None:
                    message_id, context = earlier.group("mid"), (seen.event,)
                    break
            else:
                return base
        request = _request_kind(message_id, history)
        if request is not None:
            context = (request[1], *context)
        detail = base.summary
        if request is not None and request[0] == "INFORMATIONAL":
            return _Verdict(
                Category.DPD_TIMEOUT,
                Cause.PEER_NOT_RESPONSIVE,
                base.severity,
                f"The peer stopped answering dead peer detection ({detail})",
                context,
            )
        if request is not None and request[0] == "CREATE_CHILD_SA":
            return _Verdict(
                Category.REKEY_FAILURE,
                Cause.REKEY_FAILED,
                base.severity,
                f"The peer did not answer a rekey request ({detail})",
                context,
            )
        if message_id != "0" and _sent_on_nat_t_port(history):
            return _Verdict(
                Category.CGW_NETWORK,
                Cause.NAT_T_BLOCKED,
                base.severity,
                f"The peer answered IKE_SA_INIT but nothing comes back over UDP 4500 (NAT-T) ({detail}): "
                "allow UDP 4500 both ways",
                context,
            )
        return _Verdict(
            Category.IKE_PHASE1_FAILURE,
            Cause.NO_RESPONSE,
            base.severity,
            f"The peer did not answer IKE phase 1 ({detail}): check reachability and that UDP 500 "
            "(and UDP 4500 with NAT-T) is allowed",
            context,
        )

    def _repeated(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> _Verdict | None:
        """Benign once; a rekey-collision problem when it keeps happening."""
        earlier = [seen.event for seen in self._recent_of_rule(tunnel, _COLLISION_RULE, event.timestamp)]
        if len(earlier) + 1 >= self._settings.collision_repeats:
            return _Verdict(
                Category.REKEY_FAILURE,
                Cause.REKEY_COLLISION,
                Severity.WARNING,
                f"{len(earlier) + 1} rekey collisions in {_minutes(self._settings.repeat_window)} minutes: "
                "let one peer initiate rekeys (the one with the shorter lifetime)",
                tuple(earlier[-3:]),
            )
        return None

    def _bgp_transition(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> _Verdict | None:
        base = _base(rule, match)
        old, new = (match.group("old") or "").lower(), (match.group("new") or "").lower()
        if new == "established":
            return replace(base, category=Category.HEALTHY, cause=Cause.ESTABLISHED, severity=Severity.INFO)
        if old == "established":
            return replace(base, severity=Severity.CRITICAL)
        if old == "connect" and new == "active":
            return replace(
                base,
                summary=base.summary + ": TCP 179 to the customer gateway is not answering",
            )
        return replace(base, category=Category.HEALTHY, cause=None, severity=Severity.INFO)

    def _ike_version(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> _Verdict | None:
        """ "No IKE config found" right after the peer spoke an IKE version we do not run."""
        history = tunnel.history
        base = _base(rule, match)
        for seen in reversed(tuple(_within(history, event.timestamp, self._settings.rekey_window))):
            message = seen.event.message
            if _IKEV1_EXCHANGE.search(message) or _IKEV2_EXCHANGE.search(message):
                return _Verdict(
                    Category.IKE_PHASE1_FAILURE,
                    Cause.IKE_VERSION_MISMATCH,
                    base.severity,
                    f"{base.summary}: the peer negotiates "
                    f"{'IKEv1' if _IKEV1_EXCHANGE.search(message) else 'IKEv2'}, which is not configured here",
                    (seen.event,),
                )
        return base

    def _rekey_rate(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> _Verdict | None:
        """A normal rekey; many within the window mean a lifetime far below AWS's."""
        entries = self._recent_entries(tunnel, rule.rule_id, event.timestamp)
        threshold = self._settings.rekeys_for_lifetime_mismatch
        if event.source in _CGW_SOURCES and event.timestamp is not None:
            # One "inbound CHILD_SA ... established" line per rekey, on both sides.
            times = tunnel.cgw_rekeys
            if times is None:
                times = tunnel.cgw_rekeys = deque(maxlen=self._settings.history_size)
            times.append(event.timestamp)
            while times and event.timestamp - times[0] > self._settings.repeat_window:
                times.popleft()
            if len(times) >= threshold:
                return _Verdict(
                    Category.REKEY_FAILURE,
                    Cause.LIFETIME_MISMATCH,
                    Severity.WARNING,
                    f"{len(times)} CHILD_SA rekeys in {_minutes(self._settings.repeat_window)} minutes: a phase 2 "
                    "lifetime far below AWS's (3600 s default) makes the tunnel rekey constantly; align the lifetimes",
                    tuple(entry[1].event for entry in entries[-3:]),
                )
            return None
        # Lines are not rekeys: one exchange logs its request and its response (same id), and a
        # single rekey often renews two SAs. Count exchanges, and only when the lines could reach it.
        count = len(entries) + 1 if len(entries) + 1 < threshold else _exchanges(entries, tunnel.exchange)
        if count >= threshold:
            return _Verdict(
                Category.REKEY_FAILURE,
                Cause.LIFETIME_MISMATCH,
                Severity.WARNING,
                f"{count} rekeys in {_minutes(self._settings.repeat_window)} minutes: a phase 2 lifetime far "
                "below AWS's (3600 s default) makes the tunnel rekey constantly; align the lifetimes",
                tuple(entry[1].event for entry in entries[-3:]),
            )
        return None

    def _consequence(self, rule: Rule, match: re.Match[str], event: TunnelEvent, tunnel: _Tunnel) -> _Verdict | None:
        """A generic failure line ("failed to establish CHILD_SA", "rekeying failed") printed right
        after a specific one is its consequence: it takes the specific verdict."""
        history = tunnel.history
        base = _base(rule, match)
        for seen in reversed(tuple(_within(history, event.timestamp, _SAME_EXCHANGE))):
            if seen.rule_id == rule.rule_id or seen.cause is None:
                continue
            if seen.category in (Category.HEALTHY, Category.UNKNOWN):
                continue
            return _Verdict(
                seen.category, seen.cause, base.severity, f"{base.summary} ({seen.cause.value})", (seen.event,)
            )
        return base


_Resolver = Callable[[Classifier, Rule, "re.Match[str]", TunnelEvent, _Tunnel], "_Verdict | None"]
_NO_TUNNEL = _Tunnel(deque(maxlen=0))  # before the first record (never used: replaced at once)

_CONTEXT_RULES: dict[Context, _Resolver] = {
    Context.PEER_DELETE: Classifier._peer_delete,
    Context.PROPOSAL_PHASE: Classifier._proposal_phase,
    Context.RETRANSMIT: Classifier._retransmit,
    Context.REPEATED: Classifier._repeated,
    Context.BGP_TRANSITION: Classifier._bgp_transition,
    Context.IKE_VERSION: Classifier._ike_version,
    Context.REKEY_RATE: Classifier._rekey_rate,
    Context.CONSEQUENCE: Classifier._consequence,
}

_COLLISION_RULE = "aws.redundant_sa_collision"
_RETRANSMIT = re.compile(r"retransmit \d+ of request with message ID (?P<mid>\d+)")
_GENERATING = re.compile(r"generating (?P<kind>[A-Z_]+) (?:request|response) (?P<mid>\d+)")
_NAT_T_SEND = re.compile(r"sending packet: from \S+\[4500\] to \S+\[4500\]|switching to port 4500")
_IKEV1_EXCHANGE = re.compile(r"\b(?:ID_PROT|AGGRESSIVE|Main Mode|Aggressive Mode|IKEv1)\b")
_IKEV2_EXCHANGE = re.compile(r"\b(?:IKE_SA_INIT|IKEv2)\b")
_EXCHANGE_ID = re.compile(r"\(id=([^)\s]+)\)")
_CHILD_REKEY = re.compile(r"CREATE_CHILD_SA|rekeying CHILD_SA|CHILD_REKEY|rekey", re.IGNORECASE)


def _forget(tunnel: _Tunnel, finding: Finding) -> None:
    """A finding leaves the tunnel's history: its record is no longer known as delivered."""
    if finding.event.event_id is not None:
        tunnel.delivered.pop((finding.event.raw, finding.event.timestamp), None)


def _first_row(rules: tuple[Rule, ...], message: str) -> tuple[Rule | None, re.Match[str] | None]:
    """The catalogue row of a line: the first whose literal the line contains and whose pattern matches."""
    if message:
        lowered = message.lower()
        for rule in rules:
            needle = rule.needle
            if needle and needle not in lowered:
                continue
            match = rule.pattern.search(message)
            if match is not None:
                return rule, match
    return None, None


# Context rules that read a tunnel's lines from minutes before (windows longer than one delivery).
# Not the rekey rate: it would look back on nearly every delivery (rekey exchanges are most lines);
# it counts the rekeys of the deliveries one classifier sees.
_READS_EARLIER_DELIVERIES = frozenset({Context.PEER_DELETE, Context.REPEATED})


def _recognised(event: TunnelEvent) -> TunnelEvent:
    """A line of no known layout that is nonetheless an AWS message read as the text format,
    without the parse error (it was read after all)."""
    if event.source is not Source.UNPARSED or event.fields.get("error") != UNRECOGNISED_FORMAT:
        return event
    fields = {name: value for name, value in event.fields.items() if name != "error"}
    return replace(event, source=Source.AWS_TUNNEL_TEXT, fields=fields)


def _history_key(event: TunnelEvent) -> str:
    """Group by tunnel; customer-gateway lines without addresses group by connection name."""
    if event.source is not Source.STRONGSWAN and (event.vpn_connection_id or event.tunnel_ip):
        return event.tunnel_key  # the common case, decided without the fields below
    sa = event.fields.get("sa")
    if event.source is Source.STRONGSWAN and sa and event.vpn_connection_id:
        # A charon line names whichever peer it talks about (the responder's lines name the
        # initiator) and the connection name is missing until a config is selected: the IKE SA's
        # unique id is what all lines of one negotiation share. (pluto numbers each SA, phase 1
        # and phase 2 apart, so its serial is no tunnel key.)
        return f"{event.vpn_connection_id}#sa:{sa}"
    if event.vpn_connection_id or event.tunnel_ip:
        return event.tunnel_key
    conn = event.fields.get("conn")
    return f"conn:{conn}" if conn else event.tunnel_key


def _within(history: Iterable[Finding], now: datetime | None, window: timedelta) -> Iterable[Finding]:
    for seen in history:
        if now is None or seen.event.timestamp is None or now - seen.event.timestamp <= window:
            yield seen


def _exchanges(earlier: list[_Indexed], exchange: str | None) -> int:
    """How many IKE exchanges the earlier lines and this one (``exchange``) belong to, by their
    ``(id=...)``, read when each line was classified; a line without one counts alone."""
    exchanges = {entry[2] if entry[2] is not None else f"line {index}" for index, entry in enumerate(earlier)}
    exchanges.add(exchange if exchange is not None else f"line {len(earlier)}")
    return len(exchanges)


def _exchange_id(event: TunnelEvent) -> str | None:
    found = _EXCHANGE_ID.search(event.message)
    return found.group(1).lower() if found else None


def _is_rekeying(event: TunnelEvent) -> bool:
    return PhaseState.REKEYING in (event.ike_phase1_state, event.ike_phase2_state)


def _mentions_child_rekey(event: TunnelEvent) -> bool:
    return bool(_CHILD_REKEY.search(event.message)) or _is_rekeying(event)


def _ike_sa_up(event: TunnelEvent, history: Iterable[Finding]) -> bool | None:
    """Whether phase 1 is up: from the record's own state, else from the tunnel's history."""
    if event.ike_phase1_state is not None:
        return event.ike_phase1_state in (PhaseState.ESTABLISHED, PhaseState.REKEYING)
    up: bool | None = None
    for seen in history:
        message = seen.event.message
        if seen.rule_id in ("swan.ike_established", "pluto.established") or "IKE_AUTH response" in message:
            up = True
        elif seen.rule_id in ("swan.peer_delete_ike",) or message.startswith(("deleting IKE_SA", "IKE_SA deleted")):
            up = False
        elif "generating IKE_AUTH" in message or "parsed IKE_AUTH" in message:
            up = True if up is None else up
    return up


def _request_kind(message_id: str, history: Iterable[Finding]) -> tuple[str, TunnelEvent] | None:
    """The exchange type of our request with this message id ("generating X request N"); for a
    request past IKE_AUTH with no such line, the latest DPD request if there was one."""
    generated_kind: tuple[str, TunnelEvent] | None = None
    last_dpd: TunnelEvent | None = None
    for seen in history:
        generated = _GENERATING.search(seen.event.message)
        if generated and generated.group("mid") == message_id and "request" in generated.group(0):
            generated_kind = (generated.group("kind"), seen.event)
        if seen.rule_id == "swan.dpd_request" and seen.event.message.startswith("sending"):
            last_dpd = seen.event
    if generated_kind is not None:
        return generated_kind
    if last_dpd is not None and message_id not in ("0", "1"):
        return ("INFORMATIONAL", last_dpd)
    return None


def _sent_on_nat_t_port(history: Iterable[Finding]) -> bool:
    return any(_NAT_T_SEND.search(seen.event.message) for seen in history)


def _minutes(window: timedelta) -> int:
    return int(window.total_seconds() // 60)


def _states_text(event: TunnelEvent) -> str:
    parts = []
    if event.ike_phase1_state is not None:
        parts.append(f"phase 1 {event.ike_phase1_state.value}")
    if event.ike_phase2_state is not None:
        parts.append(f"phase 2 {event.ike_phase2_state.value}")
    return ", ".join(parts)


# --- customer gateways (strongSwan / libreswan): context from the daemon's own exchange lines ---

_CGW_SOURCES = frozenset({Source.STRONGSWAN, Source.LIBRESWAN})
# Lines of one IKE exchange (request, notify, "failed to establish") are printed within this.
_SAME_EXCHANGE = timedelta(seconds=5)
# The peer's DELETE for the old CHILD_SA follows a successful rekey within milliseconds.
_REKEY_DELETE_WINDOW = timedelta(seconds=10)
_EXCHANGE = re.compile(
    r"(?:generating|parsed) (?P<kind>IKE_SA_INIT|IKE_AUTH|CREATE_CHILD_SA|ID_PROT|AGGRESSIVE|QUICK_MODE) "
    r"(?P<dir>request|response) (?P<mid>\d+)"
)
# charon: "initiating Main Mode IKE_SA ..."; pluto: "initiating IKEv1 Main Mode connection".
_IKEV1_REQUEST = re.compile(r"generating (?:ID_PROT|AGGRESSIVE) request|initiating (?:IKEv1 )?(?:Main|Aggressive) Mode")
_IKEV1_HINT = " to an IKEv1 request: if the AWS tunnel allows IKEv2 only, switch the gateway to IKEv2"
_OWN_CHILD_DELETE = re.compile(r"sending DELETE for (?:ESP|AH) CHILD_SA")


def _cgw_exchange(history: Iterable[Finding]) -> tuple[str, bool, TunnelEvent] | None:
    """The IKE exchange a strongSwan failure belongs to: its type, whether it rekeys a CHILD_SA
    (``N(REKEY_SA)`` in the request, or a rekey just asked for), and its request line."""
    seen_lines = tuple(history)
    for index in range(len(seen_lines) - 1, -1, -1):
        line = seen_lines[index].event
        current = _EXCHANGE.search(line.message)
        if current is None:
            continue
        kind, mid = current.group("kind"), current.group("mid")
        request = line
        rekey = False
        for earlier in reversed(seen_lines[: index + 1]):
            same = _EXCHANGE.search(earlier.event.message)
            if same is not None and same.group("kind") == kind and same.group("mid") == mid:
                rekey = rekey or "REKEY_SA" in earlier.event.message
                if same.group("dir") == "request":
                    request = earlier.event
        return kind, rekey, request
    return None


def _cgw_proposal_phase(base: _Verdict, history: Iterable[Finding]) -> _Verdict:
    """strongSwan: the exchange that failed decides. IKE_SA_INIT / Main Mode is phase 1 (and an
    IKEv1 request refused outright may be an IKE version mismatch); IKE_AUTH or CREATE_CHILD_SA is
    phase 2, and a CHILD_SA *rekey* refused after the same proposals came up in IKE_AUTH differs only
    in the DH group (IKE_AUTH carries none): PFS."""
    seen_lines = tuple(history)
    exchange = _cgw_exchange(seen_lines)
    kind = exchange[0] if exchange else None
    if kind in ("IKE_AUTH", "CREATE_CHILD_SA", "QUICK_MODE") or base.category is Category.IPSEC_PHASE2_FAILURE:
        context = (exchange[2],) if exchange else ()
        if base.cause is Cause.PFS_MISMATCH or (exchange is not None and exchange[1]):
            return _Verdict(
                Category.IPSEC_PHASE2_FAILURE,
                Cause.PFS_MISMATCH,
                Severity.CRITICAL,
                "Phase 2 rekey refused: the CHILD_SA came up without DH but its rekey (PFS) needs a DH group "
                "both sides allow: enable PFS on the customer gateway with a group AWS allows (2, 14-24)",
                context,
            )
        summary = base.summary if "phase 2" in base.summary.lower() else base.summary + " (phase 2)"
        return _Verdict(Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH, base.severity, summary, context)
    summary = base.summary
    ikev1 = [seen.event for seen in seen_lines if _IKEV1_REQUEST.search(seen.event.message)]
    if ikev1:
        summary += _IKEV1_HINT
    return _Verdict(Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH, base.severity, summary, tuple(ikev1[-1:]))


def _cgw_rekey_just_done(event: TunnelEvent, history: Iterable[Finding]) -> TunnelEvent | None:
    """The line showing a DELETE is the normal end of a CHILD_SA rekey: a rekeyed CHILD_SA came up
    (or we retired the old one ourselves) just before."""
    for seen in reversed(tuple(_within(history, event.timestamp, _REKEY_DELETE_WINDOW))):
        if seen.rule_id == "swan.child_rekeyed" or _OWN_CHILD_DELETE.search(seen.event.message):
            return seen.event
    return None


def classify_lines(
    lines: Iterable[str], *, reference_time: datetime | None = None, classifier: Classifier | None = None
) -> list[Finding]:
    """Parse and classify raw lines (convenience for the CLI and tests)."""
    engine = classifier or Classifier()
    return [engine.classify(parse_line(line, reference_time=reference_time)) for line in lines]
