"""Issue 13, defect 6: AWS Health's notice about a change vpn-doctor made itself is expected, not news.

The state Lambda against moto: the incident table, the remediation table holding the audit trail that
respond writes (the same ``record_decision``), the bus tapped by a queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from handlers.state import handler
from handlers.wiring import reset
from tests.conftest import OUR_EVENTS, drained, handler_aws, lambda_context, tapped_bus
from tests.integration.test_state_handler import event
from vpn_doctor.aws.onboarding_store import DynamoDbOnboardingStore
from vpn_doctor.aws.own_changes import AuditedChanges
from vpn_doctor.aws.remediation_store import DynamoDbRemediationStore
from vpn_doctor.constants import (
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_REMEDIATION_TABLE,
    ENV_TUNNEL_LOG_GROUP_ARN,
    Mode,
)
from vpn_doctor.models import RemediationAction, RemediationOutcome, RemediationStatus
from vpn_doctor.own_changes import EXPECTED_OUTAGE
from vpn_doctor.remediation import AuditRecord
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table

INCIDENTS, REMEDIATION, BUS = "vpn-doctor-incidents", "vpn-doctor-remediation", "vpn-doctor"
VPN, T1, T2 = "vpn-0a1b2c3d4e5f60718", "198.51.100.10", "203.0.113.20"
REPLACED = "health-vpn-tunnel-endpoint-replaced.json"


@dataclass
class Aws:
    sqs: Any
    queue_url: str
    audit: DynamoDbRemediationStore

    def published(self) -> list[dict[str, Any]]:
        return drained(self.sqs, self.queue_url)

    def modified(self, tunnel_ip: str, at: datetime, status: RemediationStatus = RemediationStatus.APPLIED) -> None:
        """What respond's remediation records when it modified (or only decided about) a tunnel."""
        action = RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART
        outcome = RemediationOutcome(status, "DPD timeout action set to restart", action)
        record = AuditRecord(f"evt-{at:%H%M%S}", "inc-1", VPN, tunnel_ip, Mode.AUTO, outcome, at, "vpn-doctor respond")
        self.audit.record_decision(record)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    settings = {
        "POWERTOOLS_METRICS_NAMESPACE": "VpnDoctor",
        ENV_INCIDENTS_TABLE: INCIDENTS,
        ENV_REMEDIATION_TABLE: REMEDIATION,
        ENV_EVENT_BUS_NAME: BUS,
        ENV_TUNNEL_LOG_GROUP_ARN: "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/vpn-doctor/tunnels:*",
    }
    with handler_aws(monkeypatch, reset, settings, table=INCIDENTS) as dynamodb:
        create_pipeline_table(dynamodb, REMEDIATION)
        boto3.client("logs").create_log_group(logGroupName="/aws/vendedlogs/vpn-doctor/tunnels")
        queue_url = tapped_bus(BUS, "bus-tap", OUR_EVENTS)
        yield Aws(boto3.client("sqs"), queue_url, DynamoDbRemediationStore(REMEDIATION, dynamodb))


