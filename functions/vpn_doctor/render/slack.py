"""The Slack message: Block Kit blocks, plus a plain ``text`` fallback for notifications."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from vpn_doctor.models import TransitionKind
from vpn_doctor.render.common import AlertView, category_words

# Block Kit limits (Slack reference: header text 150, section text 3000, button text 75, url 3000).
HEADER_LIMIT: Final = 150
SECTION_LIMIT: Final = 3000
BUTTON_TEXT_LIMIT: Final = 75
URL_LIMIT: Final = 3000

EMOJI: Final[Mapping[TransitionKind, str]] = {
    TransitionKind.OPENED: ":red_circle:",
    TransitionKind.UPDATED: ":large_orange_circle:",
    TransitionKind.FLAPPING: ":warning:",
    TransitionKind.RESOLVED: ":large_green_circle:",
    TransitionKind.ESCALATED: ":rotating_light:",
}


def render_slack(view: AlertView) -> dict[str, Any]:
    """The incoming-webhook payload: ``text`` (fallback) and ``blocks``."""
    cause = f" / `{view.cause.value}`" if view.cause else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(view.title, HEADER_LIMIT), "emoji": True}},
        _section(
            f"{EMOJI[view.kind]} *{escape(view.lifecycle)}* - severity *{view.severity.value}* - "
            f"{escape(category_words(view.category))} (`{view.category.value}`{cause})"
        ),
        {"type": "section", "fields": [_field(label, value) for label, value in _facts(view)]},
        *(
            [_section(f"*{view.parts_label}*\n" + "\n".join(f"- {escape(line)}" for line in view.tunnels))]
            if view.tunnels
            else []
        ),
        _section(_what_happened(view)),
        _section(_why(view)),
        _section("*What was done*\n" + escape(view.remediation) + _escalation(view)),
        _section("*Next steps*\n" + "\n".join(f"{i}. {escape(step)}" for i, step in enumerate(view.next_steps, 1))),
    ]
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": _cut(link.label, BUTTON_TEXT_LIMIT)}, "url": link.url}
        for link in view.links
        if len(link.url) <= URL_LIMIT
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    footer = f"Incident `{view.incident_id}` - {view.kind.value} - event `{view.event_id}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": f"{EMOJI[view.kind]} {view.title}", "blocks": blocks}


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn text (&, <, >) escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _facts(view: AlertView) -> list[tuple[str, str]]:
    facts = [("Started", view.started), ("State", view.state)]
    if view.duration:
        facts.append(("Lasted", view.duration))
    if view.flips:
        facts.append(("Flapping", view.flips))
    if view.phases:
        facts.append(("Phases", view.phases))
    return facts


def _what_happened(view: AlertView) -> str:
    text = f"*What happened*\n{escape(view.reason)}"
    if view.evidence:
        # Code block: log lines keep their spacing and Slack does not turn ids into links.
        text += "\n```" + "\n".join(escape(line) for line in view.evidence) + "```"
    return text


def _why(view: AlertView) -> str:
    lines = [f"- {escape(check)}" for check in view.failed_checks] or [view.no_failed_checks]
    if view.self_heal:
        lines.append(f"*{escape(view.self_heal)}*")
    return "*Why*\n" + "\n".join(lines)


def _escalation(view: AlertView) -> str:
    return f"\n*Escalation:* {escape(view.escalation)}" if view.escalation else ""


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{label}*\n{escape(value)}"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
