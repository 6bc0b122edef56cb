"""Deliver an alert: word it once, then render, send (or dead-letter) it on every configured channel.

Each channel is sent at most once per (channel, incident, transition kind, transition event id): the
``once`` port keeps one record per channel, so a redelivered alert sends nothing again, and a retry
after a partial failure sends only what was not delivered. Channels are independent: one failing
never keeps the others from being sent. A channel that could neither send nor dead-letter fails the
delivery (:class:`DeliveryFailed`), after every other channel had its turn, so the event is retried.

Which channels an alert goes to is the deployment's routing (:mod:`vpn_doctor.routing`): by the
connection's owner (carried in the alert) and the incident's severity. A channel may also have nothing
to send for an alert (its ``render`` gives ``None``): that is recorded as ``skipped``.

Before any channel, the roll-up (``rollup``, :mod:`vpn_doctor.app.rollup`) decides what the alert means for its
connection: a change of the connection's state (or news in the same state) is sent as the connection's message,
with its severity (which routing reads) and every tunnel's part; a grouped storm message replaces the change that
opened a storm; anything else is recorded and not sent (``rolled_up``, ``storm_held``, ``stale``). A storm's
summary (``Alert.storm``, from the poller) is sent as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, Protocol

from vpn_doctor.channels.base import Channel, ChannelError
from vpn_doctor.models import Alert, TransitionKind
from vpn_doctor.redact import redact_model
from vpn_doctor.render.common import AlertView, build_view
from vpn_doctor.rollup import Decision, Verdict
from vpn_doctor.routing import EVERY_CHANNEL, Routing

# Buses deliver at least once, usually within minutes; two days covers late retries with margin.
DUPLICATE_WINDOW: Final = timedelta(days=2)
SENT: Final = "sent"
DEAD_LETTERED: Final = "dead_lettered"
SKIPPED: Final = "skipped"  # the channel had nothing to send for this alert
HELD: Final = "held"  # a silence or maintenance window holds the alert: no channel gets it (vpn_doctor.silences)
HELD_SCOPE: Final = "held"  # the once-record of a held alert (a duplicate remembers it once)


class HeldAlerts(Protocol):
    """Where held incidents are remembered, to be announced once when their hold ends (app.silences)."""

    def hold(self, alert: Alert, *, now: datetime) -> None:
        """Remember the incident's held alert."""
        ...

    def release(self, incident_ids: Sequence[str]) -> None:
        """Forget held incidents (a recovery while held: nothing to announce)."""
        ...


class OncePerKey(Protocol):
    """Runs ``send`` at most once per (``scope``, ``key``); a repeat returns the first result."""

    def __call__(
        self, scope: str, key: Mapping[str, str], send: Callable[[], dict[str, str]]
    ) -> tuple[dict[str, str], bool]:
        """``send()``'s result (or the stored one) and whether it was stored, i.e. a duplicate."""
        ...


