"""The watchdog's decisions (pure): is vpn-doctor itself still able to see and tell?

Four conditions, each observed per subject on every run:

- ``tunnel_logs_silent``: a tunnel with logging on sent no log line for ``quiet`` (default 6 hours). The last
  event time comes from ``DescribeLogStreams``' ``lastEventTimestamp``, which "updates on an eventual consistency
  basis. It typically updates in less than an hour from ingestion, but in rare situations might take longer"
  (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_LogStream.html): the quiet period must
  stay well above an hour, and a tunnel whose logging was switched on less than ``quiet`` ago with no stream yet
  is not called silent;
- ``poller_stopped``: the poller was not invoked for ``poller_quiet`` (its AWS/Lambda ``Invocations``);
- ``subscription_filter_missing``: a watched log group has no subscription filter delivering to ingest;
- ``topic_unconfirmed``: the alert topic has no confirmed subscription, or one still pending confirmation (an
  e-mail address nobody confirmed: it receives nothing).

A condition alerts once when it starts and resolves once when it ends (:func:`decide` against the conditions
already open, kept in a store); a subject that could not be observed this run keeps its state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

DEFAULT_QUIET: Final = timedelta(hours=6)
DEFAULT_POLLER_QUIET: Final = timedelta(minutes=15)


class Condition(StrEnum):
    """What the watchdog watches for."""

    TUNNEL_LOGS_SILENT = "tunnel_logs_silent"
    POLLER_STOPPED = "poller_stopped"
    SUBSCRIPTION_FILTER_MISSING = "subscription_filter_missing"
    TOPIC_UNCONFIRMED = "topic_unconfirmed"


@dataclass(frozen=True, slots=True)
class Observation:
    """One subject observed for one condition this run: failing or fine, and why."""

    condition: Condition
    subject: str
    failing: bool
    detail: str

    @property
    def key(self) -> str:
        """The condition's identity across runs."""
        return f"{self.condition.value}:{self.subject}"


@dataclass(frozen=True, slots=True)
class Decision:
    """What one run must tell: conditions that started, conditions that ended (with the observation saying so)."""

    alert: tuple[Observation, ...]
    resolve: tuple[Observation, ...]


def decide(observations: Iterable[Observation], open_keys: Iterable[str]) -> Decision:
    """Alert what fails and is not open yet; resolve what is open and was observed fine."""
    already = set(open_keys)
    seen = list(observations)
    return Decision(
        alert=tuple(o for o in seen if o.failing and o.key not in already),
        resolve=tuple(o for o in seen if not o.failing and o.key in already),
    )


@dataclass(frozen=True, slots=True)
class LoggedTunnel:
    """A watched tunnel with logging on, where its logs go."""

    vpn_connection_id: str
    tunnel_ip: str
    log_group: str


def silent_tunnels(
    tunnels: Sequence[LoggedTunnel],
    last_events: Mapping[str, Mapping[str, datetime]],
    *,
    now: datetime,
    quiet: timedelta = DEFAULT_QUIET,
    watching_since: datetime | None = None,
) -> list[Observation]:
    """One observation per tunnel: silent when its newest stream event (streams named after the connection and
    the tunnel address, ``last_events[group][stream]``) is older than ``quiet``. A tunnel without a stream is
    silent only once the watchdog has watched for ``quiet`` (``watching_since``: its first run)."""
    observed: list[Observation] = []
    for tunnel in tunnels:
        streams = last_events.get(tunnel.log_group, {})
        times = [at for name, at in streams.items() if tunnel.vpn_connection_id in name and tunnel.tunnel_ip in name]
        subject = f"{tunnel.vpn_connection_id} {tunnel.tunnel_ip}"
        if times:
            last = max(times)
            failing = now - last > quiet
            detail = f"last log line at {last:%Y-%m-%d %H:%M} UTC in {tunnel.log_group}"
        else:
            failing = watching_since is not None and now - watching_since > quiet
            detail = f"no log stream in {tunnel.log_group}"
        if failing:
            detail = f"no log line for over {_hours(quiet)}: {detail}"
        observed.append(Observation(Condition.TUNNEL_LOGS_SILENT, subject, failing, detail))
    return observed


def poller_observation(invocations: float | None, *, quiet: timedelta = DEFAULT_POLLER_QUIET) -> Observation:
    """The poller ran (``invocations`` over the last ``quiet``; ``None``: no datapoint, so not at all)."""
    ran = bool(invocations)
    detail = f"{invocations or 0:g} invocation(s) in the last {_minutes(quiet)}"
    if not ran:
        detail = f"the telemetry poller did not run in the last {_minutes(quiet)}: tunnel states are not being read"
    return Observation(Condition.POLLER_STOPPED, "poller", not ran, detail)


def filter_observation(group: str, destinations: Sequence[str], ingest_arn: str) -> Observation:
    """The log group delivers to ingest through one of its subscription filters (``destinations``)."""
    ok = any(destination.startswith(ingest_arn) for destination in destinations)
    detail = "delivers to ingest" if ok else "no subscription filter delivers this log group to vpn-doctor's ingest"
    return Observation(Condition.SUBSCRIPTION_FILTER_MISSING, group, not ok, detail)


def topic_observation(topic_arn: str, subscription_arns: Sequence[str]) -> Observation:
    """Every subscription of the topic is confirmed, and there is one (SNS lists an unconfirmed subscription as
    ``PendingConfirmation``). A pending one among confirmed ones fails too: its confirmed peers hear of it."""
    confirmed = [arn for arn in subscription_arns if arn.startswith("arn:")]
    pending = len(subscription_arns) - len(confirmed)
    ok = bool(confirmed) and not pending
    if ok:
        detail = f"{len(confirmed)} confirmed subscription(s)"
    elif confirmed:
        detail = f"{pending} subscription(s) pending confirmation: nothing reaches them until someone confirms"
    else:
        detail = f"no confirmed subscription ({pending} pending confirmation): alerts reach no one through the topic"
    return Observation(Condition.TOPIC_UNCONFIRMED, topic_arn.rsplit(":", 1)[-1], not ok, detail)


def message(observation: Observation, *, resolved: bool) -> tuple[str, str]:
    """Subject and body of the alert (or its resolution)."""
    label = {
        Condition.TUNNEL_LOGS_SILENT: "tunnel logs silent",
        Condition.POLLER_STOPPED: "poller stopped",
        Condition.SUBSCRIPTION_FILTER_MISSING: "subscription filter missing",
        Condition.TOPIC_UNCONFIRMED: "alert topic has no confirmed subscription",
    }[observation.condition]
    state = "RESOLVED" if resolved else "PROBLEM"
    subject = f"vpn-doctor watchdog {state}: {label}: {observation.subject}"
    body = (
        f"{subject}\n\n{observation.detail}\n\n"
        "The vpn-doctor watchdog checks that vpn-doctor itself still sees the tunnels and can tell people. "
        + ("This condition has ended." if resolved else "You get one message when it ends.")
    )
    return subject, body


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} min"
