"""Warnings ahead of time (pure): AWS tunnel endpoint replacements a tunnel will not recover from by itself, and
customer gateway certificates about to expire.

**Endpoint replacements.** AWS replaces tunnel endpoints one tunnel at a time (patches, hardware retirement,
an unhealthy endpoint); the replaced tunnel is down until IKE is negotiated again
(https://docs.aws.amazon.com/vpn/latest/s2svpn/endpoint-replacements.html). Two sources say one is coming:

- ``GetVpnTunnelReplacementStatus`` (per tunnel): ``MaintenanceDetails`` with ``PendingMaintenance``,
  ``MaintenanceAutoAppliedAfter`` and ``LastMaintenanceApplied``. AWS documents this visibility for tunnels with
  tunnel endpoint lifecycle control on (``EnableTunnelLifecycleControl``): the owner may apply the update before
  the "auto applied after" time, after which AWS applies it
  (https://docs.aws.amazon.com/vpn/latest/s2svpn/tunnel-endpoint-lifecycle.html);
- AWS Health ``scheduledChange`` notices for the VPN service (:mod:`vpn_doctor.state_events`).

After a replacement the tunnel comes back by itself only when AWS initiates IKE (startup action ``start``, which
needs IKEv2); otherwise it waits for the customer gateway (IKEv1 only, or startup action ``add``; DPD timeout
action ``clear`` means AWS also just waits after a DPD timeout). :func:`after_replacement` is that rule, shared
with the diagnosis. A pending replacement of such a tunnel is a warning (``endpoint_replacement /
replacement_will_not_self_heal``) filed under the connection's pseudo tunnel ``REPLACEMENT_SCOPE``, one per
pending maintenance (its event key names the maintenance, so a later check of the same one is a duplicate).

**Certificates.** A certificate-authenticated tunnel names its customer gateway certificate in ``VgwTelemetry``
(``CertificateArn``); once it expires IKE authentication fails as with a wrong pre-shared key. ACM's
``DescribeCertificate`` gives ``NotAfter``: a warning at each configured threshold (default 30 and 7 days ahead),
``ike_phase1_failure / certificate_expiring`` under the pseudo tunnel ``CERTIFICATE_SCOPE``.

**Applying it in a window (opt-in).** Where the deployment names a window (``apply_pending_maintenance_window``) and
a tunnel has lifecycle control on, a check inside the window that finds its maintenance pending opens an
``endpoint_replacement / scheduled`` incident on the tunnel itself (:func:`apply_findings`, once per pending
maintenance); remediation answers it with ``ReplaceVpnTunnel`` (``ApplyPendingMaintenance``) under its usual guards
(:mod:`vpn_doctor.remediation`: mode, sibling UP, one tunnel per connection, lock, cooldown, budget, audit,
post-check; silences hold it).

**Cadence.** :func:`due` spreads the checks: each key (a connection, a certificate) is read once per ``every``
at its own minute, so a poll reads a few, never all at once (EC2's and ACM's request rate limits).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from vpn_doctor.constants import CERTIFICATE_SCOPE, REPLACEMENT_SCOPE
from vpn_doctor.models import Verdict
from vpn_doctor.records import Finding, Source, TunnelEvent, iso
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.vpn import TunnelConfig, VpnConnectionInfo

#: How often each lifecycle-controlled tunnel's replacement status is read (the deployment's default).
REPLACEMENT_EVERY: Final = timedelta(hours=6)
#: How often each tunnel certificate's expiry is read.
CERTIFICATE_EVERY: Final = timedelta(days=1)
#: Days ahead of a certificate's expiry the warnings start (the deployment's default).
CERTIFICATE_WARN_DAYS: Final = (30, 7)
# PendingMaintenance is a free string in the EC2 model; these values say "nothing pending".
_NOTHING_PENDING: Final = frozenset({"", "none", "no", "false", "n/a", "null"})


@dataclass(frozen=True, slots=True)
class MaintenanceStatus:
    """One tunnel's ``GetVpnTunnelReplacementStatus`` ``MaintenanceDetails``."""

    tunnel_ip: str
    pending_maintenance: str | None = None
    auto_applied_after: datetime | None = None
    last_applied: datetime | None = None

    @property
    def pending(self) -> bool:
        """Whether a replacement is pending (``PendingMaintenance`` says so)."""
        return (self.pending_maintenance or "").strip().lower() not in _NOTHING_PENDING


