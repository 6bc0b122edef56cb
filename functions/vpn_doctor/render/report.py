"""The periodic report as chat messages: a Slack Block Kit message and a Teams Adaptive Card.

A summary to read at a glance in the channel: the window, the totals, availability of the worst connections
first (known time only: unknown is never counted as up), incidents by cause, time to recovery, repeat offenders,
flapping tunnels, connections down for more than a week, the remediation changes. The whole report is the
e-mail's (the alert topic) and ``vpn-doctor report --html``'s. Pure: the same report gives the same message.

Limits kept: Slack (https://api.slack.com/reference/block-kit/blocks): at most 50 blocks, section text 3000
characters, at most 10 fields per section, header text 150; Teams: Adaptive Card 1.4 in the Workflows message
envelope, as alerts (:mod:`vpn_doctor.render.teams`), each text block well below Teams' 28 KB message limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final

from vpn_doctor.render.slack import escape
from vpn_doctor.render.teams import CARD_CONTENT_TYPE, CARD_SCHEMA, CARD_VERSION, TEXT_LIMIT
from vpn_doctor.report import (
    REPEAT_OFFENDER_INCIDENTS,
    Availability,
    ConnectionReport,
    Report,
    duration_words,
    percent_words,
)

# Connections listed by name in a chat message (worst availability first); the rest are counted.
SHOWN_CONNECTIONS: Final = 15
SHOWN_LINES: Final = 10  # per list (causes, offenders, flapping tunnels, long outages, changes)
_SECTION_LIMIT: Final = 3000
_FOOTER: Final = (
    "Availability counts known time only: time without data is unknown, not up. "
    "The e-mail has the whole report; `vpn-doctor report --html FILE` draws it."
)


def report_title(report: Report) -> str:
    """``vpn-doctor report 2026-11-23 to 2026-11-30``."""
    return f"vpn-doctor report {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}"


def render_slack_report(report: Report) -> dict[str, Any]:
    """The incoming-webhook payload: a plain ``text`` fallback and Block Kit ``blocks``."""
    facts = _facts(report)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": report_title(report), "emoji": True}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{escape(v)}"} for k, v in facts]},
    ]
    for heading, lines in _lists(report):
        text = f"*{heading}*\n" + "\n".join(escape(line) for line in lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _SECTION_LIMIT)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _FOOTER}]})
    summary = ", ".join(f"{k.lower()} {v}" for k, v in facts[:2])
    return {"text": f":bar_chart: {report_title(report)}: {summary}", "blocks": blocks}


def render_teams_report(report: Report) -> dict[str, Any]:
    """The Workflows webhook body: the message envelope around one Adaptive Card."""
    body: list[dict[str, Any]] = [
        _text(report_title(report), weight="Bolder", size="Medium"),
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in _facts(report)]},
    ]
    for heading, lines in _lists(report):
        body += [_text(heading, weight="Bolder", separator=True), _text("\n\n".join(f"- {line}" for line in lines))]
    body.append(_text(_FOOTER.replace("`", ""), isSubtle=True, size="Small"))
    card = {"type": "AdaptiveCard", "$schema": CARD_SCHEMA, "version": CARD_VERSION, "body": body}
    return {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card | {"msteams": {"width": "Full"}}}
        ],
    }


#: The report's message per chat channel (by the channel's name); a channel not listed gets no report (a pager).
REPORT_LAYOUTS: Final[Mapping[str, Callable[[Report], dict[str, Any]]]] = {
    "slack": render_slack_report,
    "teams": render_teams_report,
}


def _facts(report: Report) -> list[tuple[str, str]]:
    incidents = sum(report.by_cause.values())
    return [
        ("Connections", str(len(report.connections))),
        ("Incidents", str(incidents)),
        (
            "Time to recovery",
            f"median {duration_words(report.recovery_median)}, p90 {duration_words(report.recovery_p90)}",
        ),
        ("Flapping tunnels", str(len(report.flapping))),
        ("Down more than a week", str(len(report.long_down))),
        ("Remediation changes", str(len(report.changes))),
    ]


def _lists(report: Report) -> list[tuple[str, list[str]]]:
    """Each list the message shows, with its heading; empty lists are left out but for availability."""
    shown: list[tuple[str, list[str]]] = [("Availability (worst first)", _availability(report))]
    causes = [f"{cause}: {count}" for cause, count in report.by_cause.items()]
    offenders = [f"{vpn}: {count} incidents" for vpn, count in report.repeat_offenders.items()]
    flapping = [f"{vpn} tunnel {ip}" for vpn, ip in report.flapping]
    long_down = [
        f"{vpn}: no tunnel up for {duration_words(down)} ({math.floor(down / timedelta(hours=1))} connection-hours "
        "billed)"
        for vpn, down in report.long_down.items()
    ]
    changes = [
        f"{change.decided_at:%Y-%m-%d %H:%M} {change.vpn_connection_id} {change.tunnel_ip}: {change.status}"
        + (f" {change.action}" if change.action else "")
        for change in report.changes
    ]
    for heading, lines in (
        ("Incidents by cause", causes),
        (f"Repeat offenders (>= {REPEAT_OFFENDER_INCIDENTS} incidents)", offenders),
        ("Flapping tunnels", flapping),
        ("Down for more than a week (still billed per connection-hour)", long_down),
        ("Remediation changes", changes),
    ):
        if lines:
            shown.append((heading, _capped(lines, SHOWN_LINES)))
    return shown


def _availability(report: Report) -> list[str]:
    if not report.connections:
        return ["no connection has any record in the store for this window"]
    ordered = sorted(report.connections, key=_worst_first)
    lines = [
        f"{c.vpn_connection_id}: at least one tunnel up {percent_words(c.any_up_ratio)}, both "
        f"{percent_words(c.both_up_ratio)}, unknown {duration_words(c.any_up[Availability.UNKNOWN])}, "
        f"{len(c.incidents)} incident(s)"
        for c in ordered
    ]
    return _capped(lines, SHOWN_CONNECTIONS)


def _worst_first(connection: ConnectionReport) -> tuple[bool, float, float, str]:
    # Known availability, lowest first; connections with nothing known after them.
    ratio, both = connection.any_up_ratio, connection.both_up_ratio
    return (
        ratio is None,
        ratio if ratio is not None else 1.0,
        both if both is not None else 1.0,
        connection.vpn_connection_id,
    )


def _capped(lines: list[str], limit: int) -> list[str]:
    return lines if len(lines) <= limit else [*lines[:limit], f"... and {len(lines) - limit} more (see the e-mail)"]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(text: str, **style: Any) -> dict[str, Any]:
    cut = text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."
    return {"type": "TextBlock", "text": cut, "wrap": True, **style}
