"""Incoming-webhook poster (Slack's; any chat webhook taking a JSON body): URL from Secrets Manager,
retries on 429/5xx/network errors.

The webhook URL is a credential: it is read from Secrets Manager (Powertools parameters, cached),
never logged and never put in an exception or a returned reason. ``slack_sdk`` logs request URLs
at debug/info level, so its client gets a logger that goes nowhere.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import RemoteDisconnected
from typing import Any, Final, Self
from urllib.error import URLError

from aws_lambda_powertools.utilities import parameters
from aws_xray_sdk.core import xray_recorder
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from vpn_doctor.render.safe import valid_unicode_document

# Secrets are cached this long: a rotated webhook is picked up within minutes, not per message.
SECRET_MAX_AGE_SECONDS: Final = 300
# A Retry-After longer than this is not waited for inside a Lambda invocation: dead-letter instead.
MAX_RETRY_AFTER_SECONDS: Final = 10
# Waits between retries of 5xx answers and network errors grow from this (seconds, doubling).
RETRY_BACKOFF_FACTOR = 0.5

_SILENT = logging.getLogger("vpn_doctor.aws.webhook.sdk")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False
_SILENT.setLevel(logging.CRITICAL + 1)


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What happened to one post: delivered, or why not (never containing the webhook URL)."""

    delivered: bool
    reason: str
    status: int | None = None
    message_id: str | None = None  # what the receiver calls the message, if it answers with one


class _RateLimited(RateLimitErrorRetryHandler):
    """429: wait for Retry-After (slack_sdk sleeps it), unless it asks for longer than we can wait."""

    def __init__(self, max_retry_count: int, max_wait: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        values = {key.lower(): value for key, value in response.headers.items()}.get("retry-after") or ["1"]
        try:
            return int(values[0]) <= self.max_wait
        except ValueError:
            return False


class _ServerErrors(ServerErrorRetryHandler):
    """Every 5xx, not only the 500 and 503 slack_sdk retries by default."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code >= 500


class Webhook:
    """Posts JSON payloads to the webhook whose URL is the secret ``secret_name``; ``service`` (e.g.
    "Slack") names the receiver in the reasons it gives."""

    def __init__(
        self,
        secret_name: str,
        *,
        service: str,
        provider: parameters.SecretsProvider | None = None,
        timeout: int = 5,
        max_retries: int = 2,
        max_retry_after: int = MAX_RETRY_AFTER_SECONDS,
        interval: RetryIntervalCalculator | None = None,
    ) -> None:
        self.secret_name = secret_name
        self.service = service
        self.timeout = timeout
        self._provider = provider
        self._retry_handlers: list[RetryHandler] = _retry_handlers(
            max_retries,
            max_retry_after,
            interval or BackoffRetryIntervalCalculator(backoff_factor=RETRY_BACKOFF_FACTOR),
        )

    def with_secret(self, secret_name: str) -> Self:
        """The same webhook (service, retries, timeouts) with its URL or key in another secret: an owner's own
        (vpn_doctor.routing)."""
        other = copy.copy(self)
        other.secret_name = secret_name
        return other

    def post(self, payload: Mapping[str, Any]) -> WebhookResult:
        """Post once (with retries); never raises for delivery problems, reports them instead."""
        try:
            url, payload, secret = self._request(self._secret(), payload)
        except parameters.exceptions.GetParameterError as exc:
            return WebhookResult(False, f"webhook secret unavailable ({_cause_name(exc)})")
        except ValueError as exc:
            return WebhookResult(False, str(exc))
        client = WebhookClient(
            url,
            timeout=self.timeout,
            logger=_SILENT,
            retry_handlers=self._retry_handlers,
            default_headers=self._headers(secret),
        )
        # Traced as a named subsegment that carries no URL: the X-Ray SDK's http.client patch would
        # record the URL (``http.request.url``), which is the credential, so that client is not patched.
        with xray_recorder.in_subsegment(f"{self.service} webhook", namespace="remote") as subsegment:
            try:
                # Unpaired surrogates (from a log line) become U+FFFD: a receiver may refuse them in its JSON.
                response = client.send_dict(valid_unicode_document(dict(payload)))
            except Exception as exc:  # any transport failure becomes a dead letter, not a crash
                # The type only: some transport errors quote the request, and the request holds the URL.
                return WebhookResult(False, f"could not reach {self.service} after retries ({type(exc).__name__})")
            if subsegment is not None:
                subsegment.put_annotation("status", response.status_code)
        if 200 <= response.status_code < 300:  # Slack answers 200; other chat webhooks 202
            return WebhookResult(True, "ok", response.status_code, self._message_id(response.body))
        body = str(response.body or "").replace(secret, "<secret>")[:200]
        return WebhookResult(
            False, f"{self.service} answered HTTP {response.status_code}: {body}", response.status_code
        )

    def _secret(self) -> object:
        if self._provider is not None:
            return self._provider.get(self.secret_name, max_age=SECRET_MAX_AGE_SECONDS)
        return parameters.get_secret(self.secret_name, max_age=SECRET_MAX_AGE_SECONDS)

    def _request(self, secret: object, payload: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str]:
        """Where to post, what, and the credential in it (masked in any reason): here the URL is the secret.

        A receiver whose credential goes in the body instead (PagerDuty's routing key) overrides this."""
        url = webhook_url(secret)
        return url, payload, url

    def _headers(self, credential: str) -> dict[str, str]:
        """Headers the request needs besides JSON's: none for a webhook whose URL is the credential.

        A receiver authenticated by a header (Opsgenie's ``GenieKey``) overrides this."""
        return {}

    def _message_id(self, body: str | None) -> str | None:
        """The receiver's id of an accepted message, from its answer; chat webhooks give none."""
        return None


def secret_text(secret: object, fields: tuple[str, ...], *, what: str) -> str:
    """A secret's value as stored: the text itself, or JSON whose first non-empty ``fields`` holds it.

    Raises ``ValueError`` (whose message never quotes the value) when it is JSON that cannot be read."""
    if isinstance(secret, bytes):
        secret = secret.decode("utf-8", "replace")
    text = str(secret or "").strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"{what} secret is not valid JSON") from None
        values = [document.get(name) for name in fields] if isinstance(document, dict) else []
        text = str(next((value for value in values if value), "")).strip()
    return text


def webhook_url(secret: object) -> str:
    """The webhook URL from the secret's value: the URL itself, or JSON with ``url``/``webhook_url``.

    Raises ``ValueError`` (whose message never quotes the value) when it is not an http(s) URL.
    """
    text = secret_text(secret, ("url", "webhook_url"), what="webhook")
    if not text.startswith(("https://", "http://")):
        raise ValueError("webhook secret does not hold an http(s) URL")
    return text


def _retry_handlers(max_retries: int, max_retry_after: int, interval: RetryIntervalCalculator) -> list[RetryHandler]:
    return [
        _RateLimited(max_retries, max_retry_after),
        _ServerErrors(max_retry_count=max_retries, interval_calculator=interval),
        # Read timeouts surface as TimeoutError, not URLError: retry them too.
        ConnectionErrorRetryHandler(
            max_retry_count=max_retries,
            interval_calculator=interval,
            error_types=[URLError, ConnectionResetError, RemoteDisconnected, TimeoutError],
        ),
    ]


def _cause_name(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(cause or exc).__name__
