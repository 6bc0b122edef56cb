"""The SNS adapter through moto: message attributes for filtered subscriptions, subject limits,
``MessageStructure=json`` (plain text for e-mail-like subscribers), AWS errors as domain errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sns.models import sns_backends

from tests.conftest import fake_aws_environment, received
from tests.fixtures.golden.scenarios import REGION, SCENARIOS
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.sns import AlertTopic
from vpn_doctor.render.chatbot import render_chatbot
from vpn_doctor.render.common import build_view
from vpn_doctor.render.email import render_email

ATTRIBUTES = {
    "category": "dpd_timeout",
    "severity": "critical",
    "vpn_connection_id": "vpn-0a1b2c3d4e5f60718",
    "transition": "opened",
}


@pytest.fixture
def topic_arn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    fake_aws_environment(monkeypatch, region=REGION)
    with mock_aws():
        yield boto3.client("sns").create_topic(Name="vpn-doctor-alerts")["TopicArn"]


def _subscriber(topic_arn: str, name: str, filter_policy: dict[str, Any] | None = None) -> str:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    boto3.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url


def _received(url: str) -> list[dict[str, Any]]:
    return received(boto3.client("sqs"), url)


def test_alert_carries_attributes_users_can_filter_subscriptions_on(topic_arn: str) -> None:
    everything = _subscriber(topic_arn, "everything")
    critical_only = _subscriber(topic_arn, "critical", {"severity": ["critical"]})
    bgp_only = _subscriber(topic_arn, "bgp", {"category": ["bgp_session"]})

    AlertTopic(topic_arn).publish(subject="DOWN", message="body", attributes=ATTRIBUTES, structured=False)

    [message] = _received(everything)
    assert {name: value["Value"] for name, value in message["MessageAttributes"].items()} == ATTRIBUTES
    assert len(_received(critical_only)) == 1
    assert _received(bgp_only) == []


def test_long_subject_is_cut_to_fit_sns_and_still_published(topic_arn: str) -> None:
    inbox = _subscriber(topic_arn, "inbox")
    subject = "vpn-0a1b2c3d4e5f60718 (" + "Very-Long-Branch-Name-" * 6 + ") tunnel 203.0.113.5 DOWN"

    AlertTopic(topic_arn).publish(subject=subject, message="body", attributes=ATTRIBUTES, structured=False)

    [message] = _received(inbox)
    assert len(message["Subject"]) == 99
    assert message["Subject"].endswith("...")


def test_structured_message_gives_email_subscribers_the_text_and_keeps_the_chat_json(topic_arn: str) -> None:
    inbox = _subscriber(topic_arn, "inbox")
    view = build_view(SCENARIOS["dpd_timeout-opened"](), console_region=REGION)
    email, chat = render_email(view), render_chatbot(view)
    texts = {"default": email.body, "email": email.body, "https": json.dumps(chat)}

    message_id = AlertTopic(topic_arn).publish(
        subject=email.subject, message=json.dumps(texts), attributes=ATTRIBUTES, structured=True
    )

    [message] = _received(inbox)
    assert message["MessageId"] == message_id
    assert message["Subject"] == email.subject
    assert message["Message"] == email.body
    [(_, envelope, _, _, _)] = sns_backends["123456789012"][REGION].topics[topic_arn].sent_notifications
    assert json.loads(json.loads(envelope)["https"]) == chat


def test_empty_attribute_values_are_left_out_rather_than_rejected(topic_arn: str) -> None:
    inbox = _subscriber(topic_arn, "inbox")

    AlertTopic(topic_arn).publish(subject="s", message="body", attributes={**ATTRIBUTES, "cause": ""}, structured=False)

    [message] = _received(inbox)
    assert "cause" not in message["MessageAttributes"]


def test_missing_topic_is_an_aws_error_with_its_code(topic_arn: str) -> None:
    with pytest.raises(AwsCallFailed) as failure:
        AlertTopic(topic_arn + "-gone").publish(subject="s", message="m", attributes=ATTRIBUTES, structured=False)

    assert failure.value.code == "NotFound"
    assert not failure.value.try_later
