"""The DynamoDB remediation table (moto): lock with lease, counters, processed events, audit; concurrency."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.conftest import mocked_aws
from tests.unit.test_remediation import (
    IP1,
    IP2,
    LOG_GROUP,
    NOW,
    PSK1,
    PSK2,
    VPN,
    connection,
    diagnosis_of,
    incident,
    transition,
    vpn_item,
)
from vpn_doctor.aws.ec2_modify import Ec2TunnelModifier
from vpn_doctor.aws.remediation_store import DynamoDbRemediationStore
from vpn_doctor.constants import Mode
from vpn_doctor.models import IncidentTransition, RemediationAction, RemediationOutcome, RemediationStatus
from vpn_doctor.remediation import AuditRecord, Decision, RemediationPolicy, remediate

TABLE = "vpn-doctor-remediation"
LEASE = timedelta(minutes=5)


@pytest.fixture
def dynamodb(fake_aws: None) -> Iterator[Any]:
    with mocked_aws(TABLE) as client:
        yield client


@pytest.fixture
def store(dynamodb: Any) -> DynamoDbRemediationStore:
    return DynamoDbRemediationStore(TABLE, dynamodb)


def test_the_lock_excludes_a_second_owner_until_released(store: DynamoDbRemediationStore) -> None:
    assert store.acquire_lock(VPN, "evt-1", NOW, LEASE)
    assert not store.acquire_lock(VPN, "evt-2", NOW, LEASE)
    assert not store.acquire_lock(VPN, "evt-1", NOW, LEASE)  # a second delivery of the same event waits too
    assert store.acquire_lock("vpn-other", "evt-2", NOW, LEASE)  # one lock per connection
    store.release_lock(VPN, "evt-2")  # not the owner: no effect
    assert not store.acquire_lock(VPN, "evt-2", NOW, LEASE)
    store.release_lock(VPN, "evt-1")
    assert store.acquire_lock(VPN, "evt-2", NOW, LEASE)


def test_an_expired_lease_can_be_taken_over(store: DynamoDbRemediationStore) -> None:
    assert store.acquire_lock(VPN, "crashed", NOW, LEASE)
    assert not store.acquire_lock(VPN, "evt-2", NOW + timedelta(minutes=4), LEASE)
    assert store.acquire_lock(VPN, "evt-2", NOW + timedelta(minutes=6), LEASE)


def test_history_counts_applied_modifications_per_tunnel_and_utc_day(store: DynamoDbRemediationStore) -> None:
    store.record_modification(VPN, IP1, NOW - timedelta(hours=25))
    store.record_modification(VPN, IP1, NOW - timedelta(hours=2))
    store.record_modification(VPN, IP1, NOW - timedelta(hours=1))
    store.record_modification(VPN, IP2, NOW - timedelta(minutes=30))
    history = store.history(VPN, NOW)
    assert history[IP1].modified_today == 2
    assert history[IP1].last_modified_at == NOW - timedelta(hours=1)
    assert history[IP2].modified_today == 1
    assert store.history("vpn-other", NOW) == {}


def test_counters_and_decisions_expire_by_ttl(store: DynamoDbRemediationStore, dynamodb: Any) -> None:
    store.record_modification(VPN, IP1, NOW)
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert items
    assert all(int(item["expires_at"]["N"]) > NOW.timestamp() for item in items)


def test_a_decision_is_found_again_by_its_event_id_and_the_first_one_wins(store: DynamoDbRemediationStore) -> None:
    first = RemediationOutcome(RemediationStatus.DRY_RUN, "would change", decided_at=NOW)
    second = RemediationOutcome(RemediationStatus.BLOCKED, "later", decided_at=NOW)
    for seconds, outcome in enumerate((first, second)):
        at = NOW + timedelta(seconds=seconds)
        store.record_decision(AuditRecord("evt-1", "inc-1", VPN, IP1, Mode.DRY_RUN, outcome, at, "vpn-doctor respond"))
    assert store.outcome_for("evt-1") == first
    assert store.outcome_for("evt-unknown") is None
    assert len(store.audit_records(VPN)) == 2  # every decision is audited


def _stubbed_modifier(
    response_item: dict[str, Any], latency: float = 0.0
) -> tuple[Ec2TunnelModifier, Stubber, list[str]]:
    """An executor whose client has one queued answer; the list records every ModifyVpnTunnelOptions attempt."""
    client = boto3.client("ec2", region_name="us-east-1")
    attempts: list[str] = []

    def attempt(params: dict[str, Any], **_: Any) -> None:
        attempts.append(str(params.get("VpnTunnelOutsideIpAddress")))
        # A real modification call takes a while: long enough for a concurrent finding to arrive.
        time.sleep(latency)

    client.meta.events.register("provide-client-params.ec2.ModifyVpnTunnelOptions", attempt)
    stubber = Stubber(client)
    item = dict(response_item)
    item.pop("VgwTelemetry")
    stubber.add_response("modify_vpn_tunnel_options", {"VpnConnection": item})
    stubber.activate()
    return Ec2TunnelModifier(client), stubber, attempts


def _concurrently(store: DynamoDbRemediationStore, transitions: list[IncidentTransition]) -> list[Decision]:
    """Run ``remediate`` for each transition in its own thread, all released at once; one EC2 answer queued."""
    item = vpn_item(status1="DOWN", status2="DOWN")
    conn = connection(status1="DOWN", status2="DOWN")
    modifier, stubber, attempts = _stubbed_modifier(item, latency=0.5)
    policy = RemediationPolicy(mode=Mode.AUTO, log_group_arn=LOG_GROUP)
    barrier = threading.Barrier(len(transitions))
    decisions: list[Decision] = []
    errors: list[BaseException] = []

    def respond(the_transition: IncidentTransition) -> None:
        diagnosis = diagnosis_of(the_transition.incident, conn)
        barrier.wait()
        try:
            decisions.append(
                remediate(the_transition, conn, diagnosis, policy=policy, store=store, modifier=modifier, now=NOW)
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=respond, args=(t,)) for t in transitions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    stubber.assert_no_pending_responses()
    assert len(attempts) == 1, f"ModifyVpnTunnelOptions called for {attempts}"
    return decisions


def test_concurrent_findings_on_both_tunnels_cause_exactly_one_modification(
    store: DynamoDbRemediationStore,
) -> None:
    decisions = _concurrently(store, [transition(incident(tunnel_ip=ip), event_id=f"evt-{ip}") for ip in (IP1, IP2)])
    statuses = sorted(decision.outcome.status.value for decision in decisions)
    assert statuses == [RemediationStatus.APPLIED.value, RemediationStatus.BLOCKED.value]
    blocked = next(d.outcome for d in decisions if d.outcome.status is RemediationStatus.BLOCKED)
    assert "lock held" in blocked.reason or "never modifies both tunnels" in blocked.reason
    applied = [d.change.tunnel_ip for d in decisions if d.outcome.status is RemediationStatus.APPLIED and d.change]
    assert sum(history.modified_today for history in store.history(VPN, NOW).values()) == 1
    assert list(store.history(VPN, NOW)) == applied


def test_the_same_event_delivered_twice_at_once_causes_one_modification(store: DynamoDbRemediationStore) -> None:
    decisions = _concurrently(store, [transition(), transition()])
    assert sum(d.outcome.status is RemediationStatus.APPLIED for d in decisions) == 1
    assert store.history(VPN, NOW)[IP1].modified_today == 1


def test_audit_records_have_before_after_who_and_why_and_never_a_key(store: DynamoDbRemediationStore) -> None:
    item = vpn_item()
    modifier, stubber, _ = _stubbed_modifier(vpn_item(tunnel1={"DpdTimeoutAction": "restart"}))
    conn = connection()
    the_transition = transition()
    decision = remediate(
        the_transition,
        conn,
        diagnosis_of(the_transition.incident, conn),
        policy=RemediationPolicy(mode=Mode.AUTO),
        store=store,
        modifier=modifier,
        now=NOW,
        actor="vpn-doctor respond",
    )
    stubber.assert_no_pending_responses()
    assert decision.outcome.action is RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART
    (record,) = store.audit_records(VPN)
    assert json.loads(record["before"])["DPDTimeoutAction"] == "clear"
    assert json.loads(record["after"])["DPDTimeoutAction"] == "restart"
    assert record["actor"] == "vpn-doctor respond"
    assert record["status"] == "applied"
    assert "DPD" in record["reason"]
    text = json.dumps(store.client.scan(TableName=TABLE)["Items"])
    assert PSK1 in json.dumps(item, default=str)  # the input really carried keys
    assert PSK1 not in text
    assert PSK2 not in text
