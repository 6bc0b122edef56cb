"""The message catalogue: every log message vpn-doctor recognises, and what it means.

This package is the single place to audit classification: ``aws`` holds the AWS tunnel and BGP
log messages, ``cgw`` the customer-gateway (strongSwan, libreswan) messages, ``vendors`` those of
Cisco ASA/FTD and IOS, PAN-OS, FortiGate, Junos and RouterOS gateways. Each row names the source family it
applies to, a regular expression (searched, case-insensitive), the taxonomy category/cause, a
severity, a one-line summary for people (``{name}`` placeholders come from named groups), and
semantic *tags* (:class:`Tag`): what the message is (a peer's DELETE, a DPD request, a CHILD_SA
rekey, ...). The context rules of :mod:`vpn_doctor.rules` ask for tags, never for rows: a rule
applies to the rows carrying its tag, and reads the tags of a tunnel's earlier lines (for example,
a DELETE after a long quiet period is an idle timeout). Rows are tried in order; the first match wins.

Sources: AWS "Site-to-Site VPN logs" message tables (IKEv1, IKEv2, BGP), strongSwan 5.9 charon
and libreswan pluto messages as captured in the customer-gateway lab (tests/lab).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from vpn_doctor.records import Source
from vpn_doctor.taxonomy import Category, Cause, Severity


class Family(StrEnum):
    """Which log family a rule reads."""

    AWS_TUNNEL = "aws_tunnel"
    AWS_BGP = "aws_bgp"
    STRONGSWAN = "strongswan"
    LIBRESWAN = "libreswan"
    CISCO_ASA = "cisco_asa"
    CISCO_IOS = "cisco_ios"
    PANOS = "paloalto_panos"
    FORTIGATE = "fortinet_fortigate"
    JUNOS = "juniper_junos"
    ROUTEROS = "mikrotik_routeros"


FAMILY_OF_SOURCE: dict[Source, Family] = {
    Source.AWS_TUNNEL_JSON: Family.AWS_TUNNEL,
    Source.AWS_TUNNEL_TEXT: Family.AWS_TUNNEL,
    # A line that fit no format is tried against the AWS messages: the text format is
    # undocumented and may be no more than the details message itself.
    Source.UNPARSED: Family.AWS_TUNNEL,
    Source.AWS_BGP: Family.AWS_BGP,
    Source.STRONGSWAN: Family.STRONGSWAN,
    Source.LIBRESWAN: Family.LIBRESWAN,
    Source.CISCO_ASA: Family.CISCO_ASA,
    Source.CISCO_IOS: Family.CISCO_IOS,
    Source.PANOS: Family.PANOS,
    Source.FORTIGATE: Family.FORTIGATE,
    Source.JUNOS: Family.JUNOS,
    Source.ROUTEROS: Family.ROUTEROS,
}


class Tag(StrEnum):
    """What a message is, in words the context rules (:mod:`vpn_doctor.rules`) ask for."""

    PEER_DELETE = "peer_delete"  # the peer deleted an SA (phase 1 or 2)
    IKE_DELETED = "ike_deleted"  # the IKE SA (phase 1) is gone
    IKE_ESTABLISHED = "ike_established"  # an SA came up, so phase 1 is up
    PROPOSAL_REFUSED = "proposal_refused"  # a proposal (algorithms, DH group) was refused
    UNANSWERED_REQUEST = "unanswered_request"  # our request got no answer (retransmits, giving up)
    REKEY_COLLISION = "rekey_collision"  # simultaneous rekey, the redundant SA closed: benign once
    BGP_STATE_CHANGE = "bgp_state_change"  # the BGP session moved between two states
    NO_IKE_CONFIG = "no_ike_config"  # no IKE configuration matches the peer
    CHILD_REKEY = "child_rekey"  # one CHILD_SA rekey (exchange line or rekeyed SA)
    DPD_REQUEST = "dpd_request"  # a dead peer detection request, sent or received
    GENERIC_FAILURE = "generic_failure"  # a failure line that says what failed, not why
    CHILD_SA_UP = "child_sa_up"  # a CHILD_SA came up (not a rekey), with its traffic selectors
    HALF_OPEN_IKE = "half_open_ike"  # an IKE SA answered at IKE_SA_INIT never saw IKE_AUTH
    ROUTE_WITHDRAWN = "route_withdrawn"  # the BGP peer withdrew a route
    IKE_INITIATING = "ike_initiating"  # an IKE SA negotiation starts (ours, or the peer's as seen by a responder)
    CHILD_STARTING = "child_starting"  # we start negotiating a CHILD_SA (a new one or a rekey)


@dataclass(frozen=True, slots=True)
class Rule:
    """One catalogue row."""

    rule_id: str
    family: Family
    regex: str  # searched case-insensitively
    category: Category
    cause: Cause | None
    severity: Severity
    summary: str
    tags: frozenset[Tag] = frozenset()
    _compiled: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def pattern(self) -> re.Pattern[str]:
        """The compiled pattern, compiled when first needed: a batch of chatter tries a few of the
        rows, so a cold start compiles only those."""
        compiled = self._compiled
        if compiled is None:
            compiled = re.compile(self.regex, re.IGNORECASE)
            object.__setattr__(self, "_compiled", compiled)  # a cache, not state: the row stays frozen
        return compiled

    def render_summary(self, match: re.Match[str]) -> str:
        """The summary with named groups filled in (missing ones left as ``?``)."""
        if "{" not in self.summary:
            return self.summary
        groups = {key: value or "?" for key, value in match.groupdict().items()}
        try:
            return self.summary.format(**groups)
        except (KeyError, IndexError):
            return self.summary


def row(  # noqa: PLR0917 - a table row reads best positionally
    rule_id: str,
    family: Family,
    pattern: str,
    category: Category,
    cause: Cause | None,
    severity: Severity,
    summary: str,
    *tags: Tag,
) -> Rule:
    """One catalogue row, as the tables write it."""
    return Rule(rule_id, family, pattern, category, cause, severity, summary, frozenset(tags))


def first_match(rules: tuple[Rule, ...], message: str) -> tuple[Rule, re.Match[str]] | None:
    """The row of a line and its match: the first row whose pattern the message contains."""
    if message:
        for rule in rules:
            if (match := rule.pattern.search(message)) is not None:
                return rule, match
    return None


# The tables import the definitions above, so they are read last.
from vpn_doctor.catalogue.aws import AWS_RULES, BGP_RULES  # noqa: E402
from vpn_doctor.catalogue.cgw import LIBRESWAN_RULES, STRONGSWAN_RULES  # noqa: E402
from vpn_doctor.catalogue.vendors import VENDOR_RULES  # noqa: E402

#: Every rule, in matching order within each family.
CATALOGUE: tuple[Rule, ...] = (*AWS_RULES, *BGP_RULES, *STRONGSWAN_RULES, *LIBRESWAN_RULES, *VENDOR_RULES)
