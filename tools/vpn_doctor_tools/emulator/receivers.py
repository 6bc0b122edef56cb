"""Local receivers for the PagerDuty Events API v2 and a Microsoft Teams Workflows webhook.

Each is an HTTP server on 127.0.0.1 implementing the documented contract, so the channels are tested
(and the demo runs) against what the real service accepts, refuses and answers:

- PagerDuty, ``POST /v2/enqueue`` (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/,
  response codes: https://developer.pagerduty.com/docs/events-api-v2/overview/#response-codes--retry-logic):
  a 32-character ``routing_key`` (the integration's), ``event_action`` trigger/acknowledge/resolve,
  ``dedup_key`` at most 255 characters, a trigger's ``payload`` with ``summary`` (at most 1024),
  ``source`` and ``severity`` (critical, error, warning, info); 202 with the ``dedup_key``, 400 for an
  invalid event, 429 when rate limited. Alerts are kept as PagerDuty keeps them: a trigger with the key
  of an open alert is added to it, after a resolve the same key opens a new alert, a resolve for no open
  alert is dropped.
- Teams, a Workflows "Send webhook alerts to a channel" trigger: the message envelope with Adaptive
  Card attachments (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook),
  ``type`` "AdaptiveCard", a 1.x ``version``, known element and action types; 202 when accepted,
  400 otherwise, and Teams' message size limit (about 28 KB).

``throttle_next`` (429 with ``Retry-After``), ``fail_next`` (500) and ``refuse_next`` (400) script
the answers of the next posts.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

PAGERDUTY_SEVERITIES: Final = ("critical", "error", "warning", "info")
PAGERDUTY_ACTIONS: Final = ("trigger", "acknowledge", "resolve")
ADAPTIVE_CARD: Final = "application/vnd.microsoft.card.adaptive"
# Adaptive Card 1.x element and action types (https://adaptivecards.io/explorer/).
CARD_ELEMENTS: Final = frozenset(
    {
        "TextBlock",
        "RichTextBlock",
        "Image",
        "ImageSet",
        "Media",
        "Container",
        "ColumnSet",
        "FactSet",
        "ActionSet",
        "Table",
        "Input.Text",
        "Input.Number",
        "Input.Date",
        "Input.Time",
        "Input.Toggle",
        "Input.ChoiceSet",
    }
)
CARD_ACTIONS: Final = frozenset(
    {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute"}
)
TEAMS_MESSAGE_LIMIT: Final = 28 * 1024


def pagerduty_event_problems(event: Any) -> list[str]:
    """What makes ``event`` an invalid Events API v2 alert event (empty: valid). Checks the routing key's
    shape only; which key is accepted is the receiver's."""
    if not isinstance(event, dict):
        return ["event is not a JSON object"]
    problems = []
    if not re.fullmatch(r"[0-9A-Za-z]{32}", str(event.get("routing_key") or "")):
        problems.append("routing_key must be a 32-character integration key")
    action = event.get("event_action")
    if action not in PAGERDUTY_ACTIONS:
        problems.append(f"event_action must be one of {', '.join(PAGERDUTY_ACTIONS)}")
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
        problems.append("dedup_key must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and key is None:
        problems.append(f"{action} needs a dedup_key")
    if action == "trigger":
        problems += _trigger_payload_problems(event.get("payload"))
    for link in event.get("links") or ():
        if not isinstance(link, dict) or not str(link.get("href") or "").startswith(("https://", "http://")):
            problems.append("each link needs an href")
    return problems


def _trigger_payload_problems(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["trigger needs a payload object"]
    problems = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary or len(summary) > 1024:
        problems.append("payload.summary is required, at most 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        problems.append("payload.source is required")
    if payload.get("severity") not in PAGERDUTY_SEVERITIES:
        problems.append(f"payload.severity must be one of {', '.join(PAGERDUTY_SEVERITIES)}")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        problems.append("payload.custom_details must be an object")
    if "timestamp" in payload:
        try:
            datetime.fromisoformat(str(payload["timestamp"]))
        except ValueError:
            problems.append("payload.timestamp must be an ISO 8601 time")
    return problems


def teams_message_problems(message: Any) -> list[str]:
    """What makes ``message`` a body a Teams Workflows webhook refuses (empty: accepted)."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return ['the body must be {"type": "message", "attachments": [...]}']
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments must be a non-empty list"]
    problems = []
    if len(json.dumps(message).encode()) > TEAMS_MESSAGE_LIMIT:
        problems.append(f"message larger than {TEAMS_MESSAGE_LIMIT} bytes")
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE_CARD:
            problems.append(f"attachment contentType must be {ADAPTIVE_CARD}")
            continue
        problems += card_problems(attachment.get("content"))
    return problems


def card_problems(card: Any) -> list[str]:
    """The Adaptive Card basics: type, a 1.x version, a body of known elements, known actions."""
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ['content must be an object with "type": "AdaptiveCard"']
    problems = []
    if not re.fullmatch(r"1\.[0-6]", str(card.get("version") or "")):
        problems.append("version must be an Adaptive Card 1.x version (1.0 to 1.6)")
    body = card.get("body")
    if not isinstance(body, list) or not body:
        problems.append("body must be a non-empty list")
    for element in body if isinstance(body, list) else ():
        problems += _element_problems(element)
    for action in card.get("actions") or ():
        if not isinstance(action, dict) or action.get("type") not in CARD_ACTIONS:
            problems.append(f"unknown action {action.get('type') if isinstance(action, dict) else action!r}")
        elif action["type"] == "Action.OpenUrl" and not str(action.get("url") or "").startswith("https://"):
            problems.append("Action.OpenUrl needs an https url")
    return problems


def _element_problems(element: Any) -> list[str]:
    kind = element.get("type") if isinstance(element, dict) else None
    if kind not in CARD_ELEMENTS:
        return [f"unknown element {kind!r}"]
    if kind == "TextBlock" and (not isinstance(element.get("text"), str) or not element["text"]):
        return ["TextBlock needs a text"]
    if kind == "FactSet":
        facts = element.get("facts")
        if not isinstance(facts, list) or not all(
            isinstance(f, dict) and isinstance(f.get("title"), str) and isinstance(f.get("value"), str) for f in facts
        ):
            return ["FactSet facts need a title and a value, both strings"]
    return []


@dataclass(frozen=True, slots=True)
class Answer:
    """A scripted reply."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _Receiver(ABC):
    """An HTTP server on 127.0.0.1 answering JSON posts on ``path`` through ``handle`` (under a lock)."""

    name = "receiver"

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.posts: list[Any] = []  # every body received, valid or not
        self._script: list[Answer] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to post."""
        if self._server is None:
            raise RuntimeError(f"the {self.name} receiver is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def start(self) -> None:
        """Listen on a free loopback port."""
        receive = self._receive

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = receive(self.path, self.headers.get("Content-Type") or "", body)
                data = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def throttle_next(self, count: int = 1, *, retry_after: int = 1) -> None:
        """Answer the next ``count`` posts 429 with ``Retry-After``."""
        self._queue(count, Answer(429, self._throttled(), {"Retry-After": str(retry_after)}))

    def fail_next(self, count: int = 1) -> None:
        """Answer the next ``count`` posts 500."""
        self._queue(count, Answer(500, {"status": "error", "message": "internal error"}))

    def refuse_next(self, count: int = 1) -> None:
        """Answer the next ``count`` posts 400, as for an event the service finds invalid."""
        self._queue(count, Answer(400, {"status": "invalid event", "message": "Event object is invalid"}))

    def _queue(self, count: int, answer: Answer) -> None:
        with self.lock:
            self._script.extend([answer] * count)

    def _throttled(self) -> dict[str, Any]:
        return {"status": "throttle event", "message": "Requests for this service are arriving too quickly."}

    def _receive(self, path: str, content_type: str, raw: bytes) -> Answer:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        with self.lock:
            self.posts.append(body)
            if path != self.path:
                return Answer(404, {"message": "not found"})
            if self._script:
                return self._script.pop(0)
            if not content_type.startswith("application/json") or body is None:
                return Answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": []})
            return self.handle(body)

    @abstractmethod
    def handle(self, body: Any) -> Answer:
        """The answer to a JSON post on the right path (the service's own rules), under the lock."""


@dataclass(slots=True)
class PagerDutyAlert:
    """One alert as PagerDuty keeps it: its key, its events, open or resolved."""

    dedup_key: str
    events: list[dict[str, Any]]
    resolved: bool = False

    @property
    def summary(self) -> str:
        """The latest trigger's summary."""
        triggers = [event for event in self.events if event["event_action"] == "trigger"]
        return str(triggers[-1]["payload"]["summary"]) if triggers else ""


class PagerDutyReceiver(_Receiver):
    """The Events API v2 endpoint for one integration (``routing_key``)."""

    name = "pagerduty-receiver"

    def __init__(self, routing_key: str | None = None) -> None:
        super().__init__("/v2/enqueue")
        self.routing_key = routing_key or secrets.token_hex(16)  # 32 characters, like an integration key
        self.alerts: list[PagerDutyAlert] = []  # every alert opened, in order: one per page
        self.accepted: list[dict[str, Any]] = []  # every accepted event, in order, without its routing key
        self.dropped: list[dict[str, Any]] = []  # acknowledge/resolve events that matched no open alert

    def open_alerts(self) -> list[PagerDutyAlert]:
        """The alerts not resolved."""
        with self.lock:
            return [alert for alert in self.alerts if not alert.resolved]

    def handle(self, body: Any) -> Answer:
        """Validate, then apply the event to the alerts (PagerDuty's de-duplication)."""
        event = body
        problems = pagerduty_event_problems(event)
        if not problems and event["routing_key"] != self.routing_key:
            problems = ["routing_key does not name an integration"]
        if problems:
            return Answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": problems})
        event = {name: value for name, value in event.items() if name != "routing_key"}
        self.accepted.append(event)
        key = event.get("dedup_key") or secrets.token_hex(16)
        current = next((a for a in self.alerts if a.dedup_key == key and not a.resolved), None)
        if event["event_action"] == "trigger":
            if current is None:
                self.alerts.append(PagerDutyAlert(key, [event]))
            else:
                current.events.append(event)
        elif current is None:
            self.dropped.append(event)
        else:
            current.events.append(event)
            current.resolved = event["event_action"] == "resolve"
        return Answer(202, {"status": "success", "message": "Event processed", "dedup_key": key})


class TeamsReceiver(_Receiver):
    """A Workflows webhook: accepts messages with valid Adaptive Cards (202), keeps the cards."""

    name = "teams-receiver"

    def __init__(self) -> None:
        # An unguessable path, as a real Workflows URL has (its "sig" parameter is the credential).
        super().__init__(f"/workflows/{secrets.token_hex(16)}/triggers/manual/paths/invoke")
        self.cards: list[dict[str, Any]] = []

    def handle(self, body: Any) -> Answer:
        """Validate the envelope and its cards; keep each card."""
        problems = teams_message_problems(body)
        if problems:
            return Answer(400, {"error": {"code": "InvalidRequestContent", "message": "; ".join(problems)}})
        self.cards.extend(attachment["content"] for attachment in body["attachments"])
        return Answer(202, {})

    def _throttled(self) -> dict[str, Any]:
        return {"error": {"code": "TooManyRequests", "message": "Rate limit is exceeded."}}
