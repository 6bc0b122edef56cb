"""The Microsoft Teams channel: an Adaptive Card through a Workflows webhook (its URL a secret), a
dead-letter queue behind it."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.webhook import Webhook
from vpn_doctor.channels.webhook import WebhookChannel, needs_dead_letter_queue
from vpn_doctor.constants import ENV_TEAMS_DLQ_URL, ENV_TEAMS_SECRET_NAME
from vpn_doctor.render.teams import render_teams


class TeamsSettings(BaseModel):
    """Teams' variables on the notify function: Teams is on when the secret is named."""

    teams_secret_name: str | None = Field(default=None, alias=ENV_TEAMS_SECRET_NAME)
    teams_dlq_url: str | None = Field(default=None, alias=ENV_TEAMS_DLQ_URL)

    @model_validator(mode="after")
    def _keeps_what_it_cannot_post(self) -> Self:
        needs_dead_letter_queue(self.teams_secret_name, self.teams_dlq_url, ENV_TEAMS_SECRET_NAME, ENV_TEAMS_DLQ_URL)
        return self


def teams_channel(settings: TeamsSettings) -> WebhookChannel | None:
    """The Teams channel, or ``None`` when no webhook secret is configured."""
    if settings.teams_secret_name is None or settings.teams_dlq_url is None:
        return None
    webhook = Webhook(settings.teams_secret_name, service="Teams")
    return WebhookChannel("teams", render_teams, webhook, DeadLetterQueue(settings.teams_dlq_url))
