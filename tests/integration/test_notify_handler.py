"""The notify Lambda end to end: a bus alert in; e-mail through SNS (moto), Slack through a real local
webhook, dead letters in SQS (moto), idempotency records in the incidents table (moto DynamoDB)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto.sns.models import sns_backends

from handlers import notify, wiring
from tests.conftest import drained, handler_aws, lambda_context
from tests.fixtures.golden.scenarios import LOG_GROUP, REGION, SCENARIOS, VPN_ID
from tests.integration.conftest import handler_logs
from vpn_doctor import constants
from vpn_doctor.app.notify import DeliveryFailed
from vpn_doctor.aws import webhook
from vpn_doctor.channels import configured_channels
from vpn_doctor.models import Alert, dump
from vpn_doctor.render.common import build_view
from vpn_doctor.render.email import render_email
from vpn_doctor.render.slack import render_slack
from vpn_doctor.rollup import ConnectionRecord, RollupPolicy, apply_alert
from vpn_doctor_tools.emulator.slack import SlackReceiver

SECRET_NAME = "vpn-doctor/slack-webhook"
TABLE = "vpn-doctor-incidents"


@dataclass
class NotifyStack:
    """The resources the notify function uses, in moto, plus the local Slack receiver."""

    topic_arn: str
    inbox_url: str
    dlq_url: str
    slack: SlackReceiver
    logs: io.StringIO

    def invoke(self, alert: Alert | dict[str, Any], *, event_id: str = "bus-event-1") -> dict[str, Any]:
        detail = dump(alert) if isinstance(alert, Alert) else alert
        event = {
            "version": "0",
            "id": event_id,
            "detail-type": constants.DETAIL_TYPE_ALERT,
            "source": constants.EVENT_SOURCE,
            "account": "111122223333",
            "time": "2025-11-27T00:02:05Z",
            "region": REGION,
            "resources": [],
            "detail": detail,
        }
        result: dict[str, Any] = notify.handler(event, lambda_context("notify"))
        return result

    def emails(self) -> list[dict[str, Any]]:
        """What the e-mail-like (SQS) subscriber received: SNS's JSON envelopes."""
        return _drain(self.inbox_url)

    def dead_letters(self) -> list[dict[str, Any]]:
        return _drain(self.dlq_url)


def _drain(queue_url: str) -> list[dict[str, Any]]:
    return drained(boto3.client("sqs"), queue_url)


@contextmanager
def notify_stack(monkeypatch: pytest.MonkeyPatch, *, chatbot: bool = False) -> Iterator[NotifyStack]:
    """moto resources, the webhook secret, the function's environment and a log capture; Slack retries
    wait milliseconds instead of seconds, to keep the suite quick."""
    monkeypatch.setattr(webhook, "RETRY_BACKOFF_FACTOR", 0.01)
    receiver = SlackReceiver()
    receiver.start()
    try:
        with (
            handler_logs() as buffer,
            handler_aws(monkeypatch, wiring.reset, {"AWS_REGION": REGION}, region=REGION, table=TABLE),
        ):
            sns, sqs = boto3.client("sns"), boto3.client("sqs")
            topic_arn = sns.create_topic(Name="vpn-doctor-alerts")["TopicArn"]
            inbox_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
            inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
            dlq_url = sqs.create_queue(QueueName="vpn-doctor-slack-dlq")["QueueUrl"]
            boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=receiver.url)
            for name, value in {
                constants.ENV_ALERT_TOPIC_ARN: topic_arn,
                constants.ENV_INCIDENTS_TABLE: TABLE,
                constants.ENV_SLACK_SECRET_NAME: SECRET_NAME,
                constants.ENV_SLACK_DLQ_URL: dlq_url,
                constants.ENV_CHATBOT_FORMAT: "true" if chatbot else "false",
                constants.ENV_TUNNEL_LOG_GROUP_ARN: LOG_GROUP,
            }.items():
                monkeypatch.setenv(name, value)
            parameters.clear_caches()
            yield NotifyStack(topic_arn, inbox_url, dlq_url, receiver, buffer)
    finally:
        parameters.clear_caches()
        receiver.stop()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyStack]:
    with notify_stack(monkeypatch) as resources:
        yield resources


