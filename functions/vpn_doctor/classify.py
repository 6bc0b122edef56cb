"""Classify tunnel events into findings, using the catalogue and each tunnel's recent history.

The classifier is pure and stateful only in memory: feed it events in order (per tunnel) and it
remembers a bounded window of each tunnel's recent lines (:mod:`vpn_doctor.history`), so a line can
be read in context by the context rules (:mod:`vpn_doctor.rules`). Callers that see a tunnel across
invocations can seed ``last_seen`` so a DELETE after a long quiet period is recognised as an idle
timeout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from vpn_doctor.catalogue import CATALOGUE, FAMILY_OF_SOURCE, Rule
from vpn_doctor.history import ClassifierSettings, Histories, TunnelHistory
from vpn_doctor.parsing import UNRECOGNISED_FORMAT, parse_line
from vpn_doctor.records import Evidence, Finding, Source, TunnelEvent
from vpn_doctor.rules import Registration, RowMatch, registration_of
from vpn_doctor.taxonomy import Category, Severity
from vpn_doctor.text import phase_states

__all__ = ["Classifier", "ClassifierSettings", "classify_lines"]

# A catalogue row with its context rule (if any), and the match of a line against it.
_Row = tuple[Rule, Registration | None]
_Matched = tuple[_Row, re.Match[str]]


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
        self._rows: dict[Source, tuple[_Row, ...]] = {
            source: tuple((rule, registration_of(rule)) for rule in rules if rule.family == family)
            for source, family in FAMILY_OF_SOURCE.items()
        }
        self._histories = Histories(self._settings, last_seen)

    def classify(self, event: TunnelEvent) -> Finding:
        """Classify one event in the context of the tunnel's earlier events."""
        return self.classify_all((event,))[0]

    def classify_all(self, events: Iterable[TunnelEvent]) -> list[Finding]:
        """Classify events in the order given, each in the context of its tunnel's earlier events.

        A record delivered again (at-least-once delivery) gets its first finding again and is not
        counted twice."""
        findings: list[Finding] = []
        for event in events:
            history = self._histories.of(event)
            again = history.delivered_before(event)
            if again is not None:
                findings.append(again)
                continue
            history.age_out(event.timestamp)
            matched = self._match(event)
            if matched is None:
                finding = _unknown(event)
                history.remember(finding, frozenset())
            else:
                (rule, registration), match = matched
                finding = _judge(history, event, rule, registration, match)
                history.remember(finding, rule.tags)
            findings.append(finding)
        return findings

    def reads_earlier_deliveries(self, event: TunnelEvent) -> bool:
        """Whether this record's verdict depends on its tunnel's lines from before its own delivery:
        a DELETE from the peer (idle after a quiet period, failed around a rekey) or a rekey collision
        (a problem when repeated). CloudWatch Logs delivers a tunnel's lines seconds after they are
        written, so those earlier lines came in earlier deliveries; see :func:`vpn_doctor.ingest.ingest_batch`."""
        matched = self._match(event)
        registration = None if matched is None else matched[0][1]
        return registration is not None and registration.reads_earlier_deliveries

    @property
    def history_window(self) -> timedelta:
        """How far back a tunnel's history reaches (the longest window a context rule reads)."""
        return self._settings.history_window

    @property
    def last_seen(self) -> Mapping[str, datetime]:
        """When each tunnel (by history key) was last heard of, for seeding a later classifier."""
        return self._histories.last_seen

    def _match(self, event: TunnelEvent) -> _Matched | None:
        """The catalogue row of a line: the first of its source's rows whose pattern it contains."""
        message = event.message
        if message:
            for row in self._rows[event.source]:
                if (match := row[0].pattern.search(message)) is not None:
                    return row, match
        return None


def _judge(
    history: TunnelHistory, event: TunnelEvent, rule: Rule, registration: Registration | None, match: re.Match[str]
) -> Finding:
    """The finding of a line its catalogue row matched: the row's meaning, or what the row's context
    rule makes of it in the tunnel's history."""
    if event.source is Source.UNPARSED:
        event = _recognised(event)
    verdict = None if registration is None else registration.rule(history, event, RowMatch(rule, match))
    error = event.fields.get("error")
    if verdict is None:
        return Finding(
            rule.category, rule.cause, rule.severity, rule.render_summary(match), rule.rule_id, event, (), error
        )
    context = tuple(Evidence.of(line) for line in verdict.context)
    return Finding(
        verdict.category, verdict.cause, verdict.severity, verdict.summary, rule.rule_id, event, context, error
    )


def _unknown(event: TunnelEvent) -> Finding:
    error = event.fields.get("error")
    states = phase_states(event.ike_phase1_state, event.ike_phase2_state)
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


def _recognised(event: TunnelEvent) -> TunnelEvent:
    """A line of no known layout that is nonetheless an AWS message read as the text format,
    without the parse error (it was read after all)."""
    if event.fields.get("error") != UNRECOGNISED_FORMAT:
        return event
    fields = {name: value for name, value in event.fields.items() if name != "error"}
    return replace(event, source=Source.AWS_TUNNEL_TEXT, fields=fields)


def classify_lines(
    lines: Iterable[str], *, reference_time: datetime | None = None, classifier: Classifier | None = None
) -> list[Finding]:
    """Parse and classify raw lines (convenience for the CLI and tests)."""
    engine = classifier or Classifier()
    return [engine.classify(parse_line(line, reference_time=reference_time)) for line in lines]
