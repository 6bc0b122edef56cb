"""The connection roll-up and storm control through the real notify handler and store: moto (DynamoDB, SNS, SQS,
Secrets Manager), a real local Slack webhook and a local PagerDuty Events API v2 server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from handlers import wiring
from tests.integration.test_notify_handler import TABLE, NotifyStack, notify_stack
from tests.unit.test_app import Bus
from vpn_doctor import constants
from vpn_doctor.app.rollup import decide, end_storm
from vpn_doctor.aws.rollup_store import DynamoDbRollupStore
from vpn_doctor.models import (
    Alert,
    ConnectionState,
    Incident,
    IncidentStatus,
    IncidentTransition,
    TransitionKind,
    TunnelState,
    load,
)
from vpn_doctor.rollup import ConnectionRecord, RollupPolicy, Verdict
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor_tools.emulator.receivers import PagerDutyReceiver

PAGERDUTY_SECRET = "vpn-doctor/pagerduty-routing-key"
T1, T2 = "203.0.113.5", "203.0.113.6"
GATEWAY = "198.51.100.7"


def _alert(
    vpn: str,
    tunnel: str,
    kind: TransitionKind = TransitionKind.OPENED,
    *,
    others_down: tuple[str, ...] = (),
    after: int = 0,
) -> Alert:
    at = datetime.now(UTC) + timedelta(seconds=after)
    resolved = kind is TransitionKind.RESOLVED
    incident = Incident(
        incident_id=f"inc-{vpn}-{tunnel.rsplit('.', 1)[1]}",
        vpn_connection_id=vpn,
        tunnel_ip=tunnel,
        status=IncidentStatus.RESOLVED if resolved else IncidentStatus.OPEN,
        category=Category.DPD_TIMEOUT,
        cause=Cause.PEER_NOT_RESPONSIVE,
        severity=Severity.CRITICAL,
        summary="Peer stopped answering DPD",
        opened_at=at,
        updated_at=at,
        last_state=TunnelState.UP if resolved else TunnelState.DOWN,
        resolved_at=at if resolved else None,
    )
    return Alert(
        transition=IncidentTransition(kind, incident, at, f"evt-{tunnel}-{kind.value}"),
        region="eu-west-1",
        tunnels=(T1, T2),
        other_tunnels_down=others_down,
        account="111122223333",
        customer_gateway_ip=GATEWAY,
    )


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyReceiver]:
    receiver = PagerDutyReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, pagerduty: PagerDutyReceiver) -> Iterator[NotifyStack]:
    with notify_stack(monkeypatch) as resources:
        boto3.client("secretsmanager").create_secret(Name=PAGERDUTY_SECRET, SecretString=pagerduty.routing_key)
        dlq = boto3.client("sqs").create_queue(QueueName="pagerduty-dlq")["QueueUrl"]
        for name, value in {
            constants.ENV_PAGERDUTY_SECRET_NAME: PAGERDUTY_SECRET,
            constants.ENV_PAGERDUTY_DLQ_URL: dlq,
            constants.ENV_PAGERDUTY_EVENTS_URL: pagerduty.url,
            constants.ENV_STORM_CONNECTIONS: "4",  # the deploy key storm_connections, read by notify
        }.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        yield resources


class _Racing(DynamoDbRollupStore):
    """The store, with every thread's first read of a connection held at a barrier: both decide on version 0."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__(TABLE)
        self.barrier = barrier
        self.first = True

    def connection(self, vpn_connection_id: str) -> ConnectionRecord:
        record = super().connection(vpn_connection_id)
        if self.first:
            self.first = False
            self.barrier.wait()
        return record


