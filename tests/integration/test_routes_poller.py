"""The poller watching BGP routes (AcceptedRouteCount) against moto: moto's EC2 with the emulator's telemetry, the
incidents table, the bus. Polls run through the poller's own ports and use case at chosen times (the handler reads
the real clock; one test goes through the handler itself)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from handlers import poller
from handlers.poller import handler as poller_handler
from handlers.wiring import reset
from tests.conftest import lambda_context
from tests.integration.test_state_handler import TABLE, Aws, aws
from vpn_doctor.app.incidents import LookBack, Monitoring, PollResult, poll_connections
from vpn_doctor.constants import DETAIL_TYPE_INCIDENT, ENV_ROUTES_HOLD_SECONDS
from vpn_doctor.models import IncidentTransition, TransitionKind, load
from vpn_doctor.routes import RouteState
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor_tools.emulator import VpnEmulation

__all__ = ["aws"]  # the pytest fixture shared with the state handler tests

MINUTE = timedelta(minutes=1)
ROUTES = 6


@dataclass
class Estate:
    """A BGP connection and a static one, both tunnels UP for two hours with ROUTES accepted routes each."""

    emulation: VpnEmulation
    bgp: str
    static: str
    start: datetime

    def ips(self, vpn: str) -> tuple[str, ...]:
        return self.emulation.tunnel_ips(vpn)

    def routes(self, vpn: str, count: int, *, tunnel: int = 0, status: str = "UP") -> None:
        """The tunnel's telemetry now reports ``count`` accepted routes (and ``status``)."""
        self.emulation.set_tunnel_status(vpn, self.ips(vpn)[tunnel], status, accepted_route_count=count)

    def poll(self, minutes: float) -> PollResult:
        """One poll ``minutes`` after the estate's start, on the poller's own ports (no traffic read)."""
        now = self.start + minutes * MINUTE
        return poll_connections(poller.ports(), monitoring=Monitoring(), lookback=LookBack(), now=now)


@pytest.fixture
def estate(aws: Aws) -> Iterator[Estate]:
    with VpnEmulation().installed() as emulation:
        ec2 = boto3.client("ec2")
        gateway = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="192.0.2.10", BgpAsn=65000)
        vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
        common = {"Type": "ipsec.1", "CustomerGatewayId": gateway["CustomerGateway"]["CustomerGatewayId"]}
        bgp = ec2.create_vpn_connection(**common, VpnGatewayId=vgw)["VpnConnection"]["VpnConnectionId"]
        static = ec2.create_vpn_connection(**common, VpnGatewayId=vgw, Options={"StaticRoutesOnly": True})[
            "VpnConnection"
        ]["VpnConnectionId"]
        start = datetime.now(UTC).replace(microsecond=0)
        for vpn in (bgp, static):
            for ip in emulation.tunnel_ips(vpn):
                emulation.set_tunnel_status(vpn, ip, "UP", at=start - timedelta(hours=2), accepted_route_count=ROUTES)
        state = Estate(emulation, bgp, static, start)
        first = state.poll(0)  # every tunnel seen UP: its record, and a BGP tunnel's baseline, in one write each
        assert (first.errors, len(first.changes), first.transitions) == ([], 4, [])
        yield state


def incidents(aws: Aws) -> list[IncidentTransition]:
    return [load(IncidentTransition, e["detail"]) for e in aws.published() if e["detail-type"] == DETAIL_TYPE_INCIDENT]


def routes_kept(aws: Aws, vpn: str, ip: str) -> RouteState:
    """What the tunnel's record in the table keeps of its routes."""
    key = {"pk": {"S": f"TUNNEL#{vpn}#{ip}"}, "sk": {"S": "STATE"}}
    item = aws.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    return load(RouteState, json.loads(item["doc"]["S"]).get("routes") or {})


