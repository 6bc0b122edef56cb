"""Silences through the whole pipeline (moto, a real local Slack webhook): a silenced connection's incident is
recorded but no channel gets it and nothing is modified; when the silence ends, what is still broken is announced
once, what recovered meanwhile not at all, and neither a second release nor a duplicate delivery repeats it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from handlers import notify, respond
from tests.integration.pipeline import (
    BUS,
    INCIDENTS,
    T1,
    T2,
    VPN,
    Fault,
    Pipeline,
    describe_answer,
    pipeline,
    slack_receiver,
    tunnel_line,
)
from tests.unit.test_remediation import incident, transition
from vpn_doctor.app.silences import announce_released
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.incident_store import DynamoDbIncidentStore
from vpn_doctor.aws.silence_store import DynamoDbSilenceStore
from vpn_doctor.constants import DETAIL_TYPE_ALERT, DETAIL_TYPE_INCIDENT, EVENT_SOURCE
from vpn_doctor.models import Alert, Hold, TransitionKind, dump
from vpn_doctor.silences import Scope, Silence, new_silence
from vpn_doctor_tools.emulator.slack import SlackReceiver

ARN = "arn:aws:sts::123456789012:assumed-role/NetOps/alice"
DPD = "AWS tunnel DPD timed out after 3 retransmits"


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackReceiver]:
    yield from slack_receiver()


def _silence(scope: Scope, value: str) -> Silence:
    made = new_silence(
        scope, value, duration=timedelta(hours=2), reason="firewall upgrade", created_by=ARN, now=datetime.now(UTC)
    )
    DynamoDbSilenceStore(INCIDENTS).put(made)
    return made


def _repeated_dpd_timeouts() -> dict[str, Any]:
    # Tunnel 1's incident after repeated DPD timeouts, its sibling UP: auto mode changes its DPD action.
    repeated = replace(incident(findings=2), opened_at=datetime.now(UTC) - timedelta(minutes=5))
    return {
        "id": "incident-event-2",
        "detail-type": DETAIL_TYPE_INCIDENT,
        "source": EVENT_SOURCE,
        "detail": dump(transition(repeated, event_id="evt-repeated")),
    }


def _messages(p: Pipeline) -> list[str]:
    return [json.dumps(post.payload) for post in p.slack_posts()] + [json.dumps(mail) for mail in p.emails()]


@pytest.mark.parametrize("silenced", [True, False], ids=["silenced by tag", "not silenced"])
def test_a_silenced_connections_incident_is_recorded_but_not_sent_nor_remediated(
    monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver, silenced: bool
) -> None:
    with pipeline(monkeypatch, slack, mode="auto") as p:
        p.faults.answers["ec2.DescribeVpnConnections"] = lambda: describe_answer(up={T2})
        if silenced:
            _silence(Scope.TAG, "Name=Branch-1")  # the fixture connection's Name tag
        p.ingest_lines([tunnel_line(DPD)], tunnel_ip=T1)
        p.invoke(respond, _repeated_dpd_timeouts())
        p.pump()
        recorded = [e for e in p.bus_events() if e["detail-type"] == DETAIL_TYPE_INCIDENT]
        modified = [op for op, _ in p.faults.requests if op == "ec2.ModifyVpnTunnelOptions"]
        messages = _messages(p)
        held = boto3.client("dynamodb").query(
            TableName=INCIDENTS,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "HELD"}},
        )["Items"]
    assert recorded, "the incident is recorded and published either way"
    if silenced:
        assert messages == []
        assert modified == []
        reasons = {json.loads(item["doc"]["S"])["held"]["reason"] for item in held}
        assert reasons == {f"silenced by {ARN}: firewall upgrade"}
    else:
        assert messages
        assert modified
        assert held == []


def _held_alert(tunnel_ip: str, kind: TransitionKind, hold: Hold, event_id: str) -> dict[str, Any]:
    alert = Alert(transition=transition(incident(tunnel_ip=tunnel_ip), event_id=event_id, kind=kind), held=hold)
    return {"id": event_id, "detail-type": DETAIL_TYPE_ALERT, "source": EVENT_SOURCE, "detail": dump(alert)}


def test_when_a_silence_is_lifted_what_is_still_broken_is_announced_once(
    monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver
) -> None:
    with pipeline(monkeypatch, slack) as p:
        store, bus = DynamoDbSilenceStore(INCIDENTS), EventBus(BUS)
        silence = _silence(Scope.VPN, VPN)
        p.ingest_lines([tunnel_line(DPD)], tunnel_ip=T1)  # tunnel 1 goes down and stays down
        p.pump()
        [held] = store.held()
        assert held.held is not None
        assert held.held.silence_id == silence.silence_id
        # Tunnel 2 went down and recovered while held (its alerts delivered twice, as buses may).
        for kind in (TransitionKind.OPENED, TransitionKind.RESOLVED):
            event = _held_alert(T2, kind, held.held, f"evt-t2-{kind.value}")
            p.invoke(notify, event)
            p.invoke(notify, event)
        assert [a.transition.incident.tunnel_ip for a in store.held()] == [T1]
        # Tunnel 2's incident held again by a late alert, though its tunnel's record has no open incident.
        p.invoke(notify, _held_alert(T2, TransitionKind.UPDATED, held.held, "evt-t2-late"))
        assert _messages(p) == [], "nothing is sent while held"

        records = DynamoDbIncidentStore(INCIDENTS)
        assert announce_released(store, records, bus, now=datetime.now(UTC)) == [], "still silenced: nothing said"
        store.put(silence.lifted(by=ARN, at=datetime.now(UTC)))
        # The first release publishes, then cannot forget (DynamoDB refused): the next poll publishes again.
        p.faults.add(Fault("dynamodb.DeleteItem", "ProvisionedThroughputExceededException", 1))
        with pytest.raises(AwsCallFailed):
            announce_released(store, records, bus, now=datetime.now(UTC))
        assert announce_released(store, records, bus, now=datetime.now(UTC)) == [held.transition.incident.incident_id]
        assert announce_released(store, records, bus, now=datetime.now(UTC)) == []
        assert store.held() == [], "what recovered is forgotten too"
        # The bus delivers each announcement twice.
        alerts = [event for event in p.bus_events() if event["detail-type"] == DETAIL_TYPE_ALERT]
        p.pump()
        for event in alerts:
            p.invoke(notify, event)
        posts = [json.dumps(post.payload) for post in p.slack_posts()]
        emails = p.emails()
    assert len(posts) == 1
    assert len(emails) == 1
    assert f"tunnel {T1}" in posts[0]
    # The announcement is the connection's (EC2 reports its other tunnel DOWN too); tunnel 2's own incident, which
    # recovered while held, is never announced.
    assert "OUTAGE" in posts[0]
    assert incident(tunnel_ip=T2).incident_id not in posts[0]
    assert "Held from" in posts[0]
    assert "firewall upgrade" in posts[0]
