"""EventBridge Scheduler: the one-time post-check after a tunnel modification.

A schedule ``at(yyyy-mm-ddThh:mm:ss)`` (UTC) invokes the post-check function with a JSON input and
deletes itself afterwards (``ActionAfterCompletion=DELETE``). The name derives from the event id, so
a duplicate delivery finds the schedule already there (``ConflictException``) instead of adding one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate

NAME_PREFIX: Final = "vpn-doctor-post-check-"


class PostCheckScheduler:
    """Creates one-time schedules targeting the post-check function."""

    def __init__(
        self, *, target_arn: str, role_arn: str, group_name: str = "default", client: Any | None = None
    ) -> None:
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.group_name = group_name
        self._client = client

    @property
    def client(self) -> Any:
        """The Scheduler client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("scheduler")
        return self._client

    def schedule(self, key: str, at: datetime, payload: Mapping[str, Any]) -> str:
        """Schedule the post-check at ``at`` with ``payload`` as input; returns the schedule's name.

        Raises :class:`vpn_doctor.aws.AwsCallFailed` when Scheduler refuses (except "already exists").
        """
        name = schedule_name(key)
        try:
            self.client.create_schedule(
                Name=name,
                GroupName=self.group_name,
                ScheduleExpression=f"at({at.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={
                    "Arn": self.target_arn,
                    "RoleArn": self.role_arn,
                    "Input": json.dumps(dict(payload), separators=(",", ":")),
                    "RetryPolicy": {"MaximumRetryAttempts": 3},
                },
                ActionAfterCompletion="DELETE",
                Description="vpn-doctor: is the tunnel back UP after the modification?",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise translate("CreateSchedule", exc) from None
        except BotoCoreError as exc:
            raise translate("CreateSchedule", exc) from None
        return name


def schedule_name(key: str) -> str:
    """A valid schedule name (at most 64 characters of ``[0-9a-zA-Z-_.]``) that is stable for a key."""
    return NAME_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]
