"""PagerDuty Events API v2 poster: the routing key from Secrets Manager, put in the event when sending.

The endpoint is PagerDuty's (``POST /v2/enqueue``); the credential is the integration's routing key,
which travels in the body (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/). It is
read like a webhook URL (:class:`~vpn_doctor.aws.webhook.Webhook`: cached, never logged, never in a
reason nor a trace) and added only to the request, so a dead-lettered event holds no key. Answers
(https://developer.pagerduty.com/docs/events-api-v2/overview/#response-codes--retry-logic): 202 with
the ``dedup_key``; 400 an invalid event (not retried: dead-lettered); 429 rate limited and 5xx, retried
with backoff (the webhook's retry handlers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from vpn_doctor.aws.webhook import Webhook, secret_text

EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"
# "the 32 character Integration Key for an integration on a service or on a global ruleset"
_ROUTING_KEY: Final = re.compile(r"[0-9A-Za-z]{32}")


class PagerDutyEvents(Webhook):
    """Sends Events API v2 events with the routing key of the secret ``secret_name``."""

    def __init__(self, secret_name: str, *, endpoint: str = EVENTS_URL, **options: Any) -> None:
        super().__init__(secret_name, service="PagerDuty", **options)
        self.endpoint = endpoint

    def _request(self, secret: object, payload: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str]:
        key = routing_key(secret)
        return self.endpoint, {**payload, "routing_key": key}, key

    def _message_id(self, body: str | None) -> str | None:
        # 202 {"status": "success", "message": "Event processed", "dedup_key": "..."}
        try:
            answer = json.loads(body or "")
        except json.JSONDecodeError:
            return None
        key = answer.get("dedup_key") if isinstance(answer, dict) else None
        return key if isinstance(key, str) else None


def routing_key(secret: object) -> str:
    """The routing key from the secret's value: the key itself, or JSON with ``routing_key``.

    Raises ``ValueError`` (whose message never quotes the value) when it is not a 32-character key."""
    text = secret_text(secret, ("routing_key",), what="PagerDuty")
    if not _ROUTING_KEY.fullmatch(text):
        raise ValueError("PagerDuty secret does not hold a 32-character routing key")
    return text
