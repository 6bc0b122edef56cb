"""Context rules: what a line means given its tunnel's recent lines.

A catalogue row says what a message means on its own. Some messages mean more in context (a
retransmit after a DPD request is a DPD timeout; the same retransmit during IKE_SA_INIT is a peer
that never answered phase 1). Each context rule is a function ``rule(history, event, match)``
returning a :class:`RuleVerdict`, or ``None`` to keep the row's own meaning; it applies to the rows
carrying the tag it is registered for in :data:`CONTEXT_RULES`, and reads earlier lines by their
tags (:class:`vpn_doctor.catalogue.Tag`), never by row id.

Adding a context rule: write the function here, register it in :data:`CONTEXT_RULES` with the tag of
the rows it refines (a new :class:`~vpn_doctor.catalogue.Tag` if none fits, put on those rows), and
add a test in tests/unit/test_classify.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import NamedTuple

from vpn_doctor.catalogue import Rule, Tag
from vpn_doctor.history import Seen, TunnelHistory, exchange_id
from vpn_doctor.records import PhaseState, Source, TunnelEvent
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.text import minutes


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """What a context rule decided instead of the row's own meaning, and the earlier lines that decided it."""

    category: Category
    cause: Cause | None
    severity: Severity
    summary: str
    context: tuple[TunnelEvent, ...] = ()


class RowMatch(NamedTuple):
    """The catalogue row a line matched, and the match (its named groups fill the summary)."""

    rule: Rule
    match: re.Match[str]

    def own_verdict(self) -> RuleVerdict:
        """The row's own meaning, what a context rule refines."""
        rule = self.rule
        return RuleVerdict(rule.category, rule.cause, rule.severity, rule.render_summary(self.match))


ContextRule = Callable[[TunnelHistory, TunnelEvent, RowMatch], "RuleVerdict | None"]


# --- the rules --------------------------------------------------------------------------------