def test_a_drop_to_zero_held_for_five_minutes_opens_one_incident_naming_the_trend(estate: Estate, aws: Aws) -> None:
    estate.routes(estate.bgp, 0)
    opened_at = [minute for minute in range(1, 10) if estate.poll(minute).transitions]
    assert opened_at == [6]  # low since minute 1, held for 5 minutes
    [opened] = incidents(aws)
    incident = opened.incident
    assert opened.kind is TransitionKind.OPENED
    assert (incident.category, incident.cause, incident.severity) == (
        Category.BGP_SESSION,
        Cause.ROUTES_LOST,
        Severity.CRITICAL,
    )
    assert (incident.vpn_connection_id, incident.tunnel_ip) == (estate.bgp, estate.ips(estate.bgp)[0])
    since = (estate.start + MINUTE).strftime("%H:%M")
    assert f"fell from {ROUTES} to 0" in incident.summary
    assert f"since {since} UTC" in incident.summary


def test_a_flap_shorter_than_five_minutes_opens_nothing(estate: Estate, aws: Aws) -> None:
    estate.routes(estate.bgp, 0)
    for minute in range(1, 5):
        estate.poll(minute)
    estate.routes(estate.bgp, ROUTES)
    for minute in range(5, 15):
        estate.poll(minute)
    assert incidents(aws) == []


def test_halving_the_routes_opens_a_warning_and_their_recovery_resolves_it(estate: Estate, aws: Aws) -> None:
    estate.routes(estate.bgp, ROUTES // 2)
    for minute in range(1, 7):
        estate.poll(minute)
    # Long after the clear delay the tunnel is still UP: only the routes coming back resolve the incident.
    assert [t.kind for t in estate.poll(60).transitions] == []
    estate.routes(estate.bgp, ROUTES)
    resolved = estate.poll(61)
    opened, closed = incidents(aws)
    assert (opened.kind, opened.incident.severity) == (TransitionKind.OPENED, Severity.WARNING)
    assert f"fell from {ROUTES} to {ROUTES // 2} (50% fewer)" in opened.incident.summary
    assert [t.kind for t in resolved.transitions] == [TransitionKind.RESOLVED]
    assert closed.incident.incident_id == opened.incident.incident_id
    assert f"back to {ROUTES} (baseline {ROUTES})" in closed.reason


def test_the_steady_state_writes_nothing_even_with_routes_lost_and_open(estate: Estate, aws: Aws) -> None:
    estate.poll(1)
    steady = aws.items()
    for minute in range(2, 6):
        estate.poll(minute)
    assert aws.items() == steady  # not one item written, not one version moved
    estate.routes(estate.bgp, 0)
    for minute in range(6, 12):
        estate.poll(minute)  # low from minute 6: opened at 11
    assert len(incidents(aws)) == 1
    still_lost = aws.items()
    for minute in range(12, 20):
        estate.poll(minute)
    assert aws.items() == still_lost
    assert incidents(aws) == []  # nothing published since the opening (read above)


def test_a_static_connection_is_ignored(estate: Estate, aws: Aws) -> None:
    for tunnel in (0, 1):
        estate.routes(estate.static, 0, tunnel=tunnel)
    for minute in range(1, 12):
        estate.poll(minute)
    assert incidents(aws) == []
    assert [routes_kept(aws, estate.static, ip) for ip in estate.ips(estate.static)] == [RouteState()] * 2
    assert routes_kept(aws, estate.bgp, estate.ips(estate.bgp)[1]).baseline == ROUTES  # a BGP tunnel's, for contrast


def test_a_tunnel_down_is_its_down_incident_not_routes_lost(estate: Estate, aws: Aws) -> None:
    estate.routes(estate.bgp, 0, status="DOWN")
    for minute in range(1, 12):
        estate.poll(minute)
    [opened] = incidents(aws)
    assert opened.incident.cause is not Cause.ROUTES_LOST
    assert "DOWN" in opened.incident.summary
    kept = routes_kept(aws, estate.bgp, estate.ips(estate.bgp)[0])
    assert (kept.baseline, kept.low_since, kept.alerted) == (ROUTES, None, False)


def test_the_handler_reads_the_hold_from_its_settings(
    estate: Estate, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_ROUTES_HOLD_SECONDS, "0")
    reset()
    assert poller.settings().policy().routes.hold == timedelta(0)
    estate.routes(estate.bgp, 0)
    result = poller_handler({"source": "aws.scheduler", "detail": {}}, lambda_context("poller"))
    assert (result["errors"], result["transitions"]) == ([], ["opened"])
    [opened] = incidents(aws)
    assert opened.incident.cause is Cause.ROUTES_LOST