def _expected(alert: Alert) -> Any:
    """What notify sends for an alert that is its connection's first news: the connection's change (the roll-up
    applied to a connection it has no record of), worded."""
    _, decision = apply_alert(ConnectionRecord(VPN_ID), alert, now=alert.transition.at, policy=RollupPolicy())
    assert decision.change is not None
    return build_view(replace(alert, connection=decision.change), console_region=REGION)


def test_alert_is_emailed_with_filterable_attributes_and_posted_to_slack(stack: NotifyStack) -> None:
    alert = SCENARIOS["dpd_timeout-opened"]()
    view = _expected(alert)

    result = stack.invoke(alert)

    assert result["status"] == "sent"
    assert result["channels"]["slack"] == {"outcome": "sent"}
    [email] = stack.emails()
    assert result["channels"]["sns"] == {"outcome": "sent", "message_id": email["MessageId"]}
    # One tunnel DOWN, the other not reported DOWN: the connection lost its redundancy.
    assert email["Subject"] == (
        "vpn-0a1b2c3d4e5f60718 (Branch-1) REDUNDANCY LOST: tunnel 203.0.113.5 DOWN (peer not answering DPD)"
    )
    assert email["Message"] == render_email(view).body
    attributes = {name: value["Value"] for name, value in email["MessageAttributes"].items()}
    assert attributes == {
        "category": "dpd_timeout",
        "severity": "warning",
        "vpn_connection_id": "vpn-0a1b2c3d4e5f60718",
        "transition": "opened",
    }
    [post] = stack.slack.posts()
    assert post.payload == render_slack(view)
    assert "Would set the DPD timeout action to restart" in post.text
    assert stack.dead_letters() == []


def test_duplicate_delivery_of_the_same_transition_sends_nothing_again(
    stack: NotifyStack, capsys: pytest.CaptureFixture[str]
) -> None:
    alert = SCENARIOS["ike_phase1_failure-opened"]()

    first = stack.invoke(alert, event_id="bus-event-1")
    second = stack.invoke(alert, event_id="bus-event-1-redelivered")

    assert (first["status"], second["status"]) == ("sent", "duplicate")
    assert len(stack.emails()) == 1
    assert len(stack.slack.posts()) == 1
    assert '"DuplicateAlerts":[1.0]' in capsys.readouterr().out
    assert "Duplicate alert delivery: nothing sent again" in stack.logs.getvalue()
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    [connection] = [item for item in items if item["pk"]["S"] == f"ROLLUP#{VPN_ID}"]
    assert connection["told"]["S"] == "redundancy_lost"
    records = [item for item in items if not item["pk"]["S"].startswith(("ROLLUP#", "STORM"))]
    assert sorted(item["sk"]["S"].split("#")[0] for item in records) == ["notify.slack", "notify.sns"]
    assert {item["pk"]["S"] for item in records} == {"idempotency#notify"}
    assert all(int(item["expires_at"]["N"]) > 0 for item in records), "the table's TTL attribute expires them"


def test_each_lifecycle_step_of_one_incident_gets_its_own_message(stack: NotifyStack) -> None:
    for name in ("dpd_timeout-opened", "dpd_timeout-flapping", "dpd_timeout-resolved"):
        stack.invoke(SCENARIOS[name]())

    # The tunnel DOWN (redundancy lost), then flapping in the same state (news: an update), then recovered.
    subjects = [email["Subject"] for email in stack.emails()]
    # E-mail subjects drop the connection's name when the title is too long for SNS.
    assert [subject.split(":")[0] for subject in subjects] == [
        "vpn-0a1b2c3d4e5f60718 (Branch-1) REDUNDANCY LOST",
        "Update",
        "vpn-0a1b2c3d4e5f60718 RESOLVED after 12m",
    ]
    assert "REDUNDANCY LOST: tunnel 203.0.113.5 FLAPPING (peer not answering DPD)" in subjects[1]
    assert len(stack.slack.posts()) == 3


