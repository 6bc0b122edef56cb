"""The PagerDuty and Teams channels against local receivers implementing each service's documented
contract (tools/vpn_doctor_tools/emulator/receivers.py): PagerDuty's Events API v2 (payload validation,
202 with the dedup key, 400, 429, 5xx, its alert de-duplication) and a Teams Workflows webhook (the
Adaptive Card envelope, 202, 400, 429 with Retry-After). Secrets in Secrets Manager and dead-letter
queues in SQS are moto's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from handlers import notify, wiring
from tests.conftest import fake_aws_environment
from tests.fixtures.golden.scenarios import REGION, SCENARIOS
from tests.integration.test_notify_handler import SETTINGS, notify_stack
from tests.unit.test_channels import MemoryOnce
from vpn_doctor import constants
from vpn_doctor.app.notify import DEAD_LETTERED, SENT, SKIPPED, deliver_alert
from vpn_doctor.channels import Channel, ChannelSettings, configured_channels
from vpn_doctor.models import Alert, TransitionKind
from vpn_doctor_tools.emulator.receivers import PagerDutyReceiver, TeamsReceiver

PAGERDUTY_SECRET = "vpn-doctor/pagerduty-routing-key"
TEAMS_SECRET = "vpn-doctor/teams-webhook"
SECOND_TUNNEL = "198.51.100.9"


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyReceiver]:
    receiver = PagerDutyReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def teams() -> Iterator[TeamsReceiver]:
    receiver = TeamsReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    fake_aws_environment(monkeypatch, region=REGION)
    parameters.clear_caches()
    with mock_aws():
        sqs = boto3.client("sqs")
        yield {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("pagerduty-dlq", "teams-dlq")}
    parameters.clear_caches()


def _channels(
    queues: dict[str, str], pagerduty: PagerDutyReceiver, teams: TeamsReceiver, *, routing_key: str | None = None
) -> dict[str, Channel[Any]]:
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(
        Name=PAGERDUTY_SECRET, SecretString=json.dumps({"routing_key": routing_key or pagerduty.routing_key})
    )
    secrets.create_secret(Name=TEAMS_SECRET, SecretString=teams.url)
    settings = ChannelSettings.model_validate(
        {
            constants.ENV_ALERT_TOPIC_ARN: f"arn:aws:sns:{REGION}:111122223333:alerts",
            constants.ENV_CHATBOT_FORMAT: "false",
            constants.ENV_PAGERDUTY_SECRET_NAME: PAGERDUTY_SECRET,
            constants.ENV_PAGERDUTY_DLQ_URL: queues["pagerduty-dlq"],
            constants.ENV_PAGERDUTY_EVENTS_URL: pagerduty.url,
            constants.ENV_TEAMS_SECRET_NAME: TEAMS_SECRET,
            constants.ENV_TEAMS_DLQ_URL: queues["teams-dlq"],
        }
    )
    channels = {channel.name: channel for channel in configured_channels(settings)}
    assert list(channels) == ["sns", "teams", "pagerduty"]
    return channels


def _deliver(alert: Alert, *channels: Channel[Any], once: MemoryOnce | None = None) -> dict[str, Any]:
    delivery = deliver_alert(alert, channels=channels, once=once or MemoryOnce(), console_region=REGION, log_group=None)
    return {item.channel: item for item in delivery.delivered}


def _on_tunnel(
    alert: Alert, tunnel_ip: str, kind: TransitionKind | None = None, *, down: tuple[str, ...] = ()
) -> Alert:
    incident = replace(alert.transition.incident, tunnel_ip=tunnel_ip, incident_id=f"inc-{tunnel_ip}")
    transition = replace(
        alert.transition,
        incident=incident,
        kind=kind or alert.transition.kind,
        event_id=f"{tunnel_ip}-{(kind or alert.transition.kind).value}",
    )
    return replace(alert, transition=transition, other_tunnels_down=down)


def _dead_letters(queue_url: str) -> list[dict[str, Any]]:
    answer = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


@pytest.mark.usefixtures("queues")
def test_both_tunnels_and_a_retry_page_once_and_the_connection_resolves_when_the_last_tunnel_recovers(
    queues: dict[str, str], pagerduty: PagerDutyReceiver, teams: TeamsReceiver
) -> None:
    channel = _channels(queues, pagerduty, teams)["pagerduty"]
    opened = SCENARIOS["dpd_timeout-opened"]()
    first = _on_tunnel(opened, "203.0.113.5")
    second = _on_tunnel(opened, SECOND_TUNNEL, down=("203.0.113.5",))

    sent = _deliver(first, channel)["pagerduty"]
    _deliver(first, channel)  # the alert event delivered again, after its duplicate-check record expired
    _deliver(second, channel)
    assert sent.outcome == SENT
    assert sent.message_id == f"vpn-doctor/{opened.transition.incident.vpn_connection_id}"
    [page] = pagerduty.open_alerts()
    assert [event["event_action"] for event in page.events] == ["trigger", "trigger", "trigger"]

    # The first tunnel recovers while the second is down: the page stays open, nothing is sent.
    recovered = _deliver(_on_tunnel(first, "203.0.113.5", TransitionKind.RESOLVED, down=(SECOND_TUNNEL,)), channel)
    assert recovered["pagerduty"].outcome == SKIPPED
    assert pagerduty.open_alerts() == [page]

    _deliver(_on_tunnel(second, SECOND_TUNNEL, TransitionKind.RESOLVED), channel)
    assert pagerduty.open_alerts() == []
    assert len(pagerduty.alerts) == 1
    assert page.resolved

    # The next failure is a new page under the same key, as PagerDuty documents.
    _deliver(_on_tunnel(opened, "203.0.113.5", TransitionKind.OPENED), channel, once=MemoryOnce())
    assert [alert.dedup_key for alert in pagerduty.alerts] == [page.dedup_key] * 2
    assert len(pagerduty.open_alerts()) == 1


@pytest.mark.usefixtures("queues")
def test_rate_limited_events_and_cards_wait_for_retry_after_then_are_delivered(
    queues: dict[str, str], pagerduty: PagerDutyReceiver, teams: TeamsReceiver
) -> None:
    channels = _channels(queues, pagerduty, teams)
    pagerduty.throttle_next(1, retry_after=1)
    teams.throttle_next(1, retry_after=1)

    outcomes = _deliver(SCENARIOS["ike_phase1_failure-opened"](), channels["pagerduty"], channels["teams"])

    assert {name: item.outcome for name, item in outcomes.items()} == {"pagerduty": SENT, "teams": SENT}
    assert len(pagerduty.posts) == 2
    assert len(pagerduty.alerts) == 1
    assert len(teams.posts) == 2
    assert len(teams.cards) == 1


@pytest.mark.usefixtures("queues")
def test_server_errors_are_retried_and_a_refused_event_is_dead_lettered_without_the_routing_key(
    queues: dict[str, str], pagerduty: PagerDutyReceiver, teams: TeamsReceiver
) -> None:
    channel = _channels(queues, pagerduty, teams)["pagerduty"]
    pagerduty.fail_next(1)
    assert _deliver(SCENARIOS["dpd_timeout-opened"](), channel)["pagerduty"].outcome == SENT

    pagerduty.refuse_next(1)
    refused = _deliver(SCENARIOS["bgp_session-opened"](), channel)["pagerduty"]

    assert refused.outcome == DEAD_LETTERED
    assert "PagerDuty answered HTTP 400" in str(refused.reason)
    [letter] = _dead_letters(queues["pagerduty-dlq"])
    assert letter["payload"]["event_action"] == "trigger"
    assert pagerduty.routing_key not in json.dumps(letter)
    assert pagerduty.routing_key not in str(refused.reason)


@pytest.mark.usefixtures("queues")
def test_an_event_pagerduty_finds_invalid_is_refused_by_the_receiver_not_silently_accepted(
    queues: dict[str, str], pagerduty: PagerDutyReceiver, teams: TeamsReceiver
) -> None:
    # A routing key of the right shape that names no integration: PagerDuty answers 400.
    channel = _channels(queues, pagerduty, teams, routing_key="f" * 32)["pagerduty"]

    outcome = _deliver(SCENARIOS["dpd_timeout-opened"](), channel)["pagerduty"]

    assert outcome.outcome == DEAD_LETTERED
    assert pagerduty.alerts == []
    assert "f" * 32 not in str(outcome.reason)


@pytest.mark.usefixtures("queues")
def test_a_teams_webhook_failing_on_every_retry_is_dead_lettered_and_pagerduty_still_pages(
    queues: dict[str, str], pagerduty: PagerDutyReceiver, teams: TeamsReceiver
) -> None:
    channels = _channels(queues, pagerduty, teams)
    teams.fail_next(3)  # the first post and both retries

    outcomes = _deliver(SCENARIOS["dpd_timeout-opened"](), channels["teams"], channels["pagerduty"])

    assert outcomes["teams"].outcome == DEAD_LETTERED
    assert outcomes["pagerduty"].outcome == SENT
    [letter] = _dead_letters(queues["teams-dlq"])
    assert letter["payload"]["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert teams.url not in json.dumps(letter)
    assert teams.url not in str(outcomes["teams"].reason)


@pytest.mark.usefixtures("queues")
def test_every_alert_is_a_card_the_workflows_webhook_accepts(
    queues: dict[str, str], pagerduty: PagerDutyReceiver, teams: TeamsReceiver
) -> None:
    channel = _channels(queues, pagerduty, teams)["teams"]

    outcomes = {name: _deliver(SCENARIOS[name](), channel)["teams"].outcome for name in sorted(SCENARIOS)}

    assert outcomes == dict.fromkeys(sorted(SCENARIOS), SENT)
    assert len(teams.cards) == len(SCENARIOS)


ROUTING = {
    "default": {"channels": ["sns", "slack"]},
    "owners": {"network-emea": {"channels": ["sns", "teams", "pagerduty"], "min_severity": {"pagerduty": "critical"}}},
}


def test_the_notify_handler_routes_by_owner_and_never_shows_the_routing_key_or_a_webhook_url(
    monkeypatch: pytest.MonkeyPatch,
    pagerduty: PagerDutyReceiver,
    teams: TeamsReceiver,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with notify_stack(monkeypatch) as stack:
        sqs, secrets = boto3.client("sqs"), boto3.client("secretsmanager")
        secrets.create_secret(Name=PAGERDUTY_SECRET, SecretString=pagerduty.routing_key)
        secrets.create_secret(Name=TEAMS_SECRET, SecretString=teams.url)
        for name, value in {
            constants.ENV_PAGERDUTY_SECRET_NAME: PAGERDUTY_SECRET,
            constants.ENV_PAGERDUTY_DLQ_URL: sqs.create_queue(QueueName="pagerduty-dlq")["QueueUrl"],
            constants.ENV_PAGERDUTY_EVENTS_URL: pagerduty.url,
            constants.ENV_TEAMS_SECRET_NAME: TEAMS_SECRET,
            constants.ENV_TEAMS_DLQ_URL: sqs.create_queue(QueueName="teams-dlq")["QueueUrl"],
            constants.ENV_ROUTING: json.dumps(ROUTING),
        }.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        teams.fail_next(3)  # the owner's Teams card is dead-lettered after its retries

        # Both tunnels DOWN (EC2 reports the other one DOWN too): an outage, critical, so PagerDuty is paged.
        outage = replace(SCENARIOS["dpd_timeout-opened"](), owner="network-emea", other_tunnels_down=("203.0.113.6",))
        emea = stack.invoke(outage, event_id="bus-1")
        bgp = SCENARIOS["bgp_session-opened"]()
        other = replace(bgp.transition.incident, vpn_connection_id="vpn-0fedcba987654321f")
        unowned = stack.invoke(replace(bgp, transition=replace(bgp.transition, incident=other)), event_id="bus-2")
        handler_logs = stack.logs.getvalue()
        slack_posts = stack.slack.posts()

    assert emea["owner"] == "network-emea"
    assert emea["not_routed"] == ["slack"]
    assert {name: item["outcome"] for name, item in emea["channels"].items()} == {
        "sns": SENT,
        "teams": DEAD_LETTERED,
        "pagerduty": SENT,
    }
    # The page's key is the connection-level incident's (the roll-up's), so the second tunnel never opens another.
    assert [alert.dedup_key for alert in pagerduty.alerts] == [emea["rollup"]["connection_incident_id"]]
    assert emea["rollup"]["state"] == "outage"
    assert list(unowned["channels"]) == ["sns", "slack"]
    assert unowned["not_routed"] == ["teams", "pagerduty"]
    assert len(slack_posts) == 1
    texts = [json.dumps(emea), json.dumps(unowned), handler_logs, caplog.text, capsys.readouterr().out]
    for secret in (pagerduty.routing_key, teams.url, teams.path):
        assert [text[:80] for text in texts if secret in text] == []


def test_notify_refuses_routing_it_cannot_read_naming_the_variable_and_the_key() -> None:
    env = {**SETTINGS, constants.ENV_ROUTING: '{"owners": {"network-emea": {"channels": ["pager"]}}}'}

    with pytest.raises(wiring.SettingsError, match=f"{constants.ENV_ROUTING}.*owners.network-emea: 'pager' is not"):
        wiring.load_settings(notify.Settings, env)
