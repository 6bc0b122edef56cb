"""The Opsgenie channel: Alert API v2 create and close, one alert per connection (API key a secret), a
dead-letter queue behind it."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.opsgenie import API_URL, OpsgenieAlerts
from vpn_doctor.channels.webhook import WebhookChannel, needs_dead_letter_queue
from vpn_doctor.constants import ENV_OPSGENIE_API_URL, ENV_OPSGENIE_DLQ_URL, ENV_OPSGENIE_SECRET_NAME
from vpn_doctor.render.opsgenie import render_opsgenie


class OpsgenieSettings(BaseModel):
    """Opsgenie's variables on the notify function: Opsgenie is on when the secret is named."""

    opsgenie_secret_name: str | None = Field(default=None, alias=ENV_OPSGENIE_SECRET_NAME)
    opsgenie_dlq_url: str | None = Field(default=None, alias=ENV_OPSGENIE_DLQ_URL)
    opsgenie_api_url: str = Field(default=API_URL, alias=ENV_OPSGENIE_API_URL)

    @model_validator(mode="after")
    def _keeps_what_it_cannot_send(self) -> Self:
        needs_dead_letter_queue(
            self.opsgenie_secret_name, self.opsgenie_dlq_url, ENV_OPSGENIE_SECRET_NAME, ENV_OPSGENIE_DLQ_URL
        )
        return self


def opsgenie_channel(settings: OpsgenieSettings) -> WebhookChannel | None:
    """The Opsgenie channel, or ``None`` when no API key secret is configured."""
    if settings.opsgenie_secret_name is None or settings.opsgenie_dlq_url is None:
        return None
    alerts = OpsgenieAlerts(settings.opsgenie_secret_name, api_url=settings.opsgenie_api_url)
    return WebhookChannel("opsgenie", render_opsgenie, alerts, DeadLetterQueue(settings.opsgenie_dlq_url))
