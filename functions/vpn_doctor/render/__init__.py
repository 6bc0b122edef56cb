"""Message rendering: one pure renderer per channel (e-mail, Slack, Amazon Q Developer in chat).

:func:`render_alert` words an :class:`~vpn_doctor.models.Alert` once and lays it out for every channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vpn_doctor.models import Alert
from vpn_doctor.render.chatbot import render_chatbot, sns_envelope
from vpn_doctor.render.common import AlertView, build_view
from vpn_doctor.render.email import EmailMessage, render_email
from vpn_doctor.render.slack import render_slack

__all__ = ["AlertView", "EmailMessage", "RenderedAlert", "build_view", "render_alert"]


@dataclass(frozen=True, slots=True)
class RenderedAlert:
    """One alert, ready for each channel."""

    view: AlertView
    email: EmailMessage
    slack: dict[str, Any]
    chatbot: dict[str, Any]

    def sns_message(self, *, chatbot_format: bool) -> str:
        """The SNS ``Message`` for ``MessageStructure="json"`` (chat JSON only when the format is on)."""
        return sns_envelope(self.email.body, self.chatbot if chatbot_format else None)


def render_alert(alert: Alert, *, console_region: str | None = None, log_group: str | None = None) -> RenderedAlert:
    """Every channel's message for one alert (defaults for the links as in :func:`build_view`)."""
    view = build_view(alert, console_region=console_region, log_group=log_group)
    return RenderedAlert(view=view, email=render_email(view), slack=render_slack(view), chatbot=render_chatbot(view))
