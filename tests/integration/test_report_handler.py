"""The report Lambda and the store reader against moto: the real stores write the items, the reader reads them
back (real botocore serialization, a real Scan/Query), the report goes to a real (moto) SNS topic once per
scheduled event, and with ``chats`` to local Slack and Teams webhook receivers (real HTTP on 127.0.0.1, secrets
and dead-letter queues in moto). Every AWS call the handler makes is recorded for tests/infra/test_report.py."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.client
import pytest
from aws_lambda_powertools.utilities import parameters

from handlers import report as report_handler
from handlers.wiring import reset
from tests.conftest import drained, handler_aws, lambda_context
from vpn_doctor.aws import webhook
from vpn_doctor.aws.incident_store import DynamoDbIncidentStore
from vpn_doctor.aws.onboarding_store import DynamoDbOnboardingStore
from vpn_doctor.aws.remediation_store import DynamoDbRemediationStore
from vpn_doctor.aws.report_reader import HISTORY_RETENTION, ReportReader
from vpn_doctor.constants import (
    ENV_ALERT_TOPIC_ARN,
    ENV_CHATBOT_FORMAT,
    ENV_INCIDENTS_TABLE,
    ENV_REMEDIATION_TABLE,
    ENV_SLACK_DLQ_URL,
    ENV_SLACK_SECRET_NAME,
    ENV_TEAMS_DLQ_URL,
    ENV_TEAMS_SECRET_NAME,
    Mode,
)
from vpn_doctor.incidents import TunnelRecord
from vpn_doctor.models import (
    Incident,
    IncidentStatus,
    RemediationAction,
    RemediationOutcome,
    RemediationStatus,
    TunnelState,
)
from vpn_doctor.remediation import AuditRecord
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table
from vpn_doctor_tools.emulator.receivers import TeamsReceiver
from vpn_doctor_tools.emulator.slack import SlackReceiver

TABLE = "vpn-doctor-incidents"
REMEDIATION_TABLE = "vpn-doctor-remediation"
TOPIC = "vpn-doctor-alerts"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
VPN_A, VPN_B = "vpn-0aaaaaaaaaaaaaaa1", "vpn-0bbbbbbbbbbbbbbb2"
IP1, IP2, IP3 = "203.0.113.10", "203.0.113.20", "198.51.100.7"


_CATEGORIES = {
    Cause.PSK_MISMATCH: Category.IKE_PHASE1_FAILURE,
    Cause.NO_RESPONSE: Category.IKE_PHASE1_FAILURE,
    Cause.PEER_NOT_RESPONSIVE: Category.DPD_TIMEOUT,
}


def make_incident(
    vpn: str, ip: str, opened_at: datetime, resolved_at: datetime | None, cause: Cause, *, incident_id: str
) -> Incident:
    return Incident(
        incident_id=incident_id,
        vpn_connection_id=vpn,
        tunnel_ip=ip,
        status=IncidentStatus.OPEN if resolved_at is None else IncidentStatus.RESOLVED,
        category=_CATEGORIES[cause],
        cause=cause,
        severity=Severity.CRITICAL,
        summary=f"{cause.value} on {ip}",
        opened_at=opened_at,
        updated_at=resolved_at or opened_at,
        last_state=TunnelState.DOWN if resolved_at is None else TunnelState.UP,
        resolved_at=resolved_at,
    )


def seed(client: Any, now: datetime = NOW) -> None:
    """Two connections as the pipeline leaves them: A had two resolved incidents (one remediated) and is up;
    B's one tunnel has been down for ten days, its other tunnel UP since three days ago only."""
    incidents = DynamoDbIncidentStore(TABLE, client)
    resolved = [
        make_incident(
            VPN_A,
            IP1,
            now - timedelta(days=3),
            now - timedelta(days=3) + timedelta(minutes=20),
            Cause.PSK_MISMATCH,
            incident_id="inc-a1",
        ),
        make_incident(
            VPN_A,
            IP2,
            now - timedelta(days=2),
            now - timedelta(days=2) + timedelta(hours=2),
            Cause.PEER_NOT_RESPONSIVE,
            incident_id="inc-a2",
        ),
    ]
    for number, incident in enumerate(resolved):
        record = TunnelRecord(VPN_A, incident.tunnel_ip, TunnelState.UP, state_since=incident.resolved_at)
        incidents.save(record, expected_version=0, event_key=f"seed-{number}", archive=incident, now=now)
    open_b = make_incident(VPN_B, IP3, now - timedelta(days=10), None, Cause.NO_RESPONSE, incident_id="inc-b1")
    down = TunnelRecord(VPN_B, IP3, TunnelState.DOWN, state_since=open_b.opened_at, incident=open_b)
    incidents.save(down, expected_version=0, event_key="seed-b", archive=None, now=now)
    other = TunnelRecord(VPN_B, "198.51.100.8", TunnelState.UP, state_since=now - timedelta(days=3))
    incidents.save(other, expected_version=0, event_key="seed-b2", archive=None, now=now)
    onboarding = DynamoDbOnboardingStore(TABLE, client)
    onboarding.audit(VPN_A, IP1, what="confirmed", reason="tunnel logging on", at=now - timedelta(days=3, minutes=-5))
    onboarding.audit(VPN_A, IP1, what="sent", reason="long ago", at=now - timedelta(days=40))
    DynamoDbRemediationStore(REMEDIATION_TABLE, client).record_decision(
        AuditRecord(
            event_id="evt-1",
            incident_id="inc-a2",
            vpn_connection_id=VPN_A,
            tunnel_ip=IP2,
            mode=Mode.AUTO,
            outcome=RemediationOutcome(
                RemediationStatus.APPLIED,
                "DPD timeout action set to restart",
                action=RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART,
            ),
            decided_at=now - timedelta(days=2) + timedelta(minutes=5),
            actor="vpn-doctor respond",
        )
    )


