"""The periodic report: read the store, compute the report (``vpn_doctor.report``), publish its text once.

It goes to the alert topic in one ``Publish(MessageStructure="json")``, like alerts (``channels/topic.py``):
e-mail subscribers get the text, and when the deployment turned the Amazon Q Developer format on, its HTTPS
and Lambda subscribers get a custom notification (anything else would be dropped by Amazon Q). The publish
runs at most once per scheduled event (``once``): EventBridge may deliver an event twice, and a retried
invocation (the publish failed) publishes what was not published, never a second copy.

The configured chat channels (Slack, Teams) get a summary too, through their channel plugins
(:func:`send_report_to_chats`): each its own message (:mod:`vpn_doctor.render.report`), sent with the channel's
retries, dead-lettered with its dead-letter queue when it still fails, at most once per channel and scheduled
event. A pager gets no report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from vpn_doctor.channels.base import Channel, ChannelError
from vpn_doctor.render.report import REPORT_LAYOUTS, report_title
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
    subject = report_title(report)
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


@dataclass(frozen=True, slots=True)
class ChatDelivery:
    """What one chat channel did with the report: ``sent`` or ``dead_lettered`` (with why)."""

    channel: str
    outcome: str
    duplicate: bool
    reason: str | None = None


class ChatsFailed(RuntimeError):
    """A chat channel could neither send the report nor dead-letter it: the invocation fails and is retried
    (the channels that had it send nothing again)."""


def send_report_to_chats(
    report: Report, *, channels: Sequence[Channel[Any]], once: OncePerKey, event_id: str
) -> list[ChatDelivery]:
    """Send the report's summary on every channel that has a report layout, once per channel and ``event_id``;
    raises :class:`ChatsFailed` (after every channel had its turn) when one could neither send nor keep it."""
    delivered: list[ChatDelivery] = []
    failed: list[str] = []
    for channel in channels:
        layout = REPORT_LAYOUTS.get(channel.name)
        if layout is None:
            continue
        message = layout(report)

        def send(channel: Channel[Any] = channel, message: dict[str, Any] = message) -> dict[str, str]:
            try:
                channel.send(message)
            except ChannelError as exc:
                reason = str(exc)
                channel.dead_letter(message, reason=reason, alert={"report": event_id})
                return {"outcome": "dead_lettered", "reason": reason}
            return {"outcome": "sent"}

        try:
            record, duplicate = once(channel.name, {"report": event_id}, send)
        except ChannelError as exc:  # the dead-letter queue refused it too: nothing recorded, retried
            failed.append(f"{channel.name}: {exc}")
            continue
        delivered.append(ChatDelivery(channel.name, record["outcome"], duplicate, record.get("reason")))
    if failed:
        raise ChatsFailed("; ".join(failed))
    return delivered
