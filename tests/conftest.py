"""Shared test data: real-format AWS log fixtures and small builders."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

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


def lambda_context(function: str) -> LambdaContext:
    """A Lambda context for invoking one of our handlers in a test (``function``: ingest, notify, ...)."""
    return _TestContext(function)