def invoke(payload: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(payload, lambda_context("state"))
    return result


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_the_health_notice_of_a_remediation_sends_no_second_alert(aws: Aws) -> None:
    down_at = now() - timedelta(minutes=30)
    assert invoke(event("cloudwatch-alarm-tunnel-down.json", down_at))["transitions"] == ["opened"]
    modified_at = down_at + timedelta(minutes=2)
    aws.modified(T1, modified_at)
    result = invoke(event(REPLACED, down_at + timedelta(minutes=9)))
    assert result["transitions"] == []
    assert result["expected"] == [
        f"expected, caused by vpn-doctor's change AUDIT#{VPN}/{modified_at:%Y-%m-%dT%H:%M:%SZ}#{T1}"
        f"#evt-{modified_at:%H%M%S} (vpn-doctor respond)"
    ]
    assert [p["detail"]["kind"] for p in aws.published()] == ["opened"]  # the opening alert only


def test_a_later_down_after_an_expected_notice_is_not_labelled_maintenance(aws: Aws) -> None:
    changed_at = now() - timedelta(minutes=50)
    aws.modified(T1, changed_at)
    assert invoke(event(REPLACED, changed_at + timedelta(minutes=5)))["expected"]
    # Past the change's own expected outage (a DOWN within it is the change's, see test_poller.py).
    opened = invoke(event("cloudwatch-alarm-tunnel-down.json", changed_at + EXPECTED_OUTAGE + timedelta(minutes=5)))
    assert opened["transitions"] == ["opened"]
    [published] = aws.published()
    assert published["detail"]["incident"]["maintenance"] is False


@pytest.mark.parametrize(
    ("tunnel_ip", "after", "status"),
    [
        pytest.param(T2, timedelta(minutes=5), RemediationStatus.APPLIED, id="the other tunnel was changed"),
        pytest.param(T1, timedelta(hours=3), RemediationStatus.APPLIED, id="the change is hours older"),
        pytest.param(T1, timedelta(minutes=5), RemediationStatus.DRY_RUN, id="only a dry run"),
    ],
)
def test_a_notice_vpn_doctor_did_not_cause_still_labels_the_incident(
    aws: Aws, tunnel_ip: str, after: timedelta, status: RemediationStatus
) -> None:
    notice_at = now() - timedelta(minutes=1)
    down_at = notice_at - timedelta(minutes=3)
    assert invoke(event("cloudwatch-alarm-tunnel-down.json", down_at))["transitions"] == ["opened"]
    aws.modified(tunnel_ip, notice_at - after, status)
    result = invoke(event(REPLACED, notice_at))
    assert result["expected"] == []
    assert result["transitions"] == ["updated"]
    assert [p["detail"]["incident"]["maintenance"] for p in aws.published()] == [False, True]


def test_a_scheduled_replacement_is_never_taken_for_ours(aws: Aws) -> None:
    notice_at = now() - timedelta(minutes=1)
    aws.modified(T1, notice_at - timedelta(minutes=5))
    scheduled = event("health-vpn-tunnel-endpoint-maintenance.json", notice_at)
    scheduled["detail"]["eventDescription"][0]["latestDescription"] += f" Tunnel {T1}."
    assert invoke(scheduled)["expected"] == []


def test_audit_records_of_any_writer_with_the_documented_shape_are_read(aws: Aws) -> None:
    """docs/own-changes.md: what the tunnel-logging on-boarding writes so its changes are recognised too."""
    at = datetime(2026, 11, 27, 2, 0, 0, 250000, tzinfo=UTC)
    aws.audit.client.put_item(
        TableName=REMEDIATION,
        Item={
            "pk": {"S": f"AUDIT#{VPN}"},
            "sk": {"S": f"{at.isoformat().replace('+00:00', 'Z')}#{T2}#onboard-1"},
            "tunnel_ip": {"S": T2},
            "decided_at": {"S": at.isoformat()},
            "actor": {"S": "vpn-doctor onboarding"},
            "status": {"S": "applied"},
            "after": {"S": json.dumps({"LogEnabled": True})},
        },
    )
    reader = AuditedChanges(REMEDIATION, aws.audit.client)
    [change] = reader.changes(VPN, since=at, until=at)  # the whole second, fraction included
    assert (change.tunnel_ip, change.changed_at, change.actor) == (T2, at, "vpn-doctor onboarding")
    assert reader.changes(VPN, since=at + timedelta(seconds=1), until=at + timedelta(hours=1)) == []


def test_the_health_notice_of_an_onboarding_logging_change_sends_no_second_alert(aws: Aws) -> None:
    # On-boarding writes its audit in the incidents table (ONBOARD#<vpn>), not remediation's: the state function
    # reads both, so switching a DOWN tunnel's logging on is not announced as AWS maintenance.
    store = DynamoDbOnboardingStore(INCIDENTS, boto3.client("dynamodb"))
    down_at = now() - timedelta(minutes=30)
    assert invoke(event("cloudwatch-alarm-tunnel-down.json", down_at))["transitions"] == ["opened"]
    sent_at = down_at + timedelta(minutes=5)
    store.audit(VPN, T1, what="sent", reason="switch tunnel logging on", at=sent_at, options={"LogOptions": {}})
    result = invoke(event(REPLACED, sent_at + timedelta(minutes=6)))
    assert result["transitions"] == []
    assert result["expected"] == [
        f"expected, caused by vpn-doctor's change ONBOARD#{VPN}/AUDIT#{sent_at.isoformat()}#{T1}#sent "
        "(vpn-doctor onboard)"
    ]
    assert [p["detail"]["kind"] for p in aws.published()] == ["opened"]


def test_an_onboarding_line_that_sent_nothing_explains_no_notice(aws: Aws) -> None:
    store = DynamoDbOnboardingStore(INCIDENTS, boto3.client("dynamodb"))
    down_at = now() - timedelta(minutes=30)
    assert invoke(event("cloudwatch-alarm-tunnel-down.json", down_at))["transitions"] == ["opened"]
    store.audit(VPN, T1, what="try_later", reason="connection busy", at=down_at + timedelta(minutes=5))
    result = invoke(event(REPLACED, down_at + timedelta(minutes=11)))
    assert result["expected"] == []
    assert result["transitions"] == ["updated"]
