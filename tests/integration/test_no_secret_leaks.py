"""No pre-shared key and no webhook URL in anything the alert path produces.

Every golden scenario is rendered for every channel and sent through the notify handler with every
channel configured (the alert topic with the Amazon Q chat format, SNS and dead letters in moto; Slack
to a local webhook, including retries and a dead-lettered message), with a diagnosis made
from the real-format DescribeVpnConnections fixture (which holds the keys) and a remediation
request that carries a key. Then every rendered message, SNS message, Slack request body, dead
letter, handler result, log line and metric line is searched for the keys and the webhook URL.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.fixtures.golden.scenarios import FIXTURE_PRE_SHARED_KEYS, REGION, SCENARIOS
from tests.integration.test_notify_handler import notify_stack
from vpn_doctor import constants
from vpn_doctor.channels import ChannelSettings, configured_channels
from vpn_doctor.diagnosis import diagnose
from vpn_doctor.models import (
    Alert,
    IncidentStatus,
    RemediationAction,
    RemediationOutcome,
    RemediationStatus,
    TransitionKind,
    TunnelState,
)
from vpn_doctor.render.common import build_view
from vpn_doctor.vpn import connection_from_api

DESCRIBE = json.loads((FIXTURES / "events" / "ec2-describe-vpn-connections.json").read_text(encoding="utf-8"))
[ITEM] = DESCRIBE["VpnConnections"]


def _fixture_keys() -> set[str]:
    keys = {tunnel["PreSharedKey"] for tunnel in ITEM["Options"]["TunnelOptions"]}
    assert keys == set(FIXTURE_PRE_SHARED_KEYS), "the scenarios' key list follows the fixture"
    return keys


def _own_connection(alert: Alert, number: int) -> Alert:
    # Moved to the fixture's tunnel (_with_keys_nearby): its tunnel list no longer applies; notify rolls it up anew.
    incident = replace(alert.transition.incident, vpn_connection_id=f"vpn-{number:017x}")
    transition = replace(alert.transition, incident=incident)
    return replace(alert, transition=transition, tunnels=(), other_tunnels_down=(), connection=None)


def _with_keys_nearby(alert: Alert, number: int = 0) -> Alert:
    """The alert (as incident ``number``) with a diagnosis of the fixture connection and a key in the
    remediation request."""
    incident = alert.transition.incident
    connection = connection_from_api(ITEM)
    tunnel_ip = ITEM["Options"]["TunnelOptions"][0]["OutsideIpAddress"]
    moved = replace(
        incident,
        incident_id=f"inc-{number:016x}",
        vpn_connection_id=connection.vpn_connection_id,
        tunnel_ip=tunnel_ip,
    )
    diagnosis = diagnose(moved, connection, now=alert.transition.at + timedelta(seconds=30))
    remediation = RemediationOutcome(
        RemediationStatus.DRY_RUN,
        "test",
        RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART,
        {
            "VpnConnectionId": connection.vpn_connection_id,
            "TunnelOptions": {"DPDTimeoutAction": "restart", "PreSharedKey": FIXTURE_PRE_SHARED_KEYS[0]},
            "CustomerGatewayConfiguration": ITEM["CustomerGatewayConfiguration"],
        },
    )
    return replace(
        alert,
        transition=replace(alert.transition, incident=moved),
        diagnosis=diagnosis,
        remediation=remediation,
    )


def _leaks(texts: list[str], secrets: set[str]) -> list[str]:
    return [f"{secret!r} in {text[:80]!r}..." for text in texts for secret in secrets if secret in text]


def test_no_channel_renders_a_pre_shared_key() -> None:
    keys = _fixture_keys()
    every_channel = ChannelSettings.model_validate(
        {
            constants.ENV_ALERT_TOPIC_ARN: "arn:aws:sns:eu-west-1:111122223333:alerts",
            constants.ENV_CHATBOT_FORMAT: "true",
            constants.ENV_SLACK_SECRET_NAME: "vpn-doctor/slack-webhook",
            constants.ENV_SLACK_DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/111122223333/slack-dlq",
            constants.ENV_TEAMS_SECRET_NAME: "vpn-doctor/teams-webhook",
            constants.ENV_TEAMS_DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/111122223333/teams-dlq",
            constants.ENV_PAGERDUTY_SECRET_NAME: "vpn-doctor/pagerduty-routing-key",
            constants.ENV_PAGERDUTY_DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/111122223333/pagerduty-dlq",
            constants.ENV_OPSGENIE_SECRET_NAME: "vpn-doctor/opsgenie-api-key",
            constants.ENV_OPSGENIE_DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/111122223333/opsgenie-dlq",
        }
    )
    channels = configured_channels(every_channel)  # rendering only: nothing is sent
    texts: list[str] = []
    for build in SCENARIOS.values():
        for alert in (build(), _with_keys_nearby(build())):
            view = build_view(alert, console_region=REGION)
            texts += [json.dumps(channel.render(view), default=asdict) for channel in channels]

    assert [channel.name for channel in channels] == ["sns", "slack", "teams", "pagerduty", "opsgenie"]
    assert len(texts) == 5 * 2 * len(SCENARIOS)
    assert _leaks(texts, keys) == []


def test_nothing_the_notify_handler_sends_or_logs_contains_a_key_or_the_webhook_url(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    with notify_stack(monkeypatch, chatbot=True) as stack:
        secrets = _fixture_keys() | {stack.slack.url, stack.slack.url.split("/services/")[1]}
        results: list[dict[str, Any]] = []
        preludes = 0
        for index, build in enumerate(SCENARIOS.values()):
            # Each on a connection of its own (the roll-up tells each connection's changes); a recovery is news
            # only after its opening, which goes first.
            alert = _own_connection(_with_keys_nearby(build(), index), index)
            if alert.transition.kind is TransitionKind.RESOLVED:
                down = replace(
                    alert.transition.incident, status=IncidentStatus.OPEN, last_state=TunnelState.DOWN, resolved_at=None
                )
                opening = replace(alert.transition, kind=TransitionKind.OPENED, incident=down, event_id=f"open-{index}")
                stack.invoke(replace(alert, transition=opening), event_id=f"bus-open-{index}")
                preludes += 1
            # Some posts are retried after a 500, one every few is dead-lettered after all retries.
            stack.slack.fail_next(1 if index % 3 == 1 else 10 if index % 3 == 2 else 0)
            results.append(stack.invoke(alert, event_id=f"bus-{index}"))
        emails = stack.emails()
        letters = stack.dead_letters()
        posts = stack.slack.posts()
        handler_logs = stack.logs.getvalue()

    assert [result["status"] for result in results] == ["sent"] * len(SCENARIOS)
    assert len(emails) == len(SCENARIOS) + preludes
    assert letters, "the dead-letter path ran"
    assert posts, "the Slack path ran"
    texts = [
        *(json.dumps(email) for email in emails),
        *(json.dumps(letter) for letter in letters),
        *(json.dumps(post.payload) for post in posts),
        *(json.dumps(result) for result in results),
        *handler_logs.splitlines(),
        *(record.getMessage() for record in caplog.records),
        *capsys.readouterr().out.splitlines(),
    ]
    assert any("dead_lettered" in text for text in handler_logs.splitlines()), "the log capture saw the handler"
    assert _leaks(texts, secrets) == []
