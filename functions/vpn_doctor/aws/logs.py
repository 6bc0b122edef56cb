"""CloudWatch Logs adapter: look back over a tunnel's log group (a DOWN with no finding; a delivery's context)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.ingest import events_of_message
from vpn_doctor.models import TunnelEvent
from vpn_doctor.parsing import with_identity
from vpn_doctor.vpn import log_group_name

_MAX_PAGES: Final = 5
_MAX_EVENTS: Final = 500


class TunnelLogs:
    """``FilterLogEvents`` over the streams of one VPN connection, parsed into :class:`TunnelEvent`."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """The CloudWatch Logs client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("logs")
        return self._client

    def lookback(
        self, log_group: str, vpn_connection_id: str, tunnel_ip: str, *, start: datetime, end: datetime
    ) -> list[TunnelEvent]:
        """The tunnel's records between ``start`` and ``end``, oldest first (bounded to a few pages).

        AWS names tunnel log streams after the connection id and the tunnel outside IP, so the
        streams are selected by the connection id prefix and the records by the tunnel IP.
        A missing log group yields no records; other refusals raise ``AwsCallFailed``.
        """
        request: dict[str, Any] = {
            "logGroupName": log_group_name(log_group),
            "logStreamNamePrefix": vpn_connection_id,
            "startTime": int(start.timestamp() * 1000),
            "endTime": int(end.timestamp() * 1000),
        }
        events: list[TunnelEvent] = []
        try:
            for _ in range(_MAX_PAGES):
                response = self.client.filter_log_events(**request)
                for item in response.get("events") or ():
                    # A line without a year (RFC 3164, pluto) takes it from its event's time, as the delivery
                    # does (ingest._records): dated otherwise, the delivery's own lines read back here would not
                    # be known as its own and would be counted twice.
                    stamp = item.get("timestamp")
                    moment = None if stamp is None else datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
                    message = str(item.get("message", ""))
                    for parsed in events_of_message(message, reference_time=moment, event_id=item.get("eventId")):
                        event = with_identity(parsed, log_stream=item.get("logStreamName"))
                        if event.tunnel_ip in (None, tunnel_ip) and len(events) < _MAX_EVENTS:
                            events.append(event)
                token = response.get("nextToken")
                if not token or len(events) >= _MAX_EVENTS:
                    break
                request["nextToken"] = token
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return []
            raise translate("FilterLogEvents", exc) from None
        except BotoCoreError as exc:
            raise translate("FilterLogEvents", exc) from None
        return sorted(events, key=lambda event: event.timestamp or start)
