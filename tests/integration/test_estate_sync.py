"""A spoke's estate_sync (docs/estate.md, hub to spokes), against moto: the hub's silences arrive as the hub's pipe
publishes them (the DynamoDB stream record of the hub's own table, read from moto's stream, in an SNS message) and
land where the spoke's respond and poller read them; a lift is never undone by a late or repeated copy; the spoke's
held alerts are remembered once, so the spoke's poller announces what is still broken when the hold ends."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from handlers import estate_sync
from handlers.wiring import reset
from tests.conftest import handler_aws, lambda_context
from tests.unit.test_remediation import incident, transition
from vpn_doctor.app.silences import announce_released
from vpn_doctor.aws.silence_store import DynamoDbSilenceStore
from vpn_doctor.constants import DETAIL_TYPE_ALERT, ENV_INCIDENTS_TABLE, EVENT_SOURCE
from vpn_doctor.incidents import TunnelRecord
from vpn_doctor.models import Alert, Hold, dump
from vpn_doctor.silences import Scope, new_silence
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table

SPOKE_TABLE = "spoke-incidents"
HUB_TABLE = "hub-incidents"
TOPIC = "arn:aws:sns:eu-west-1:999988887777:vpn-doctor-silences"
ARN = "arn:aws:sts::999988887777:assumed-role/NetOps/alice"


@dataclass
class Recorded:
    """The IAM actions of every call the handler's clients made."""

    actions: set[str] = field(default_factory=set)

    def record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        self.actions.add(f"{model.service_model.endpoint_prefix}:{model.name}")


@contextmanager
def spoke_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Recorded]]:
    """moto with the spoke's table and the hub's (streaming new images, as the hub stack sets it up)."""
    with handler_aws(monkeypatch, reset, {ENV_INCIDENTS_TABLE: SPOKE_TABLE}, table=SPOKE_TABLE) as dynamodb:
        create_pipeline_table(dynamodb, HUB_TABLE)
        dynamodb.update_table(
            TableName=HUB_TABLE, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        )
        recorded = Recorded()
        estate_sync.store()._client.meta.events.register("before-parameter-build", recorded.record)
        # Powertools' idempotency records (its own client) are the calls notify makes, checked by the demo's run.
        yield dynamodb, recorded


def hub_messages(dynamodb: Any) -> list[dict[str, Any]]:
    """What the hub's pipe publishes: each record of the hub table's stream, as the SNS Lambda event's message."""
    # moto routes the classic endpoint only (botocore may pick a newer one).
    streams = boto3.client("dynamodbstreams", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
    arn = dynamodb.describe_table(TableName=HUB_TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [json.loads(json.dumps(record, default=str)) for record in records]


def sns_event(*messages: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {"MessageId": f"m-{index}", "TopicArn": TOPIC, "Message": json.dumps(message)},
            }
            for index, message in enumerate(messages)
        ]
    }


def held_alert_event(alert: Alert, event_id: str = "evt-held-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": DETAIL_TYPE_ALERT,
        "source": EVENT_SOURCE,
        "account": "111122223333",
        "region": "eu-west-1",
        "time": "2026-12-02T10:00:00Z",
        "resources": [],
        "detail": dump(alert),
    }


def test_a_hub_silence_and_its_lift_reach_the_spoke_once_and_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    with spoke_aws(monkeypatch) as (dynamodb, recorded):
        hub = DynamoDbSilenceStore(HUB_TABLE)
        added = new_silence(
            Scope.VPN, "vpn-0a1b2c3d", duration=timedelta(hours=2), reason="firewall upgrade", created_by=ARN, now=now
        )
        hub.put(added)
        hub.put(added.lifted(by=ARN, at=now + timedelta(minutes=5)))
        as_added, as_lifted = hub_messages(dynamodb)
        assert (as_added["eventName"], as_lifted["eventName"]) == ("INSERT", "MODIFY")
        spoke = DynamoDbSilenceStore(SPOKE_TABLE)

        first = estate_sync.handler(sns_event(as_added), lambda_context("estate_sync"))
        assert first == {"status": "silences", "stored": 1, "unchanged": 0, "rejected": 0}
        assert spoke.silences(ended_after=now) == [added]  # respond's Query finds it: it holds from now on

        # The lift, then the add again (SNS: at least once, any order), then the lift again (a message may carry a
        # batch of records): the lift stays.
        late = estate_sync.handler(sns_event(as_lifted, [as_added, as_lifted]), lambda_context("estate_sync"))
        assert late == {"status": "silences", "stored": 1, "unchanged": 2, "rejected": 0}
        stored = spoke.silence(added.silence_id)
        assert stored is not None
        assert stored.lifted_by == ARN
        assert not stored.active(now + timedelta(minutes=6))
    assert recorded.actions == {"dynamodb:GetItem", "dynamodb:PutItem"}


