"""The periodic report: read the store, compute the report (``vpn_doctor.report``), publish its text once.

It goes to the alert topic in one ``Publish(MessageStructure="json")``, like alerts (``channels/topic.py``):
e-mail subscribers get the text, and when the deployment turned the Amazon Q Developer format on, its HTTPS
and Lambda subscribers get a custom notification (anything else would be dropped by Amazon Q). The publish
runs at most once per scheduled event (``once``): EventBridge may deliver an event twice, and a retried
invocation (the publish failed) publishes what was not published, never a second copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from vpn_doctor.report import Change, Report, TunnelHistory, build_report, render_text

# Amazon Q custom notifications (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html):
# a chat message is read at a glance, so it is cut here; the e-mail carries the whole report.
_CHAT_LIMIT: Final = 4000


class ReportSource(Protocol):
    """Where the report's data comes from (``aws/report_reader.py``)."""

    def tunnels(self, vpn_connection_id: str | None = None) -> list[TunnelHistory]:
        """Every tunnel the store knows, with its state and incidents."""
        ...

    def changes(self, vpn_connection_ids: list[str], *, since: datetime) -> list[Change]:
        """The remediation decisions of these connections since ``since``."""
        ...


class ReportTopic(Protocol):
    """The alert topic (``aws/sns.py`` ``AlertTopic``)."""

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, str], structured: bool) -> str:
        """Publish; returns the message id; raises ``AwsCallFailed``."""
        ...


class OncePerKey(Protocol):
    """Runs ``send`` at most once per (``scope``, ``key``) (``aws/idempotency.py`` ``OnceInTable``)."""

    def __call__(
        self, scope: str, key: Mapping[str, str], send: Callable[[], dict[str, str]]
    ) -> tuple[dict[str, str], bool]:
        """``send()``'s result (or the stored one) and whether it was stored, i.e. a duplicate."""
        ...


@dataclass(frozen=True, slots=True)
class Published:
    """What the run did: the report, SNS's message id, and whether an earlier delivery had sent it."""

    report: Report
    message_id: str
    duplicate: bool


def compute_report(
    source: ReportSource, *, now: datetime, period: timedelta, retention: timedelta, flap_transitions: int
) -> Report:
    """The report of the ``period`` before ``now``; the store answers for ``retention`` back from ``now``."""
    start = now - period
    histories = source.tunnels()
    changes = source.changes(sorted({history.vpn_connection_id for history in histories}), since=start)
    return build_report(
        histories, changes, start=start, end=now, horizon=now - retention, flap_transitions=flap_transitions
    )


def publish_report(
    report: Report, *, topic: ReportTopic, once: OncePerKey, event_id: str, chat_format: bool
) -> Published:
    """Publish the report's text to the topic, once per ``event_id``."""
    text = render_text(report)
    subject = f"vpn-doctor report {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}"
    texts = {"default": text, "email": text}
    if chat_format:
        texts.update(dict.fromkeys(("https", "lambda"), json.dumps(_chat(subject, text), ensure_ascii=False)))

    def send() -> dict[str, str]:
        message_id = topic.publish(
            subject=subject,
            message=json.dumps(texts, ensure_ascii=False),
            attributes={"kind": "report"},
            structured=True,
        )
        return {"message_id": message_id}

    record, duplicate = once("sns", {"report": event_id}, send)
    return Published(report, record["message_id"], duplicate)


def _chat(subject: str, text: str) -> dict[str, Any]:
    body = text if len(text) <= _CHAT_LIMIT else text[: _CHAT_LIMIT - 40] + "\n… (the e-mail has the whole report)"
    return {
        "version": "1.0",
        "source": "custom",
        "content": {"textType": "client-markdown", "title": subject, "description": f"```\n{body}```"},
    }
