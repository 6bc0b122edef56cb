"""A local Opsgenie Alert API v2 (one API integration) for tests: the documented contract, not a mock.

- ``POST /v2/alerts`` with ``Authorization: GenieKey <key>`` and a JSON body: ``message`` required, at most 130
  characters; ``alias`` and ``entity`` at most 512, ``description`` 15000, ``tags`` 20, ``priority`` ``P1`` ..
  ``P5``, ``details`` string values (https://docs.opsgenie.com/docs/alert-api). A create with the alias of an open
  alert adds to that alert ("there can be only one alert with open status with the same alias").
- ``POST /v2/alerts/{identifier}/close?identifierType=alias`` closes the open alert with that alias.
- Answers (https://docs.opsgenie.com/docs/response): 202 ``{"result": "Request will be processed", "took",
  "requestId"}`` for a valid request, processed asynchronously (a close matching no open alert is accepted, then
  fails: kept in ``failed``); 400 invalid JSON; 401 a wrong or missing key; 404 an unknown path; 415 a body that is
  not JSON by its Content-Type; 422 semantic errors in the body; 429 (scripted, with ``Retry-After``) and 500
  (scripted).
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from vpn_doctor_tools.emulator.receivers import Answer

_LIMITS = {"alias": 512, "description": 15000, "entity": 512, "source": 100, "user": 100, "note": 25000}
_CREATE_FIELDS = {
    "message", "alias", "description", "responders", "visibleTo", "actions", "tags", "details", "entity", "source",
    "priority", "user", "note",
}  # fmt: skip


@dataclass(slots=True)
class OpsgenieAlert:
    """One alert as Opsgenie keeps it: its alias, the creates that made and repeated it, open or closed."""

    alias: str
    creates: list[dict[str, Any]]
    closed: bool = False
    close_notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many creates de-duplicated into this alert (Opsgenie's ``count``)."""
        return len(self.creates)


def create_problems(body: Any) -> dict[str, str]:
    """What the Alert API would refuse in a create request's body (422), by field."""
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    problems: dict[str, str] = {}
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        problems["message"] = "Message can not be empty."
    elif len(message) > 130:
        problems["message"] = "Message can not be longer than 130 characters."
    for name, limit in _LIMITS.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            problems[name] = f"must be a string of at most {limit} characters"
    if body.get("priority") is not None and body["priority"] not in ("P1", "P2", "P3", "P4", "P5"):
        problems["priority"] = "must be one of P1, P2, P3, P4, P5"
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or len(tags) > 20 or not all(isinstance(t, str) for t in tags)):
        problems["tags"] = "must be a list of at most 20 strings"
    details = body.get("details")
    if details is not None and (not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values())):
        problems["details"] = "must be an object of string values"
    unknown = sorted(set(body) - _CREATE_FIELDS)
    if unknown:
        problems[unknown[0]] = "is not a field of a create alert request"
    return problems


class OpsgenieReceiver:
    """The Alert API v2 of one API integration (``api_key``) on 127.0.0.1."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key or str(uuid.uuid4())  # an integration key has the form of a UUID
        self.lock = threading.Lock()
        self.alerts: list[OpsgenieAlert] = []  # every alert created, in order
        self.requests: list[tuple[str, Any]] = []  # every request (path with query, body), valid or not
        self.failed: list[str] = []  # accepted closes that found no open alert (processed asynchronously)
        self._script: list[Answer] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API's base URL (as ``https://api.opsgenie.com``)."""
        if self._server is None:
            raise RuntimeError("the Opsgenie receiver is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def open_alerts(self) -> list[OpsgenieAlert]:
        """The alerts not closed."""
        with self.lock:
            return [alert for alert in self.alerts if not alert.closed]

    def throttle_next(self, count: int = 1, *, retry_after: int = 1) -> None:
        """Answer the next ``count`` requests 429 with ``Retry-After``."""
        self._queue(count, Answer(429, {"message": "Too many requests"}, {"Retry-After": str(retry_after)}))

    def fail_next(self, count: int = 1) -> None:
        """Answer the next ``count`` requests 500."""
        self._queue(count, Answer(500, {"message": "Internal server error"}))

    def start(self) -> None:
        """Listen on a free loopback port."""
        receive = self._receive

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = receive(self.path, dict(self.headers.items()), raw)
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
        self._thread = threading.Thread(target=self._server.serve_forever, name="opsgenie-receiver", daemon=True)
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

    def _queue(self, count: int, answer: Answer) -> None:
        with self.lock:
            self._script.extend([answer] * count)

    def _receive(self, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        try:
            body: Any = json.loads(raw.decode("utf-8")) if raw else {}
            parsed = True
        except (UnicodeDecodeError, json.JSONDecodeError):
            body, parsed = None, False
        with self.lock:
            self.requests.append((target, body))
            if self._script:
                return self._script.pop(0)
            if {k.lower(): v for k, v in headers.items()}.get("authorization") != f"GenieKey {self.api_key}":
                return _error(401, "apiKey is invalid or integration is disabled")
            if raw and not headers.get("Content-Type", "").startswith("application/json"):
                return _error(415, "Request body format is not supported")
            if not parsed:
                return _error(400, "Invalid JSON body")
            url = urlsplit(target)
            parts = url.path.strip("/").split("/")
            if url.path == "/v2/alerts":
                return self._create(body)
            if len(parts) == 4 and parts[:2] == ["v2", "alerts"] and parts[3] == "close":
                kind = parse_qs(url.query).get("identifierType", ["id"])[0]
                return self._close(unquote(parts[2]), kind, body)
            return _error(404, "Resource or handler not found")

    def _create(self, body: Any) -> Answer:
        problems = create_problems(body)
        if problems:
            return Answer(422, {"message": "Request body is not processable. Please check the errors.",
                                "errors": problems, "took": 0.001, "requestId": str(uuid.uuid4())})  # fmt: skip
        alias = body.get("alias") or secrets.token_hex(16)
        current = next((a for a in self.alerts if a.alias == alias and not a.closed), None)
        if current is None:
            self.alerts.append(OpsgenieAlert(alias, [body]))
        else:
            current.creates.append(body)
        return _accepted()

    def _close(self, identifier: str, kind: str, body: Any) -> Answer:
        if kind not in ("id", "alias", "tiny") or not isinstance(body, dict):
            return _error(422, "identifierType is one of id, alias, tiny; the body an object")
        current = next((a for a in self.alerts if a.alias == identifier and not a.closed), None)
        if kind != "alias" or current is None:
            self.failed.append(identifier)  # accepted; its processing finds no open alert
        else:
            current.closed = True
            current.close_notes.append(str(body.get("note") or ""))
        return _accepted()


def _accepted() -> Answer:
    return Answer(202, {"result": "Request will be processed", "took": 0.002, "requestId": str(uuid.uuid4())})


def _error(status: int, message: str) -> Answer:
    return Answer(status, {"message": message, "took": 0.0, "requestId": str(uuid.uuid4())})