def test_messages_that_are_not_silences_are_rejected_without_a_write(monkeypatch: pytest.MonkeyPatch) -> None:
    with spoke_aws(monkeypatch) as (dynamodb, _):
        held = {"dynamodb": {"NewImage": {"pk": {"S": "HELD"}, "doc": {"S": "{}"}}}, "eventName": "INSERT"}
        bad_json = {"dynamodb": {"NewImage": {"pk": {"S": "SILENCE"}, "doc": {"S": "{not json"}}}}
        no_image = {"eventName": "REMOVE", "dynamodb": {"Keys": {}}}
        event = sns_event(held, bad_json, no_image)
        event["Records"].append({"EventSource": "aws:sqs", "body": "{}"})
        assert estate_sync.handler(event, lambda_context("estate_sync")) == {
            "status": "silences",
            "stored": 0,
            "unchanged": 0,
            "rejected": 4,
        }
        assert estate_sync.handler({"detail-type": "Something"}, lambda_context("estate_sync")) == {
            "status": "rejected"
        }
        assert dynamodb.scan(TableName=SPOKE_TABLE)["Items"] == []


def test_a_held_alert_is_remembered_once_and_announced_by_the_spoke_when_its_silence_is_lifted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC)
    with spoke_aws(monkeypatch) as (_, recorded):
        spoke = DynamoDbSilenceStore(SPOKE_TABLE)
        silence = new_silence(
            Scope.VPN, "vpn-0a1b2c3d", duration=timedelta(hours=2), reason="firewall upgrade", created_by=ARN, now=now
        )
        spoke.put(silence)
        opened = transition(incident())
        hold = Hold(reason="silenced", until=silence.ends_at, held_at=now, silence_id=silence.silence_id)
        alert = Alert(transition=opened, held=hold, region="eu-west-1")
        assert estate_sync.handler(held_alert_event(alert), lambda_context("estate_sync")) == {"status": "held"}
        # The bus delivers it again: a duplicate, nothing more is written.
        assert estate_sync.handler(held_alert_event(alert), lambda_context("estate_sync")) == {"status": "duplicate"}
        assert [a.transition.incident.incident_id for a in spoke.held()] == [opened.incident.incident_id]
        # An alert nothing holds is not this function's (the rule passes held ones only).
        unheld = held_alert_event(replace(alert, held=None))
        assert estate_sync.handler(unheld, lambda_context("estate_sync")) == {"status": "ignored"}

        # The silence is lifted on the hub and copied here; the spoke's poller announces the incident once.
        spoke.put(silence.lifted(by=ARN, at=now + timedelta(minutes=1)))
        published: list[tuple[str, list[dict[str, Any]]]] = []

        class Bus:
            def publish(self, detail_type: str, details: Any) -> Any:
                from vpn_doctor.aws.bus import PublishReport  # noqa: PLC0415

                published.append((detail_type, list(details)))
                return PublishReport(published=len(details))

        class Records:
            def load_many(self, tunnels: Any) -> dict[tuple[str, str], TunnelRecord]:
                record = TunnelRecord(
                    vpn_connection_id=opened.incident.vpn_connection_id, tunnel_ip=opened.incident.tunnel_ip
                )
                return {(record.vpn_connection_id, record.tunnel_ip): replace(record, incident=opened.incident)}

        announced = announce_released(spoke, Records(), Bus(), now=now + timedelta(minutes=2))
        assert announced == [opened.incident.incident_id]
        assert [detail_type for detail_type, _ in published] == [DETAIL_TYPE_ALERT]
        assert spoke.held() == []
    assert recorded.actions <= {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert "dynamodb:PutItem" in recorded.actions


# --- the hub's side: a forwarded alert is sent once ----------------------------------------------------------------


def test_the_hub_sends_a_forwarded_alert_once_whatever_envelope_it_arrives_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import notify  # noqa: PLC0415
    from tests.fixtures.golden.scenarios import SCENARIOS  # noqa: PLC0415
    from tests.integration.test_notify_handler import notify_stack  # noqa: PLC0415

    alert = replace(SCENARIOS["ike_phase1_failure-opened"](), region="us-east-1", owner="network-emea")
    with notify_stack(monkeypatch) as hub:
        results = []
        # EventBridge delivers at least once on each hop (spoke bus -> hub bus -> notify): the same detail may come
        # in several envelopes, with the spoke's account and region kept.
        for envelope_id in ("hub-evt-1", "hub-evt-1", "hub-evt-2"):
            event = {
                "version": "0",
                "id": envelope_id,
                "detail-type": DETAIL_TYPE_ALERT,
                "source": EVENT_SOURCE,
                "account": "444455556666",
                "region": "us-east-1",
                "time": "2026-12-02T10:00:00Z",
                "resources": [],
                "detail": dump(alert),
            }
            results.append(notify.handler(event, lambda_context("notify"))["status"])
        assert results == ["sent", "duplicate", "duplicate"]
        emails = hub.emails()
        assert len(emails) == 1
        assert len(hub.slack.posts()) == 1
        # The console links name the spoke's region (the alert's), not the hub's.
        assert "region=us-east-1" in json.dumps(emails[0])
