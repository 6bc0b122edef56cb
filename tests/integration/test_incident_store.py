"""The DynamoDB incident store (moto): one open incident per tunnel, duplicates, concurrency, TTL, no secrets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import mocked_aws
from vpn_doctor.aws.incident_store import DynamoDbIncidentStore
from vpn_doctor.incidents import IncidentPolicy, IncidentService, SaveResult, TunnelRecord, unique
from vpn_doctor.models import (
    Finding,
    IncidentTransition,
    Source,
    StateSource,
    TransitionKind,
    TunnelEvent,
    TunnelState,
    TunnelStateChange,
)
from vpn_doctor.taxonomy import Category, Cause, Severity

TABLE = "vpn-doctor-incidents"
VPN = "vpn-0a1b2c3d4e5f60718"
IP = "198.51.100.10"
T0 = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)


@pytest.fixture
def client(fake_aws: None) -> Iterator[Any]:
    with mocked_aws(TABLE) as dynamodb:
        yield dynamodb


@pytest.fixture
def store(client: Any) -> DynamoDbIncidentStore:
    return DynamoDbIncidentStore(TABLE, client)


def _finding(minute: float, message: str = "AWS tunnel DPD timed out after 3 retransmits") -> Finding:
    event = TunnelEvent(
        source=Source.AWS_TUNNEL_JSON,
        message=message,
        raw="{}",
        vpn_connection_id=VPN,
        tunnel_ip=IP,
        timestamp=T0 + timedelta(minutes=minute),
    )
    return Finding(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE, Severity.CRITICAL, "DPD timeout", "r", event)


def _state(minute: float, state: TunnelState, event_id: str) -> TunnelStateChange:
    return TunnelStateChange(VPN, IP, state, StateSource.TELEMETRY_POLL, T0 + timedelta(minutes=minute), event_id)


def _items(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.scan(TableName=TABLE)["Items"]
    return items


def test_a_fresh_tunnel_loads_as_an_empty_record(store: DynamoDbIncidentStore) -> None:
    assert store.load(VPN, IP) == TunnelRecord(VPN, IP)


def test_an_opened_incident_round_trips_with_version_keys_and_ttl(store: DynamoDbIncidentStore, client: Any) -> None:
    service = IncidentService(store)
    opened = service.on_finding(_finding(0), event_id="log-1", now=T0)
    assert [t.kind for t in opened] == [TransitionKind.OPENED]
    record = store.load(VPN, IP)
    assert record.version == 1
    assert record.incident == opened[0].incident
    items = {item["sk"]["S"]: item for item in _items(client)}
    assert items["STATE"]["pk"]["S"] == f"TUNNEL#{VPN}#{IP}"
    assert items["STATE"]["incident_status"]["S"] == "open"
    assert items["EVENT"]["pk"]["S"] == f"EVENT#log-1#{VPN}#{IP}"
    assert all(int(item["expires_at"]["N"]) > T0.timestamp() for item in items.values())
    assert int(items["EVENT"]["expires_at"]["N"]) < int(items["STATE"]["expires_at"]["N"])


def test_a_stale_version_is_a_conflict_and_a_seen_event_a_duplicate(store: DynamoDbIncidentStore) -> None:
    record = TunnelRecord(VPN, IP, last_state=TunnelState.UP)
    assert store.save(record, expected_version=0, event_key="e1", archive=None, now=T0) is SaveResult.SAVED
    assert store.save(record, expected_version=0, event_key="e2", archive=None, now=T0) is SaveResult.CONFLICT
    assert store.save(record, expected_version=1, event_key="e1", archive=None, now=T0) is SaveResult.DUPLICATE
    assert store.save(record, expected_version=1, event_key="e3", archive=None, now=T0) is SaveResult.SAVED
    assert store.load(VPN, IP).version == 2


def _published(service: IncidentService, transitions: list[IncidentTransition]) -> list[IncidentTransition]:
    """What a publisher does once the bus took the transitions."""
    service.delivered(transitions)
    return transitions


def test_duplicate_delivery_after_a_successful_publish_gives_no_second_transition(
    store: DynamoDbIncidentStore,
) -> None:
    service = IncidentService(store)
    assert _published(service, service.on_finding(_finding(0), event_id="log-1", now=T0))
    assert service.on_finding(_finding(0), event_id="log-1", now=T0) == []
    assert store.load(VPN, IP).incident.finding_count == 1  # type: ignore[union-attr]


def test_a_save_puts_its_transitions_in_the_outbox_until_they_are_delivered(
    store: DynamoDbIncidentStore, client: Any
) -> None:
    service = IncidentService(store)
    opened = service.on_finding(_finding(0), event_id="log-1", now=T0)
    (outbox_item,) = [item for item in _items(client) if item["sk"]["S"].startswith("OUTBOX#")]
    assert int(outbox_item["expires_at"]["N"]) == int((T0 + timedelta(days=2)).timestamp())
    assert store.load(VPN, IP).outbox == tuple(opened)
    # Not published (the bus failed): the redelivery brings back exactly that transition.
    assert service.on_finding(_finding(0), event_id="log-1", now=T0) == opened
    assert store.load(VPN, IP).incident.finding_count == 1  # type: ignore[union-attr]
    service.delivered(opened)
    assert store.load(VPN, IP).outbox == ()
    assert not [item for item in _items(client) if item["sk"]["S"].startswith("OUTBOX#")]
    service.delivered(opened)  # a second confirmation (two publishers) is harmless


def test_a_conflicting_save_leaves_nothing_in_the_outbox(store: DynamoDbIncidentStore) -> None:
    record = TunnelRecord(VPN, IP, last_state=TunnelState.DOWN)
    opened = IncidentService(store).on_state(_state(0, TunnelState.DOWN, "poll-1"), now=T0)
    stale = store.save(record, expected_version=0, event_key="e2", archive=None, now=T0, outbox=opened)
    assert stale is SaveResult.CONFLICT
    store.delivered(opened)
    assert store.load(VPN, IP).outbox == ()


def test_two_concurrent_events_for_one_tunnel_open_exactly_one_incident(store: DynamoDbIncidentStore) -> None:
    for round_ in range(3):
        ip = f"198.51.100.{20 + round_}"
        barrier = threading.Barrier(2)
        results: list[list[Any]] = [[], []]

        def work(
            index: int, ip: str = ip, barrier: threading.Barrier = barrier, results: list[list[Any]] = results
        ) -> None:
            service = IncidentService(DynamoDbIncidentStore(TABLE, store.client))
            barrier.wait()
            if index == 0:
                finding = _finding(0)
                event = TunnelEvent(
                    source=finding.event.source,
                    message=finding.event.message,
                    raw="{}",
                    vpn_connection_id=VPN,
                    tunnel_ip=ip,
                    timestamp=finding.event.timestamp,
                )
                results[0] = service.on_finding(
                    Finding(finding.category, finding.cause, finding.severity, "DPD", "r", event),
                    event_id="log-a",
                    now=T0,
                )
            else:
                change = TunnelStateChange(VPN, ip, TunnelState.DOWN, StateSource.CLOUDWATCH_ALARM, T0, "alarm-b")
                results[1] = service.on_state(change, now=T0)

        threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # The second writer may also return the first one's transition from the outbox: one message.
        kinds = [t.kind for t in unique([*results[0], *results[1]])]
        assert kinds.count(TransitionKind.OPENED) == 1, kinds
        record = store.load(VPN, ip)
        assert record.incident is not None
        assert record.version == 2  # both writes applied, one after the other


def test_resolution_archives_the_incident_with_its_duration(store: DynamoDbIncidentStore) -> None:
    service = IncidentService(store, IncidentPolicy())
    _published(service, service.on_state(_state(0, TunnelState.DOWN, "poll-1"), now=T0))
    _published(service, service.on_state(_state(7, TunnelState.UP, "poll-2"), now=T0 + timedelta(minutes=7)))
    resolved = service.tick(VPN, IP, now=T0 + timedelta(minutes=12))
    assert [t.kind for t in resolved] == [TransitionKind.RESOLVED]
    history = store.history(VPN, IP)
    assert len(history) == 1
    assert history[0].duration == timedelta(minutes=7)
    assert store.load(VPN, IP).incident is None


def test_recent_resolved_incidents_are_kept_on_the_record_for_recurrence(store: DynamoDbIncidentStore) -> None:
    service = IncidentService(store, IncidentPolicy())
    for index in range(2):
        start = index * 20
        service.on_finding(_finding(start), event_id=f"log-{index}", now=T0 + timedelta(minutes=start))
        service.on_state(_state(start + 1, TunnelState.UP, f"up-{index}"), now=T0 + timedelta(minutes=start + 1))
        service.tick(VPN, IP, now=T0 + timedelta(minutes=start + 7))
    record = store.load(VPN, IP)
    assert [(past.category, past.resolved_at) for past in record.recent] == [
        (Category.DPD_TIMEOUT, T0 + timedelta(minutes=7)),
        (Category.DPD_TIMEOUT, T0 + timedelta(minutes=27)),
    ]
    history = store.history(VPN, IP)
    assert [incident.recurrence for incident in history] == [0, 1]


def test_connection_wide_maintenance_notice_reaches_every_tunnel(store: DynamoDbIncidentStore) -> None:
    at = T0 - timedelta(minutes=5)
    assert store.save_connection_notice(VPN, at, now=T0, keep=timedelta(hours=4))
    assert not store.save_connection_notice(VPN, at - timedelta(minutes=1), now=T0, keep=timedelta(hours=4))
    assert store.load(VPN, "203.0.113.20").maintenance_notice_at == at
    opened = IncidentService(store).on_state(_state(0, TunnelState.DOWN, "alarm-1"), now=T0)
    assert opened[0].incident.maintenance


def test_stored_items_hold_no_secret(store: DynamoDbIncidentStore, client: Any) -> None:
    service = IncidentService(store)
    service.on_finding(
        _finding(0, "AWS tunnel detected a pre-shared key mismatch with cgw: 192.0.2.1"), event_id="l", now=T0
    )
    text = json.dumps(_items(client))
    assert "FAKEpsk" not in text
    assert "PreSharedKey" not in text


def test_many_records_are_read_in_batches_of_100_and_leftovers_with_one_query(
    store: DynamoDbIncidentStore, client: Any
) -> None:
    service = IncidentService(store)
    other = "198.51.100.11"
    opened = service.on_finding(_finding(0), event_id="log-1", now=T0)  # saved, not yet published
    tunnels = [(VPN, IP), (VPN, other)] + [(f"vpn-{n:017x}", IP) for n in range(120)]
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    assert store.leftovers() == opened
    # Once per table: entries of the previous outbox layout looked for (none), the MOVED marker written.
    assert calls == ["Query", "Scan", "PutItem", "Query"]
    calls.clear()
    records = store.load_many(tunnels)
    leftovers = store.leftovers()
    # 122 records and 121 connections' notices: 243 keys, 100 a call.
    assert calls == ["BatchGetItem"] * 3 + ["Query"]
    assert records[(VPN, IP)].incident == opened[0].incident
    assert records[(VPN, other)] == TunnelRecord(VPN, other)
    assert records[(VPN, IP)].outbox == ()  # outboxes come from leftovers(), for every tunnel at once
    assert leftovers == opened


def test_keys_dynamodb_leaves_unprocessed_are_asked_again(store: DynamoDbIncidentStore, client: Any) -> None:
    service = IncidentService(store)
    service.on_finding(_finding(0), event_id="log-1", now=T0)
    real = client.batch_get_item
    answers: list[dict[str, Any]] = []

    def throttled_once(**request: Any) -> dict[str, Any]:
        if answers:
            answer: dict[str, Any] = real(**request)
        else:  # as DynamoDB answers under throttling: nothing read, every key back as unprocessed
            answer = {"Responses": {TABLE: []}, "UnprocessedKeys": request["RequestItems"]}
        answers.append(answer)
        return answer

    client.batch_get_item = throttled_once
    record = store.load(VPN, IP)
    assert len(answers) == 2
    assert record.incident is not None
