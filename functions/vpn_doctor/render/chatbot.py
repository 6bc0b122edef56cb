"""Amazon Q Developer in chat applications (formerly AWS Chatbot) custom notifications.

The service renders an SNS message in Slack/Teams only when its body is this JSON shape
(``version`` "1.0", ``source`` "custom", ``content`` with ``textType`` "client-markdown");
anything else is dropped silently. ``metadata.threadId`` groups every message of one incident.
"""

from __future__ import annotations

from typing import Any

from vpn_doctor.render.common import AlertView, category_words


def render_chatbot(view: AlertView) -> dict[str, Any]:
    """The custom-notification document for one alert."""
    description = [f"*{view.lifecycle}* - severity *{view.severity.value}* - {category_words(view.category)}"]
    description.append(f"*Started:* {view.started} - *State:* {view.state}")
    if view.duration:
        description.append(f"*Lasted:* {view.duration}")
    if view.flips:
        description.append(f"*Flapping:* {view.flips}")
    if view.phases:
        description.append(f"*Phases:* {view.phases}")
    if view.tunnels:
        description.append(f"*{view.parts_label}:*\n" + "\n".join(f"- {line}" for line in view.tunnels))
    description.append(f"*What happened:* {view.reason}")
    if view.evidence:
        description.append("```\n" + "\n".join(view.evidence) + "\n```")
    if view.failed_checks:
        description.append("*Why:*\n" + "\n".join(f"- {check}" for check in view.failed_checks))
    if view.self_heal:
        description.append(f"*Self-heal:* {view.self_heal}")
    description.append(f"*What was done:* {view.remediation}")
    if view.escalation:
        description.append(f"*Escalation:* {view.escalation}")
    description.extend(f"<{link.url}|{link.label}>" for link in view.links)
    keywords = [view.category.value, view.severity.value, view.kind.value, view.vpn_connection_id]
    if view.cause is not None:
        keywords.insert(1, view.cause.value)
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{view.incident_id}:{view.kind.value}:{view.event_id}",
        "content": {
            "textType": "client-markdown",
            "title": view.title,
            "description": "\n".join(description),
            "nextSteps": list(view.next_steps),
            "keywords": keywords,
        },
        "metadata": {
            "threadId": view.incident_id,
            "summary": view.title,
            "eventType": f"vpn-tunnel-{view.kind.value}",
            "relatedResources": [view.vpn_connection_id, view.tunnel_ip],
            "additionalContext": {
                "incidentId": view.incident_id,
                "category": view.category.value,
                "cause": view.cause.value if view.cause else "",
                "severity": view.severity.value,
                "transition": view.kind.value,
            },
        },
    }
