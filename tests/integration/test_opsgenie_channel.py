"""The Opsgenie channel against a local Alert API v2 implementing the documented contract
(tools/vpn_doctor_tools/emulator/opsgenie.py): GenieKey authentication, creates de-duplicated by alias, close by
alias, 202, 401, 422, 429 with Retry-After, 5xx. Its key in Secrets Manager and its dead-letter queue are moto's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from tests.conftest import drained, fake_aws_environment
from tests.fixtures.golden.scenarios import REGION, SCENARIOS
from tests.unit.test_channels import MemoryOnce
from vpn_doctor import constants
from vpn_doctor.app.notify import DEAD_LETTERED, SENT, SKIPPED, deliver_alert
from vpn_doctor.aws import webhook
from vpn_doctor.aws.opsgenie import OpsgenieAlerts
from vpn_doctor.channels import Channel, ChannelSettings, configured_channels
from vpn_doctor.models import Alert, TransitionKind
from vpn_doctor.render.pagerduty import dedup_key
from vpn_doctor_tools.emulator.opsgenie import OpsgenieReceiver

SECRET = "vpn-doctor/opsgenie-api-key"
FIRST, SECOND = "203.0.113.5", "198.51.100.9"


@pytest.fixture
def opsgenie() -> Iterator[OpsgenieReceiver]:
    receiver = OpsgenieReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto, the dead-letter queue's URL; retries wait milliseconds."""
    monkeypatch.setattr(webhook, "RETRY_BACKOFF_FACTOR", 0.01)
    fake_aws_environment(monkeypatch, region=REGION)
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("sqs").create_queue(QueueName="opsgenie-dlq")["QueueUrl"]
    parameters.clear_caches()


def _channel(dlq: str, opsgenie: OpsgenieReceiver, *, key: str | None = None) -> Channel[Any]:
    boto3.client("secretsmanager").create_secret(
        Name=SECRET, SecretString=json.dumps({"api_key": key or opsgenie.api_key})
    )
    settings = ChannelSettings.model_validate(
        {
            constants.ENV_ALERT_TOPIC_ARN: f"arn:aws:sns:{REGION}:111122223333:alerts",
            constants.ENV_CHATBOT_FORMAT: "false",
            constants.ENV_OPSGENIE_SECRET_NAME: SECRET,
            constants.ENV_OPSGENIE_DLQ_URL: dlq,
            constants.ENV_OPSGENIE_API_URL: opsgenie.url,
        }
    )
    channels = {channel.name: channel for channel in configured_channels(settings)}
    assert list(channels) == ["sns", "opsgenie"]
    return channels["opsgenie"]


def _on_tunnel(
    alert: Alert, tunnel_ip: str, kind: TransitionKind | None = None, *, down: tuple[str, ...] = ()
) -> Alert:
    incident = replace(alert.transition.incident, tunnel_ip=tunnel_ip, incident_id=f"inc-{tunnel_ip}")
    kind = kind or alert.transition.kind
    transition = replace(alert.transition, incident=incident, kind=kind, event_id=f"{tunnel_ip}-{kind.value}")
    return replace(alert, transition=transition, other_tunnels_down=down)


def _deliver(alert: Alert, channel: Channel[Any], once: MemoryOnce) -> Any:
    delivery = deliver_alert(alert, channels=[channel], once=once, console_region=REGION, log_group=None)
    (item,) = delivery.delivered
    return item


def test_both_tunnels_and_a_retry_make_one_alert_closed_by_alias_when_the_last_tunnel_recovers(
    aws: str, opsgenie: OpsgenieReceiver
) -> None:
    channel, once = _channel(aws, opsgenie), MemoryOnce()
    opened = SCENARIOS["dpd_timeout-opened"]()
    first, second = _on_tunnel(opened, FIRST), _on_tunnel(opened, SECOND, down=(FIRST,))
    opsgenie.throttle_next(1, retry_after=1)  # 429: waited for, then accepted

    sent = _deliver(first, channel, once)
    _deliver(first, channel, MemoryOnce())  # the alert again, after its duplicate-check record expired
    _deliver(second, channel, once)
    assert sent.outcome == SENT
    assert sent.message_id  # Opsgenie's requestId
    [alert] = opsgenie.open_alerts()
    assert alert.alias == dedup_key(opened.transition.incident.vpn_connection_id)  # PagerDuty's dedup key
    assert alert.count == 3
    assert alert.creates[0]["priority"] == "P1"

    # The first tunnel recovers while the second is down: the alert stays open, nothing is sent.
    recovered = _deliver(_on_tunnel(first, FIRST, TransitionKind.RESOLVED, down=(SECOND,)), channel, once)
    assert recovered.outcome == SKIPPED
    assert opsgenie.open_alerts() == [alert]
    closed = _deliver(_on_tunnel(second, SECOND, TransitionKind.RESOLVED), channel, once)
    assert closed.outcome == SENT
    assert opsgenie.open_alerts() == []
    assert alert.closed
    assert opsgenie.failed == []
    paths = [path for path, _ in opsgenie.requests]
    assert paths[-1] == f"/v2/alerts/{alert.alias.replace('/', '%2F')}/close?identifierType=alias"
    assert drained(boto3.client("sqs"), aws) == []


def test_server_errors_are_retried_then_dead_lettered_without_the_key(aws: str, opsgenie: OpsgenieReceiver) -> None:
    channel = _channel(aws, opsgenie)
    opsgenie.fail_next(3)  # the first try and both retries
    item = _deliver(SCENARIOS["bgp_session-opened"](), channel, MemoryOnce())
    assert item.outcome == DEAD_LETTERED
    assert "Opsgenie answered HTTP 500" in str(item.reason)
    (letter,) = drained(boto3.client("sqs"), aws)
    assert letter["channel"] == "opsgenie"
    assert letter["payload"]["action"] == "create"
    assert opsgenie.api_key not in json.dumps(letter)
    assert len(opsgenie.requests) == 3
    assert opsgenie.alerts == []


def test_a_wrong_key_is_refused_401_and_dead_lettered_never_quoting_the_key(
    aws: str, opsgenie: OpsgenieReceiver
) -> None:
    wrong = "00000000-1111-2222-3333-444444444444"
    item = _deliver(SCENARIOS["bgp_session-opened"](), _channel(aws, opsgenie, key=wrong), MemoryOnce())
    assert item.outcome == DEAD_LETTERED
    assert "Opsgenie answered HTTP 401" in str(item.reason)
    assert wrong not in str(item.reason)
    assert opsgenie.alerts == []


def test_the_receiver_refuses_what_opsgenie_refuses_so_the_adapter_reports_it(
    aws: str, opsgenie: OpsgenieReceiver
) -> None:
    boto3.client("secretsmanager").create_secret(Name=SECRET, SecretString=opsgenie.api_key)
    alerts = OpsgenieAlerts(SECRET, api_url=opsgenie.url)
    empty = alerts.post({"action": "create", "alias": "a", "body": {"message": ""}})
    too_long = alerts.post({"action": "create", "alias": "a", "body": {"message": "x" * 131, "priority": "P9"}})
    not_ours = alerts.post({"action": "acknowledge", "alias": "a", "body": {}})
    assert (empty.delivered, empty.status) == (False, 422)
    assert "Message can not be empty" in empty.reason
    assert too_long.status == 422
    assert "priority" in too_long.reason
    assert not not_ours.delivered
    assert "unknown Opsgenie action" in not_ours.reason
    assert opsgenie.alerts == []
    assert opsgenie.api_key not in empty.reason + too_long.reason
