"""A local Slack incoming-webhook receiver: records what was posted, answers like Slack."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class SlackPost:
    """One message posted to the webhook."""

    payload: dict[str, Any]
    received_at: datetime

    @property
    def text(self) -> str:
        """The message as a person reads it: the fallback text plus every block's text."""
        parts = [str(self.payload.get("text") or "")]
        for block in self.payload.get("blocks") or ():
            parts.extend(_block_texts(block))
        return "\n".join(part for part in parts if part)


class SlackReceiver:
    """An HTTP server on 127.0.0.1 that accepts Slack webhook posts in a background thread.

    ``fail_next(n)`` makes the next ``n`` posts answer HTTP 500, to exercise retries.
    """

    def __init__(self) -> None:
        self._posts: list[SlackPost] = []
        self._lock = threading.Lock()
        self._failures = 0
        # An unguessable path, as a real webhook URL has (and it is never printed).
        self._path = (
            f"/services/T{secrets.token_hex(4).upper()}/B{secrets.token_hex(4).upper()}/{secrets.token_hex(12)}"
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The webhook URL (a secret: store it, never print it)."""
        if self._server is None:
            raise RuntimeError("the Slack receiver is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self._path}"

    def start(self) -> None:
        """Listen on a free loopback port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = receiver._receive(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the demo prints what was received instead

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-receiver", daemon=True)
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

    def fail_next(self, count: int = 1) -> None:
        """Answer the next ``count`` posts with HTTP 500."""
        with self._lock:
            self._failures = count

    def posts(self) -> list[SlackPost]:
        """Every message received so far, oldest first."""
        with self._lock:
            return list(self._posts)

    def _receive(self, path: str, body: bytes) -> tuple[int, bytes]:
        if path != self._path:
            return 404, b"no_service"
        with self._lock:
            if self._failures > 0:
                self._failures -= 1
                return 500, b"internal_error"
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 400, b"invalid_payload"
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return 400, b"no_text"
        with self._lock:
            self._posts.append(SlackPost(payload=payload, received_at=datetime.now(UTC)))
        return 200, b"ok"


def _block_texts(block: Any) -> list[str]:
    if not isinstance(block, dict):
        return []
    texts: list[str] = []
    text = block.get("text")
    if isinstance(text, dict) and text.get("text"):
        texts.append(str(text["text"]))
    for item in block.get("fields") or ():
        if isinstance(item, dict) and item.get("text"):
            texts.append(str(item["text"]))
    for element in block.get("elements") or ():
        if isinstance(element, dict):
            if element.get("text") and isinstance(element["text"], str):
                texts.append(element["text"])
            texts.extend(_block_texts(element))
    return texts
