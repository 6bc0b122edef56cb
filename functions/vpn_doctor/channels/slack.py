"""The Slack channel: Block Kit through an incoming webhook (its URL a secret), a dead-letter queue behind it."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.webhook import Webhook
from vpn_doctor.channels.webhook import WebhookChannel, needs_dead_letter_queue
from vpn_doctor.constants import ENV_SLACK_DLQ_URL, ENV_SLACK_SECRET_NAME
from vpn_doctor.render.slack import render_slack


class SlackSettings(BaseModel):
    """Slack's variables on the notify function: Slack is on when the secret is named."""

    slack_secret_name: str | None = Field(default=None, alias=ENV_SLACK_SECRET_NAME)
    slack_dlq_url: str | None = Field(default=None, alias=ENV_SLACK_DLQ_URL)

    @model_validator(mode="after")
    def _keeps_what_it_cannot_post(self) -> Self:
        needs_dead_letter_queue(self.slack_secret_name, self.slack_dlq_url, ENV_SLACK_SECRET_NAME, ENV_SLACK_DLQ_URL)
        return self


def slack_channel(settings: SlackSettings) -> WebhookChannel | None:
    """The Slack channel, or ``None`` when no webhook secret is configured."""
    if settings.slack_secret_name is None or settings.slack_dlq_url is None:
        return None
    webhook = Webhook(settings.slack_secret_name, service="Slack")
    return WebhookChannel("slack", render_slack, webhook, DeadLetterQueue(settings.slack_dlq_url))
