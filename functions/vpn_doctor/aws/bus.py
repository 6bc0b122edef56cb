"""EventBridge publisher: incident transitions (and state changes) on the vpn-doctor bus."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.constants import DETAIL_TYPE_INCIDENT, EVENT_SOURCE
from vpn_doctor.models import IncidentTransition, dump

_BATCH: Final = 10  # PutEvents accepts at most 10 entries per call
_ATTEMPTS: Final = 3


@dataclass(slots=True)
class PublishReport:
    """How many entries were published, and the ones that could not be (with AWS's error code)."""

    published: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (detail type, error code)


class EventBus:
    """``PutEvents`` to one bus, source ``vpn-doctor``; failed entries are retried, then reported."""

    def __init__(self, bus_name: str, client: Any | None = None) -> None:
        self.bus_name = bus_name
        self._client = client

    @property
    def client(self) -> Any:
        """The EventBridge client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("events")
        return self._client

    def publish_transitions(self, transitions: Sequence[IncidentTransition]) -> PublishReport:
        """Publish each transition as detail type ``VPN Tunnel Incident`` (detail = ``models.dump``)."""
        return self.publish(DETAIL_TYPE_INCIDENT, [dump(transition) for transition in transitions])

    def publish(self, detail_type: str, details: Sequence[dict[str, Any]]) -> PublishReport:
        """Publish details of one type; entries failing with a retryable code are retried twice."""
        report = PublishReport()
        entries = [
            {
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, separators=(",", ":")),
                "EventBusName": self.bus_name,
            }
            for detail in details
        ]
        for start in range(0, len(entries), _BATCH):
            pending = entries[start : start + _BATCH]
            for attempt in range(_ATTEMPTS):
                try:
                    response = self.client.put_events(Entries=pending)
                except (ClientError, BotoCoreError) as exc:
                    error = translate("PutEvents", exc)
                    if error.try_later and attempt + 1 < _ATTEMPTS:
                        continue
                    raise error from None
                retry: list[dict[str, Any]] = []
                for entry, result in zip(pending, response.get("Entries") or (), strict=False):
                    code = result.get("ErrorCode")
                    if not code:
                        report.published += 1
                    elif attempt + 1 < _ATTEMPTS and code in ("ThrottlingException", "InternalFailure"):
                        retry.append(entry)
                    else:
                        report.failed.append((entry["DetailType"], str(code)))
                if not retry:
                    break
                pending = retry
        return report
