"""Shared test data: real-format AWS log fixtures and small builders; fake AWS (credentials, moto) for
the tests that call AWS."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from vpn_doctor import constants
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table

FIXTURES = Path(__file__).resolve().parent / "fixtures"
AWS_CASES_PATH = FIXTURES / "aws" / "catalogue_cases.json"
AWS_CASES: dict[str, Any] = json.loads(AWS_CASES_PATH.read_text(encoding="utf-8"))
STREAM: str = AWS_CASES["log_stream"]
VPN_ID = "vpn-0a1b2c3d4e5f60718"
TUNNEL_IP = "203.0.113.5"
NOW = datetime(2025, 11, 27, 0, 0, tzinfo=UTC)


def subscription_document(
    messages: Iterable[Any],
    *,
    log_stream: str = STREAM,
    log_group: str = "/aws/vendedlogs/vpn/tunnels",
    start_ms: int = 1_764_196_800_000,
) -> dict[str, Any]:
    """A decoded CloudWatch Logs DATA_MESSAGE: a string becomes a log event, anything else is
    taken as the raw log event (to build malformed ones)."""
    events: list[Any] = []
    for index, message in enumerate(messages):
        if isinstance(message, str):
            events.append({"id": f"3{index:055d}", "timestamp": start_ms + index * 1000, "message": message})
        else:
            events.append(message)
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "111122223333",
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["vpn-doctor"],
        "logEvents": events,
    }


def control_document() -> dict[str, Any]:
    """What CloudWatch Logs sends when a subscription filter is created."""
    return {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {
                "id": "",
                "timestamp": 1_764_196_800_000,
                "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
            }
        ],
    }


def tunnel_record(details: str, epoch: int, phase1: str = "established", phase2: str = "established") -> str:
    """One AWS tunnel activity log record in the JSON output format."""
    return json.dumps(
        {
            "event_timestamp": epoch,
            "details": details,
            "dpd_enabled": True,
            "nat_t_detected": False,
            "ike_phase1_state": phase1,
            "ike_phase2_state": phase2,
        }
    )


@pytest.fixture
def aws_cases() -> dict[str, Any]:
    """The catalogue fixture document (tests/fixtures/aws/catalogue_cases.json)."""
    return AWS_CASES


REQUEST_ID = "5b1c7d3e-0000-4000-8000-000000000001"


class _TestContext(LambdaContext):
    """Powertools' own LambdaContext with the values a Lambda invocation would carry."""

    def __init__(self, function: str) -> None:
        self._function_name = f"vpn-doctor-{function}"
        self._function_version = "$LATEST"
        self._invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:vpn-doctor-{function}"
        self._memory_limit_in_mb = 256
        self._aws_request_id = REQUEST_ID
        self._log_group_name = f"/aws/lambda/vpn-doctor-{function}"
        self._log_stream_name = "2026/11/26/[$LATEST]0123456789abcdef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture(autouse=True)
def _cold_functions() -> None:
    """Handlers keep what they built between invocations (settings, clients, the ingest classifier's
    memory), as a warm Lambda instance does: every test starts cold."""
    wiring = sys.modules.get("handlers.wiring")
    if wiring is not None:
        wiring.reset()


def lambda_context(function: str) -> LambdaContext:
    """A Lambda context for invoking one of our handlers in a test (``function``: ingest, notify, ...)."""
    return _TestContext(function)


# --- fake AWS -------------------------------------------------------------------------------
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# What a test reads back from the bus through a rule -> SQS tap: everything we publish, or the alerts.
OUR_EVENTS: dict[str, Any] = {"source": [constants.EVENT_SOURCE]}
OUR_ALERTS: dict[str, Any] = {**OUR_EVENTS, "detail-type": [constants.DETAIL_TYPE_ALERT]}


def fake_aws_environment(
    monkeypatch: pytest.MonkeyPatch, settings: Mapping[str, str] | None = None, *, region: str = "us-east-1"
) -> None:
    """Fake credentials and ``region`` in the environment (no test can reach a real account, whether
    moto or a Stubber answers), then ``settings``."""
    for name, value in {"AWS_DEFAULT_REGION": region, **FAKE_CREDENTIALS, **(settings or {})}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and us-east-1 in the environment."""
    fake_aws_environment(monkeypatch)


_MOTO_REQUEST_LOCK = threading.RLock()
_process_request = BotocoreStubber.process_request


def _one_request_at_a_time(self: BotocoreStubber, request: Any) -> Any:
    with _MOTO_REQUEST_LOCK:
        return _process_request(self, request)


@contextmanager
def mocked_aws(table: str | None = None) -> Iterator[Any]:
    """moto answering every AWS call, with a stack-shaped DynamoDB ``table`` if named; yields a DynamoDB client.

    AWS answers each request atomically (a DynamoDB conditional or transactional write is applied whole
    or not at all), but moto's in-process backends are not thread-safe: a ``TransactWriteItems`` deep-copies
    the table while another thread's write changes it, and that request fails with a ``RuntimeError``
    (seen on CI). Requests are therefore handled one at a time, as AWS's per-request atomicity promises;
    the races under test, between one thread's read and its conditional write, still interleave freely.
    """
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(BotocoreStubber, "process_request", _one_request_at_a_time)
        client = boto3.client("dynamodb")
        if table is not None:
            create_pipeline_table(client, table)
        yield client


@contextmanager
def handler_aws(
    monkeypatch: pytest.MonkeyPatch,
    reset: Callable[[], None],
    settings: Mapping[str, str],
    *,
    region: str = "us-east-1",
    table: str | None = None,
) -> Iterator[Any]:
    """Where a handler test runs: fake credentials, ``region``, X-Ray off and the function's ``settings``
    in the environment; :func:`mocked_aws` (yields its DynamoDB client); the handler's runtime (settings
    and clients, kept per process) forgotten by ``reset`` before and after."""
    fake_aws_environment(monkeypatch, {"POWERTOOLS_TRACE_DISABLED": "true", **settings}, region=region)
    reset()
    try:
        with mocked_aws(table) as dynamodb:
            yield dynamodb
    finally:
        reset()


def route_to_queue(bus: str, queue_url: str, pattern: Mapping[str, Any], *, rule: str = "tap") -> None:
    """A rule on ``bus`` sending the events that match ``pattern`` to the queue (in moto)."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": rule, "Arn": queue_arn}])


def tapped_bus(bus: str, queue: str, pattern: Mapping[str, Any], *, rule: str = "tap") -> str:
    """The event bus ``bus`` and the queue ``queue`` getting what matches ``pattern`` on it (in moto);
    returns the queue's URL, to read back what a handler published."""
    boto3.client("events").create_event_bus(Name=bus)
    queue_url: str = boto3.client("sqs").create_queue(QueueName=queue)["QueueUrl"]
    route_to_queue(bus, queue_url, pattern, rule=rule)
    return queue_url


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """The bodies of up to ten messages waiting on the queue, parsed; they stay on it (not visible for a while)."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages") or []
    return [json.loads(message["Body"]) for message in messages]


def drained(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message body on the queue, parsed, in order; the queue is left empty."""
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages") or []
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
