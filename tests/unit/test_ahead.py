"""Warnings ahead of time: endpoint replacements a tunnel will not recover from, certificates about to expire."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.test_app import Bus, NoLogs
from tests.unit.test_incidents import MemoryStore
from vpn_doctor.app.ahead import Ahead, AheadPorts, warn_ahead, warn_scheduled
from vpn_doctor.app.incidents import Incidents, StatePorts
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import CERTIFICATE_SCOPE, REPLACEMENT_SCOPE
from vpn_doctor.diagnosis import diagnose
from vpn_doctor.incidents import IncidentService
from vpn_doctor.models import StateSource, TransitionKind, TunnelState, TunnelStateChange, Verdict
from vpn_doctor.onboarding import MaintenanceWindow
from vpn_doctor.render.common import where
from vpn_doctor.replacement import (
    MaintenanceStatus,
    PendingReplacement,
    after_replacement,
    certificate_findings,
    due,
    replacement_findings,
)
from vpn_doctor.taxonomy import Category, Cause
from vpn_doctor.vpn import TunnelConfig, TunnelTelemetry, VpnConnectionInfo

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
VPN = "vpn-0a1b2c3d4e5f60718"
T1, T2 = "198.51.100.10", "203.0.113.20"
DUE = datetime(2026, 12, 20, 4, 0, tzinfo=UTC)
CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
EVERY_POLL = Ahead(replacement_every=timedelta(minutes=1), certificate_every=timedelta(minutes=1))


def tunnel(
    ip: str, *, startup: str = "add", ike: tuple[str, ...] = ("ikev1", "ikev2"), control: bool = True
) -> TunnelConfig:
    telemetry = TunnelTelemetry(TunnelState.UP, last_status_change=NOW - timedelta(days=1), certificate_arn=CERT)
    return TunnelConfig(ip, startup_action=startup, ike_versions=ike, lifecycle_control=control, telemetry=telemetry)


def connection(*tunnels: TunnelConfig) -> VpnConnectionInfo:
    return VpnConnectionInfo(VPN, "available", tunnels or (tunnel(T1), tunnel(T2, startup="start")))


@dataclass
class Statuses:
    """GetVpnTunnelReplacementStatus: what each tunnel reports; records the calls."""

    pending: dict[str, datetime] = field(default_factory=dict)
    refuse: bool = False
    calls: list[str] = field(default_factory=list)

    def status(self, vpn_connection_id: str, tunnel_ip: str) -> MaintenanceStatus:
        self.calls.append(tunnel_ip)
        if self.refuse:
            raise AwsCallFailed("GetVpnTunnelReplacementStatus", "RequestLimitExceeded", "slow down")
        due_at = self.pending.get(tunnel_ip)
        return MaintenanceStatus(tunnel_ip, "Pending" if due_at else None, due_at)


@dataclass
class Certificates:
    expiry: datetime | None = None
    calls: list[str] = field(default_factory=list)

    def not_after(self, certificate_arn: str) -> datetime | None:
        self.calls.append(certificate_arn)
        return self.expiry


def ports(statuses: Statuses, certificates: Certificates | None = None) -> tuple[AheadPorts, Bus]:
    bus = Bus()
    return AheadPorts(Incidents(IncidentService(MemoryStore()), bus), statuses, certificates), bus


# --- the rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("startup", "ike", "verdict"),
    [
        ("start", ("ikev2",), Verdict.WILL_SELF_HEAL),
        ("add", ("ikev1", "ikev2"), Verdict.NEEDS_AWS_CHANGE),
        ("start", ("ikev1",), Verdict.NEEDS_CGW_CHANGE),
    ],
)
def test_only_a_tunnel_aws_initiates_with_ikev2_comes_back_by_itself_after_a_replacement(
    startup: str, ike: tuple[str, ...], verdict: Verdict
) -> None:
    assert after_replacement(tunnel(T1, startup=startup, ike=ike))[0] is verdict


def test_a_pending_replacement_of_a_tunnel_with_startup_add_warns_with_the_date_and_the_change_to_make() -> None:
    pending = [PendingReplacement(T1, DUE, "replacement status", "x"), PendingReplacement(T2, DUE, "status", "y")]
    [(key, finding)] = replacement_findings(connection(), pending, now=NOW)
    assert (finding.category, finding.cause) == (Category.ENDPOINT_REPLACEMENT, Cause.REPLACEMENT_WILL_NOT_SELF_HEAL)
    assert (finding.vpn_connection_id, finding.tunnel_ip) == (VPN, REPLACEMENT_SCOPE)
    assert "2026-12-20 04:00 UTC" in finding.summary
    assert "set the startup action to 'start'" in finding.summary
    assert "DPD timeout action 'clear'" in finding.summary
    assert key.endswith(f"{T1}:x")


def test_nothing_pending_says_none_and_pending_says_so() -> None:
    assert not MaintenanceStatus(T1, "None").pending
    assert not MaintenanceStatus(T1, None).pending
    assert MaintenanceStatus(T1, "Pending", DUE).pending


def test_the_checks_of_many_connections_spread_over_the_period_and_each_runs_once_per_period() -> None:
    keys = [f"vpn-{index:017x}" for index in range(100)]
    every, interval = timedelta(hours=6), timedelta(minutes=1)
    minutes = [NOW + timedelta(minutes=m) for m in range(360)]
    runs = {key: sum(due(key, now=m, every=every, interval=interval) for m in minutes) for key in keys}
    assert set(runs.values()) == {1}
    busiest = max(sum(due(key, now=m, every=every, interval=interval) for key in keys) for m in minutes)
    assert busiest <= 4


def test_a_certificate_warns_once_per_threshold_and_again_when_expired() -> None:
    vpn = connection()
    expires = NOW + timedelta(days=40)

    def keys(days_left: int) -> set[str]:
        now = expires - timedelta(days=days_left)
        return {key for key, _ in certificate_findings(vpn, {CERT: expires}, warn_days=(30, 7), now=now)}

    assert keys(40) == set()
    assert keys(29) == keys(20)  # the 30-day threshold: the same warning
    assert keys(6) != keys(29)
    assert keys(-1) != keys(6)
    [(_, finding), _] = certificate_findings(vpn, {CERT: NOW + timedelta(days=6)}, warn_days=(30, 7), now=NOW)
    assert (finding.category, finding.cause) == (Category.IKE_PHASE1_FAILURE, Cause.CERTIFICATE_EXPIRING)
    assert "expires in 6 days" in finding.summary


# --- the use case -----------------------------------------------------------------------------------


def test_a_pending_replacement_opens_one_warning_that_later_checks_do_not_repeat_and_that_resolves() -> None:
    statuses = Statuses(pending={T1: DUE})
    ahead_ports, bus = ports(statuses)
    first = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW)
    assert [t.kind for t in first.transitions] == [TransitionKind.OPENED]
    incident = first.transitions[0].incident
    assert (incident.tunnel_ip, incident.category) == (REPLACEMENT_SCOPE, Category.ENDPOINT_REPLACEMENT)
    assert statuses.calls == [T1, T2]
    again = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW + timedelta(hours=6))
    assert again.transitions == []
    statuses.pending.clear()  # applied
    later = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW + timedelta(hours=12))
    assert [t.kind for t in later.transitions] == [TransitionKind.RESOLVED]
    assert len(bus.events) == 2
    assert where(REPLACEMENT_SCOPE) == "tunnel endpoint replacement ahead"


def test_a_tunnel_that_comes_back_by_itself_is_never_warned_about() -> None:
    statuses = Statuses(pending={T2: DUE})
    ahead_ports, bus = ports(statuses)
    result = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW)
    assert result.transitions == []
    assert bus.events == []


def test_only_tunnels_with_lifecycle_control_are_read_and_only_when_the_connection_is_due() -> None:
    statuses = Statuses()
    ahead_ports, _ = ports(statuses)
    vpn = connection(tunnel(T1, control=False), tunnel(T2))
    warn_ahead([vpn], ahead_ports, ahead=EVERY_POLL, now=NOW)
    assert statuses.calls == [T2]
    statuses.calls.clear()
    off = Ahead(replacement_every=None)
    warn_ahead([vpn], ahead_ports, ahead=off, now=NOW)
    assert statuses.calls == []


def test_a_refused_status_read_is_an_error_and_never_resolves_an_open_warning() -> None:
    statuses = Statuses(pending={T1: DUE})
    ahead_ports, _ = ports(statuses)
    warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW)
    statuses.refuse = True
    result = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW + timedelta(hours=6))
    assert result.errors == ["RequestLimitExceeded"]
    assert result.transitions == []


def test_a_certificate_is_read_once_for_every_tunnel_naming_it_and_warns_under_its_own_key() -> None:
    certificates = Certificates(expiry=NOW + timedelta(days=5))
    ahead_ports, _ = ports(Statuses(), certificates)
    result = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW)
    assert certificates.calls == [CERT]
    assert [(t.kind, t.incident.tunnel_ip) for t in result.transitions] == [(TransitionKind.OPENED, CERTIFICATE_SCOPE)]
    certificates.expiry = NOW + timedelta(days=400)  # renewed
    renewed = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW + timedelta(days=1))
    assert [t.kind for t in renewed.transitions] == [TransitionKind.RESOLVED]


def _scheduled(tunnel_ip: str | None) -> TunnelStateChange:
    return TunnelStateChange(
        vpn_connection_id=VPN,
        tunnel_ip=tunnel_ip,
        state=TunnelState.UNKNOWN,
        source=StateSource.AWS_HEALTH,
        observed_at=DUE,
        event_id="health-1",
        reason="Scheduled tunnel endpoint replacement",
        maintenance=True,
        details={"event_type_category": "scheduledChange", "event_arn": "arn:aws:health:eu-west-1::event/VPN/x/y"},
    )


@dataclass
class OneConnection:
    vpn: VpnConnectionInfo

    def connection(self, vpn_connection_id: str) -> VpnConnectionInfo | None:
        return self.vpn if vpn_connection_id == self.vpn.vpn_connection_id else None

    def connections(self, *args: object, **kwargs: object) -> list[VpnConnectionInfo]:
        return [self.vpn]


def test_a_scheduled_health_notice_warns_once_about_the_tunnels_that_will_not_come_back() -> None:
    bus = Bus()
    state = StatePorts(Incidents(IncidentService(MemoryStore()), bus), OneConnection(connection()), NoLogs())
    assert warn_scheduled([_scheduled(None)], state, now=NOW) == 1
    assert warn_scheduled([_scheduled(None)], state, now=NOW) == 0  # the same notice again
    unscheduled = replace(_scheduled(None), details={"event_type_category": "issue"})
    assert warn_scheduled([unscheduled], state, now=NOW) == 0
    [(_, event)] = bus.events
    assert event["incident"]["category"] == Category.ENDPOINT_REPLACEMENT.value


def test_the_diagnosis_of_a_replacement_warning_says_which_tunnel_needs_what() -> None:
    statuses = Statuses(pending={T1: DUE})
    ahead_ports, _ = ports(statuses)
    [opened] = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW).transitions
    diagnosis = diagnose(opened.incident, connection(), now=NOW)
    assert diagnosis.verdict is Verdict.NEEDS_AWS_CHANGE
    assert f"Tunnel {T1}" in diagnosis.verdict_reason
    assert any("ReplaceVpnTunnel" in step for step in diagnosis.next_steps)


# --- applying pending replacements in a window (opt-in) ---------------------------------------------------------


def test_inside_the_window_a_pending_replacement_opens_one_incident_on_the_tunnel_for_remediation() -> None:
    statuses = Statuses(pending={T1: DUE})
    ahead_ports, _ = ports(statuses)
    window = replace(EVERY_POLL, apply_window=MaintenanceWindow.parse("09:00-11:00"))
    opened = warn_ahead([connection()], ahead_ports, ahead=window, now=NOW)
    kinds = {(t.incident.tunnel_ip, t.incident.cause) for t in opened.transitions}
    assert kinds == {(REPLACEMENT_SCOPE, Cause.REPLACEMENT_WILL_NOT_SELF_HEAL), (T1, Cause.SCHEDULED)}
    again = warn_ahead([connection()], ahead_ports, ahead=window, now=NOW + timedelta(minutes=30))
    assert again.transitions == []  # the same pending maintenance: never a second incident, never a second change
    outside = warn_ahead([connection()], ports(statuses)[0], ahead=window, now=NOW + timedelta(hours=2))
    assert {t.incident.tunnel_ip for t in outside.transitions} == {REPLACEMENT_SCOPE}


def test_without_a_window_or_lifecycle_control_nothing_is_filed_for_remediation() -> None:
    statuses = Statuses(pending={T1: DUE})
    ahead_ports, _ = ports(statuses)
    result = warn_ahead([connection()], ahead_ports, ahead=EVERY_POLL, now=NOW)
    assert {t.incident.tunnel_ip for t in result.transitions} == {REPLACEMENT_SCOPE}
    window = replace(EVERY_POLL, apply_window=MaintenanceWindow.parse("09:00-11:00"))
    uncontrolled = connection(tunnel(T1, control=False), tunnel(T2))
    assert statuses.calls == [T1, T2]
    warn_ahead([uncontrolled], ports(statuses)[0], ahead=window, now=NOW)
    assert statuses.calls[2:] == [T2]  # only the lifecycle-controlled tunnel's status is read


def test_inside_the_window_each_connection_is_checked_every_30_minutes_not_every_6_hours() -> None:
    window = Ahead(apply_window=MaintenanceWindow.parse("09:00-11:00"))
    statuses = Statuses()
    ahead_ports, _ = ports(statuses)
    for minute in range(120):
        warn_ahead([connection()], ahead_ports, ahead=window, now=NOW - timedelta(hours=1) + timedelta(minutes=minute))
    assert len(statuses.calls) == 4 * 2  # 4 checks in the window's 2 hours, 2 lifecycle-controlled tunnels each
