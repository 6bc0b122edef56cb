"""Mutated events through the respond, notify, poller and post_check handlers, on the whole pipeline
(moto, a real local Slack webhook; ``tests/integration/pipeline.py``).

Each handler gets hypothesis-mutated copies of its real events (those one failure produces as it
travels the pipeline): values replaced by hostile ones (wrong types, huge strings, lone surrogates,
extreme dates, deep nesting, text quoting a pre-shared key), keys removed, keys added, and every
mutated event delivered twice. Each handler must, for every one of them:

- return (the contract in its docstring: rejected with a counted, logged reason, or handled), never
  raise: with no AWS fault injected, a raise would be Lambda retrying bad input for nothing;
- do nothing more for the second delivery: no bus event, e-mail, Slack post or EC2 modification;
- leak no secret: neither a tunnel's pre-shared key (the EC2 answer's, or one quoted in the event)
  nor the Slack webhook URL in any log line, bus event, e-mail or Slack post.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import operator
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import notify, poller, post_check, respond
from tests.conftest import drained, lambda_context
from tests.fuzz.corpus import WRONG_VALUES
from tests.integration.conftest import handler_logs
from tests.integration.pipeline import T1, VPN, Pipeline, pipeline, pre_shared_keys, slack_receiver, tunnel_line
from tests.unit.test_remediation import transition
from vpn_doctor.constants import DETAIL_TYPE_ALERT
from vpn_doctor.models import RemediationAction, RemediationOutcome, RemediationStatus, dump, iso
from vpn_doctor_tools.emulator.slack import SlackReceiver

pytestmark = pytest.mark.slow

#: A pre-shared key quoted in event text (a gateway logging its configuration); never to be sent on.
PLANTED_KEY = "FAKEpsk_planted_Q7x9Lm2W"
HOSTILE: tuple[Any, ...] = (
    *WRONG_VALUES,
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-12:00",
    "2400-01-01T00:00:00Z",
    -62135596800,
    "i" * 5000,
    "x" * 300_000,
    "id-\ud800",
    "\udfff" * 700,
    f"peer sent psk={PLANTED_KEY} in its proposal",
)
EXAMPLES = 60
# The same examples on every run (CI stays deterministic); set False locally to explore further.
DERANDOMIZE = True


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": [value]}
    return value


# Nesting as deep as the Lambda runtime's JSON decoding lets through (it decodes the payload first).
hostile_values = st.one_of(st.sampled_from(HOSTILE), st.sampled_from((50, 200)).map(_nested))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, original: dict[str, Any]) -> dict[str, Any]:
    """The real event with one to four mutations: a value replaced, a key removed, a key added."""
    event = copy.deepcopy(original)
    # Paths of the real event's own shape: a path through a container replaced earlier is skipped.
    paths = _paths(original)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(("replace", "replace", "remove", "add")))
        try:
            target = functools.reduce(operator.getitem, path[:-1], event)
            # Each drawn value is a copy: the samples are shared objects, and a later mutation may walk into a
            # value placed earlier (a cycle, or a change to the sample itself, which no JSON event can hold).
            if how == "replace":
                target[path[-1]] = copy.deepcopy(draw(hostile_values))
            elif how == "remove" and isinstance(target, dict):
                del target[path[-1]]
            elif how == "add" and isinstance(target, dict):
                target[draw(st.sampled_from(("extra", "x" * 3000, "\ud800")))] = copy.deepcopy(draw(hostile_values))
        except (TypeError, KeyError, IndexError):
            continue
    return event


class Run:
    """One pipeline for a test's examples, the real events of one failure, and what left the system."""

    def __init__(
        self, pipeline: Pipeline, logs: io.StringIO, slack_url: str, originals: dict[str, dict[str, Any]]
    ) -> None:
        self.pipeline, self.logs, self.slack_url, self.originals = pipeline, logs, slack_url, originals
        self.seen: dict[str, list[str]] = {"bus": [], "emails": []}
        self.alerts: set[tuple[str, str, str]] = set()

    def effects(self) -> tuple[int, int, int, int]:
        """What people got so far, after the bus delivered what it routed (respond, notify): distinct
        alerts on the bus (the bus delivers at least once: an alert is its transition's incident, kind
        and event id, as notify keys it), e-mails, Slack posts, EC2 modifications."""
        p = self.pipeline
        p.pump()
        for event in p.bus_events():
            self.seen["bus"].append(json.dumps(event, ensure_ascii=False))
            if event["detail-type"] == DETAIL_TYPE_ALERT:
                transition = event["detail"]["transition"]
                self.alerts.add((transition["incident"]["incident_id"], transition["kind"], transition["event_id"]))
        self.seen["emails"] += [json.dumps(e, ensure_ascii=False) for e in p.emails()]
        modifications = sum(1 for operation, _ in p.faults.requests if operation == "ec2.ModifyVpnTunnelOptions")
        return len(self.alerts), len(self.seen["emails"]), len(p.slack_posts()), modifications

    def __repr__(self) -> str:
        return "Run(the pipeline after one DPD failure)"

    def outputs(self) -> str:
        posts = [json.dumps(post.payload, ensure_ascii=False) for post in self.pipeline.slack_posts()]
        return "\n".join([self.logs.getvalue(), *self.seen["bus"], *self.seen["emails"], *posts])


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackReceiver]:
    yield from slack_receiver()


