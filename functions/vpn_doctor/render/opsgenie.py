"""The Opsgenie alert: Alert API v2 create and close, one alert per VPN connection.

Alert API (https://docs.opsgenie.com/docs/alert-api): ``POST /v2/alerts`` creates an alert from ``message`` (at
most 130 characters, required), ``alias`` (at most 512: "there can be only one alert with open status with the
same alias", so a create with the alias of an open alert adds to it instead of opening another), ``description``
(at most 15000), ``priority`` (``P1`` .. ``P5``), ``tags`` (at most 20), ``details`` (string values), ``entity``
and ``source``; ``POST /v2/alerts/{alias}/close?identifierType=alias`` closes the open alert with that alias.

The alias is PagerDuty's dedup key (:func:`vpn_doctor.render.pagerduty.dedup_key`): one alert per connection, so
the second tunnel failing, an update or a redelivered alert add to the open alert, and a tunnel's recovery closes
it only when no other tunnel of the connection is reported DOWN (otherwise there is nothing to send). The message
rendered here is ``{"action": "create" | "close", "alias": ..., "body": {...}}``: the channel turns the action and
alias into the request's URL and adds the API key as a header, so a dead-lettered message holds no credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from vpn_doctor.models import TransitionKind
from vpn_doctor.render.common import AlertView, category_words
from vpn_doctor.render.pagerduty import CLIENT, dedup_key
from vpn_doctor.taxonomy import Severity

MESSAGE_LIMIT: Final = 130
ALIAS_LIMIT: Final = 512
DESCRIPTION_LIMIT: Final = 15000
ENTITY_LIMIT: Final = 512
TAGS_LIMIT: Final = 20
NOTE_LIMIT: Final = 25000
CREATE: Final = "create"
CLOSE: Final = "close"

PRIORITY: Final[Mapping[Severity, str]] = {
    Severity.CRITICAL: "P1",
    Severity.WARNING: "P3",
    Severity.INFO: "P5",
}


def alias(vpn_connection_id: str) -> str:
    """The connection's alert: the same key as its PagerDuty page."""
    return dedup_key(vpn_connection_id)[:ALIAS_LIMIT]


def render_opsgenie(view: AlertView) -> dict[str, Any] | None:
    """The create or close request (action, alias, body) without the API key; ``None`` for a recovery while
    another tunnel of the connection is down."""
    # The connection-level incident's (or storm's) key when the roll-up made the view, as PagerDuty's.
    key = view.page_key[:ALIAS_LIMIT] if view.page_key else alias(view.vpn_connection_id)
    if view.kind is TransitionKind.RESOLVED:
        if view.other_tunnels_down and view.page_key is None:
            return None
        return {"action": CLOSE, "alias": key, "body": {"source": CLIENT, "note": _cut(view.title, NOTE_LIMIT)}}
    details = {
        "incident_id": view.incident_id,
        "transition": view.kind.value,
        "tunnel": view.tunnel_ip,
        "category": view.category.value,
        "cause": view.cause.value if view.cause else "",
        "state": view.state,
        "started": view.started,
        "owner": view.owner or "",
        "other_tunnels_down": ", ".join(view.other_tunnels_down),
    }
    tags = [
        CLIENT,
        view.category.value,
        *([view.cause.value] if view.cause else []),
        *([view.owner] if view.owner else []),
    ]
    body: dict[str, Any] = {
        "message": _cut(view.title, MESSAGE_LIMIT),
        "alias": key,
        "description": _cut(_description(view), DESCRIPTION_LIMIT),
        "priority": PRIORITY[view.severity],
        "source": CLIENT,
        "entity": _cut(view.vpn_connection_id, ENTITY_LIMIT),
        "tags": tags[:TAGS_LIMIT],
        "details": {name: value for name, value in details.items() if value},
    }
    return {"action": CREATE, "alias": key, "body": body}


def _description(view: AlertView) -> str:
    sections = [
        f"{view.lifecycle} - severity {view.severity.value} - {category_words(view.category)}",
        f"What happened: {view.reason}",
        *(["Evidence:\n" + "\n".join(view.evidence)] if view.evidence else []),
        "Why:\n" + ("\n".join(f"- {check}" for check in view.failed_checks) or view.no_failed_checks),
        *([view.self_heal] if view.self_heal else []),
        f"What was done: {view.remediation}",
        *([f"Escalation: {view.escalation}"] if view.escalation else []),
        "Next steps:\n" + "\n".join(f"{i}. {step}" for i, step in enumerate(view.next_steps, 1)),
        *(f"{link.label}: {link.url}" for link in view.links),
    ]
    return "\n\n".join(sections)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
