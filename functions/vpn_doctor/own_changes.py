"""vpn-doctor's own tunnel changes, and the AWS Health notices they cause (pure).

Every ``ModifyVpnTunnelOptions`` (any option, tunnel logging included) and every ``ReplaceVpnTunnel``
replaces the tunnel's endpoint, and AWS Health then sends a tunnel endpoint replacement notification
for it, whoever asked for the change:

- "When you modify the following components of your VPN connection, one or both of your tunnel endpoints
  is replaced ... Modify the VPN tunnel options | ModifyVpnTunnelOptions | The modified tunnel is unavailable
  during the update" (https://docs.aws.amazon.com/vpn/latest/s2svpn/endpoint-replacements.html);
- "A tunnel endpoint is replaced when AWS performs tunnel updates, or when you modify your VPN connection ... When
  a tunnel endpoint replacement is complete, AWS sends the Tunnel endpoint replacement notification through a AWS
  Health Dashboard event" (https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-vpn-health-events.html;
  https://repost.aws/knowledge-center/vpn-tunnel-endpoint-replacement). AWS documents no event type code for it.

Such a notice about a change vpn-doctor made itself is expected: it is matched with the change's audit
record (:class:`OwnChange`, read through the :class:`OwnChanges` port from any audit that records the
record shape documented in ``docs/own-changes.md``: remediation today, tunnel-logging on-boarding) and
never opens or relabels an incident. So is the tunnel's own outage during the change: a DOWN of the changed
tunnel (poll, alarm, Network Manager) within :data:`EXPECTED_OUTAGE` after it opens no incident; one still
DOWN afterwards is applied as usual (the poll sees it again, the record having kept the last state).
A scheduled replacement (category ``scheduledChange``: AWS's own
maintenance, announced ahead) is never ours, and a notice with no matching change stays a maintenance
signal as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from vpn_doctor.models import StateSource, TunnelState, TunnelStateChange

#: How long after one of vpn-doctor's changes AWS Health's notice about it is still taken as caused by it.
#: AWS publishes no delay for the notice ("sent when the replacement completes"); a modification takes the
#: tunnel away "for several minutes", so two hours covers a slow replacement and a late notice without
#: taking an unrelated AWS replacement hours later for ours.
OWN_CHANGE_WINDOW: Final = timedelta(hours=2)
#: A notice may carry a start time slightly before the audit's time (Health's clock against the function's).
CLOCK_SLACK: Final = timedelta(minutes=5)
SCHEDULED_CHANGE: Final = "scheduledChange"
#: How long after one of vpn-doctor's changes a DOWN of that tunnel is the change's own outage: the modified
#: tunnel "is unavailable during the update" (https://docs.aws.amazon.com/vpn/latest/s2svpn/endpoint-replacements.html),
#: "for several minutes"; as long as the on-boarding waits before it calls a change failed
#: (:attr:`vpn_doctor.onboarding.OnboardingPolicy.confirm_timeout`). A tunnel still DOWN after it is announced as usual.
EXPECTED_OUTAGE: Final = timedelta(minutes=30)
#: The sources whose DOWN can be a change's own outage (a log finding explains itself; Health has its own rule).
_OUTAGE_SOURCES: Final = frozenset(
    {StateSource.TELEMETRY_POLL, StateSource.CLOUDWATCH_ALARM, StateSource.NETWORK_MANAGER}
)


@dataclass(frozen=True, slots=True)
class OwnChange:
    """One change vpn-doctor applied to a tunnel: where, when, by what, and the audit record's reference."""

    vpn_connection_id: str
    tunnel_ip: str
    changed_at: datetime
    actor: str  # who/what changed it, e.g. "vpn-doctor respond" (remediation) or the on-boarding reconciler
    ref: str  # the audit record's key, for people to find it


class OwnChanges(Protocol):
    """vpn-doctor's applied tunnel changes (DynamoDB audit records in Lambda)."""

    def changes(self, vpn_connection_id: str, *, since: datetime, until: datetime) -> Sequence[OwnChange]:
        """The connection's applied changes made between ``since`` and ``until`` (inclusive)."""


@dataclass(frozen=True, slots=True)
class AllOwnChanges:
    """Every audit that records vpn-doctor's tunnel changes, read as one: remediation's and the on-boarding's."""

    sources: tuple[OwnChanges, ...]

    def changes(self, vpn_connection_id: str, *, since: datetime, until: datetime) -> list[OwnChange]:
        """The connection's applied changes in every source, oldest first."""
        found = [
            change for source in self.sources for change in source.changes(vpn_connection_id, since=since, until=until)
        ]
        return sorted(found, key=lambda change: change.changed_at)


@dataclass(frozen=True, slots=True)
class ExpectedNotice:
    """An AWS Health notice recognised as the consequence of one of vpn-doctor's own changes."""

    notice: TunnelStateChange
    change: OwnChange

    @property
    def note(self) -> str:
        """What the state function records about it."""
        return f"expected, caused by vpn-doctor's change {self.change.ref} ({self.change.actor})"


def could_be_ours(change: TunnelStateChange) -> bool:
    """True for what one of our changes may have caused: an AWS Health endpoint-replacement notice (not a
    scheduled one), or a tunnel's DOWN (the modified tunnel is away during the update)."""
    if change.source is StateSource.AWS_HEALTH:
        return change.maintenance and change.details.get("event_type_category") != SCHEDULED_CHANGE
    return _outage(change)


def _outage(change: TunnelStateChange) -> bool:
    return change.source in _OUTAGE_SOURCES and change.state is TunnelState.DOWN and change.tunnel_ip is not None


def search_window(notice: TunnelStateChange) -> tuple[datetime, datetime]:
    """When a change causing ``notice`` must have been made (``since``, ``until``)."""
    behind = EXPECTED_OUTAGE if _outage(notice) else OWN_CHANGE_WINDOW
    return notice.observed_at - behind, notice.observed_at + CLOCK_SLACK


def change_behind(
    notice: TunnelStateChange, changes: Iterable[OwnChange], *, now: datetime | None = None
) -> OwnChange | None:
    """The latest of our changes that explains ``notice``: same connection, same tunnel (any tunnel when the
    notice names none), made within the window before it; ``None`` when the notice is not ours. A DOWN is the
    change's own outage only until :data:`EXPECTED_OUTAGE` has passed since the change (``now``, default the
    notice's time): a tunnel still DOWN by then is not excused, whenever it went down."""
    since, until = search_window(notice)
    moment = now or notice.observed_at
    matching = [
        change
        for change in changes
        if change.vpn_connection_id == notice.vpn_connection_id
        and (notice.tunnel_ip is None or change.tunnel_ip == notice.tunnel_ip)
        and since <= change.changed_at <= until
        and (not _outage(notice) or moment <= change.changed_at + EXPECTED_OUTAGE)
    ]
    return max(matching, key=lambda change: change.changed_at, default=None)