def _post_check_input() -> dict[str, Any]:
    """What respond schedules after a modification (the post-check request), for the fixture's tunnel."""
    modified_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=15)
    outcome = RemediationOutcome(
        RemediationStatus.APPLIED,
        "Changed: set the DPD timeout action to 'restart'.",
        RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART,
        {"VpnConnectionId": VPN, "VpnTunnelOutsideIpAddress": T1, "TunnelOptions": {"DPDTimeoutAction": "restart"}},
        decided_at=modified_at,
    )
    return {"transition": dump(transition()), "remediation": dump(outcome), "modified_at": iso(modified_at)}


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver) -> Iterator[Run]:
    """The pipeline in auto mode after one DPD failure: the incident event respond got and the alert
    notify got are its real events (each handled once already, so a copy of one is a duplicate)."""
    with handler_logs() as logs, pipeline(monkeypatch, slack, mode="auto") as p:
        p.faults.answers["ec2.ModifyVpnTunnelOptions"] = lambda: {"VpnConnection": {"VpnConnectionId": VPN}}
        p.ingest_lines([tunnel_line("AWS tunnel DPD timed out after 3 retransmits")], tunnel_ip=T1)
        [incident] = drained(boto3.client("sqs"), p.queues["respond"])
        p.invoke(respond, incident)
        [alert] = drained(boto3.client("sqs"), p.queues["notify"])
        p.invoke(notify, alert)
        poll = {"id": "poll", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
        originals = {"respond": incident, "notify": alert, "poller": poll, "post_check": _post_check_input()}
        yield Run(p, logs, slack.url, originals)


def _deliver_twice(run: Run, function: ModuleType, event: dict[str, Any]) -> None:
    for attempt in (1, 2):
        before = run.effects()
        # As the Lambda runtime hands it over: decoded from the JSON payload, a fresh copy each time.
        payload = json.loads(json.dumps(event))
        function.handler(payload, lambda_context(function.__name__.rsplit(".", 1)[-1]))
        if attempt == 2:
            assert run.effects() == before, "a duplicate delivery did something again"
    outputs = run.outputs()
    for secret in (*pre_shared_keys(), PLANTED_KEY, run.slack_url):
        assert secret not in outputs


def _fuzz(function: ModuleType, examples: int = EXAMPLES) -> Callable[..., None]:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
    @given(data=st.data())
    def test(run: Run, data: st.DataObject) -> None:
        _deliver_twice(run, function, data.draw(mutated(run.originals[function.__name__.rsplit(".", 1)[-1]])))

    return test


test_respond_handles_or_rejects_every_mutated_incident_event_once_without_leaking = _fuzz(respond)
test_notify_handles_or_rejects_every_mutated_alert_event_once_without_leaking = _fuzz(notify)
test_post_check_handles_or_rejects_every_mutated_request_once_without_leaking = _fuzz(post_check)
test_the_poller_polls_whatever_its_schedule_event_holds_without_leaking = _fuzz(poller, examples=10)