@dataclass(frozen=True, slots=True)
class PendingReplacement:
    """A replacement announced for one tunnel: when (``None``: not said), by what, and which one (``reference``:
    the same pending maintenance always has the same reference)."""

    tunnel_ip: str
    due: datetime | None
    source: str  # "replacement status" or "AWS Health notice"
    reference: str

    @classmethod
    def from_status(cls, status: MaintenanceStatus) -> PendingReplacement | None:
        """The pending replacement the status reports, if any."""
        if not status.pending:
            return None
        reference = iso(status.auto_applied_after) or (status.pending_maintenance or "").strip()[:64]
        return cls(status.tunnel_ip, status.auto_applied_after, "replacement status", reference)


def after_replacement(tunnel: TunnelConfig) -> tuple[Verdict, str]:
    """Whether the tunnel comes back by itself after an endpoint replacement, and why (what to change)."""
    ikev2 = "ikev2" in tunnel.ike_versions
    if tunnel.startup_action == "start" and ikev2:
        return Verdict.WILL_SELF_HEAL, "After the endpoint replacement AWS initiates the tunnel (startup 'start')."
    dpd = (
        " With DPD timeout action 'clear' AWS also only waits after a DPD timeout."
        if tunnel.dpd_timeout_action == "clear"
        else ""
    )
    if ikev2:
        return Verdict.NEEDS_AWS_CHANGE, (
            f"After an endpoint replacement a tunnel with startup action '{tunnel.startup_action}' stays down until "
            "the customer gateway initiates; set the startup action to 'start' so AWS brings it up." + dpd
        )
    return Verdict.NEEDS_CGW_CHANGE, (
        "The tunnel allows only IKEv1, so after an endpoint replacement only the customer gateway can bring it up: "
        "make sure it initiates on its own, or allow IKEv2 on both sides and set the startup action to 'start'." + dpd
    )


def replacement_findings(
    connection: VpnConnectionInfo, pending: Sequence[PendingReplacement], *, now: datetime
) -> list[tuple[str, Finding]]:
    """(event key, warning) for each pending replacement of a tunnel that will not come back by itself."""
    found: list[tuple[str, Finding]] = []
    for replacement in pending:
        tunnel = connection.tunnel(replacement.tunnel_ip)
        if tunnel is None:
            continue
        verdict, why = after_replacement(tunnel)
        if verdict is Verdict.WILL_SELF_HEAL:
            continue
        when = f"after {replacement.due:%Y-%m-%d %H:%M} UTC" if replacement.due is not None else "soon"
        control = (
            " Lifecycle control is on: you may apply it yourself before then, at a time someone watches."
            if tunnel.lifecycle_control
            else ""
        )
        summary = (
            f"AWS will replace the endpoint of tunnel {tunnel.outside_ip} {when} ({replacement.source}); "
            f"the tunnel will not come back by itself. {why}{control}"
        )
        key = f"replacement:{connection.vpn_connection_id}:{tunnel.outside_ip}:{replacement.reference}"
        found.append((key, _finding(connection, Cause.REPLACEMENT_WILL_NOT_SELF_HEAL, summary, now=now)))
    return found


def apply_findings(
    connection: VpnConnectionInfo, pending: Sequence[PendingReplacement], *, now: datetime
) -> list[tuple[str, Finding]]:
    """(event key, incident) for each pending replacement of a tunnel with lifecycle control on, to be applied now
    (the caller checks the window): filed under the tunnel itself, for remediation to act on."""
    found: list[tuple[str, Finding]] = []
    for replacement in pending:
        tunnel = connection.tunnel(replacement.tunnel_ip)
        if tunnel is None or not tunnel.lifecycle_control:
            continue
        when = f" (AWS applies it after {replacement.due:%Y-%m-%d %H:%M} UTC)" if replacement.due is not None else ""
        summary = (
            f"AWS's pending endpoint replacement of tunnel {tunnel.outside_ip}{when} is inside the configured "
            "window: remediation applies it now (ReplaceVpnTunnel) where its mode and guards allow."
        )
        event = TunnelEvent(
            source=Source.AWS_API,
            message=summary,
            raw="",
            vpn_connection_id=connection.vpn_connection_id,
            tunnel_ip=tunnel.outside_ip,
            timestamp=now,
        )
        finding = Finding(
            Category.ENDPOINT_REPLACEMENT, Cause.SCHEDULED, Severity.WARNING, summary, "ahead.apply", event
        )
        found.append((f"apply:{connection.vpn_connection_id}:{tunnel.outside_ip}:{replacement.reference}", finding))
    return found


