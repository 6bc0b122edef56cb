"""Fault suite: every AWS error the pipeline can meet, injected into one real run of it, and the end state.

Each case starts a tunnel problem at one entry (a log line through ingest, an alarm through state, a
poll, a post-check), injects AWS errors into one publishing path (throttling, AccessDenied, a
PutEvents partial failure, an SNS or Slack outage, DynamoDB, Secrets Manager and SQS failures), lets
Lambda retry as it does, and checks what people got: **exactly one alert per transition per
channel** (the e-mail once; Slack posted once or its message dead-lettered once), nothing left in a
failure queue unless the case says so, and every injected fault really hit (a fault that never
fired proves nothing). See ``tests/integration/pipeline.py`` for how the run and the faults work.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers import poller, post_check, state
from tests.integration.pipeline import (
    REMEDIATION,
    T1,
    T2,
    VPN,
    Fault,
    Pipeline,
    detail_type_is,
    pipeline,
    slack_receiver,
    tunnel_line,
)
from tests.integration.test_state_handler import event as state_event
from tests.unit.test_remediation import transition
from vpn_doctor.constants import DETAIL_TYPE_ALERT, DETAIL_TYPE_INCIDENT
from vpn_doctor.models import RemediationAction, RemediationOutcome, RemediationStatus, dump, iso
from vpn_doctor_tools.emulator.slack import SlackReceiver


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackReceiver]:
    yield from slack_receiver()


INCIDENT_EVENTS = detail_type_is(DETAIL_TYPE_INCIDENT)
ALERT_EVENTS = detail_type_is(DETAIL_TYPE_ALERT)


def names(text: str) -> Callable[[dict[str, Any]], bool]:
    """A request naming ``text`` anywhere (a table, a queue URL, an idempotency partition)."""
    return lambda request: text in json.dumps(request, default=str)


# --- entries: what starts the problem, and the transitions it must be alerted as ---------------


def from_log_line(p: Pipeline) -> None:
    p.ingest_lines([tunnel_line("AWS tunnel DPD timed out after 3 retransmits")])


def from_alarm(p: Pipeline) -> None:
    p.invoke(state, state_event("cloudwatch-alarm-tunnel-down.json", datetime.now(UTC).replace(microsecond=0)))


def from_poll(p: Pipeline) -> None:
    # The poller runs every minute: a poll that failed is followed by the next one.
    for _ in range(2):
        p.invoke(poller, {"id": "poll", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})


def from_post_check(p: Pipeline) -> None:
    modified_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=15)
    outcome = RemediationOutcome(
        RemediationStatus.APPLIED,
        "Changed: set the DPD timeout action to 'restart'.",
        RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART,
        {"VpnConnectionId": VPN, "VpnTunnelOutsideIpAddress": T1, "TunnelOptions": {"DPDTimeoutAction": "restart"}},
        decided_at=modified_at,
    )
    p.invoke(
        post_check, {"transition": dump(transition()), "remediation": dump(outcome), "modified_at": iso(modified_at)}
    )


ENTRIES: dict[str, tuple[Callable[[Pipeline], None], Counter[str]]] = {
    "ingest": (from_log_line, Counter(opened=1)),
    "state": (from_alarm, Counter(opened=1)),
    "poller": (from_poll, Counter(opened=2)),  # both tunnels of the fixture connection are DOWN
    "post_check": (from_post_check, Counter(escalated=1)),
}
# What people receive: one message per change of the connection's state (vpn_doctor.rollup), where it differs from
# one per transition: the poller's two tunnels DOWN are one connection outage.
MESSAGES: dict[str, Counter[str]] = {"poller": Counter(opened=1)}


@dataclass(frozen=True)
class Case:
    """Faults injected on one path; ``slack_down`` failed posts; ``redrive`` when the failure queue
    must be replayed after the outage (the retries ran out); ``dead_lettered`` Slack's expected letters."""

    entry: str
    faults: tuple[Fault, ...] = ()
    slack_down: int = 0
    redrive: bool = False
    dead_lettered: bool = False


def _bus(code: str, times: int, when: Callable[[dict[str, Any]], bool], *, partial: bool = False) -> Fault:
    status = 500 if code == "InternalFailure" else 400
    return Fault("events.PutEvents", code, times, status=status, partial=partial, when=when)


