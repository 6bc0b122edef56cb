"""The Slack channel: Block Kit through an incoming webhook (its URL a secret), a dead-letter queue behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator

from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.slack import SlackWebhook
from vpn_doctor.channels.base import ChannelError
from vpn_doctor.constants import ENV_SLACK_DLQ_URL, ENV_SLACK_SECRET_NAME
from vpn_doctor.render.common import AlertView
from vpn_doctor.render.slack import render_slack


class SlackSettings(BaseModel):
    """Slack's variables on the notify function: Slack is on when the secret is named."""

    slack_secret_name: str | None = Field(default=None, alias=ENV_SLACK_SECRET_NAME)
    slack_dlq_url: str | None = Field(default=None, alias=ENV_SLACK_DLQ_URL)

    @model_validator(mode="after")
    def _keeps_what_it_cannot_post(self) -> Self:
        # A message Slack refused must never be silently lost.
        if self.slack_secret_name and not self.slack_dlq_url:
            raise ValueError(f"{ENV_SLACK_SECRET_NAME} is set but {ENV_SLACK_DLQ_URL} is not")
        return self


@dataclass(frozen=True, slots=True)
class SlackChannel:
    """Posts each alert to the Slack webhook; what still fails after retries goes to the queue intact."""

    webhook: SlackWebhook
    dead_letters: DeadLetterQueue
    name: str = "slack"

    def render(self, view: AlertView) -> dict[str, Any]:
        """The incoming-webhook payload (``text`` and ``blocks``)."""
        return render_slack(view)

    def send(self, message: dict[str, Any]) -> None:
        """Post with the webhook's retries; Slack gives no message id."""
        result = self.webhook.post(message)
        if not result.delivered:
            raise ChannelError(result.reason)

    def dead_letter(self, message: dict[str, Any], *, reason: str, alert: Mapping[str, str]) -> str:
        """``SendMessage`` to the Slack dead-letter queue; returns SQS's message id."""
        try:
            return self.dead_letters.send(channel=self.name, payload=message, reason=reason, context=alert)
        except AwsCallFailed as exc:
            raise ChannelError(f"{reason}; the dead-letter queue refused it too ({exc.code})") from exc


def slack_channel(settings: SlackSettings) -> SlackChannel | None:
    """The Slack channel, or ``None`` when no webhook secret is configured."""
    if settings.slack_secret_name is None or settings.slack_dlq_url is None:
        return None
    return SlackChannel(SlackWebhook(settings.slack_secret_name), DeadLetterQueue(settings.slack_dlq_url))
