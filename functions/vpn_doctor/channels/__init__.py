"""Channels as plugins: each module holds one channel's settings (its environment variables, from
``vpn_doctor.constants``) and a builder returning the channel, or ``None`` when it is not configured.

This is the one place they are registered. A new webhook channel (Teams and PagerDuty are two) is a module
here (settings, builder, and its message layout) reusing :class:`~vpn_doctor.channels.webhook.WebhookChannel`,
added to :class:`ChannelSettings`'s bases and :func:`configured_channels`'s list; the stack creates its
resources from one config key (``stacks/notifications.py``).
"""

from __future__ import annotations

from typing import Any

from vpn_doctor.channels.base import Channel, ChannelError
from vpn_doctor.channels.pagerduty import PagerDutySettings, pagerduty_channel
from vpn_doctor.channels.slack import SlackSettings, slack_channel
from vpn_doctor.channels.teams import TeamsSettings, teams_channel
from vpn_doctor.channels.topic import TopicSettings, topic_channel

__all__ = ["Channel", "ChannelError", "ChannelSettings", "configured_channels"]


class ChannelSettings(TopicSettings, SlackSettings, TeamsSettings, PagerDutySettings):
    """Every channel's variables on the notify function (the handler's settings extend this)."""


def configured_channels(settings: ChannelSettings) -> list[Channel[Any]]:
    """The channels this deployment configured, in sending order."""
    candidates: list[Channel[Any] | None] = [
        topic_channel(settings),
        slack_channel(settings),
        teams_channel(settings),
        pagerduty_channel(settings),
    ]
    return [channel for channel in candidates if channel is not None]