@dataclass
class Recorded:
    """The IAM actions of every AWS call made while the report handler ran (any client: the reader's, the topic's,
    the secrets' and the dead-letter queues')."""

    actions: set[str] = field(default_factory=set)


@dataclass
class Chats:
    """The local Slack and Teams receivers the report's summary goes to, and their dead-letter queues."""

    slack: SlackReceiver
    teams: TeamsReceiver
    dead_letter_queues: dict[str, str]


def _record_handler_calls(monkeypatch: pytest.MonkeyPatch, recorded: Recorded) -> None:
    original, handler = botocore.client.BaseClient._make_api_call, report_handler.handler
    running = [False]

    def make_api_call(client: Any, operation: str, params: Mapping[str, Any]) -> Any:
        if running[0]:
            recorded.actions.add(f"{client.meta.service_model.endpoint_prefix}:{operation}")
        return original(client, operation, params)

    def run_recorded(event: dict[str, Any], context: Any) -> Any:
        running[0] = True
        try:
            return handler(event, context)
        finally:
            running[0] = False

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    monkeypatch.setattr(report_handler, "handler", run_recorded)


@contextmanager
def report_aws(
    monkeypatch: pytest.MonkeyPatch, *, chat: bool = False, chats: Chats | None = None
) -> Iterator[tuple[str, Recorded]]:
    """moto with both tables seeded, the alert topic with a queue subscribed (raw), the handler's settings (with
    ``chats``, Slack's and Teams' secrets and dead-letter queues too); yields the queue's URL and the AWS calls
    made while the handler ran."""
    settings = {
        ENV_INCIDENTS_TABLE: TABLE,
        ENV_REMEDIATION_TABLE: REMEDIATION_TABLE,
        ENV_ALERT_TOPIC_ARN: f"arn:aws:sns:us-east-1:123456789012:{TOPIC}",
        ENV_CHATBOT_FORMAT: "true" if chat else "false",
    }
    with handler_aws(monkeypatch, reset, settings, table=TABLE) as dynamodb:
        create_pipeline_table(dynamodb, REMEDIATION_TABLE)
        seed(dynamodb)
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        if chats is not None:
            monkeypatch.setattr(webhook, "RETRY_BACKOFF_FACTOR", 0.01)  # retries wait milliseconds, not seconds
            secrets = boto3.client("secretsmanager")
            secrets.create_secret(Name="vpn-doctor/slack-webhook", SecretString=chats.slack.url)
            secrets.create_secret(Name="vpn-doctor/teams-webhook", SecretString=chats.teams.url)
            for name in ("slack", "teams"):
                chats.dead_letter_queues[name] = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
            for variable, value in {
                ENV_SLACK_SECRET_NAME: "vpn-doctor/slack-webhook",
                ENV_SLACK_DLQ_URL: chats.dead_letter_queues["slack"],
                ENV_TEAMS_SECRET_NAME: "vpn-doctor/teams-webhook",
                ENV_TEAMS_DLQ_URL: chats.dead_letter_queues["teams"],
            }.items():
                monkeypatch.setenv(variable, value)
            parameters.clear_caches()
        recorded = Recorded()
        _record_handler_calls(monkeypatch, recorded)
        try:
            yield queue_url, recorded
        finally:
            parameters.clear_caches()


@contextmanager
def running_chats() -> Iterator[Chats]:
    """Local Slack and Teams webhook receivers, stopped afterwards."""
    slack, teams = SlackReceiver(), TeamsReceiver()
    slack.start()
    teams.start()
    try:
        yield Chats(slack, teams, {})
    finally:
        slack.stop()
        teams.stop()


@pytest.fixture
def chats() -> Iterator[Chats]:
    with running_chats() as receivers:
        yield receivers


def scheduled_event(event_id: str = "evt-weekly-1", time: str = "2026-11-30T08:00:00Z") -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


