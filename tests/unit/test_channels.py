"""Delivering an alert on a list of channels (app.notify with fake channels and an in-memory duplicate
check), and what the alert topic channel publishes (e-mail text, Amazon Q Developer JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fixtures.golden.scenarios import REGION, SCENARIOS
from vpn_doctor.app.notify import DeliveryFailed, deliver_alert
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.sns import AlertTopic
from vpn_doctor.channels import ChannelError
from vpn_doctor.channels.topic import AMAZON_Q_CHAT, TopicChannel
from vpn_doctor.render.chatbot import render_chatbot
from vpn_doctor.render.common import AlertView, build_view
from vpn_doctor.render.email import render_email


@dataclass
class FakeChannel:
    """A channel that records what it sent and dead-lettered, and fails when told to."""

    name: str
    refuse: bool = False
    no_dead_letters: bool = False
    sent: list[str] = field(default_factory=list)
    letters: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def render(self, view: AlertView) -> str:
        return f"{self.name}: {view.title}"

    def send(self, message: str) -> str:
        if self.refuse:
            raise ChannelError("answered HTTP 500")
        self.sent.append(message)
        return f"{self.name}-{len(self.sent)}"

    def dead_letter(self, message: str, *, reason: str, alert: Mapping[str, str]) -> str:
        if self.no_dead_letters:
            raise ChannelError(f"{reason}; the queue refused it too")
        self.letters.append((message, reason, dict(alert)))
        return f"letter-{len(self.letters)}"


class MemoryOnce:
    """The duplicate check in memory: like the table, a sender that raises leaves no record."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}

    def __call__(
        self, scope: str, key: Mapping[str, str], send: Callable[[], dict[str, str]]
    ) -> tuple[dict[str, str], bool]:
        record_key = (scope, tuple(sorted(key.items())))
        if record_key in self.records:
            return self.records[record_key], True
        self.records[record_key] = send()
        return self.records[record_key], False


def _deliver(*channels: FakeChannel, once: MemoryOnce, name: str = "dpd_timeout-opened") -> Any:
    return deliver_alert(SCENARIOS[name](), channels=channels, once=once, console_region=REGION, log_group=None)


def test_every_channel_sends_its_own_rendering_of_the_alert_once() -> None:
    email, chat = FakeChannel("email"), FakeChannel("chat")

    delivery = _deliver(email, chat, once=MemoryOnce())

    title = build_view(SCENARIOS["dpd_timeout-opened"](), console_region=REGION).title
    assert (email.sent, chat.sent) == ([f"email: {title}"], [f"chat: {title}"])
    assert delivery.summary() == {
        "status": "sent",
        "title": title,
        "channels": {
            "email": {"outcome": "sent", "message_id": "email-1"},
            "chat": {"outcome": "sent", "message_id": "chat-1"},
        },
    }


def test_a_redelivered_alert_sends_nothing_again_on_any_channel() -> None:
    email, chat, once = FakeChannel("email"), FakeChannel("chat"), MemoryOnce()

    _deliver(email, chat, once=once)
    again = _deliver(email, chat, once=once)

    assert (len(email.sent), len(chat.sent)) == (1, 1)
    assert again.duplicate
    assert again.summary()["channels"]["chat"] == {"outcome": "sent", "message_id": "chat-1", "duplicate": True}


def test_each_lifecycle_step_is_its_own_message_on_every_channel() -> None:
    chat, once = FakeChannel("chat"), MemoryOnce()

    for name in ("dpd_timeout-opened", "dpd_timeout-flapping", "dpd_timeout-resolved"):
        assert not _deliver(chat, once=once, name=name).duplicate

    assert len(chat.sent) == 3
    assert len(once.records) == 3


