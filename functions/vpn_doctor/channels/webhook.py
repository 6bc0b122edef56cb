"""A chat webhook channel: a JSON message posted to a webhook whose URL is a secret, and a dead-letter
queue for what still fails after the retries. Slack is one; another chat service that takes a webhook
is the same class with its own renderer and settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.webhook import Webhook
from vpn_doctor.channels.base import ChannelError
from vpn_doctor.render.common import AlertView


def needs_dead_letter_queue(
    secret_name: str | None, queue_url: str | None, secret_variable: str, queue_variable: str
) -> None:
    """Refuse a webhook without its dead-letter queue: a message it refused must never be silently lost."""
    if secret_name and not queue_url:
        raise ValueError(f"{secret_variable} is set but {queue_variable} is not")


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """Posts each alert as ``layout(view)``; what still fails after retries goes to the queue intact."""

    name: str
    # ``None``: the channel has nothing to say about this alert (a pager's recovery while another tunnel is down).
    layout: Callable[[AlertView], dict[str, Any] | None]
    webhook: Webhook
    dead_letters: DeadLetterQueue

    def with_secret(self, secret_name: str) -> WebhookChannel:
        """The same channel (name, layout, dead-letter queue) posting with the credential of another secret: an
        owner's own webhook or routing key (vpn_doctor.routing)."""
        return replace(self, webhook=self.webhook.with_secret(secret_name))

    def render(self, view: AlertView) -> dict[str, Any] | None:
        """The webhook's JSON payload, or ``None`` when there is nothing to send."""
        return self.layout(view)

    def send(self, message: dict[str, Any]) -> str | None:
        """Post with the webhook's retries; returns the receiver's message id if it gives one."""
        result = self.webhook.post(message)
        if not result.delivered:
            raise ChannelError(result.reason)
        return result.message_id

    def dead_letter(self, message: dict[str, Any], *, reason: str, alert: Mapping[str, str]) -> str:
        """``SendMessage`` to the channel's dead-letter queue; returns SQS's message id."""
        try:
            return self.dead_letters.send(channel=self.name, payload=message, reason=reason, context=alert)
        except AwsCallFailed as exc:
            raise ChannelError(f"{reason}; the dead-letter queue refused it too ({exc.code})") from exc
