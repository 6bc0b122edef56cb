"""The PagerDuty channel: Events API v2 trigger and resolve, one page per connection (routing key a
secret), a dead-letter queue behind it."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.pagerduty import EVENTS_URL, PagerDutyEvents
from vpn_doctor.channels.webhook import WebhookChannel, needs_dead_letter_queue
from vpn_doctor.constants import ENV_PAGERDUTY_DLQ_URL, ENV_PAGERDUTY_EVENTS_URL, ENV_PAGERDUTY_SECRET_NAME
from vpn_doctor.render.pagerduty import render_pagerduty


class PagerDutySettings(BaseModel):
    """PagerDuty's variables on the notify function: PagerDuty is on when the secret is named."""

    pagerduty_secret_name: str | None = Field(default=None, alias=ENV_PAGERDUTY_SECRET_NAME)
    pagerduty_dlq_url: str | None = Field(default=None, alias=ENV_PAGERDUTY_DLQ_URL)
    pagerduty_events_url: str = Field(default=EVENTS_URL, alias=ENV_PAGERDUTY_EVENTS_URL)

    @model_validator(mode="after")
    def _keeps_what_it_cannot_send(self) -> Self:
        needs_dead_letter_queue(
            self.pagerduty_secret_name, self.pagerduty_dlq_url, ENV_PAGERDUTY_SECRET_NAME, ENV_PAGERDUTY_DLQ_URL
        )
        return self


def pagerduty_channel(settings: PagerDutySettings) -> WebhookChannel | None:
    """The PagerDuty channel, or ``None`` when no routing-key secret is configured."""
    if settings.pagerduty_secret_name is None or settings.pagerduty_dlq_url is None:
        return None
    events = PagerDutyEvents(settings.pagerduty_secret_name, endpoint=settings.pagerduty_events_url)
    return WebhookChannel("pagerduty", render_pagerduty, events, DeadLetterQueue(settings.pagerduty_dlq_url))