def test_two_tunnels_failing_at_once_in_two_notify_invocations_make_one_outage_message(stack: NotifyStack) -> None:
    del stack  # its moto table and clients
    for round_ in range(3):
        vpn = f"vpn-0race{round_:012d}"
        barrier = threading.Barrier(2)
        verdicts: dict[str, Any] = {}

        def work(
            tunnel: str,
            other: str,
            vpn: str = vpn,
            barrier: threading.Barrier = barrier,
            verdicts: dict[str, Any] = verdicts,
        ) -> None:
            store = _Racing(barrier)
            alert = _alert(vpn, tunnel, others_down=(other,))
            verdicts[tunnel] = decide(alert, store, policy=RollupPolicy(), now=datetime.now(UTC))

        threads = [threading.Thread(target=work, args=pair) for pair in ((T1, T2), (T2, T1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        decided = sorted(decision.verdict.value for decision in verdicts.values())
        assert decided == [Verdict.ROLLED_UP, Verdict.SEND], decided
        [sent] = [d for d in verdicts.values() if d.verdict is Verdict.SEND]
        assert sent.change is not None
        assert sent.change.state is ConnectionState.OUTAGE
        record = DynamoDbRollupStore(TABLE).connection(vpn)
        assert record.told is ConnectionState.OUTAGE
        assert {part.tunnel_ip for part in record.parts if part.incident_id} == {T1, T2}, "both applied"


def test_a_connection_outage_and_its_recovery_page_once_under_the_connection_incident(
    stack: NotifyStack, pagerduty: PagerDutyReceiver
) -> None:
    vpn = "vpn-0aaaabbbbcccc0001"
    first = stack.invoke(_alert(vpn, T1, others_down=(T2,)), event_id="e1")
    second = stack.invoke(_alert(vpn, T2, others_down=(T1,), after=1), event_id="e2")
    redelivered = stack.invoke(_alert(vpn, T2, others_down=(T1,), after=1), event_id="e2-again")
    half = stack.invoke(_alert(vpn, T1, TransitionKind.RESOLVED, others_down=(T2,), after=300), event_id="e3")
    back = stack.invoke(_alert(vpn, T2, TransitionKind.RESOLVED, after=600), event_id="e4")

    statuses = [r["status"] for r in (first, second, redelivered, half, back)]
    assert statuses == ["sent", Verdict.ROLLED_UP, Verdict.ROLLED_UP, "sent", "sent"]
    assert [r["rollup"].get("state") for r in (first, half, back)] == ["outage", "redundancy_lost", "ok"]
    subjects = [email["Subject"] for email in stack.emails()]
    assert [s.split(": ")[0].split(" ", 1)[1] for s in subjects] == [
        "OUTAGE",
        "now REDUNDANCY LOST (was OUTAGE)",
        "RESOLVED after 10m",
    ]
    assert len(stack.slack.posts()) == 3
    # One page: triggered by the outage, updated when it stepped down, resolved with the connection.
    [page] = pagerduty.alerts
    assert page.dedup_key == first["rollup"]["connection_incident_id"]
    assert [event["event_action"] for event in page.events] == ["trigger", "trigger", "resolve"]
    assert page.resolved
    both = json.dumps(page.events[0])
    assert T1 in both, "the page carries both tunnels"
    assert T2 in both


def test_a_storm_sends_one_grouped_message_holds_the_rest_and_ends_with_one_summary(
    stack: NotifyStack, pagerduty: PagerDutyReceiver
) -> None:
    vpns = [f"vpn-0storm{n:011d}" for n in range(7)]
    results = [stack.invoke(_alert(vpn, T1, others_down=(T2,)), event_id=f"s{n}") for n, vpn in enumerate(vpns)]

    # Threshold 4: three told on their own, the fourth is the storm's one message, the rest are held.
    assert [r["status"] for r in results] == ["sent"] * 4 + [Verdict.STORM_HELD] * 3
    storm_id = results[3]["rollup"]["storm_id"]
    emails = stack.emails()
    assert len(emails) == 4
    assert emails[3]["Subject"].startswith("Storm: 4 VPN connections failed within 2 min (customer gateway IP")
    # A later message about a member that was told before the storm opened is held too.
    early = stack.invoke(_alert(vpns[0], T2, others_down=(T1,), after=5), event_id="s0-t2")
    assert early["status"] == Verdict.STORM_HELD
    assert stack.emails() == []
    pages = {alert.dedup_key for alert in pagerduty.alerts}
    assert storm_id in pages
    assert len(pages) == 4

    store, bus = DynamoDbRollupStore(TABLE, batch_reads=True), Bus()  # as the poller reads
    policy = RollupPolicy(storm_connections=4)
    assert end_storm(store, bus, policy=policy, now=datetime.now(UTC)) is None, "not over: a failure just came"
    later = datetime.now(UTC) + timedelta(minutes=3)
    # One member recovered before the storm ended: not listed as broken.
    stack.invoke(_alert(vpns[6], T1, TransitionKind.RESOLVED, after=30), event_id="s6-back")
    summary = end_storm(store, bus, policy=policy, now=later)
    assert summary is not None
    assert (summary.count, summary.broken_count) == (7, 6)
    assert end_storm(store, bus, policy=policy, now=later) is None, "ended once"
    [(detail_type, detail)] = bus.events
    assert detail_type == constants.DETAIL_TYPE_ALERT
    alert = load(Alert, detail)
    first_summary = stack.invoke(alert, event_id="summary")
    assert first_summary["status"] == "sent", first_summary
    assert stack.invoke(alert, event_id="summary-again")["status"] == "duplicate"
    [email] = stack.emails()
    assert email["Subject"].startswith("Storm over: 7 connections failed, 6 still broken")
    assert vpns[6] not in email["Message"]
    assert vpns[5] in email["Message"]
    [storm_page] = [a for a in pagerduty.alerts if a.dedup_key == storm_id]
    assert not storm_page.resolved, "still broken: the storm's page stays open with the summary"

    # After the storm each member is told on its own again: a held member's recovery is its connection's message.
    after = stack.invoke(_alert(vpns[5], T1, TransitionKind.RESOLVED, after=400), event_id="s5-back")
    assert after["status"] == "sent"
    assert after["rollup"]["state"] == "ok"
    assert DynamoDbRollupStore(TABLE).connection(vpns[5]).storm_id is None
    new_failure = stack.invoke(_alert("vpn-0afterstorm000001", T1, others_down=(T2,)), event_id="n1")
    assert new_failure["status"] == "sent"
    assert "storm_id" not in new_failure["rollup"]


def test_the_storm_threshold_is_read_from_the_deploy_variables() -> None:
    from handlers import notify  # noqa: PLC0415 - the settings class only

    env = {
        constants.ENV_INCIDENTS_TABLE: TABLE,
        constants.ENV_TUNNEL_LOG_GROUP_ARN: "arn:aws:logs:eu-west-1:111122223333:log-group:x",
        constants.ENV_ALERT_TOPIC_ARN: "arn:aws:sns:eu-west-1:111122223333:alerts",
        constants.ENV_CHATBOT_FORMAT: "false",
        constants.ENV_STORM_CONNECTIONS: "8",
        constants.ENV_STORM_WINDOW_SECONDS: "300",
    }
    policy = wiring.load_settings(notify.Settings, env).rollup_policy()
    assert (policy.storm_connections, policy.storm_window) == (8, timedelta(minutes=5))
    with pytest.raises(wiring.SettingsError, match=constants.ENV_STORM_CONNECTIONS):
        wiring.load_settings(notify.Settings, {**env, constants.ENV_STORM_CONNECTIONS: "1"})
    assert replace(policy, storm_connections=5) == RollupPolicy(storm_window=timedelta(minutes=5))