def messages(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages") or []
    return [json.loads(message["Body"]) for message in found]


def run(event: dict[str, Any] | None = None) -> dict[str, Any]:
    return report_handler.handler(event or scheduled_event(), lambda_context("report"))


def test_the_weekly_report_is_published_to_the_alert_topic_once_per_scheduled_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with report_aws(monkeypatch) as (queue_url, recorded):
        first = run()
        again = run()  # EventBridge delivered the same scheduled event twice
        (message,) = messages(queue_url)
    assert first["status"] == "sent"
    assert again == {**first, "status": "duplicate"}
    assert message["Subject"] == "vpn-doctor report 2026-11-23 to 2026-11-30"
    body = message["Message"]
    assert f"{VPN_A}: both tunnels up" in body
    assert "psk_mismatch: 1" in body
    assert "peer_not_responsive: 1" in body
    assert f"{VPN_B}: no tunnel up for" not in body  # one of its tunnels is up: not down for a week
    assert "applied set_dpd_timeout_action_restart" in body
    assert {"dynamodb:Scan", "dynamodb:Query", "sns:Publish"} <= recorded.actions


def test_the_chat_subscribers_get_an_amazon_q_custom_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    with report_aws(monkeypatch, chat=True) as (_, _recorded):
        sent: list[dict[str, Any]] = []
        topic = report_handler.topic()
        topic.client.meta.events.register("before-parameter-build.sns.Publish", lambda params, **_: sent.append(params))
        run()
    texts = json.loads(sent[0]["Message"])
    chat = json.loads(texts["https"])
    assert chat["version"] == "1.0"
    assert chat["source"] == "custom"
    assert VPN_A in chat["content"]["description"]
    assert texts["email"].startswith("vpn-doctor report")


def test_the_configured_chats_get_the_reports_summary_once_per_scheduled_event(
    monkeypatch: pytest.MonkeyPatch, chats: Chats
) -> None:
    with report_aws(monkeypatch, chats=chats) as (queue_url, recorded):
        chats.teams.fail_next(3)  # Teams refuses the card through every retry: kept in its dead-letter queue
        first = run()
        again = run()  # EventBridge delivered the same scheduled event twice
        (email,) = messages(queue_url)
        parked = drained(boto3.client("sqs"), chats.dead_letter_queues["teams"])
        slack_parked = drained(boto3.client("sqs"), chats.dead_letter_queues["slack"])
    assert first["chats"] == again["chats"] == {"slack": "sent", "teams": "dead_lettered"}
    (post,) = chats.slack.posts()
    assert post.payload["blocks"][0]["text"]["text"] == email["Subject"] == "vpn-doctor report 2026-11-23 to 2026-11-30"
    assert f"{VPN_A}: at least one tunnel up" in post.text
    assert "applied set_dpd_timeout_action_restart" in post.text
    assert slack_parked == []
    (letter,) = parked
    assert letter["channel"] == "teams"
    assert letter["context"] == {"report": "evt-weekly-1"}
    assert letter["payload"]["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert chats.teams.cards == []
    assert {"secretsmanager:GetSecretValue", "sqs:SendMessage", "sns:Publish"} <= recorded.actions


def test_the_reader_joins_each_tunnels_record_and_incidents(monkeypatch: pytest.MonkeyPatch) -> None:
    with report_aws(monkeypatch):
        reader = ReportReader(TABLE, REMEDIATION_TABLE)
        histories = {(h.vpn_connection_id, h.tunnel_ip): h for h in reader.tunnels()}
        only_b = reader.tunnels(VPN_B)
        changes = reader.changes([VPN_A, VPN_B], since=NOW - timedelta(days=7))
        none_since = reader.changes([VPN_A], since=NOW - timedelta(days=1))
    assert set(histories) == {(VPN_A, IP1), (VPN_A, IP2), (VPN_B, IP3), (VPN_B, "198.51.100.8")}
    assert [i.incident_id for i in histories[(VPN_B, IP3)].incidents] == ["inc-b1"]
    assert histories[(VPN_B, IP3)].last_state is TunnelState.DOWN
    assert {h.vpn_connection_id for h in only_b} == {VPN_B}
    assert [(c.incident_id, c.status, c.action) for c in changes] == [
        ("", "logging confirmed", "enable_tunnel_logging"),  # the on-boarding audit, in the window only
        ("inc-a2", "applied", "set_dpd_timeout_action_restart"),
    ]
    assert none_since == []


def test_a_connection_id_prefix_does_not_match_a_longer_id(monkeypatch: pytest.MonkeyPatch) -> None:
    with report_aws(monkeypatch):
        assert ReportReader(TABLE, None).tunnels(VPN_A[:-1]) == []


def test_the_retention_is_the_incident_stores_history_ttl() -> None:
    assert DynamoDbIncidentStore("any").history_ttl == HISTORY_RETENTION
