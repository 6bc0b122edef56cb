"""The ``Channel`` protocol: one place alerts go (a topic, a chat webhook, a pager).

A channel renders the alert's wording (:class:`~vpn_doctor.render.common.AlertView`) into its own
message, sends it, and keeps it in its dead-letter store when it cannot be sent. The use case
(:func:`vpn_doctor.app.notify.deliver_alert`) treats every channel alike: it knows no channel by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

from vpn_doctor.render.common import AlertView

Message = TypeVar("Message")


class ChannelError(Exception):
    """A channel could not send or keep a message. The text is the reason, safe to log and store:
    never a credential (a webhook URL), never the message itself."""


class Channel(Protocol[Message]):
    """One alert destination, configured or not as a whole."""

    @property
    def name(self) -> str:
        """Stable name: it keys the channel's duplicate-check records and its part of the result."""
        ...

    def render(self, view: AlertView) -> Message | None:
        """The channel's message for one alert (pure); ``None`` when the channel has nothing to send for it."""
        ...

    def send(self, message: Message) -> str | None:
        """Deliver the message; returns the service's message id if it gives one.

        Raises :class:`ChannelError` when it could not be delivered (after the channel's own retries)."""
        ...

    def dead_letter(self, message: Message, *, reason: str, alert: Mapping[str, str]) -> str:
        """Keep an undeliverable message intact, with why and which alert (``alert``: incident id,
        transition, event id), for a person or a redrive; returns where it was kept.

        Raises :class:`ChannelError` when it cannot be kept: the invocation then fails and is retried."""
        ...
