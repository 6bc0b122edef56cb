"""BGP routes lost (pure): a tunnel's ``AcceptedRouteCount`` against its own baseline.

``DescribeVpnConnections`` reports, per tunnel of a connection with dynamic routing, the number of routes
AWS accepted from the customer gateway over BGP (``VgwTelemetry.AcceptedRouteCount``, "The number of
accepted routes": https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_VgwTelemetry.html). A BGP
session can stay established while the gateway stops advertising its networks (a route filter, a lost
redistribution, the networks behind it gone): the tunnel is UP and carries nothing. The poller reads the
count every poll; this module decides, with no clock and no AWS:

- **baseline**: the highest count seen while the tunnel was UP; learned from the first non-zero count,
  raised at once by a higher one. It *decays*: once it is older than ``relearn`` (default 6 hours) and the
  count, still not low, is below it, the count becomes the baseline (at most one change per window), so a
  brief high during a convergence does not stay the yardstick for ever.
- **low**: the count is zero, or has lost at least ``drop_percent`` of the baseline (default 50: at most
  half is left). Judged only while the tunnel is UP: a DOWN tunnel has its own incident, and a tunnel that
  has just come back gets ``hold`` to re-learn its routes.
- **lost**: low for ``hold`` (default 5 minutes) -> one ``bgp_session/routes_lost`` incident naming the
  trend (baseline, the count now, since when).
- **recovered**: the count is no longer low (more than ``100 - drop_percent`` percent of the baseline) ->
  the routes-lost incident resolves.
- **re-learned**: low for ``relearn`` -> the lower count is taken as the tunnel's new baseline (routes
  withdrawn on purpose, e.g. a network retired) and the incident resolves, saying so; no further alert
  until the count falls again below the new baseline.

Nothing here writes in a steady state: :class:`RouteState` changes only when the baseline is learned,
raised or re-learned, or when the count turns low or recovers, and the store writes a tunnel's record
only when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from vpn_doctor.text import minutes


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """Thresholds of the routes-lost rule (deploy configuration; defaults from issue 16)."""

    hold: timedelta = timedelta(minutes=5)
    drop_percent: int = 50  # low when at least this share of the baseline is gone (100: only zero)
    relearn: timedelta = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class RouteState:
    """What a tunnel's record keeps of its accepted routes."""

    baseline: int | None = None  # highest count seen while UP (decaying, re-learned)
    baseline_at: datetime | None = None  # when the baseline was learned, raised or re-learned
    low_since: datetime | None = None  # first poll that found the count low (None: not low)
    low_count: int | None = None  # the count that poll found
    alerted: bool = False  # the loss was reported (an incident opened or added to)


@dataclass(frozen=True, slots=True)
class RouteObservation:
    """One poll's view of a tunnel of a connection with dynamic routing."""

    up: bool
    count: int | None  # None: AWS reported no count


class RouteNews(StrEnum):
    """What a poll's observation means."""

    NONE = "none"
    LOST = "lost"  # low for the hold: open (or add to) an incident
    RECOVERED = "recovered"  # no longer low: resolve the routes-lost incident
    RELEARNED = "relearned"  # low for the re-learn window: the low count is the new baseline


@dataclass(frozen=True, slots=True)
class RouteVerdict:
    """The state to keep and what happened (``summary``: for a person, naming the trend)."""

    state: RouteState
    news: RouteNews = RouteNews.NONE
    summary: str = ""
    zero: bool = False  # a LOST verdict with no route left at all


def is_low(count: int, baseline: int | None, policy: RoutePolicy) -> bool:
    """Whether ``count`` has lost at least ``drop_percent`` of ``baseline`` (zero always, once one is known)."""
    if baseline is None or baseline <= 0:
        return False
    return count * 100 <= baseline * (100 - policy.drop_percent)


def judge_routes(
    state: RouteState, observation: RouteObservation, *, policy: RoutePolicy, now: datetime
) -> RouteVerdict:
    """The new state of a tunnel's routes and the news of this observation (see the module docstring)."""
    count = observation.count
    if not observation.up:
        # A DOWN tunnel is not "routes lost" (it has its DOWN incident); judged afresh once it is UP again.
        if state.low_since is None and not state.alerted:
            return RouteVerdict(state)
        return RouteVerdict(replace(state, low_since=None, low_count=None, alerted=False))
    if count is None:
        return RouteVerdict(state)
    baseline = state.baseline
    if baseline is None or count > baseline:
        if count <= 0:
            return RouteVerdict(state)  # nothing learned yet
        raised = RouteState(baseline=count, baseline_at=now)
        if state.low_since is not None or state.alerted:
            return RouteVerdict(raised, RouteNews.RECOVERED, _back(count, baseline))
        return RouteVerdict(raised)
    if not is_low(count, baseline, policy):
        kept = replace(state, low_since=None, low_count=None, alerted=False)
        stale = state.baseline_at is None or now - state.baseline_at >= policy.relearn
        if count < baseline and stale:
            kept = replace(kept, baseline=count, baseline_at=now)  # decay: the baseline follows the count down
        if state.low_since is not None or state.alerted:
            return RouteVerdict(kept, RouteNews.RECOVERED, _back(count, baseline))
        return RouteVerdict(kept)
    if state.low_since is None:
        low = replace(state, low_since=now, low_count=count)
        if policy.hold > timedelta(0):
            return RouteVerdict(low)
        state = low
    since = state.low_since or now
    if now - since >= policy.relearn:
        relearned = RouteState(baseline=count or None, baseline_at=now)
        summary = (
            f"Accepted routes have stayed at {count} (baseline {baseline}) since {since:%Y-%m-%d %H:%M} UTC, "
            f"{_hours(policy.relearn)}: {count} is now this tunnel's baseline (routes withdrawn on purpose?)"
        )
        return RouteVerdict(relearned, RouteNews.RELEARNED, summary)
    if state.alerted or now - since < policy.hold:
        return RouteVerdict(state)
    return RouteVerdict(replace(state, alerted=True), RouteNews.LOST, _lost(count, baseline, since), zero=count == 0)


def _lost(count: int, baseline: int, since: datetime) -> str:
    if count == 0:
        fall = f"fell from {baseline} to 0"
    else:
        fall = f"fell from {baseline} to {count} ({100 - count * 100 // baseline}% fewer)"
    return (
        f"BGP routes lost: AWS accepts {count} route(s) from the customer gateway on this tunnel; the count {fall} "
        f"and has stayed there since {since:%H:%M} UTC, while the tunnel is UP"
    )


def _back(count: int, baseline: int | None) -> str:
    return f"Accepted routes back to {count} (baseline {baseline})"


def _hours(window: timedelta) -> str:
    hours = window / timedelta(hours=1)
    return f"{hours:g} hours" if hours >= 1 else f"{minutes(window)} minutes"
