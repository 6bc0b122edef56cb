"""The watchdog: each condition alerts once when it starts and resolves once when it ends (pure core, use case
with in-memory ports)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from vpn_doctor.app.incidents import Monitoring
from vpn_doctor.app.publishing import PublishFailed
from vpn_doctor.app.watchdog import OpenCondition, WatchdogPorts, Watched, run_watchdog
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.vpn import TunnelConfig, TunnelLogging, VpnConnectionInfo
from vpn_doctor.watchdog import LoggedTunnel, Observation, silent_tunnels, topic_observation

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
VPN, T1, T2 = "vpn-0a1b2c3d4e5f60718", "198.51.100.10", "203.0.113.20"
GROUP = "/aws/vendedlogs/vpn-doctor/tunnels"
INGEST = "arn:aws:lambda:us-east-1:123456789012:function:vpn-doctor-ingest"
TOPIC = "arn:aws:sns:us-east-1:123456789012:vpn-doctor-alerts"


@dataclass
class FakeAws:
    streams: dict[str, datetime] = field(default_factory=dict)
    destinations: list[str] = field(default_factory=lambda: [INGEST])
    subscriptions: list[str] = field(default_factory=lambda: [f"{TOPIC}:0c1d"])
    poller_invocations: float | None = 15.0
    broken: bool = False

    def last_events(self, log_group: str) -> Mapping[str, datetime]:
        if self.broken:
            raise AwsCallFailed("DescribeLogStreams", "ThrottlingException", "slow down")
        return self.streams

    def filter_destinations(self, log_group: str) -> list[str]:
        return self.destinations

    def subscription_arns(self, topic_arn: str) -> list[str]:
        return self.subscriptions

    def invocations(self, function_name: str, *, start: datetime, end: datetime) -> float | None:
        return self.poller_invocations


@dataclass
class FakeConnections:
    logging: bool = True

    def connection(self, vpn_connection_id: str) -> VpnConnectionInfo | None:
        return self.connections()[0]

    def connections(
        self, vpn_ids: object = (), *, tag_key: str | None = None, tag_value: str | None = None
    ) -> list[VpnConnectionInfo]:
        logging = TunnelLogging(enabled=self.logging, log_group_arn=f"arn:aws:logs:us-east-1:1:log-group:{GROUP}")
        tunnels = tuple(TunnelConfig(outside_ip=ip, logging=logging) for ip in (T1, T2))
        return [VpnConnectionInfo(vpn_connection_id=VPN, state="available", tunnels=tunnels)]


@dataclass
class FakeAlerts:
    sent: list[str] = field(default_factory=list)
    failing: bool = False

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, str], structured: bool) -> str:
        if self.failing:
            raise AwsCallFailed("Publish", "KMS.AccessDeniedException", "no")
        self.sent.append(subject)
        return "message-id"


@dataclass
class FakeStore:
    conditions: dict[str, OpenCondition] = field(default_factory=dict)
    since: datetime | None = None

    def open_conditions(self) -> Mapping[str, OpenCondition]:
        return dict(self.conditions)

    def open(self, observation: Observation, now: datetime) -> bool:
        if observation.key in self.conditions:
            return False
        self.conditions[observation.key] = OpenCondition(observation.key, published=False)
        return True

    def mark_published(self, key: str) -> None:
        self.conditions[key] = OpenCondition(key, published=True)

    def close(self, key: str) -> None:
        del self.conditions[key]

    def watching_since(self, now: datetime) -> datetime:
        self.since = self.since or now
        return self.since


@dataclass
class World:
    aws: FakeAws = field(default_factory=FakeAws)
    connections: FakeConnections = field(default_factory=FakeConnections)
    alerts: FakeAlerts = field(default_factory=FakeAlerts)
    store: FakeStore = field(default_factory=FakeStore)

    def run(self, now: datetime = NOW) -> list[str]:
        ports = WatchdogPorts(aws=self.aws, connections=self.connections, alerts=self.alerts, store=self.store)
        watched = Watched((GROUP,), INGEST, TOPIC, "vpn-doctor-poller", Monitoring())
        before = len(self.alerts.sent)
        run_watchdog(ports, watched, now=now)
        return self.alerts.sent[before:]


def fresh_streams() -> dict[str, datetime]:
    return {f"{VPN}-{T1}": NOW - timedelta(minutes=3), f"{VPN}-{T2}": NOW - timedelta(hours=1)}


def test_a_healthy_deployment_sends_nothing() -> None:
    world = World(aws=FakeAws(streams=fresh_streams()))
    assert world.run() == []
    assert world.store.conditions == {}


def test_a_tunnel_silent_for_hours_alerts_once_and_resolves_once() -> None:
    streams = fresh_streams()
    streams[f"{VPN}-{T2}"] = NOW - timedelta(hours=7)
    world = World(aws=FakeAws(streams=streams))
    assert world.run() == [f"vpn-doctor watchdog PROBLEM: tunnel logs silent: {VPN} {T2}"]
    assert world.run(NOW + timedelta(hours=1)) == []  # still silent: no second message
    world.aws.streams[f"{VPN}-{T2}"] = NOW + timedelta(hours=1, minutes=50)
    assert world.run(NOW + timedelta(hours=2)) == [f"vpn-doctor watchdog RESOLVED: tunnel logs silent: {VPN} {T2}"]
    assert world.run(NOW + timedelta(hours=3)) == []


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ({"poller_invocations": None}, "poller stopped: poller"),
        ({"destinations": []}, f"subscription filter missing: {GROUP}"),
        ({"subscriptions": ["PendingConfirmation"]}, "alert topic has no confirmed subscription: vpn-doctor-alerts"),
    ],
)
def test_each_condition_alerts_once(broken: dict[str, object], expected: str) -> None:
    world = World(aws=FakeAws(streams=fresh_streams(), **broken))  # type: ignore[arg-type]
    assert world.run() == [f"vpn-doctor watchdog PROBLEM: {expected}"]
    assert world.run(NOW + timedelta(hours=1)) == []


def test_a_failed_publish_is_sent_by_the_next_run_and_fails_this_one() -> None:
    world = World(aws=FakeAws(streams=fresh_streams(), destinations=[]), alerts=FakeAlerts(failing=True))
    with pytest.raises(PublishFailed):
        world.run()
    world.alerts.failing = False
    assert world.run(NOW + timedelta(hours=1)) == [f"vpn-doctor watchdog PROBLEM: subscription filter missing: {GROUP}"]
    assert world.run(NOW + timedelta(hours=2)) == []


def test_a_subject_that_cannot_be_read_keeps_its_state() -> None:
    streams = fresh_streams()
    streams[f"{VPN}-{T2}"] = NOW - timedelta(hours=7)
    world = World(aws=FakeAws(streams=streams))
    world.run()
    world.aws.broken = True
    assert world.run(NOW + timedelta(hours=1)) == []  # neither resolved nor alerted again
    assert f"tunnel_logs_silent:{VPN} {T2}" in world.store.conditions


def test_a_tunnel_without_a_stream_is_silent_only_after_the_watchdog_watched_for_the_quiet_period() -> None:
    tunnel = LoggedTunnel(VPN, T1, GROUP)
    [young] = silent_tunnels([tunnel], {}, now=NOW, watching_since=NOW - timedelta(hours=1))
    [old] = silent_tunnels([tunnel], {}, now=NOW, watching_since=NOW - timedelta(hours=7))
    assert (young.failing, old.failing) == (False, True)


def test_tunnels_with_logging_off_are_not_watched_for_silence() -> None:
    world = World(connections=FakeConnections(logging=False))
    assert world.run(NOW + timedelta(days=1)) == []


def test_a_pending_subscription_beside_a_confirmed_one_is_named() -> None:
    observation = topic_observation(TOPIC, [f"{TOPIC}:0c1d", "PendingConfirmation"])
    assert observation.failing
    assert "1 subscription(s) pending confirmation" in observation.detail


def test_a_condition_that_ends_before_its_alert_went_out_ends_silently() -> None:
    world = World(aws=FakeAws(streams=fresh_streams(), destinations=[]), alerts=FakeAlerts(failing=True))
    with pytest.raises(PublishFailed):
        world.run()
    world.alerts.failing = False
    world.aws.destinations = [INGEST]
    assert world.run(NOW + timedelta(hours=1)) == []
    assert world.store.conditions == {}


def test_a_condition_a_concurrent_run_opened_first_is_told_by_that_run_only() -> None:
    world = World(aws=FakeAws(streams=fresh_streams(), destinations=[]))
    key = f"subscription_filter_missing:{GROUP}"

    class RacedStore(FakeStore):
        def open_conditions(self) -> Mapping[str, OpenCondition]:
            return {}  # read before the other run opened it

    world.store = RacedStore(conditions={key: OpenCondition(key, published=False)})
    assert world.run() == []
