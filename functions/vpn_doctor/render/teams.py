"""The Microsoft Teams message: an Adaptive Card posted to a Teams Workflows webhook.

Teams' Office 365 connectors (and their MessageCard webhooks) are retired; a channel receives webhook
posts through a Workflows (Power Automate) flow, "Send webhook alerts to a channel"
(https://devblogs.microsoft.com/microsoft365dev/retirement-of-office-365-connectors-within-microsoft-teams/).
Its body is the message envelope with one Adaptive Card attachment
(https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook):
``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": {"type": "AdaptiveCard", "version": "1.4", "body": [...]}}]}``.
Card version 1.4 is what Teams renders everywhere (desktop, web, mobile).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from vpn_doctor.models import TransitionKind
from vpn_doctor.render.common import AlertView, category_words

CARD_VERSION: Final = "1.4"
CARD_SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
# Teams refuses messages over about 28 KB: each text block is kept well below.
TEXT_LIMIT: Final = 3000

# The card's accent per transition (Adaptive Card TextBlock colors).
COLOR: Final[Mapping[TransitionKind, str]] = {
    TransitionKind.OPENED: "Attention",
    TransitionKind.UPDATED: "Warning",
    TransitionKind.FLAPPING: "Warning",
    TransitionKind.RESOLVED: "Good",
    TransitionKind.ESCALATED: "Attention",
}


def render_teams(view: AlertView) -> dict[str, Any]:
    """The Workflows webhook body: the message envelope around one Adaptive Card."""
    cause = f" / {view.cause.value}" if view.cause else ""
    body: list[dict[str, Any]] = [
        _text(view.title, weight="Bolder", size="Medium", color=COLOR[view.kind]),
        _text(
            f"{view.lifecycle} - severity **{view.severity.value}** - "
            f"{category_words(view.category)} ({view.category.value}{cause})",
            isSubtle=True,
        ),
        {"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in _facts(view)]},
        *(
            [_heading(view.parts_label), _text("\n\n".join(f"- {line}" for line in view.tunnels))]
            if view.tunnels
            else []
        ),
        _heading("What happened"),
        _text(view.reason),
    ]
    if view.evidence:
        # Monospace keeps the log lines' spacing.
        body.append(_text("\n\n".join(view.evidence), fontType="Monospace", size="Small"))
    body += [_heading("Why"), _text("\n\n".join(f"- {check}" for check in view.failed_checks) or view.no_failed_checks)]
    if view.self_heal:
        body.append(_text(view.self_heal, weight="Bolder"))
    body += [_heading("What was done"), _text(view.remediation)]
    if view.escalation:
        body.append(_text(f"Escalation: {view.escalation}", color="Attention"))
    body += [
        _heading("Next steps"),
        _text("\n\n".join(f"{i}. {step}" for i, step in enumerate(view.next_steps, 1))),
        _text(f"Incident {view.incident_id} - {view.kind.value} - event {view.event_id}", isSubtle=True, size="Small"),
    ]
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if view.links:
        card["actions"] = [{"type": "Action.OpenUrl", "title": link.label, "url": link.url} for link in view.links]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _facts(view: AlertView) -> list[tuple[str, str]]:
    facts = [("Connection", view.who), ("Started", view.started), ("State", view.state)]
    if view.owner:
        facts.append(("Owner", view.owner))
    if view.duration:
        facts.append(("Lasted", view.duration))
    if view.flips:
        facts.append(("Flapping", view.flips))
    if view.phases:
        facts.append(("Phases", view.phases))
    return facts


def _heading(text: str) -> dict[str, Any]:
    return _text(text, weight="Bolder", separator=True)


def _text(text: str, **style: Any) -> dict[str, Any]:
    cut = text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."
    return {"type": "TextBlock", "text": cut, "wrap": True, **style}