@dataclass(frozen=True, slots=True)
class Delivered:
    """What one channel did with the alert: ``sent``, or ``dead_lettered`` with the reason."""

    channel: str
    outcome: str
    message_id: str | None = None
    reason: str | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """The alert's fate on every configured channel."""

    title: str
    delivered: tuple[Delivered, ...]
    failed: Mapping[str, str] = field(default_factory=dict)  # channel -> reason
    # Key-like values taken out of the alert before it was rendered (vpn_doctor.redact).
    redacted: int = 0
    owner: str | None = None
    # Configured channels the routing did not send this alert to (its owner's route, its severity).
    not_routed: tuple[str, ...] = ()
    # What the roll-up decided (verdict, the connection's state and change, the storm), when it ran.
    rollup: Mapping[str, str] = field(default_factory=dict)

    @property
    def duplicate(self) -> bool:
        """Every channel had already handled this alert: nothing was sent again."""
        return bool(self.delivered) and not self.failed and all(item.duplicate for item in self.delivered)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready result (reasons are safe to show: channels never put credentials in them)."""
        channels = {
            item.channel: {k: v for k, v in asdict(item).items() if v and k != "channel"} for item in self.delivered
        }
        channels |= {name: {"outcome": "failed", "reason": reason} for name, reason in self.failed.items()}
        held = bool(self.delivered) and all(item.outcome == HELD for item in self.delivered)
        status = "failed" if self.failed else "duplicate" if self.duplicate else HELD if held else "sent"
        if not self.delivered and not self.failed and self.rollup.get("verdict", Verdict.SEND) != Verdict.SEND:
            status = self.rollup["verdict"]
        routing = {"owner": self.owner, "not_routed": list(self.not_routed)} if self.owner or self.not_routed else {}
        rollup = {"rollup": dict(self.rollup)} if self.rollup else {}
        return {"status": status, "title": self.title, "channels": channels} | routing | rollup


class DeliveryFailed(RuntimeError):
    """A channel could neither send nor keep the alert: the invocation fails so the event is retried."""

    def __init__(self, delivery: AlertDelivery) -> None:
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in delivery.failed.items()))
        self.delivery = delivery


def deliver_alert(
    alert: Alert,
    *,
    channels: Sequence[Channel[Any]],
    once: OncePerKey,
    console_region: str | None,
    log_group: str | None,
    routing: Routing = EVERY_CHANNEL,
    held_alerts: HeldAlerts | None = None,
    now: datetime | None = None,
    rollup: Callable[[Alert], Decision] | None = None,
) -> AlertDelivery:
    """Send ``alert`` on every channel its routing selects, each at most once; raises
    :class:`DeliveryFailed` when one channel could not deliver nor dead-letter it (the others have been
    sent by then).

    ``console_region`` and ``log_group`` make the console and Logs Insights links (see ``build_view``).
    """
    # Whatever made the alert, no key-like text leaves through a channel (an AWS error quoting a request).
    alert, redacted = redact_model(alert)
    decision = rollup(alert) if rollup is not None and alert.storm is None else None
    if decision is not None and decision.verdict is Verdict.SEND:
        alert = replace(alert, connection=decision.change, storm=decision.storm)
    view = build_view(alert, console_region=console_region, log_group=log_group)
    transition = alert.transition
    key = {
        "incident_id": transition.incident.incident_id,
        "transition": transition.kind.value,
        "event_id": transition.event_id,
    }
    summary = rollup_summary(decision, alert)
    if alert.held is not None:
        held = _hold(alert, view.title, key, once=once, held_alerts=held_alerts, now=now or alert.held.held_at)
        return replace(held, rollup=summary)
    if decision is not None and decision.verdict is not Verdict.SEND:
        return AlertDelivery(view.title, (), redacted=redacted, owner=alert.owner, rollup=summary)
    delivered: list[Delivered] = []
    errors: dict[str, Exception] = {}
    # A connection's recovery carries the worst severity it told (vpn_doctor.rollup): routed as that, no exception.
    recovery = view.kind is TransitionKind.RESOLVED and alert.connection is None
    routed = [
        c for c in channels if routing.wants(c.name, owner=alert.owner, severity=view.severity, recovery=recovery)
    ]
    for channel in routed:
        try:
            record, duplicate = once(channel.name, key, partial(_send, channel, view, key))
        except Exception as exc:
            errors[channel.name] = exc
        else:
            delivered.append(Delivered(channel.name, duplicate=duplicate, **record))
    failed = {name: _reason(exc) for name, exc in errors.items()}
    not_routed = tuple(channel.name for channel in channels if channel not in routed)
    delivery = AlertDelivery(view.title, tuple(delivered), failed, redacted, alert.owner, not_routed, summary)
    if errors:
        raise DeliveryFailed(delivery) from next(iter(errors.values()))
    return delivery


def rollup_summary(decision: Decision | None, alert: Alert) -> dict[str, str]:
    """What the roll-up decided, for the log line and the handler's result (the demo counts the messages by it)."""
    summary: dict[str, str] = {}
    if decision is not None:
        summary["verdict"] = decision.verdict.value
    change, storm = alert.connection, alert.storm
    if change is not None:
        summary |= {
            "vpn_connection_id": change.vpn_connection_id,
            "connection_incident_id": change.incident_id,
            "change": change.kind.value,
            "previous": change.previous.value,
            "state": change.state.value,
        }
    if storm is not None:
        summary |= {"storm_id": storm.storm_id, "storm": storm.kind.value, "connections": str(storm.count)}
    return summary


def _hold(
    alert: Alert,
    title: str,
    key: Mapping[str, str],
    *,
    once: OncePerKey,
    held_alerts: HeldAlerts | None,
    now: datetime,
) -> AlertDelivery:
    # Here, where every channel would be sent, so no channel escapes the hold. An open incident is remembered
    # for the announcement when the hold ends; a recovery while held forgets it (nothing left to announce).
    def remember() -> dict[str, str]:
        if held_alerts is not None:
            if alert.transition.kind is TransitionKind.RESOLVED:
                held_alerts.release([alert.transition.incident.incident_id])
            else:
                held_alerts.hold(alert, now=now)
        return {"outcome": HELD}

    record, duplicate = once(HELD_SCOPE, key, remember)
    reason = alert.held.reason if alert.held is not None else ""
    return AlertDelivery(title, (Delivered(HELD_SCOPE, duplicate=duplicate, reason=reason, **record),))


def _reason(exc: Exception) -> str:
    # A channel's own reasons are written to be shown; anything else is named by its type only, since
    # its text could quote what it was handling (a URL, a message).
    return str(exc) if isinstance(exc, ChannelError) else f"unexpected {type(exc).__name__}"


def _send(channel: Channel[Any], view: AlertView, key: Mapping[str, str]) -> dict[str, str]:
    message = channel.render(view)
    if message is None:
        return {"outcome": SKIPPED}
    try:
        message_id = channel.send(message)
    except ChannelError as exc:
        reason = str(exc)
        return {
            "outcome": DEAD_LETTERED,
            "reason": reason,
            "message_id": channel.dead_letter(message, reason=reason, alert=key),
        }
    return {"outcome": SENT} | ({"message_id": message_id} if message_id else {})
