"""Channels as plugins: each module holds one channel's settings (its environment variables, from
``vpn_doctor.constants``) and a builder returning the channel, or ``None`` when it is not configured.

This is the one place they are registered. A new webhook channel (Teams and PagerDuty are two) is a module
here (settings, builder, and its message layout) reusing :class:`~vpn_doctor.channels.webhook.WebhookChannel`,
added to :class:`ChannelSettings`'s bases and :func:`configured_channels`'s list; the stack creates its
resources from one config key (``stacks/notifications.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vpn_doctor.channels.base import Channel, ChannelError
from vpn_doctor.channels.opsgenie import OpsgenieSettings, opsgenie_channel
from vpn_doctor.channels.pagerduty import PagerDutySettings, pagerduty_channel
from vpn_doctor.channels.slack import SlackSettings, slack_channel
from vpn_doctor.channels.teams import TeamsSettings, teams_channel
from vpn_doctor.channels.topic import TopicSettings, topic_channel
from vpn_doctor.channels.webhook import WebhookChannel
from vpn_doctor.routing import Routing

__all__ = ["Channel", "ChannelError", "ChannelSettings", "OwnedChannels", "configured_channels", "owned_channels"]


class ChannelSettings(TopicSettings, SlackSettings, TeamsSettings, PagerDutySettings, OpsgenieSettings):
    """Every channel's variables on the notify function (the handler's settings extend this)."""


def configured_channels(settings: ChannelSettings) -> list[Channel[Any]]:
    """The channels this deployment configured, in sending order."""
    candidates: list[Channel[Any] | None] = [
        topic_channel(settings),
        slack_channel(settings),
        teams_channel(settings),
        pagerduty_channel(settings),
        opsgenie_channel(settings),
    ]
    return [channel for channel in candidates if channel is not None]


@dataclass(frozen=True, slots=True)
class OwnedChannels:
    """The configured channels, and for each owner whose route names its own secrets the same channels with
    those secrets in place of the channel's own (vpn_doctor.routing)."""

    default: tuple[Channel[Any], ...]
    by_owner: Mapping[str, tuple[Channel[Any], ...]] = field(default_factory=dict)

    def for_owner(self, owner: str | None) -> tuple[Channel[Any], ...]:
        """The channels an alert about a connection of ``owner`` is sent on (routing then picks among them)."""
        return self.by_owner.get(owner.strip(), self.default) if owner else self.default


def owned_channels(channels: Sequence[Channel[Any]], routing: Routing) -> OwnedChannels:
    """Each owner's channels: a channel its route names a secret for posts with that secret, the others as
    configured. ValueError when a route names a secret for a channel without one (the stack refuses it first)."""
    by_owner: dict[str, tuple[Channel[Any], ...]] = {}
    for owner, route in routing.owners.items():
        if not route.secrets:
            continue
        missing = sorted(set(route.secrets) - {channel.name for channel in channels})
        if missing:
            raise ValueError(f"routing owner {owner!r} names a secret for {', '.join(missing)}, not configured here")
        by_owner[owner] = tuple(
            channel.with_secret(route.secrets[channel.name])
            if isinstance(channel, WebhookChannel) and channel.name in route.secrets
            else channel
            for channel in channels
        )
    return OwnedChannels(tuple(channels), by_owner)
