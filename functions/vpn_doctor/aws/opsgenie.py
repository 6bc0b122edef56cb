"""Opsgenie Alert API v2: the create and close requests, authenticated with an API integration's key.

``POST {api}/v2/alerts`` and ``POST {api}/v2/alerts/{alias}/close?identifierType=alias``, header
``Authorization: GenieKey <key>`` (https://docs.opsgenie.com/docs/alert-api); ``{api}`` is
``https://api.opsgenie.com``, or ``https://api.eu.opsgenie.com`` for an account in Opsgenie's EU instance ("If
using the EU instance of Opsgenie, the URL needs to be https://api.eu.opsgenie.com"). Valid requests are answered
``202 Accepted`` with ``{"result": "Request will be processed", "took": ..., "requestId": ...}`` and processed
asynchronously; 400 is invalid JSON, 401 an invalid key or disabled integration, 422 a semantic error in the body,
429 too many requests (https://docs.opsgenie.com/docs/response). Retries (429 with ``Retry-After``, 5xx, network
errors) are the webhook adapter's; the key is read from Secrets Manager and masked in any reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from vpn_doctor.aws.webhook import Webhook, secret_text
from vpn_doctor.constants import OPSGENIE_API_URL as API_URL
from vpn_doctor.constants import OPSGENIE_EU_API_URL as EU_API_URL

__all__ = ["API_URL", "EU_API_URL", "OpsgenieAlerts", "genie_key"]
_KEY: Final = re.compile(r"[A-Za-z0-9-]{20,64}")


class OpsgenieAlerts(Webhook):
    """Sends Alert API v2 creates and closes with the API key of the secret ``secret_name``."""

    def __init__(self, secret_name: str, *, api_url: str = API_URL, **options: Any) -> None:
        super().__init__(secret_name, service="Opsgenie", **options)
        self.api_url = api_url.rstrip("/")

    def _request(self, secret: object, payload: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str]:
        key = genie_key(secret)
        action, alias, body = payload.get("action"), payload.get("alias"), payload.get("body")
        if not isinstance(alias, str) or not alias or not isinstance(body, Mapping):
            raise ValueError("not an Opsgenie request (action, alias and body)")
        if action == "create":
            return f"{self.api_url}/v2/alerts", body, key
        if action == "close":
            return f"{self.api_url}/v2/alerts/{quote(alias, safe='')}/close?identifierType=alias", body, key
        raise ValueError(f"unknown Opsgenie action {str(action)[:20]!r}")

    def _headers(self, credential: str) -> dict[str, str]:
        return {"Authorization": f"GenieKey {credential}"}

    def _message_id(self, body: str | None) -> str | None:
        # 202 {"result": "Request will be processed", "took": 0.302, "requestId": "..."}
        try:
            answer = json.loads(body or "")
        except json.JSONDecodeError:
            return None
        request_id = answer.get("requestId") if isinstance(answer, dict) else None
        return request_id if isinstance(request_id, str) else None


def genie_key(secret: object) -> str:
    """The API integration's key from the secret's value: the key itself, or JSON with ``api_key``.

    Raises ``ValueError`` (whose message never quotes the value) when it does not look like a key."""
    text = secret_text(secret, ("api_key",), what="Opsgenie")
    if not _KEY.fullmatch(text):
        raise ValueError("Opsgenie secret does not hold an API key")
    return text