def test_sent_and_dead_lettered_alerts_are_counted_per_channel(
    stack: NotifyStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.slack.fail_next(10)

    stack.invoke(SCENARIOS["bgp_session-opened"]())

    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    counted = sorted(
        (name, metric["Channel"]) for metric in metrics for name in ("AlertsPublished", "AlertsDeadLettered")
        if name in metric
    )  # fmt: skip
    assert counted == [("AlertsDeadLettered", "slack"), ("AlertsPublished", "sns")]


def test_slack_failing_after_retries_goes_to_the_dead_letter_queue_intact(stack: NotifyStack) -> None:
    alert = SCENARIOS["bgp_session-opened"]()
    stack.slack.fail_next(10)

    result = stack.invoke(alert)

    assert result["channels"]["slack"]["outcome"] == "dead_lettered"
    [letter] = stack.dead_letters()
    assert letter["channel"] == "slack"
    assert letter["reason"] == "Slack answered HTTP 500: internal_error"
    assert letter["payload"] == render_slack(_expected(alert))
    assert letter["context"]["incident_id"] == alert.transition.incident.incident_id
    assert len(stack.emails()) == 1, "the e-mail does not depend on Slack"
    # The dead letter is the record: a redelivery neither posts nor dead-letters again.
    stack.slack.fail_next(0)
    assert stack.invoke(alert)["status"] == "duplicate"
    assert stack.slack.posts() == []
    assert stack.dead_letters() == []


def test_slack_recovering_within_the_retries_posts_once(stack: NotifyStack) -> None:
    stack.slack.fail_next(1)

    result = stack.invoke(SCENARIOS["idle_timeout-opened"]())

    assert result["channels"]["slack"]["outcome"] == "sent"
    assert len(stack.slack.posts()) == 1
    assert stack.dead_letters() == []


def test_sns_failure_fails_the_invocation_after_slack_is_posted_and_the_retry_sends_only_the_email(
    stack: NotifyStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert = SCENARIOS["cgw_network-opened"]()
    monkeypatch.setenv(constants.ENV_ALERT_TOPIC_ARN, stack.topic_arn + "-missing")
    wiring.reset()

    with pytest.raises(DeliveryFailed) as failure:
        stack.invoke(alert)

    [(channel, reason)] = failure.value.delivery.failed.items()
    assert channel == "sns"
    assert reason.startswith("Publish failed: NotFound")
    assert len(stack.slack.posts()) == 1, "Slack does not wait for the e-mail"
    assert "Alert not delivered on every channel; the event will be retried" in stack.logs.getvalue()
    monkeypatch.setenv(constants.ENV_ALERT_TOPIC_ARN, stack.topic_arn)
    wiring.reset()
    retried = stack.invoke(alert)
    assert retried["status"] == "sent"
    assert retried["channels"]["slack"]["duplicate"] is True
    assert len(stack.emails()) == 1
    assert len(stack.slack.posts()) == 1, "the retry did not post to Slack again"


def test_slack_refused_with_no_dead_letter_queue_fails_the_invocation_and_the_retry_does_not_email_again(
    stack: NotifyStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert = SCENARIOS["dpd_timeout-escalated"]()
    monkeypatch.setenv(constants.ENV_SLACK_DLQ_URL, stack.dlq_url + "-missing")
    wiring.reset()
    stack.slack.fail_next(10)

    with pytest.raises(DeliveryFailed) as failure:
        stack.invoke(alert)

    assert failure.value.delivery.failed["slack"].startswith(
        "Slack answered HTTP 500: internal_error; the dead-letter queue refused it too"
    )
    assert len(stack.emails()) == 1, "the e-mail went out although Slack failed"
    monkeypatch.setenv(constants.ENV_SLACK_DLQ_URL, stack.dlq_url)
    wiring.reset()
    stack.slack.fail_next(0)
    retried = stack.invoke(alert)
    assert retried["channels"] == {
        "sns": {"outcome": "sent", "message_id": retried["channels"]["sns"]["message_id"], "duplicate": True},
        "slack": {"outcome": "sent"},
    }
    assert stack.emails() == [], "the retry did not e-mail again"
    assert len(stack.slack.posts()) == 1


def test_malformed_alert_is_counted_and_logged_not_raised(
    stack: NotifyStack, capsys: pytest.CaptureFixture[str]
) -> None:
    result = stack.invoke({"transition": {"kind": "opened"}})

    assert result == {"status": "rejected"}
    assert "Rejected alert event" in stack.logs.getvalue()
    assert '"InvalidAlerts":[1.0]' in capsys.readouterr().out
    assert stack.emails() == []
    assert stack.slack.posts() == []


def test_chat_format_puts_the_custom_notification_in_the_https_part_of_the_sns_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with notify_stack(monkeypatch, chatbot=True) as resources:
        alert = SCENARIOS["rekey_failure-opened"]()
        resources.invoke(alert)

        [email] = resources.emails()
        assert email["Message"] == render_email(_expected(alert)).body
        topic = sns_backends["123456789012"][REGION].topics[resources.topic_arn]
        [(_, envelope, _, _, _)] = topic.sent_notifications
        chat = json.loads(json.loads(envelope)["https"])
        assert chat["version"] == "1.0"
        assert chat["source"] == "custom"
        assert chat["content"]["textType"] == "client-markdown"
        # One thread per connection-level incident (the roll-up's), not per tunnel's.
        assert chat["metadata"]["threadId"] == _expected(alert).incident_id
        assert chat["metadata"]["threadId"].startswith("conn-")


def test_without_a_slack_secret_only_the_email_is_sent(stack: NotifyStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(constants.ENV_SLACK_SECRET_NAME)
    wiring.reset()

    result = stack.invoke(SCENARIOS["policy_based_vpn-opened"]())

    assert (result["status"], list(result["channels"])) == ("sent", ["sns"])
    assert len(stack.emails()) == 1
    assert stack.slack.posts() == []


SETTINGS = {
    constants.ENV_ALERT_TOPIC_ARN: "arn:aws:sns:eu-west-1:111122223333:alerts",
    constants.ENV_INCIDENTS_TABLE: TABLE,
    constants.ENV_CHATBOT_FORMAT: "false",
    constants.ENV_TUNNEL_LOG_GROUP_ARN: LOG_GROUP,
    constants.ENV_SLACK_SECRET_NAME: SECRET_NAME,
    constants.ENV_SLACK_DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/111122223333/dlq",
}


def test_settings_refuse_an_unclear_chat_format_switch() -> None:
    with pytest.raises(wiring.SettingsError, match=constants.ENV_CHATBOT_FORMAT):
        wiring.load_settings(notify.Settings, {**SETTINGS, constants.ENV_CHATBOT_FORMAT: "maybe"})


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        (constants.ENV_ALERT_TOPIC_ARN, constants.ENV_ALERT_TOPIC_ARN),
        (constants.ENV_CHATBOT_FORMAT, constants.ENV_CHATBOT_FORMAT),
        (constants.ENV_INCIDENTS_TABLE, constants.ENV_INCIDENTS_TABLE),
        (constants.ENV_SLACK_DLQ_URL, f"{constants.ENV_SLACK_SECRET_NAME} is set but"),
    ],
)
def test_settings_refuse_a_missing_variable_or_slack_without_dead_letter_queue(unset: str, message: str) -> None:
    env = {name: value for name, value in SETTINGS.items() if name != unset}

    with pytest.raises(wiring.SettingsError, match=message):
        wiring.load_settings(notify.Settings, env)


def test_settings_without_a_slack_secret_configure_only_the_topic() -> None:
    env = {name: value for name, value in SETTINGS.items() if name != constants.ENV_SLACK_SECRET_NAME}

    assert [channel.name for channel in configured_channels(wiring.load_settings(notify.Settings, env))] == ["sns"]
