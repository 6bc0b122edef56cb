"""The PagerDuty event: an Events API v2 alert event, one page per VPN connection.

Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): ``event_action``
``trigger`` or ``resolve``, a ``dedup_key`` (at most 255 characters) and, for a trigger, ``payload``
with ``summary`` (at most 1024 characters), ``source`` and ``severity`` (``critical``, ``error``,
``warning`` or ``info``). Events with the ``dedup_key`` of an open alert are applied to that alert;
once it is resolved, a trigger with the same key opens a new one.

The key is the connection-level incident's id (:attr:`AlertView.page_key`, set by notify's roll-up,
:mod:`vpn_doctor.rollup`), or the storm's id for a storm's grouped message: the two tunnels of a connection are
one thing to the person paged, so the second tunnel failing, an update, a flap or a redelivered alert add to the
open page rather than open another, the connection's recovery resolves it, and the next failure after that opens a
new connection incident, so a new page. An alert rendered without the roll-up (no ``page_key``) keeps the
connection's fixed key ``vpn-doctor/<vpn id>``; its tunnel's recovery resolves the page only when no other tunnel
of the connection is reported DOWN (:attr:`AlertView.other_tunnels_down`). The routing key is not part of the
event rendered here: the channel adds it when sending, so a dead-lettered event holds no credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any, Final

from vpn_doctor.models import TransitionKind
from vpn_doctor.render.common import AlertView, category_words
from vpn_doctor.taxonomy import Severity

SUMMARY_LIMIT: Final = 1024
DEDUP_KEY_LIMIT: Final = 255
# The sender's name in PagerDuty's alert ("client").
CLIENT: Final = "vpn-doctor"

SEVERITY: Final[Mapping[Severity, str]] = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.CRITICAL: "critical",
}


def dedup_key(vpn_connection_id: str) -> str:
    """The connection's page: every event about the connection carries it."""
    return f"{CLIENT}/{vpn_connection_id}"[:DEDUP_KEY_LIMIT]


def render_pagerduty(view: AlertView) -> dict[str, Any] | None:
    """The alert event without its routing key; ``None`` for a tunnel's recovery while another tunnel is down."""
    key = view.page_key[:DEDUP_KEY_LIMIT] if view.page_key else dedup_key(view.vpn_connection_id)
    if view.kind is TransitionKind.RESOLVED:
        # A connection's (or storm's) recovery is the whole connection's: the roll-up decided it.
        if view.other_tunnels_down and view.page_key is None:
            return None
        return {"event_action": "resolve", "dedup_key": key}
    details: dict[str, Any] = {
        "incident_id": view.incident_id,
        "transition": view.kind.value,
        "tunnel": view.tunnel_ip,
        "category": view.category.value,
        "cause": view.cause.value if view.cause else None,
        "state": view.state,
        "started": view.started,
        "what_happened": view.reason,
        "evidence": list(view.evidence),
        "why": list(view.failed_checks),
        "self_heal": view.self_heal,
        "what_was_done": view.remediation,
        "escalation": view.escalation,
        "next_steps": list(view.next_steps),
        "owner": view.owner,
        "other_tunnels_down": list(view.other_tunnels_down),
        "connection_state": view.connection_state,
        "tunnels": list(view.tunnels),
    }
    payload: dict[str, Any] = {
        "summary": _cut(f"{view.title} ({category_words(view.category)})", SUMMARY_LIMIT),
        "source": view.vpn_connection_id,
        "severity": SEVERITY[view.severity],
        "component": f"tunnel {view.tunnel_ip}" if view.page_key is None else "connection",
        "class": view.category.value,
        "custom_details": {name: value for name, value in details.items() if value not in (None, [])},
    }
    if view.owner:
        payload["group"] = view.owner
    if view.transition_at is not None:
        payload["timestamp"] = view.transition_at.astimezone(UTC).isoformat()
    event: dict[str, Any] = {"event_action": "trigger", "dedup_key": key, "client": CLIENT, "payload": payload}
    if view.links:
        event["links"] = [{"href": link.url, "text": link.label} for link in view.links]
    return event


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