def test_a_refused_message_is_dead_lettered_with_its_alert_and_the_other_channels_still_send() -> None:
    refusing, email = FakeChannel("chat", refuse=True), FakeChannel("email")
    alert = SCENARIOS["bgp_session-opened"]()

    delivery = deliver_alert(alert, channels=[refusing, email], once=MemoryOnce(), console_region=None, log_group=None)

    [(message, reason, context)] = refusing.letters
    assert message == refusing.render(build_view(alert))
    assert reason == "answered HTTP 500"
    assert context == {
        "incident_id": alert.transition.incident.incident_id,
        "transition": "opened",
        "event_id": alert.transition.event_id,
    }
    assert len(email.sent) == 1
    assert delivery.summary()["status"] == "sent"
    assert delivery.summary()["channels"]["chat"] == {
        "outcome": "dead_lettered",
        "reason": "answered HTTP 500",
        "message_id": "letter-1",
    }


def test_a_channel_that_can_neither_send_nor_dead_letter_fails_after_the_others_and_the_retry_sends_only_it() -> None:
    broken, email, once = FakeChannel("chat", refuse=True, no_dead_letters=True), FakeChannel("email"), MemoryOnce()

    with pytest.raises(DeliveryFailed) as failure:
        _deliver(broken, email, once=once)

    assert failure.value.delivery.failed == {"chat": "answered HTTP 500; the queue refused it too"}
    assert failure.value.delivery.summary()["status"] == "failed"
    assert len(email.sent) == 1, "the failing channel did not keep the e-mail from going out"
    broken.refuse = False
    retried = _deliver(broken, email, once=once)
    assert (len(broken.sent), len(email.sent)) == (1, 1)
    assert [item.duplicate for item in retried.delivered] == [False, True]


def test_an_unexpected_error_in_a_channel_is_reported_by_its_type_only() -> None:
    class Leaky(FakeChannel):
        def send(self, message: str) -> str:
            raise RuntimeError("POST https://hooks.slack.com/services/T000/B000/XXXX failed")

    with pytest.raises(DeliveryFailed) as failure:
        _deliver(Leaky("chat"), once=MemoryOnce())

    assert failure.value.delivery.failed == {"chat": "unexpected RuntimeError"}
    assert "hooks.slack.com" not in str(failure.value)


class RecordingTopic(AlertTopic):
    """The SNS adapter with the call recorded instead of made."""

    def __init__(self, error: AwsCallFailed | None = None) -> None:
        super().__init__("arn:aws:sns:eu-west-1:111122223333:vpn-doctor-alerts")
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, str], structured: bool) -> str:
        if self.error:
            raise self.error
        self.calls.append({"subject": subject, "message": message, "attributes": attributes, "structured": structured})
        return "sns-1"


def test_topic_publishes_the_email_text_for_every_protocol_when_the_chat_format_is_off() -> None:
    view = build_view(SCENARIOS["dpd_timeout-opened"](), console_region=REGION)
    topic = RecordingTopic()
    channel = TopicChannel(topic)

    assert channel.send(channel.render(view)) == "sns-1"

    [call] = topic.calls
    email = render_email(view)
    assert json.loads(call["message"]) == {"default": email.body, "email": email.body}
    assert (call["subject"], call["structured"]) == (email.subject, True)
    assert call["attributes"] == {
        "category": "dpd_timeout",
        "severity": "critical",
        "vpn_connection_id": "vpn-0a1b2c3d4e5f60718",
        "transition": "opened",
    }


def test_topic_gives_amazon_q_only_its_json_and_email_only_the_text_in_one_publish() -> None:
    view = build_view(SCENARIOS["dpd_timeout-opened"](), console_region=REGION)
    topic = RecordingTopic()
    channel = TopicChannel(topic, (AMAZON_Q_CHAT,))

    channel.send(channel.render(view))

    [call] = topic.calls
    texts = json.loads(call["message"])
    assert texts["default"] == texts["email"] == render_email(view).body
    assert json.loads(texts["https"]) == json.loads(texts["lambda"]) == render_chatbot(view)


def test_a_failed_publish_has_no_dead_letter_so_the_alert_event_is_retried() -> None:
    channel = TopicChannel(RecordingTopic(AwsCallFailed("Publish", "AuthorizationError", "not allowed")))
    message = channel.render(build_view(SCENARIOS["dpd_timeout-opened"]()))

    with pytest.raises(ChannelError) as refused:
        channel.send(message)
    with pytest.raises(ChannelError, match=r"AuthorizationError.*the alert event is retried"):
        channel.dead_letter(message, reason=str(refused.value), alert={})