def peer_delete(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """A DELETE from the peer: the normal end of a customer-gateway rekey, an idle timeout after a
    quiet period, a failed rekey around rekey activity, otherwise the row's own meaning."""
    base = match.own_verdict()
    settings = history.settings
    if event.source in _CGW_SOURCES and (after := _cgw_rekey_just_done(history, event)) is not None:
        return RuleVerdict(
            Category.HEALTHY,
            Cause.REKEY_OK,
            Severity.INFO,
            f"{base.summary} at the end of a rekey (the old SA is retired)",
            (after,),
        )
    previous_at = history.last_seen
    if event.timestamp is not None and previous_at is not None:
        quiet = event.timestamp - previous_at
        if quiet >= settings.idle_quiet:
            return RuleVerdict(
                Category.IDLE_TIMEOUT,
                Cause.PEER_DELETE_IDLE,
                Severity.WARNING,
                f"The customer gateway closed the tunnel after {minutes(quiet)} minutes without activity "
                "(idle timeout): keep traffic flowing or raise the device's idle timeout",
                tuple(seen.event for seen in history)[-1:],
            )
    rekeying = [
        seen.event
        for seen in history.within(event.timestamp, settings.rekey_window)
        if seen.finding.cause is Cause.REKEY_OK or _is_rekeying(seen.event)
    ]
    if rekeying or _is_rekeying(event):
        return RuleVerdict(
            Category.REKEY_FAILURE,
            Cause.REKEY_FAILED,
            Severity.WARNING,
            base.summary + " during a rekey: compare phase 1/2 lifetimes and PFS settings",
            tuple(rekeying[-2:]),
        )
    if event.source in _CGW_SOURCES:
        return _peer_closed(history, event, base, ike=Tag.IKE_DELETED in match.rule.tags)
    return None


def _peer_closed(history: TunnelHistory, event: TunnelEvent, base: RuleVerdict, *, ike: bool) -> RuleVerdict:
    """The peer's DELETE on a customer gateway, with no idle period or rekey before it. A DELETE
    travels inside an IKE SA (an encrypted INFORMATIONAL exchange), so that IKE SA was up: the peer
    ended the tunnel (or, IKEv1, first its CHILD_SA) in order: an operator, a reload, its daemon
    stopping; no failed negotiation. Unless this IKE SA's lines show otherwise: a failure just before
    is what the DELETE follows; an IKE SA that came up and never had a CHILD_SA carried no traffic."""
    lines = history.within(event.timestamp, history.settings.rekey_window)
    failure = next(
        (
            seen
            for seen in reversed(lines)
            if seen.finding.cause not in (None, Cause.PEER_DELETE) and seen.finding.category.is_failure
        ),
        None,
    )
    if failure is not None:
        found = failure.finding
        return RuleVerdict(
            found.category,
            found.cause,
            base.severity,
            f"{base.summary} after a failure: {found.summary}",
            (failure.event,),
        )
    up = next((seen.event for seen in reversed(tuple(history)) if Tag.IKE_ESTABLISHED in seen.tags), None)
    children = [seen.event for seen in history if seen.tags & _CHILD_UP_TAGS and _child_came_up(seen.event)]
    if ike and up is not None and not children:
        return RuleVerdict(
            Category.IPSEC_PHASE2_FAILURE,
            Cause.PHASE2_DOWN_PHASE1_UP,
            Severity.WARNING,
            f"{base.summary}: the IKE SA came up at {_clock(up)} and never had a CHILD_SA (phase 2), so it "
            "carried no traffic: compare the phase 2 proposals and traffic selectors",
            (up,),
        )
    return RuleVerdict(
        Category.TUNNEL_CLOSED,
        Cause.PEER_CLOSED,
        Severity.WARNING,
        f"{base.summary}: the peer closed the tunnel in order (a DELETE inside the IKE SA, no failure before "
        "it): an operator, a configuration reload or its daemon stopping, not a failed negotiation",
        (up,) if up is not None else (),
    )


def never_established(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """A negotiation started again and again and never came up. A quiet log (charon at level 0)
    prints no failure line, only the starts: an IKE SA initiated (or, on a responder, begun by the
    peer) ``attempts_for_failure`` times within ``attempt_window`` with no IKE SA established in
    between, or a CHILD_SA (a new one or a rekey) started that often with none established. Each start
    after the first proves the one before it failed; the verdict names the first and the latest start.
    When the log printed why (a failure line with a cause since the first start), that line carries
    the verdict and the starts keep their own meaning: nothing is missing."""
    attempts = history.attempts
    if attempts is None:
        return None
    settings = history.settings
    ike = Tag.IKE_INITIATING in match.rule.tags
    if not ike and attempts.ike:
        return None  # CHILD_SAs start inside IKE attempts that never came up: those are the failure
    if ike and (up := attempts.ike_without_child) is not None and _within(up, event, settings.attempt_window):
        # A new IKE SA starts while the last one came up and never had a CHILD_SA.
        return RuleVerdict(
            Category.IPSEC_PHASE2_FAILURE,
            Cause.PHASE2_DOWN_PHASE1_UP,
            Severity.WARNING,
            f"The IKE SA that came up at {_clock(up)} never had a CHILD_SA (phase 2) and a new IKE SA starts "
            f"at {_clock(event)}: compare the phase 2 proposals and traffic selectors",
            (up,),
        )
    started = attempts.ike if ike else attempts.child
    recent = [line for line in started if _within(line, event, settings.attempt_window)]
    if len(recent) + 1 < settings.attempts_for_failure:
        return None
    first = (attempts.ike_first if ike else attempts.child_first) or recent[0]
    count = (attempts.ike_count if ike else attempts.child_count) + 1
    span = f"{count} times between {_clock(first)} and {_clock(event)}"
    if attempts.failure is not None:
        return None
    context = (first,)
    if ike:
        peer = match.match.groupdict().get("peer")
        what = f"{peer} began an IKE SA" if peer else "The IKE SA was initiated"
        return RuleVerdict(
            Category.IKE_PHASE1_FAILURE,
            None,
            Severity.CRITICAL,
            f"{what} {span} and never established: phase 1 does not complete. This log level prints no "
            "reason: the AWS tunnel log of the same time says why (or raise the daemon's IKE and NET log "
            "levels to 1)",
            context,
        )
    child = match.match.groupdict().get("child") or "CHILD_SA"
    if attempts.child_up:
        return RuleVerdict(
            Category.REKEY_FAILURE,
            Cause.REKEY_FAILED,
            Severity.WARNING,
            f"A rekey of CHILD_SA {child} started {span} and never completed (no new CHILD_SA established): "
            "compare the phase 2 proposals, PFS/DH group and lifetimes on both sides",
            context,
        )
    return RuleVerdict(
        Category.IPSEC_PHASE2_FAILURE,
        Cause.PHASE2_DOWN_PHASE1_UP,
        Severity.WARNING,
        f"CHILD_SA {child} started {span} and never established while the IKE SA is up: compare the "
        "phase 2 proposals and traffic selectors",
        context,
    )


def proposal_phase(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """A refused proposal is phase 1 or phase 2, by the record's phase states or by whether an IKE SA
    is up; a phase 2 mismatch while rekeying is a PFS / DH group mismatch."""
    base = match.own_verdict()
    if event.source is Source.STRONGSWAN:
        return _cgw_proposal_phase(base, history)
    ike_up = _ike_sa_up(event, history)
    if ike_up is None:
        ike_up = base.category is not Category.IKE_PHASE1_FAILURE
    if not ike_up:
        refused = replace(base, category=Category.IKE_PHASE1_FAILURE, cause=Cause.PROPOSAL_MISMATCH)
        ikev1 = [seen.event for seen in history if _IKEV1_REQUEST.search(seen.event.message)]
        if event.source is Source.LIBRESWAN and ikev1:
            return replace(refused, summary=refused.summary + _IKEV1_HINT, context=(ikev1[-1],))
        return refused
    rekey_lines = tuple(
        seen.event
        for seen in history.within(event.timestamp, history.settings.rekey_window)
        if seen.finding.cause is Cause.REKEY_OK or _mentions_child_rekey(seen.event)
    )
    if base.cause is Cause.PFS_MISMATCH or rekey_lines or _mentions_child_rekey(event):
        return RuleVerdict(
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


def unanswered_request(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """Which request went unanswered decides the class: IKE_SA_INIT (no response at phase 1),
    IKE_AUTH over UDP 4500 (NAT-T blocked), a DPD request (DPD timeout) or a rekey."""
    base = match.own_verdict()
    message_id = match.match.groupdict().get("mid")
    context: tuple[TunnelEvent, ...] = ()
    if message_id is None:
        # "giving up" / "peer not responding" lines carry no id: use the last retransmit's.
        for seen in reversed(history):
            earlier = _RETRANSMIT.search(seen.event.message)
            if earlier is not None:
                message_id, context = earlier.group("mid"), (seen.event,)
                break
        else:
            return None
    request = _request_kind(message_id, history)
    if request is not None:
        context = (request[1], *context)
    detail = base.summary
    if (
        request is not None
        and request[0] == "INFORMATIONAL"
        and _DELETE_REQUEST.search(request[1].message)
        and match.match.groupdict().get("attempt") is not None
    ):
        # Our DELETE not answered yet (the peer is busy, e.g. with a rekey collision): an SA being
        # closed on purpose, no failure while it retransmits; giving up (its own row) still is one.
        return RuleVerdict(
            Category.HEALTHY,
            None,
            Severity.INFO,
            f"The peer has not answered our DELETE yet ({detail}): an SA closing, a failure only if it gives up",
            context,
        )
    if request is not None and request[0].startswith("INFORMATIONAL"):  # IKEv1: INFORMATIONAL_V1
        return RuleVerdict(
            Category.DPD_TIMEOUT,
            Cause.PEER_NOT_RESPONSIVE,
            base.severity,
            f"The peer stopped answering dead peer detection ({detail})",
            context,
        )
    if request is not None and request[0] == "CREATE_CHILD_SA":
        return RuleVerdict(
            Category.REKEY_FAILURE,
            Cause.REKEY_FAILED,
            base.severity,
            f"The peer did not answer a rekey request ({detail})",
            context,
        )
    if message_id != "0" and any(_NAT_T_SEND.search(seen.event.message) for seen in history):
        return RuleVerdict(
            Category.CGW_NETWORK,
            Cause.NAT_T_BLOCKED,
            base.severity,
            f"The peer answered IKE_SA_INIT but nothing comes back over UDP 4500 (NAT-T) ({detail}): "
            "allow UDP 4500 both ways",
            context,
        )
    if message_id == "0" and (moved := _main_mode_unanswered_on_4500(history, request)) is not None:
        return RuleVerdict(
            Category.CGW_NETWORK,
            Cause.NAT_T_BLOCKED,
            base.severity,
            f"The peer answered IKEv1 Main Mode on UDP 500 but nothing comes back since it moved to UDP 4500 "
            f"(NAT-T) ({detail}): allow UDP 4500 both ways",
            (moved, *context),
        )
    if message_id == "0" and (sent := _ike_sa_init_unanswered_on_500(history)) is not None:
        return RuleVerdict(
            Category.CGW_NETWORK,
            Cause.UDP500_BLOCKED,
            base.severity,
            f"IKE_SA_INIT went out on UDP 500 and nothing at all came back ({detail}): allow UDP 500 both "
            "ways and check that the gateway's public address is the customer gateway IP AWS has",
            (sent, *context),
        )
    return RuleVerdict(
        Category.IKE_PHASE1_FAILURE,
        Cause.NO_RESPONSE,
        base.severity,
        f"The peer did not answer IKE phase 1 ({detail}): check reachability and that UDP 500 "
        "(and UDP 4500 with NAT-T) is allowed",
        context,
    )


def repeated_collision(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """A rekey collision is benign once; a problem when it keeps happening."""
    earlier = [seen.event for seen in history.repeats(match.rule, event.timestamp)]
    settings = history.settings
    if len(earlier) + 1 >= settings.collision_repeats:
        return RuleVerdict(
            Category.REKEY_FAILURE,
            Cause.REKEY_COLLISION,
            Severity.WARNING,
            f"{len(earlier) + 1} rekey collisions in {minutes(settings.repeat_window)} minutes: "
            "let one peer initiate rekeys (the one with the shorter lifetime)",
            tuple(earlier[-3:]),
        )
    return None


def bgp_transition(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """A BGP state change matters when it leaves or fails to reach Established."""
    base = match.own_verdict()
    old, new = (match.match.group("old") or "").lower(), (match.match.group("new") or "").lower()
    if new == "established":
        return replace(base, category=Category.HEALTHY, cause=Cause.ESTABLISHED, severity=Severity.INFO)
    if old == "established":
        return replace(base, severity=Severity.CRITICAL)
    if old == "connect" and new == "active":
        return replace(base, summary=base.summary + ": TCP 179 to the customer gateway is not answering")
    return replace(base, category=Category.HEALTHY, cause=None, severity=Severity.INFO)


def ike_version(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """ "No IKE config found" right after the peer spoke an IKE version we do not run."""
    base = match.own_verdict()
    for seen in reversed(history.within(event.timestamp, history.settings.rekey_window)):
        message = seen.event.message
        if _IKEV1_EXCHANGE.search(message) or _IKEV2_EXCHANGE.search(message):
            return RuleVerdict(
                Category.IKE_PHASE1_FAILURE,
                Cause.IKE_VERSION_MISMATCH,
                base.severity,
                f"{base.summary}: the peer negotiates "
                f"{'IKEv1' if _IKEV1_EXCHANGE.search(message) else 'IKEv2'}, which is not configured here",
                (seen.event,),
            )
    return None


def rekey_rate(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """A normal rekey; many within the repeat window mean a lifetime far below AWS's."""
    settings = history.settings
    earlier = history.repeats(match.rule, event.timestamp)
    threshold = settings.rekeys_for_lifetime_mismatch
    if event.source in _CGW_SOURCES and (several := several_selectors(history, event, match)) is not None:
        # Each selector pair is its own CHILD_SA with its own rekeys: counted together they would
        # read as a lifetime mismatch.
        return several
    if event.source in _CGW_SOURCES and event.timestamp is not None:
        # One "inbound CHILD_SA ... established" line per rekey, on both sides.
        times = history.cgw_rekeys
        times.append(event.timestamp)
        while times and event.timestamp - times[0] > settings.repeat_window:
            times.popleft()
        if len(times) >= threshold:
            return _lifetime_mismatch(f"{len(times)} CHILD_SA rekeys", settings.repeat_window, earlier)
        return None
    # Lines are not rekeys: one exchange logs its request and its response (same id), and a
    # single rekey often renews two SAs. Count exchanges, and only when the lines could reach it.
    count = len(earlier) + 1
    if count >= threshold:
        count = _exchanges(earlier, event)
    if count >= threshold:
        return _lifetime_mismatch(f"{count} rekeys", settings.repeat_window, earlier)
    return None


def several_selectors(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """CHILD_SAs with different traffic selectors on one IKE SA (one tunnel): several encryption
    domains, of which AWS keeps one SA pair per tunnel, so they replace each other (intermittent loss).

    Only customer-gateway lines name the selectors ("... established with SPIs ... and TS A === B");
    AWS's tunnel records do not, so AWS logs alone never give this verdict."""
    this = _SELECTORS.search(event.message)
    if this is None:
        return None
    pairs = {_same_pair(this): (_selector_pair(this), event)}
    for seen in history.within(event.timestamp, history.settings.repeat_window):
        earlier = _SELECTORS.search(seen.event.message)
        if earlier is not None:
            pairs.setdefault(_same_pair(earlier), (_selector_pair(earlier), seen.event))
    if len(pairs) < 2:  # two pairs are the first that are "several"
        return None
    shown = "; ".join(sorted(name for name, _ in pairs.values()))
    return RuleVerdict(
        Category.POLICY_BASED_VPN,
        Cause.MULTIPLE_SELECTORS,
        Severity.WARNING,
        f"{len(pairs)} traffic-selector pairs on one tunnel ({shown}): AWS keeps one SA pair per tunnel, so "
        "they replace each other and traffic is lost intermittently; use one pair (summarise the networks)",
        tuple(line for _, line in pairs.values() if line is not event),
    )


def child_up(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """A CHILD_SA came up: several selector pairs (:func:`several_selectors`); or, on a customer
    gateway, the same pair again on the same IKE SA, which is an IKEv1 rekey (Quick Mode builds a new
    CHILD_SA and lets the old one expire; charon prints it as a new CHILD_SA even at log level 0),
    counted as :func:`rekey_rate` counts IKEv2's."""
    several = several_selectors(history, event, match)
    if several is not None or event.source not in _CGW_SOURCES or event.timestamp is None:
        return several
    if not event.message.startswith("CHILD_SA "):
        return None  # IKEv2's "outbound CHILD_SA ... established" half of a rekey, counted by rekey_rate
    this = _SELECTORS.search(event.message)
    if this is None:
        return None
    pair = _same_pair(this)
    settings = history.settings
    again = [
        seen
        for seen in history.within(event.timestamp, settings.repeat_window)
        if Tag.CHILD_SA_UP in seen.tags
        and seen.event.message.startswith("CHILD_SA ")
        and (earlier := _SELECTORS.search(seen.event.message))
        and _same_pair(earlier) == pair
    ]
    if not again:
        return None
    times = history.cgw_rekeys
    times.append(event.timestamp)
    while times and event.timestamp - times[0] > settings.repeat_window:
        times.popleft()
    if len(times) >= settings.rekeys_for_lifetime_mismatch:
        return _lifetime_mismatch(f"{len(times)} CHILD_SA rekeys", settings.repeat_window, again)
    return None


def half_open_ike(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """AWS dropped an IKE SA it had answered at IKE_SA_INIT and that never completed IKE_AUTH. With
    NAT detected (the record's ``nat_t_detected``), IKE_AUTH travels over UDP 4500 while IKE_SA_INIT
    used UDP 500: the first exchange got through, the second never arrived, so UDP 4500 is what the
    path drops. Without NAT-T both exchanges use UDP 500 and the row's own meaning stays."""
    if event.nat_t_detected is not True:
        return None
    base = match.own_verdict()
    return RuleVerdict(
        Category.CGW_NETWORK,
        Cause.NAT_T_BLOCKED,
        base.severity,
        f"{base.summary}: NAT was detected, so IKE_AUTH comes over UDP 4500 and it never arrived after "
        "IKE_SA_INIT got through on UDP 500: allow UDP 4500 both ways",
    )


def withdrawal_burst(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """One withdrawn route is routine; ``withdrawals_for_route_loss`` within ``withdrawal_window``
    are routes being lost (the gateway lost its networks, a filter changed, or the session is failing)."""
    settings = history.settings
    window = settings.withdrawal_window
    earlier = [
        seen
        for seen in history.within(event.timestamp, window)
        if Tag.ROUTE_WITHDRAWN in seen.tags and seen.finding.rule_id == match.rule.rule_id
    ]
    count = len(earlier) + 1
    if count < settings.withdrawals_for_route_loss:
        return None
    prefixes = [p for seen in earlier if (p := seen.event.fields.get("bgp_prefix"))]
    if (own := event.fields.get("bgp_prefix")) is not None:
        prefixes.append(own)
    named = ", ".join(dict.fromkeys(prefixes[-5:]))
    return RuleVerdict(
        Category.BGP_SESSION,
        Cause.ROUTES_LOST,
        Severity.WARNING,
        f"Routes falling: {count} routes withdrawn by the customer gateway in {minutes(window)} minutes"
        + (f" (latest: {named})" if named else ""),
        tuple(seen.event for seen in earlier[-3:]),
    )


def _lifetime_mismatch(rekeys: str, window: timedelta, earlier: list[Seen]) -> RuleVerdict:
    # ``rekeys``: how many, of what ("5 CHILD_SA rekeys"); the last three earlier lines are the evidence.
    return RuleVerdict(
        Category.REKEY_FAILURE,
        Cause.LIFETIME_MISMATCH,
        Severity.WARNING,
        f"{rekeys} in {minutes(window)} minutes: a phase 2 lifetime far below AWS's "
        "(3600 s default) makes the tunnel rekey constantly; align the lifetimes",
        tuple(seen.event for seen in earlier[-3:]),
    )


def consequence(history: TunnelHistory, event: TunnelEvent, match: RowMatch) -> RuleVerdict | None:
    """A generic failure line ("failed to establish CHILD_SA", "rekeying failed") printed right
    after a specific one is its consequence: it takes the specific verdict."""
    base = match.own_verdict()
    for seen in reversed(history.within(event.timestamp, _SAME_EXCHANGE)):
        finding = seen.finding
        if finding.rule_id == match.rule.rule_id or finding.cause is None:
            continue
        if finding.category in (Category.HEALTHY, Category.UNKNOWN):
            continue
        return RuleVerdict(
            finding.category, finding.cause, base.severity, f"{base.summary} ({finding.cause.value})", (seen.event,)
        )
    return None


class Registration(NamedTuple):
    """A context rule and the tag of the rows it refines."""

    tag: Tag
    rule: ContextRule
    #: Whether the rule reads the tunnel's lines from minutes before (windows longer than one
    #: delivery), which the ingest reads back from the log group (see ``ingest_batch``).
    reads_earlier_deliveries: bool = False


#: Every context rule. A row carries at most one of these tags (tests/unit/test_catalogue.py checks it).
CONTEXT_RULES: tuple[Registration, ...] = (
    Registration(Tag.PEER_DELETE, peer_delete, reads_earlier_deliveries=True),
    Registration(Tag.PROPOSAL_REFUSED, proposal_phase),
    Registration(Tag.UNANSWERED_REQUEST, unanswered_request),
    Registration(Tag.REKEY_COLLISION, repeated_collision, reads_earlier_deliveries=True),
    Registration(Tag.BGP_STATE_CHANGE, bgp_transition),
    Registration(Tag.NO_IKE_CONFIG, ike_version),
    # Not read back from earlier deliveries: it would look back on nearly every delivery (rekey
    # exchanges are most lines); it counts the rekeys of the deliveries one classifier sees.
    Registration(Tag.CHILD_REKEY, rekey_rate),
    Registration(Tag.GENERIC_FAILURE, consequence),
    Registration(Tag.CHILD_SA_UP, child_up),
    Registration(Tag.HALF_OPEN_IKE, half_open_ike),
    # A burst spans deliveries (a subscription delivers every few seconds).
    Registration(Tag.ROUTE_WITHDRAWN, withdrawal_burst, reads_earlier_deliveries=True),
    # Repeated starts span deliveries (minutes apart with real retransmit timers); a start is rare in
    # a healthy log (once per IKE SA lifetime), so looking back for it costs little.
    Registration(Tag.IKE_INITIATING, never_established, reads_earlier_deliveries=True),
    Registration(Tag.CHILD_STARTING, never_established, reads_earlier_deliveries=True),
)


def registration_of(rule: Rule) -> Registration | None:
    """The context rule of a catalogue row, if it has one."""
    return next((registration for registration in CONTEXT_RULES if registration.tag in rule.tags), None)


# --- what the rules read in a line ------------------------------------------------------------

_CGW_SOURCES = frozenset({Source.STRONGSWAN, Source.LIBRESWAN})
# Lines of one IKE exchange (request, notify, "failed to establish") are printed within this.
_SAME_EXCHANGE = timedelta(seconds=5)
# The peer's DELETE for the old CHILD_SA follows a successful rekey within milliseconds.
_REKEY_DELETE_WINDOW = timedelta(seconds=10)
_RETRANSMIT = re.compile(r"retransmit \d+ of request (?:with )?message ID (?P<mid>\d+)")
_GENERATING = re.compile(r"generating (?P<kind>[A-Z0-9_]+) (?:request|response) (?P<mid>\d+)")
# An INFORMATIONAL request carrying a Delete payload ("generating INFORMATIONAL request 2 [ D ]"),
# not a DPD (an empty INFORMATIONAL, "[ ]").
_DELETE_REQUEST = re.compile(r"INFORMATIONAL request \d+ \[ D \]")
_NAT_T_SEND = re.compile(r"sending packet: from \S+\[4500\] to \S+\[4500\]|switching to port 4500")
_IKEV1_EXCHANGE = re.compile(r"\b(?:ID_PROT|AGGRESSIVE|Main Mode|Aggressive Mode|IKEv1)\b")
_IKEV2_EXCHANGE = re.compile(r"\b(?:IKE_SA_INIT|IKEv2)\b")
_CHILD_REKEY = re.compile(r"CREATE_CHILD_SA|rekeying CHILD_SA|CHILD_REKEY|rekey", re.IGNORECASE)
_EXCHANGE = re.compile(
    r"(?:generating|parsed) (?P<kind>IKE_SA_INIT|IKE_AUTH|CREATE_CHILD_SA|ID_PROT|AGGRESSIVE|QUICK_MODE) "
    r"(?P<dir>request|response) (?P<mid>\d+)"
)
# charon: "initiating Main Mode IKE_SA ..."; pluto: "initiating IKEv1 Main Mode connection".
_IKEV1_REQUEST = re.compile(r"generating (?:ID_PROT|AGGRESSIVE) request|initiating (?:IKEv1 )?(?:Main|Aggressive) Mode")
_IKEV1_HINT = " to an IKEv1 request: if the AWS tunnel allows IKEv2 only, switch the gateway to IKEv2"
_OWN_CHILD_DELETE = re.compile(r"sending DELETE for (?:ESP|AH) CHILD_SA")
# charon: "CHILD_SA net{1} established with SPIs c1_i c2_o and TS 10.1.0.0/16 === 10.100.0.0/16"
# (also the "inbound"/"outbound" lines of a rekey).
_SELECTORS = re.compile(r"CHILD_SA \S+ established with SPIs .* and TS (?P<local>.+?) === (?P<remote>.+?)\s*$")
_CHILD_UP_TAGS = frozenset({Tag.CHILD_SA_UP, Tag.CHILD_REKEY})
_SENT_ON_500 = re.compile(r"sending packet: from \S+\[500\] to \S+\[500\]")
_RECEIVED = re.compile(r"received packet: from ")


def _selector_pair(found: re.Match[str]) -> str:
    return f"{found.group('local').strip()} === {found.group('remote').strip()}"


def _same_pair(found: re.Match[str]) -> frozenset[str]:
    """The pair whichever end logged it: each side logs its own networks first (``local === remote``),
    so ``A === B`` from one end is ``B === A`` from the other, one pair."""
    return frozenset((found.group("local").strip(), found.group("remote").strip()))


def _ike_sa_init_unanswered_on_500(history: Iterable[Seen]) -> TunnelEvent | None:
    """The line sending IKE_SA_INIT over UDP 500 when nothing at all came back from the peer in this
    negotiation; ``None`` when the port is not in the log or a packet did come back."""
    sent: TunnelEvent | None = None
    for seen in history:
        message = seen.event.message
        if _RECEIVED.search(message):
            return None
        if sent is None and _SENT_ON_500.search(message):
            sent = seen.event
    return sent


def _main_mode_unanswered_on_4500(
    history: Iterable[Seen], request: tuple[str, TunnelEvent] | None
) -> TunnelEvent | None:
    """IKEv1: the line sending the unanswered request over UDP 4500, when the peer did answer on UDP 500
    earlier in the same negotiation; ``None`` otherwise. Main Mode keeps message id 0 throughout (its
    messages differ by charon's ``seq``) and moves to UDP 4500 at message 5 once the peer's message 4
    (NAT-D) showed a NAT (RFC 3947 section 4), so "retransmit of request message ID 0" alone cannot tell
    IKEv2's IKE_SA_INIT from Main Mode's last messages: the ports of what was sent and received can. When
    the answer on UDP 500 has left the history (charon at level 2), the request being Main or Aggressive
    Mode's (``ID_PROT``/``AGGRESSIVE``) on UDP 4500 proves that answer: IKEv1 moves only after it."""
    answered = False
    last_sent: TunnelEvent | None = None
    for seen in history:
        message = seen.event.message
        if _IKEV1_REQUEST.search(message) and message.startswith("initiating"):
            answered, last_sent = False, None  # a new negotiation
        elif _RECEIVED.search(message):
            answered, last_sent = True, None
        elif message.startswith("sending packet: "):
            last_sent = seen.event
    ikev1 = request is not None and request[0] in ("ID_PROT", "AGGRESSIVE")
    if (answered or ikev1) and last_sent is not None and _NAT_T_SEND.search(last_sent.message):
        return last_sent
    return None


def _exchanges(earlier: list[Seen], event: TunnelEvent) -> int:
    """How many IKE exchanges the earlier lines and this one belong to, by their ``(id=...)`` (read
    when each line was remembered); a line without one counts alone."""
    exchanges = {seen.exchange or f"line {index}" for index, seen in enumerate(earlier)}
    exchanges.add(exchange_id(event) or f"line {len(earlier)}")
    return len(exchanges)


def _child_came_up(event: TunnelEvent) -> bool:
    message = event.message
    return "established" in message or "rekeyed" in message


def _within(line: TunnelEvent, event: TunnelEvent, window: timedelta) -> bool:
    """Whether ``line`` is at most ``window`` before ``event`` (true when a time is unknown)."""
    if line.timestamp is None or event.timestamp is None:
        return True
    return event.timestamp - line.timestamp <= window


def _clock(event: TunnelEvent) -> str:
    """A line's time for a summary (UTC, to the second)."""
    return "an unknown time" if event.timestamp is None else event.timestamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def _is_rekeying(event: TunnelEvent) -> bool:
    return PhaseState.REKEYING in (event.ike_phase1_state, event.ike_phase2_state)


def _mentions_child_rekey(event: TunnelEvent) -> bool:
    return bool(_CHILD_REKEY.search(event.message)) or _is_rekeying(event)


def _ike_sa_up(event: TunnelEvent, history: Iterable[Seen]) -> bool | None:
    """Whether phase 1 is up: from the record's own state, else from the tunnel's history."""
    if event.ike_phase1_state is not None:
        return event.ike_phase1_state in (PhaseState.ESTABLISHED, PhaseState.REKEYING)
    up: bool | None = None
    for seen in history:
        message = seen.event.message
        if Tag.IKE_ESTABLISHED in seen.tags or "IKE_AUTH response" in message:
            up = True
        elif Tag.IKE_DELETED in seen.tags or message.startswith(("deleting IKE_SA", "IKE_SA deleted")):
            up = False
        elif "generating IKE_AUTH" in message or "parsed IKE_AUTH" in message:
            up = True if up is None else up
    return up


def _request_kind(message_id: str, history: Iterable[Seen]) -> tuple[str, TunnelEvent] | None:
    """The exchange type of our request with this message id ("generating X request N"); for a
    request past IKE_AUTH with no such line, the latest DPD request we sent if there was one."""
    generated_kind: tuple[str, TunnelEvent] | None = None
    last_dpd: TunnelEvent | None = None
    for seen in history:
        generated = _GENERATING.search(seen.event.message)
        if generated and generated.group("mid") == message_id and "request" in generated.group(0):
            generated_kind = (generated.group("kind"), seen.event)
        if Tag.DPD_REQUEST in seen.tags and seen.event.message.startswith("sending"):
            last_dpd = seen.event
    if generated_kind is not None:
        return generated_kind
    if last_dpd is not None and message_id not in ("0", "1"):
        return ("INFORMATIONAL", last_dpd)
    return None


# --- customer gateways (strongSwan / libreswan): context from the daemon's own exchange lines ---


def _cgw_exchange(lines: tuple[Seen, ...]) -> tuple[str, bool, TunnelEvent] | None:
    """The IKE exchange a strongSwan failure belongs to: its type, whether it rekeys a CHILD_SA
    (``N(REKEY_SA)`` in the request, or a rekey just asked for), and its request line."""
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].event
        current = _EXCHANGE.search(line.message)
        if current is None:
            continue
        kind, mid = current.group("kind"), current.group("mid")
        request = line
        rekey = False
        for earlier in reversed(lines[: index + 1]):
            same = _EXCHANGE.search(earlier.event.message)
            if same is not None and same.group("kind") == kind and same.group("mid") == mid:
                rekey = rekey or "REKEY_SA" in earlier.event.message
                if same.group("dir") == "request":
                    request = earlier.event
        return kind, rekey, request
    return None


def _cgw_proposal_phase(base: RuleVerdict, history: Iterable[Seen]) -> RuleVerdict:
    """strongSwan: the exchange that failed decides. IKE_SA_INIT / Main Mode is phase 1 (and an
    IKEv1 request refused outright may be an IKE version mismatch); IKE_AUTH or CREATE_CHILD_SA is
    phase 2, and a CHILD_SA *rekey* refused after the same proposals came up in IKE_AUTH differs only
    in the DH group (IKE_AUTH carries none): PFS."""
    lines = tuple(history)
    exchange = _cgw_exchange(lines)
    kind = exchange[0] if exchange else None
    if kind in ("IKE_AUTH", "CREATE_CHILD_SA", "QUICK_MODE") or base.category is Category.IPSEC_PHASE2_FAILURE:
        context = (exchange[2],) if exchange else ()
        if base.cause is Cause.PFS_MISMATCH or (exchange is not None and exchange[1]):
            return RuleVerdict(
                Category.IPSEC_PHASE2_FAILURE,
                Cause.PFS_MISMATCH,
                Severity.CRITICAL,
                "Phase 2 rekey refused: the CHILD_SA came up without DH but its rekey (PFS) needs a DH group "
                "both sides allow: enable PFS on the customer gateway with a group AWS allows (2, 14-24)",
                context,
            )
        summary = base.summary if "phase 2" in base.summary.lower() else base.summary + " (phase 2)"
        return RuleVerdict(Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH, base.severity, summary, context)
    summary = base.summary
    ikev1 = [seen.event for seen in lines if _IKEV1_REQUEST.search(seen.event.message)]
    if ikev1:
        summary += _IKEV1_HINT
    return RuleVerdict(Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH, base.severity, summary, tuple(ikev1[-1:]))


def _cgw_rekey_just_done(history: TunnelHistory, event: TunnelEvent) -> TunnelEvent | None:
    """The line showing a DELETE is the normal end of a CHILD_SA rekey: a rekeyed CHILD_SA came up
    (or we retired the old one ourselves) just before."""
    for seen in reversed(history.within(event.timestamp, _REKEY_DELETE_WINDOW)):
        line = seen.event
        if (Tag.CHILD_REKEY in seen.tags and line.source in _CGW_SOURCES) or _OWN_CHILD_DELETE.search(line.message):
            return line
    return None
