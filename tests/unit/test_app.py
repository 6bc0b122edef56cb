"""The use cases with plain fakes for their ports: what a redelivery completes, what the diagnosis and the
poller read of the tunnels' traffic, and that a healthy log batch needs no AWS at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import subscription_document, tunnel_record
from tests.unit.test_incidents import MemoryStore
from tests.unit.test_remediation import (
    IP1,
    IP2,
    NOW,
    VPN,
    FakeModifier,
    FakeStore,
    connection,
    transition,
    vpn_item,
)
from vpn_doctor.app.incidents import Incidents, LookBack, Monitoring, PollPorts, poll_connections
from vpn_doctor.app.logs import deliver_log_batch
from vpn_doctor.app.publishing import PublishFailed
from vpn_doctor.app.respond import Remediation, RespondConfig, RespondPorts, respond_to_transition
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.bus import PublishReport
from vpn_doctor.classify import Classifier
from vpn_doctor.constants import CONNECTION_SCOPE, DETAIL_TYPE_ALERT, Mode, MonitorScope
from vpn_doctor.diagnosis import TunnelTraffic
from vpn_doctor.incidents import IncidentService
from vpn_doctor.models import CheckStatus, RemediationStatus, TransitionKind, TunnelEvent
from vpn_doctor.remediation import RemediationPolicy
from vpn_doctor.subscription import decode_subscription_data, encode_subscription_data
from vpn_doctor.taxonomy import Category, Cause
from vpn_doctor.vpn import VpnConnectionInfo, connection_from_api

AUTO = RespondConfig(policy=RemediationPolicy(mode=Mode.AUTO))


@dataclass
class Connections:
    """``DescribeVpnConnections`` answering from a list."""

    known: list[VpnConnectionInfo]

    def connection(self, vpn_connection_id: str) -> VpnConnectionInfo | None:
        return next((c for c in self.known if c.vpn_connection_id == vpn_connection_id), None)

    def connections(
        self, vpn_ids: Sequence[str] = (), *, tag_key: str | None = None, tag_value: str | None = None
    ) -> list[VpnConnectionInfo]:
        return list(self.known)


@dataclass
class Traffic:
    """The traffic reader: one answer for every tunnel asked about (or a refusal); records the calls."""

    answer: TunnelTraffic | None = None
    calls: list[tuple[list[tuple[str, str]], datetime, datetime]] = field(default_factory=list)

    def traffic(
        self, tunnels: Sequence[tuple[str, str]], *, start: datetime, end: datetime, period: int = 300
    ) -> Mapping[tuple[str, str], TunnelTraffic]:
        self.calls.append((list(tunnels), start, end))
        if self.answer is None:
            raise AwsCallFailed("GetMetricData", "AccessDenied", "no")
        return dict.fromkeys(tunnels, self.answer)


@dataclass
class Bus:
    """The event bus: refuses the next ``refuse`` calls (thrown), then keeps what it is given."""

    refuse: int = 0
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, detail_type: str, details: Sequence[dict[str, Any]]) -> PublishReport:
        if self.refuse:
            self.refuse -= 1
            raise AwsCallFailed("PutEvents", "InternalFailure", "try again")
        self.events += [(detail_type, detail) for detail in details]
        return PublishReport(published=len(details))


@dataclass
class Scheduler:
    """EventBridge Scheduler: one schedule per key (the same key again is the existing schedule)."""

    dies: int = 0
    schedules: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def schedule(self, key: str, at: datetime, payload: Mapping[str, Any]) -> str:
        if self.dies:
            self.dies -= 1
            raise TimeoutError("Task timed out")
        self.schedules.setdefault(key, payload)
        return f"post-check-{key}"


@dataclass
class DecisionStore(FakeStore):
    """The remediation store with the follow-ups done per stored decision."""

    done: dict[str, set[str]] = field(default_factory=dict)

    def follow_ups(self, event_id: str) -> frozenset[str] | None:
        return frozenset(self.done.get(event_id, ())) if event_id in self.decisions else None

    def mark_followed_up(self, event_id: str, follow_up: str) -> None:
        if event_id in self.decisions:
            self.done.setdefault(event_id, set()).add(follow_up)


@dataclass
class Respond:
    store: DecisionStore = field(default_factory=DecisionStore)
    modifier: FakeModifier = field(default_factory=FakeModifier)
    scheduler: Scheduler = field(default_factory=Scheduler)
    bus: Bus = field(default_factory=Bus)
    traffic: Traffic = field(default_factory=lambda: Traffic(TunnelTraffic((10.0,), (20.0,))))

    def ports(self) -> RespondPorts:
        return RespondPorts(
            connections=Connections([connection()]),
            traffic=self.traffic,
            bus=self.bus,
            remediation=Remediation(self.store, self.modifier, self.scheduler),
        )

    def alerts(self) -> list[dict[str, Any]]:
        return [detail for detail_type, detail in self.bus.events if detail_type == DETAIL_TYPE_ALERT]


def test_an_alert_lost_to_the_bus_is_published_by_the_redelivery_with_one_schedule_and_one_modification() -> None:
    fakes = Respond(bus=Bus(refuse=1))
    with pytest.raises(PublishFailed):
        respond_to_transition(transition(), fakes.ports(), config=AUTO, now=NOW)
    redelivered = respond_to_transition(transition(), fakes.ports(), config=AUTO, now=NOW + timedelta(minutes=1))
    again = respond_to_transition(transition(), fakes.ports(), config=AUTO, now=NOW + timedelta(minutes=2))
    assert (redelivered.status, again.status) == ("completed", "duplicate")
    assert [alert["remediation"]["status"] for alert in fakes.alerts()] == ["applied"]
    assert list(fakes.scheduler.schedules) == ["evt-1"]
    assert len(fakes.modifier.calls) == 1


def test_a_respond_that_died_after_modifying_schedules_and_alerts_on_the_redelivery() -> None:
    fakes = Respond(scheduler=Scheduler(dies=1))
    with pytest.raises(TimeoutError):
        respond_to_transition(transition(), fakes.ports(), config=AUTO, now=NOW)
    assert (fakes.alerts(), fakes.scheduler.schedules) == ([], {})
    assert respond_to_transition(transition(), fakes.ports(), config=AUTO, now=NOW).status == "completed"
    assert len(fakes.alerts()) == 1
    assert fakes.scheduler.schedules["evt-1"]["remediation"]["status"] == "applied"
    assert len(fakes.modifier.calls) == 1


def test_a_decision_that_needs_no_post_check_is_complete_once_its_alert_is_out() -> None:
    fakes = Respond(bus=Bus(refuse=1))
    dry_run = RespondConfig(policy=RemediationPolicy(mode=Mode.DRY_RUN))
    with pytest.raises(PublishFailed):
        respond_to_transition(transition(), fakes.ports(), config=dry_run, now=NOW)
    assert respond_to_transition(transition(), fakes.ports(), config=dry_run, now=NOW).status == "completed"
    assert respond_to_transition(transition(), fakes.ports(), config=dry_run, now=NOW).status == "duplicate"
    assert [alert["remediation"]["status"] for alert in fakes.alerts()] == ["dry_run"]
    assert fakes.scheduler.schedules == {}


def test_the_diagnosis_reads_the_incident_tunnels_traffic_before_it_opened() -> None:
    fakes = Respond(traffic=Traffic(TunnelTraffic((0.0, 0.0), (0.0, 0.0))))
    response = respond_to_transition(transition(), fakes.ports(), config=AUTO, now=NOW)
    [(tunnels, start, end)] = fakes.traffic.calls
    opened = transition().incident.opened_at
    assert (tunnels, start, end) == ([(VPN, IP1)], opened - timedelta(minutes=30), opened)
    assert response.alert is not None
    assert response.alert.diagnosis is not None
    checks = {check.check_id: check for check in response.alert.diagnosis.checks}
    assert checks["traffic"].status is CheckStatus.FAIL  # a DOWN tunnel that carried nothing: idle
    assert "No data in either direction" in checks["traffic"].reason


def test_no_datapoint_is_reported_as_unknown_traffic_not_as_an_idle_tunnel() -> None:
    fakes = Respond(traffic=Traffic(TunnelTraffic()))
    response = respond_to_transition(transition(), fakes.ports(), config=AUTO, now=NOW)
    assert response.alert is not None
    assert response.alert.diagnosis is not None
    checks = {check.check_id: check for check in response.alert.diagnosis.checks}
    assert checks["traffic"].status is CheckStatus.INFO
    assert "No TunnelDataIn/TunnelDataOut datapoints" in checks["traffic"].reason


def test_a_refused_traffic_read_leaves_the_traffic_check_out_and_the_alert_still_goes() -> None:
    fakes = Respond(traffic=Traffic(None))
    response = respond_to_transition(transition(), fakes.ports(), config=AUTO, now=NOW)
    assert response.outcome.status is RemediationStatus.APPLIED
    assert response.alert is not None
    assert response.alert.diagnosis is not None
    assert "traffic" not in {check.check_id for check in response.alert.diagnosis.checks}
    assert len(fakes.alerts()) == 1


def test_a_poll_reads_the_traffic_of_every_up_tunnel_of_every_connection_in_one_call_every_30_minutes() -> None:
    other = dict(vpn_item(status1="UP"), VpnConnectionId="vpn-0123456789abcdef0")
    watched = [connection(status1="UP"), connection_from_api(other)]
    traffic = Traffic(TunnelTraffic((0.0,) * 7, (0.0,) * 7))
    ports = PollPorts(
        incidents=Incidents(IncidentService(MemoryStore()), Bus()),
        connections=Connections(watched),
        logs=NoLogs(),
        traffic=traffic,
    )
    monitoring = Monitoring(scope=MonitorScope.ALL, no_traffic=timedelta(minutes=30))
    for minute in range(30):  # one read in the 30 minutes of the default cadence
        poll_connections(ports, monitoring=monitoring, lookback=LookBack(), now=NOW + timedelta(minutes=minute))
    [(tunnels, start, end)] = traffic.calls
    assert sorted(tunnels) == sorted(
        [(VPN, IP1), (VPN, IP2), ("vpn-0123456789abcdef0", IP1), ("vpn-0123456789abcdef0", IP2)]
    )
    # The window and one period more, ending at the last whole period (the newest may not be published yet).
    assert (start, end) == (NOW - timedelta(minutes=35), NOW)
    slow = Monitoring(no_traffic=timedelta(minutes=30), poll_interval=timedelta(minutes=45))
    assert all(slow.traffic_due(NOW + timedelta(minutes=m)) for m in range(0, 600, 45))
    assert not Monitoring().traffic_due(NOW)  # off unless a window is given


WATCH_TRAFFIC = Monitoring(no_traffic=timedelta(minutes=30))


def test_no_traffic_opens_one_connection_level_incident_that_a_retried_poll_does_not_repeat_and_that_resolves() -> None:
    idle = TunnelTraffic((0.0,) * 7, (0.0,) * 7)
    traffic = Traffic(idle)
    bus = Bus()
    service = IncidentService(MemoryStore())
    ports = PollPorts(Incidents(service, bus), Connections([connection()]), NoLogs(), traffic)

    def poll(at: datetime) -> list[Any]:
        polled = poll_connections(ports, monitoring=WATCH_TRAFFIC, lookback=LookBack(), now=at)
        return [t for t in polled.transitions if t.incident.tunnel_ip == CONNECTION_SCOPE]

    [opened] = poll(NOW)
    assert (opened.kind, opened.incident.category, opened.incident.cause) == (
        TransitionKind.OPENED,
        Category.IDLE_TIMEOUT,
        Cause.NO_TRAFFIC,
    )
    assert poll(NOW + timedelta(seconds=20)) == []  # the same read slot again: a duplicate
    traffic.answer = TunnelTraffic((5.0,) * 7, (9.0,) * 7)  # traffic again
    assert poll(NOW + timedelta(minutes=30)) == []
    assert poll(NOW + timedelta(minutes=61)) == []  # not a traffic read: the connection-level record waits
    [resolved] = poll(NOW + timedelta(minutes=90))
    assert (resolved.kind, resolved.incident.incident_id) == (TransitionKind.RESOLVED, opened.incident.incident_id)


def test_a_traffic_read_that_fails_is_a_poll_error_and_no_finding() -> None:
    ports = PollPorts(
        Incidents(IncidentService(MemoryStore()), Bus()), Connections([connection()]), NoLogs(), Traffic(None)
    )
    polled = poll_connections(ports, monitoring=WATCH_TRAFFIC, lookback=LookBack(), now=NOW)
    assert (polled.errors, polled.traffic) == (["AccessDenied"], [])


@dataclass
class NoLogs:
    def lookback(
        self, log_group: str, vpn_connection_id: str, tunnel_ip: str, *, start: datetime, end: datetime
    ) -> list[TunnelEvent]:
        return []


def test_a_healthy_batch_is_delivered_without_building_any_port() -> None:
    chatter = [
        tunnel_record("AWS tunnel is sending request (id=0x1a) for CREATE_CHILD_SA", 1764196800, phase2="rekeying"),
        tunnel_record("AWS tunnel processed response (id=0x1a) for CREATE_CHILD_SA", 1764196801),
    ]
    batch = decode_subscription_data(encode_subscription_data(subscription_document(chatter)))

    def no_aws() -> Any:
        pytest.fail("a healthy batch needs no AWS")

    delivered = deliver_log_batch(batch, Classifier(), no_aws, now=NOW)
    assert (delivered.report.records, delivered.transitions) == (2, [])


def test_the_monitored_tunnels_of_a_poll_are_all_in_the_result_even_with_one_connection_failing() -> None:
    broken = replace(connection(), vpn_connection_id="vpn-0123456789abcdef0")

    class Store(MemoryStore):
        def load(self, vpn_connection_id: str, tunnel_ip: str) -> Any:
            if vpn_connection_id == broken.vpn_connection_id:
                raise AwsCallFailed("GetItem", "ProvisionedThroughputExceededException", "slow down")
            return super().load(vpn_connection_id, tunnel_ip)

    bus = Bus()
    ports = PollPorts(
        Incidents(IncidentService(Store()), bus), Connections([broken, connection()]), NoLogs(), Traffic()
    )
    polled = poll_connections(ports, monitoring=Monitoring(), lookback=LookBack(), now=NOW)
    assert polled.connections == 2
    assert polled.errors == ["ProvisionedThroughputExceededException"]
    assert [t.kind.value for t in polled.transitions] == ["opened"]  # the other connection's DOWN tunnel
