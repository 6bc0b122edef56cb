"""The alert topic (SNS): the e-mail, and the Amazon Q Developer in chat format, in one publish.

Why one channel rather than an e-mail channel and an Amazon Q channel: SNS hands every publish to
every subscription, and the subscriptions are not all ours (Amazon Q Developer subscribes over
HTTPS from its own configuration, users attach queues and functions). Two publishes would give
each of those two messages per alert, unless every subscription carried a filter policy we cannot
set on theirs. One ``Publish(MessageStructure="json")`` carries one text per protocol instead:
e-mail (and every protocol without its own text) gets the plain-text body, and each
:class:`TopicFormat` adds the text its protocols get. So a user still receives one e-mail per alert,
and Amazon Q only ever its JSON; the notify use case sees one channel and needs no special case.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, Field

from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.sns import AlertTopic
from vpn_doctor.channels.base import ChannelError
from vpn_doctor.constants import ENV_ALERT_TOPIC_ARN, ENV_CHATBOT_FORMAT
from vpn_doctor.render.chatbot import render_chatbot
from vpn_doctor.render.common import AlertView
from vpn_doctor.render.email import render_email


class TopicSettings(BaseModel):
    """The topic channel's variables on the notify function (the topic is always there)."""

    alert_topic_arn: str = Field(alias=ENV_ALERT_TOPIC_ARN)
    chatbot_format: bool = Field(alias=ENV_CHATBOT_FORMAT)


@dataclass(frozen=True, slots=True)
class TopicFormat:
    """An audience of the topic beside e-mail: the SNS protocols it subscribes with, and its text."""

    protocols: tuple[str, ...]
    render: Callable[[AlertView], str]


# Amazon Q Developer subscribes over HTTPS; a Lambda subscriber (e.g. a relay) gets the same document.
AMAZON_Q_CHAT = TopicFormat(("https", "lambda"), lambda view: json.dumps(render_chatbot(view), ensure_ascii=False))


@dataclass(frozen=True, slots=True)
class TopicMessage:
    """One publish: the e-mail subject, one text per SNS protocol, and the attributes users filter on."""

    subject: str
    texts: Mapping[str, str]
    attributes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TopicChannel:
    """Publishes each alert once to the alert topic."""

    topic: AlertTopic
    formats: tuple[TopicFormat, ...] = ()
    # "sns": the name keys the duplicate-check records, which predate this class; keeping it means a
    # redelivery across an upgrade still finds them.
    name: str = "sns"

    def render(self, view: AlertView) -> TopicMessage:
        """The e-mail for ``default`` and ``email`` (SNS needs ``default``), then each format's protocols."""
        email = render_email(view)
        texts = {"default": email.body, "email": email.body}
        for audience in self.formats:
            texts.update(dict.fromkeys(audience.protocols, audience.render(view)))
        attributes = {
            "category": view.category.value,
            "severity": view.severity.value,
            "vpn_connection_id": view.vpn_connection_id,
            "transition": view.kind.value,
        }
        return TopicMessage(subject=email.subject, texts=texts, attributes=attributes)

    def send(self, message: TopicMessage) -> str:
        """``Publish`` with ``MessageStructure="json"``; returns SNS's message id."""
        try:
            return self.topic.publish(
                subject=message.subject,
                message=json.dumps(message.texts, ensure_ascii=False),
                attributes=message.attributes,
                structured=True,
            )
        except AwsCallFailed as exc:
            raise ChannelError(str(exc)) from exc

    def dead_letter(self, message: TopicMessage, *, reason: str, alert: Mapping[str, str]) -> str:
        """The topic keeps no queue of its own: failing the invocation makes Lambda retry the alert
        event, and keep it intact in the notify function's failure queue when the retries run out."""
        raise ChannelError(f"{reason} (no dead-letter queue: the alert event is retried)")


def topic_channel(settings: TopicSettings) -> TopicChannel:
    """The topic channel, with the Amazon Q chat format when the deployment switched it on."""
    return TopicChannel(AlertTopic(settings.alert_topic_arn), (AMAZON_Q_CHAT,) if settings.chatbot_format else ())