# The bus retries a throttled call or entry twice itself (3 tries): 3 faults exhaust one invocation.
CASES: dict[str, Case] = {
    # Incident events lost on the bus: the outbox is published by the redelivery.
    "ingest: PutEvents throttled on every try": Case("ingest", (_bus("ThrottlingException", 3, INCIDENT_EVENTS),)),
    "ingest: PutEvents AccessDenied": Case("ingest", (_bus("AccessDeniedException", 1, INCIDENT_EVENTS),)),
    "ingest: PutEvents partial failure": Case("ingest", (_bus("InternalFailure", 3, INCIDENT_EVENTS, partial=True),)),
    "ingest: DynamoDB throttled": Case(
        "ingest", (Fault("dynamodb.TransactWriteItems", "ProvisionedThroughputExceededException", 1),)
    ),
    "state: PutEvents throttled on every try": Case("state", (_bus("ThrottlingException", 3, INCIDENT_EVENTS),)),
    "state: PutEvents partial failure": Case(
        "state", (_bus("AccessDeniedException", 1, INCIDENT_EVENTS, partial=True),)
    ),
    "state: DynamoDB internal error": Case(
        "state", (Fault("dynamodb.TransactWriteItems", "InternalServerError", 1, 500),)
    ),
    "poller: PutEvents partial failure of one of two": Case(
        "poller", (_bus("AccessDeniedException", 1, names(T2), partial=True),)
    ),
    "poller: PutEvents AccessDenied": Case("poller", (_bus("AccessDeniedException", 1, INCIDENT_EVENTS),)),
    "poller: EC2 throttled": Case("poller", (Fault("ec2.DescribeVpnConnections", "RequestLimitExceeded", 1, 503),)),
    # Alerts lost on the bus: respond's stored decision publishes it on the redelivery.
    "respond: PutEvents throttled on every try": Case("ingest", (_bus("ThrottlingException", 3, ALERT_EVENTS),)),
    "respond: PutEvents partial failure": Case("ingest", (_bus("InternalFailure", 3, ALERT_EVENTS, partial=True),)),
    "respond: PutEvents AccessDenied": Case("state", (_bus("AccessDeniedException", 1, ALERT_EVENTS),)),
    "respond: EC2 AccessDenied": Case("ingest", (Fault("ec2.DescribeVpnConnections", "UnauthorizedOperation", 1),)),
    "respond: EC2 throttled": Case("ingest", (Fault("ec2.DescribeVpnConnections", "RequestLimitExceeded", 1, 503),)),
    "respond: remediation table unavailable": Case(
        "ingest", (Fault("dynamodb.PutItem", "ProvisionedThroughputExceededException", 1, when=names(REMEDIATION)),)
    ),
    "post_check: PutEvents throttled on every try": Case("post_check", (_bus("ThrottlingException", 3, ALERT_EVENTS),)),
    "post_check: PutEvents partial failure": Case(
        "post_check", (_bus("AccessDeniedException", 1, ALERT_EVENTS, partial=True),)
    ),
    "post_check: EC2 throttled": Case(
        "post_check", (Fault("ec2.DescribeVpnConnections", "RequestLimitExceeded", 1, 503),)
    ),
    # The channels: each independent, each retried or dead-lettered on its own.
    "notify: SNS throttled": Case("ingest", (Fault("sns.Publish", "Throttling", 1),)),
    "notify: SNS AccessDenied": Case("ingest", (Fault("sns.Publish", "AuthorizationError", 1, 403),)),
    "notify: SNS outage longer than the retries": Case(
        "ingest", (Fault("sns.Publish", "InternalError", 3, 500),), redrive=True
    ),
    "notify: Slack outage": Case("ingest", slack_down=100, dead_lettered=True),
    "notify: Slack outage and SNS outage": Case(
        "state", (Fault("sns.Publish", "InternalError", 3, 500),), slack_down=100, redrive=True, dead_lettered=True
    ),
    "notify: Slack down and its dead-letter queue refusing": Case(
        "ingest",
        (Fault("sqs.SendMessage", "AWS.SimpleQueueService.NonExistentQueue", 1, when=names("slack-dlq")),),
        slack_down=3,
    ),
    "notify: Secrets Manager refusing the webhook secret": Case(
        "ingest", (Fault("secretsmanager.GetSecretValue", "AccessDeniedException", 1),), dead_lettered=True
    ),
    "notify: duplicate-check table throttled": Case(
        "ingest",
        (Fault("dynamodb.PutItem", "ProvisionedThroughputExceededException", 1, when=names("idempotency#notify")),),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_every_fault_ends_with_exactly_one_alert_per_transition_per_channel(
    name: str, monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver
) -> None:
    case = CASES[name]
    start, expected = ENTRIES[case.entry]
    with pipeline(monkeypatch, slack) as p:
        faults = [replace(fault) for fault in case.faults]  # each run uses up its own copies
        p.faults.add(*faults)
        p.slack.fail_next(case.slack_down)
        start(p)
        p.pump()
        if case.redrive:
            assert {function for function, _ in p.failed} == {"notify"}, "only the undeliverable alerts wait"
            p.slack.fail_next(0)
            p.redrive()
            p.pump()
        outcome = _end_state(p)

    assert [plan for plan in faults if plan.times] == [], f"every fault was injected: {p.faults.injected}"
    assert outcome.failed == [], "nothing left in a failure queue"
    assert outcome.alerted == expected, "one alert event per transition"
    messages = MESSAGES.get(case.entry, expected)
    assert outcome.emails == messages, "one e-mail per change of the connection's state"
    if case.dead_lettered:
        assert (outcome.slack_posts, outcome.slack_letters) == (0, sum(messages.values()))
    else:
        assert (outcome.slack_posts, outcome.slack_letters) == (sum(messages.values()), 0)


@dataclass(frozen=True)
class EndState:
    failed: list[str]
    alerted: Counter[str]
    emails: Counter[str]
    slack_posts: int
    slack_letters: int


def _end_state(p: Pipeline) -> EndState:
    events = p.bus_events()
    # The bus delivers at least once: count distinct transitions, not events.
    alerted = {
        (
            e["detail"]["transition"]["incident"]["incident_id"],
            e["detail"]["transition"]["kind"],
            e["detail"]["transition"]["event_id"],
        )
        for e in events
        if e["detail-type"] == DETAIL_TYPE_ALERT
    }
    emails = Counter(email["MessageAttributes"]["transition"]["Value"] for email in p.emails())
    return EndState(
        failed=[function for function, _ in p.failed],
        alerted=Counter(kind for _, kind, _ in alerted),
        emails=emails,
        slack_posts=len(p.slack_posts()),
        slack_letters=len(p.slack_dead_letters()),
    )


def test_an_alert_whose_every_channel_is_down_for_longer_than_the_retries_waits_intact_in_the_failure_queue(
    monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver
) -> None:
    with pipeline(monkeypatch, slack) as p:
        p.faults.add(Fault("sns.Publish", "InternalError", 100, 500))
        p.faults.add(Fault("sqs.SendMessage", "InternalError", 100, 500, when=names("slack-dlq")))
        p.slack.fail_next(1000)
        from_log_line(p)
        p.pump()
        [(function, event)] = p.failed
        assert (function, event["detail-type"]) == ("notify", DETAIL_TYPE_ALERT)
        assert event["detail"]["transition"]["kind"] == "opened", "the alert itself, intact"
        assert (p.emails(), p.slack_posts(), p.slack_dead_letters()) == ([], [], [])


def test_a_lone_surrogate_in_a_log_line_blocks_no_message_of_its_incident(
    monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver
) -> None:
    with pipeline(monkeypatch, slack) as p:
        p.ingest_lines([tunnel_line("AWS tunnel DPD timed out after 3 retransmits \ud800")])
        p.pump()
        outcome = _end_state(p)

    assert outcome.failed == []
    assert outcome.emails == Counter(opened=1)
    assert (outcome.slack_posts, outcome.slack_letters) == (1, 0)


def test_slack_is_posted_during_an_sns_outage_and_the_email_follows_once_sns_is_back(
    monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver
) -> None:
    with pipeline(monkeypatch, slack) as p:
        p.faults.add(Fault("sns.Publish", "InternalError", 3, 500))
        from_log_line(p)
        p.pump()
        assert (len(p.slack_posts()), p.emails()) == (1, []), "Slack does not wait for SNS"
        p.redrive()
        assert (len(p.slack_posts()), len(p.emails())) == (1, 1)


def test_the_email_is_sent_during_a_slack_outage_and_slacks_message_is_dead_lettered(
    monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver
) -> None:
    with pipeline(monkeypatch, slack) as p:
        p.slack.fail_next(100)
        from_log_line(p)
        p.pump()
        [letter] = p.slack_dead_letters()
        assert (len(p.emails()), p.slack_posts(), p.failed) == (1, [], [])
    assert letter["reason"] == "Slack answered HTTP 500: internal_error"
    assert letter["payload"]["blocks"], "the message itself, ready to replay"
