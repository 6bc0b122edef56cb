"""The message catalogue: every log message vpn-doctor recognises, and what it means.

This package is the single place to audit classification: ``aws`` holds the AWS tunnel and BGP
log messages, ``cgw`` the customer-gateway (strongSwan, libreswan) messages. Each row names the source family it
applies to, a regular expression (searched, case-insensitive), the taxonomy category/cause, a
severity, a one-line summary for people (``{name}`` placeholders come from named groups), and
optionally a *context* rule: a small, named function in :mod:`vpn_doctor.classify` that may
refine the row using the tunnel's recent events (for example, a DELETE after a long quiet period
is an idle timeout). Rows are tried in order; the first match wins.

Sources: AWS "Site-to-Site VPN logs" message tables (IKEv1, IKEv2, BGP), strongSwan 5.9 charon
and libreswan pluto messages as captured in the customer-gateway lab (tests/lab).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from re import _constants, _parser  # type: ignore[attr-defined]

from vpn_doctor.records import Source
from vpn_doctor.taxonomy import Category, Cause, Severity


class Family(StrEnum):
    """Which log family a rule reads."""

    AWS_TUNNEL = "aws_tunnel"
    AWS_BGP = "aws_bgp"
    STRONGSWAN = "strongswan"
    LIBRESWAN = "libreswan"


FAMILY_OF_SOURCE: dict[Source, Family] = {
    Source.AWS_TUNNEL_JSON: Family.AWS_TUNNEL,
    Source.AWS_TUNNEL_TEXT: Family.AWS_TUNNEL,
    # A line that fit no format is tried against the AWS messages: the text format is
    # undocumented and may be no more than the details message itself.
    Source.UNPARSED: Family.AWS_TUNNEL,
    Source.AWS_BGP: Family.AWS_BGP,
    Source.STRONGSWAN: Family.STRONGSWAN,
    Source.LIBRESWAN: Family.LIBRESWAN,
}


class Context(StrEnum):
    """Named context rules (implemented in :mod:`vpn_doctor.classify`)."""

    PEER_DELETE = "peer_delete"  # idle (after quiet) / rekey (around rekey) / the row's default
    PROPOSAL_PHASE = "proposal_phase"  # phase 1 or phase 2 by phase states or history; PFS on rekey
    RETRANSMIT = "retransmit"  # which request went unanswered: IKE_SA_INIT, IKE_AUTH, DPD, rekey
    REPEATED = "repeated"  # benign once, a problem when repeated (rekey collisions)
    BGP_TRANSITION = "bgp_transition"  # BGP state change: to/from Established
    IKE_VERSION = "ike_version"  # no matching IKE config: version mismatch when the peer spoke the other
    REKEY_RATE = "rekey_rate"  # normal rekey once; too frequent rekeys mean a lifetime mismatch
    CONSEQUENCE = "consequence"  # a generic failure line right after a specific one takes its verdict


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
    context: Context | None = None
    # A lower-case literal every match must contain (derived from the pattern): a cheap substring
    # test that skips the regex for most rows. Empty when the pattern has no such literal.
    needle: str = ""
    _compiled: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def pattern(self) -> re.Pattern[str]:
        """The compiled pattern, compiled when first needed: most rows are never tried by a batch
        (their literal is not in its lines), so a cold start compiles only the few it needs."""
        compiled = self._compiled
        if compiled is None:
            compiled = re.compile(self.regex, re.IGNORECASE)
            object.__setattr__(self, "_compiled", compiled)  # a cache, not state: the row stays frozen
        return compiled

    def render_summary(self, match: re.Match[str]) -> str:
        """The summary with named groups filled in (missing ones left as ``?``)."""
        if "{" not in self.summary and "}" not in self.summary:
            return self.summary  # nothing to fill in (most rows): this runs for every record
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
    context: Context | None = None,
) -> Rule:
    # Deriving the literal parses the pattern: a malformed one fails here, at import.
    return Rule(rule_id, family, pattern, category, cause, severity, summary, context, required_literal(pattern))


def required_literal(pattern: str) -> str:
    """The longest run of plain characters that every match of ``pattern`` contains, lower-cased.

    Reads the pattern's top level only: a run ends at anything optional, repeated, grouped or
    alternated, so a pattern that is one alternation as a whole has no required literal at all.
    """
    parsed = _parser.parse(pattern, re.IGNORECASE)
    best, run = "", []
    for op, value in parsed:
        if op is _constants.LITERAL:
            run.append(chr(value))
            continue
        best = max(best, "".join(run), key=len)
        run = []
    return max(best, "".join(run), key=len).lower()


# The tables import the definitions above, so they are read last.
from vpn_doctor.catalogue.aws import AWS_RULES, BGP_RULES  # noqa: E402
from vpn_doctor.catalogue.cgw import LIBRESWAN_RULES, STRONGSWAN_RULES  # noqa: E402

#: Every rule, in matching order within each family.
CATALOGUE: tuple[Rule, ...] = (*AWS_RULES, *BGP_RULES, *STRONGSWAN_RULES, *LIBRESWAN_RULES)
