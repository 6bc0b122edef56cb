"""The Slack webhook adapter against a real HTTP server on 127.0.0.1 that answers as scripted:
success, rate limiting with Retry-After, server errors, timeouts, permanent failures (-> dead letter)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from tests.conftest import fake_aws_environment
from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.webhook import Webhook

SECRET_NAME = "vpn-doctor/slack-webhook"
PAYLOAD: dict[str, Any] = {
    "text": ":red_circle: vpn-0a1b2c3d4e5f60718 tunnel 203.0.113.5 DOWN: peer not answering DPD",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*What happened*\nPeer is not responsive"}}],
}


@dataclass
class Answer:
    """One scripted reply: status, body, headers, and how long to wait before answering."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class ScriptedSlack:
    """An HTTP server on loopback answering posts from a script (then 200 ok), recording each body."""

    script: list[Answer] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    url: str = ""

    def answer(self) -> Answer:
        return self.script.pop(0) if self.script else Answer()


@pytest.fixture
def slack_server() -> Iterator[ScriptedSlack]:
    state = ScriptedSlack()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.bodies.append(body)
                answer = state.answer()
            time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client timed out and left

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/services/T0AAA/B0BBB/s3cr3tW3bh00kT0ken"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake_aws_environment(monkeypatch, region="eu-west-1")
    parameters.clear_caches()
    with mock_aws():
        yield
    parameters.clear_caches()


def _webhook(url: str, *, secret: str | None = None, timeout: int = 2, retries: int = 2) -> Webhook:
    boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=secret or url)
    return Webhook(
        SECRET_NAME,
        service="Slack",
        timeout=timeout,
        max_retries=retries,
        interval=FixedValueRetryIntervalCalculator(0.01),
    )


@pytest.mark.usefixtures("aws")
def test_message_is_posted_as_json_once(slack_server: ScriptedSlack) -> None:
    result = _webhook(slack_server.url).post(PAYLOAD)

    assert (result.delivered, result.status) == (True, 200)
    assert [json.loads(body) for body in slack_server.bodies] == [PAYLOAD]


@pytest.mark.usefixtures("aws")
def test_an_accepted_answer_other_than_200_counts_as_delivered_and_a_refusal_names_the_service(
    slack_server: ScriptedSlack,
) -> None:
    # Some chat webhooks answer 202 Accepted; the reasons name the service the webhook belongs to.
    slack_server.script = [Answer(202, b""), Answer(400, b"invalid_payload")]
    webhook = Webhook(SECRET_NAME, service="Teams", interval=FixedValueRetryIntervalCalculator(0.01))
    boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=slack_server.url)

    accepted, refused = webhook.post(PAYLOAD), webhook.post(PAYLOAD)

    assert (accepted.delivered, accepted.status) == (True, 202)
    assert (refused.delivered, refused.reason) == (False, "Teams answered HTTP 400: invalid_payload")


@pytest.mark.usefixtures("aws")
def test_rate_limited_post_waits_for_retry_after_then_succeeds(slack_server: ScriptedSlack) -> None:
    slack_server.script = [Answer(429, b"rate_limited", {"Retry-After": "1"})]
    started = time.monotonic()

    result = _webhook(slack_server.url).post(PAYLOAD)

    assert result.delivered
    assert len(slack_server.bodies) == 2
    assert time.monotonic() - started >= 1.0


@pytest.mark.usefixtures("aws")
def test_rate_limit_asking_for_longer_than_a_lambda_can_wait_is_not_retried(slack_server: ScriptedSlack) -> None:
    slack_server.script = [Answer(429, b"rate_limited", {"Retry-After": "120"})]

    result = _webhook(slack_server.url).post(PAYLOAD)

    assert (result.delivered, result.status) == (False, 429)
    assert result.reason == "Slack answered HTTP 429: rate_limited"
    assert len(slack_server.bodies) == 1


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_then_success_is_delivered_on_retry(slack_server: ScriptedSlack, status: int) -> None:
    slack_server.script = [Answer(status, b"internal_error")]

    result = _webhook(slack_server.url).post(PAYLOAD)

    assert result.delivered
    assert len(slack_server.bodies) == 2


@pytest.mark.usefixtures("aws")
def test_timeout_then_success_is_delivered_on_retry(slack_server: ScriptedSlack) -> None:
    slack_server.script = [Answer(delay=1.5)]

    result = _webhook(slack_server.url, timeout=1).post(PAYLOAD)

    assert result.delivered
    assert len(slack_server.bodies) == 2


@pytest.mark.usefixtures("aws")
def test_every_attempt_timing_out_is_reported_without_the_url(slack_server: ScriptedSlack) -> None:
    slack_server.script = [Answer(delay=1.5), Answer(delay=1.5)]

    result = _webhook(slack_server.url, timeout=1, retries=1).post(PAYLOAD)

    assert not result.delivered
    assert result.reason == "could not reach Slack after retries (TimeoutError)"
    assert "s3cr3tW3bh00kT0ken" not in result.reason
    assert len(slack_server.bodies) == 2


@pytest.mark.usefixtures("aws")
def test_permanent_failure_is_dead_lettered_with_the_message_intact(slack_server: ScriptedSlack) -> None:
    slack_server.script = [Answer(404, b"no_service")]
    queue_url = boto3.client("sqs").create_queue(QueueName="vpn-doctor-slack-dlq")["QueueUrl"]

    result = _webhook(slack_server.url).post(PAYLOAD)
    DeadLetterQueue(queue_url).send(
        channel="slack", payload=PAYLOAD, reason=result.reason, context={"incident_id": "inc-1"}
    )

    assert len(slack_server.bodies) == 1, "a 404 is not retried"
    [message] = boto3.client("sqs").receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    letter = json.loads(message["Body"])
    assert letter == {
        "channel": "slack",
        "reason": "Slack answered HTTP 404: no_service",
        "context": {"incident_id": "inc-1"},
        "payload": PAYLOAD,
    }
    assert message["MessageAttributes"]["reason"]["StringValue"] == "Slack answered HTTP 404: no_service"
    assert slack_server.url not in message["Body"]


@pytest.mark.usefixtures("aws")
def test_webhook_url_is_read_from_a_json_secret_and_cached(slack_server: ScriptedSlack) -> None:
    webhook = _webhook(slack_server.url, secret=json.dumps({"url": slack_server.url}))
    assert webhook.post(PAYLOAD).delivered
    boto3.client("secretsmanager").put_secret_value(SecretId=SECRET_NAME, SecretString="http://127.0.0.1:9/gone")

    assert webhook.post(PAYLOAD).delivered, "the cached URL is used until the cache expires"
    assert len(slack_server.bodies) == 2


@pytest.mark.usefixtures("aws")
def test_missing_secret_is_a_reported_failure_not_an_exception() -> None:
    result = Webhook("no-such-secret", service="Slack").post(PAYLOAD)

    assert not result.delivered
    assert result.reason == "webhook secret unavailable (ResourceNotFoundException)"


@pytest.mark.usefixtures("aws")
def test_a_secret_that_is_not_a_url_is_refused_without_quoting_it() -> None:
    result = _webhook("", secret="xoxb-not-a-webhook").post(PAYLOAD)

    assert not result.delivered
    assert result.reason == "webhook secret does not hold an http(s) URL"