def replacement_resolved(connection: VpnConnectionInfo, statuses: Mapping[str, MaintenanceStatus]) -> bool:
    """Whether nothing is left to warn about: every tunnel recovers by itself after a replacement, or its status was
    read and nothing is pending. (A tunnel without a status, warned about by a Health notice, keeps the warning
    until its configuration is fixed.)"""
    for tunnel in connection.tunnels:
        if after_replacement(tunnel)[0] is Verdict.WILL_SELF_HEAL:
            continue
        status = statuses.get(tunnel.outside_ip)
        if status is None or status.pending:
            return False
    return True


def certificate_findings(
    connection: VpnConnectionInfo,
    expiries: Mapping[str, datetime],
    *,
    warn_days: Sequence[int],
    now: datetime,
) -> list[tuple[str, Finding]]:
    """(event key, warning) for each tunnel certificate within one of ``warn_days`` of its expiry (or expired):
    the event key names the threshold crossed, so each threshold warns once per certificate."""
    found: list[tuple[str, Finding]] = []
    for tunnel in connection.tunnels:
        arn = tunnel.telemetry.certificate_arn if tunnel.telemetry is not None else None
        expires = expiries.get(arn) if arn else None
        if arn is None or expires is None:
            continue
        left = expires - now
        crossed = [days for days in sorted(warn_days) if left <= timedelta(days=days)]
        if not crossed:
            continue
        threshold = "expired" if left <= timedelta(0) else f"{crossed[0]}d"
        state = "has expired" if left <= timedelta(0) else f"expires in {max(0, left.days)} days"
        summary = (
            f"The customer gateway certificate of tunnel {tunnel.outside_ip} {state} ({expires:%Y-%m-%d %H:%M} UTC, "
            f"{arn}): renew it and install it on the customer gateway, or IKE authentication will fail."
        )
        key = f"certificate:{connection.vpn_connection_id}:{tunnel.outside_ip}:{arn}:{iso(expires)}:{threshold}"
        found.append((key, _finding(connection, Cause.CERTIFICATE_EXPIRING, summary, now=now)))
    return found


def certificate_arns(connections: Sequence[VpnConnectionInfo]) -> list[str]:
    """The distinct certificates the connections' tunnels authenticate with."""
    arns = (
        tunnel.telemetry.certificate_arn
        for connection in connections
        for tunnel in connection.tunnels
        if tunnel.telemetry is not None
    )
    return list(dict.fromkeys(arn for arn in arns if arn))


def due(key: str, *, now: datetime, every: timedelta, interval: timedelta) -> bool:
    """Whether the poll at ``now`` (one every ``interval``) checks ``key`` (one check per ``every``, each key at its
    own stable minute, so the checks of many keys spread over the period)."""
    every_minutes = max(1, int(every.total_seconds() // 60))
    interval_minutes = max(1, int(interval.total_seconds() // 60))
    offset = zlib.crc32(key.encode()) % every_minutes
    return (int(now.timestamp() // 60) + offset) % every_minutes < interval_minutes


def _finding(connection: VpnConnectionInfo, cause: Cause, summary: str, *, now: datetime) -> Finding:
    replacement = cause is Cause.REPLACEMENT_WILL_NOT_SELF_HEAL
    event = TunnelEvent(
        source=Source.AWS_API,
        message=summary,
        raw="",
        vpn_connection_id=connection.vpn_connection_id,
        tunnel_ip=REPLACEMENT_SCOPE if replacement else CERTIFICATE_SCOPE,
        timestamp=now,
    )
    category = Category.ENDPOINT_REPLACEMENT if replacement else Category.IKE_PHASE1_FAILURE
    return Finding(category, cause, Severity.WARNING, summary, f"ahead.{cause}", event)


def certificates_resolved(
    connection: VpnConnectionInfo, expiries: Mapping[str, datetime], *, warn_days: Sequence[int], now: datetime
) -> bool:
    """Whether no tunnel certificate read is within the warning (renewed: its ``NotAfter`` moved)."""
    return not certificate_findings(connection, expiries, warn_days=warn_days, now=now)
