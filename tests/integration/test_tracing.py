"""What the notify function leaves in X-Ray: its calls traced, the Slack webhook URL (and the Teams URL and
PagerDuty routing key) nowhere.

The X-Ray SDK is switched on with an emitter that keeps every segment it would send to the daemon
(as the JSON the daemon would get); the notify handler then delivers alerts, one of them retried
after Slack answered 500 and one dead-lettered, and every emitted document, log line and metric
line is searched for the webhook URL and its token.
"""

from __future__ import annotations

import http.client
import importlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import botocore.endpoint
import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import patcher, xray_recorder
from aws_xray_sdk.core.context import Context

from handlers import notify
from handlers.observability import tracer
from tests.fixtures.golden.scenarios import SCENARIOS
from tests.integration.test_notify_handler import notify_stack
from vpn_doctor import constants
from vpn_doctor_tools.emulator.receivers import PagerDutyReceiver, TeamsReceiver


class KeptEmitter:
    """An X-Ray emitter that keeps what it would send (the daemon's JSON documents)."""

    def __init__(self) -> None:
        self.documents: list[str] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(entity.serialize())

    def set_daemon_address(self, address: str | None) -> None:
        """Nothing to send to."""


# What the X-Ray SDK's botocore and http.client patches replace: put back after the test.
_PATCHABLE = (
    (botocore.client.BaseClient, "_make_api_call"),
    (botocore.endpoint.Endpoint, "prepare_request"),
    (http.client.HTTPConnection, "_send_request"),
    (http.client.HTTPConnection, "getresponse"),
    (http.client.HTTPResponse, "read"),
)


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeptEmitter]:
    """The notify module imported as in Lambda (tracing on, so it patches what it names), the X-Ray
    SDK on (Powertools switches it off outside Lambda), sampling everything, sending to us."""
    for owner, name in _PATCHABLE:
        monkeypatch.setattr(owner, name, getattr(owner, name))
    # The patches' "already patched" flags: gone again afterwards, or the next patch would skip.
    monkeypatch.setattr(http.client, "__xray_patched", False, raising=False)
    monkeypatch.delattr(botocore.client, "_xray_enabled", raising=False)
    monkeypatch.setattr(patcher, "_PATCHED_MODULES", set(patcher._PATCHED_MODULES))
    was_disabled, tracer.disabled = tracer.disabled, False
    was_enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)  # the SDK patches nothing while it is off
    importlib.reload(notify)
    emitter = KeptEmitter()
    previous = (
        xray_recorder._emitter,
        xray_recorder.sampling,
        xray_recorder.context,
        xray_recorder.streaming_threshold,
    )
    xray_recorder.configure(emitter=emitter, sampling=False, context=Context(), context_missing="LOG_ERROR")
    xray_recorder.streaming_threshold = 1  # every finished subsegment is its own document, as in Lambda
    try:
        yield emitter
    finally:
        xray_recorder._emitter, xray_recorder.sampling, xray_recorder.context = previous[:3]
        xray_recorder.streaming_threshold = previous[3]
        global_sdk_config.set_sdk_enabled(was_enabled)
        tracer.disabled = was_disabled
        importlib.reload(notify)  # as the other tests import it (the patches are undone by monkeypatch)
        if hasattr(botocore.client, "_xray_enabled"):
            del botocore.client._xray_enabled


def test_no_trace_log_or_metric_of_the_notify_function_holds_the_webhook_url(
    traces: KeptEmitter, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with notify_stack(monkeypatch) as stack:
        secrets = {stack.slack.url, stack.slack.url.split("/services/")[1]}
        for index, failures in enumerate((0, 1, 10)):  # sent, sent after a retry, dead-lettered
            stack.slack.fail_next(failures)
            xray_recorder.begin_segment("vpn-doctor-notify")
            try:
                stack.invoke(SCENARIOS["dpd_timeout-opened"](), event_id=f"bus-{index}")
                stack.invoke(SCENARIOS["dpd_timeout-resolved"](), event_id=f"bus-{index}-resolved")
            finally:
                xray_recorder.end_segment()
            stack.slack.fail_next(0)
        logs = stack.logs.getvalue()

    documents = [json.loads(document) for document in traces.documents]
    names = {document["name"] for document in documents}
    assert {"Slack webhook", "sns", "dynamodb"} <= names, "the calls are traced"
    webhook = [d for d in documents if d["name"] == "Slack webhook"]
    assert {d["annotations"]["status"] for d in webhook if "annotations" in d} >= {200}
    leaks = [
        secret
        for text in (*traces.documents, *logs.splitlines(), *capsys.readouterr().out.splitlines())
        for secret in secrets
        if secret in text
    ]
    assert leaks == []


def test_no_trace_of_the_notify_function_holds_the_pagerduty_routing_key_or_the_teams_url(
    traces: KeptEmitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    pagerduty, teams = PagerDutyReceiver(), TeamsReceiver()
    for receiver in (pagerduty, teams):
        receiver.start()
    hidden = (pagerduty.routing_key, teams.url, teams.path)
    try:
        with notify_stack(monkeypatch) as stack:
            sqs, secrets = boto3.client("sqs"), boto3.client("secretsmanager")
            secrets.create_secret(Name="vpn-doctor/pagerduty", SecretString=pagerduty.routing_key)
            secrets.create_secret(Name="vpn-doctor/teams", SecretString=teams.url)
            for name, value in {
                constants.ENV_PAGERDUTY_SECRET_NAME: "vpn-doctor/pagerduty",
                constants.ENV_PAGERDUTY_DLQ_URL: sqs.create_queue(QueueName="pagerduty-dlq")["QueueUrl"],
                constants.ENV_PAGERDUTY_EVENTS_URL: pagerduty.url,
                constants.ENV_TEAMS_SECRET_NAME: "vpn-doctor/teams",
                constants.ENV_TEAMS_DLQ_URL: sqs.create_queue(QueueName="teams-dlq")["QueueUrl"],
            }.items():
                monkeypatch.setenv(name, value)
            pagerduty.refuse_next(1)  # one event dead-lettered: its reason is traced nowhere either
            xray_recorder.begin_segment("vpn-doctor-notify")
            try:
                stack.invoke(SCENARIOS["dpd_timeout-opened"](), event_id="bus-1")
                stack.invoke(SCENARIOS["dpd_timeout-resolved"](), event_id="bus-2")
            finally:
                xray_recorder.end_segment()
            logs = stack.logs.getvalue()
    finally:
        for receiver in (pagerduty, teams):
            receiver.stop()

    names = {json.loads(document)["name"] for document in traces.documents}
    assert {"PagerDuty webhook", "Teams webhook"} <= names, "the posts are traced"
    secrets_shown = [secret for text in (*traces.documents, *logs.splitlines()) for secret in hidden if secret in text]
    assert secrets_shown == []
