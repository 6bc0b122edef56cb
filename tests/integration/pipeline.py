"""The whole pipeline in one process, run the way Lambda and EventBridge run it, with AWS faults injected.

- AWS is moto (DynamoDB tables, the bus with its rules, SNS with an e-mail-like SQS subscriber, SQS
  dead-letter queues, Secrets Manager, Scheduler, CloudWatch Logs); Slack is a real local webhook
  receiver. EC2's reads are answered with the real-format ``DescribeVpnConnections`` fixture (keys
  included) and a dry run with EC2's ``DryRunOperation``.
- :class:`Faults` injects AWS errors through botocore's ``before-call`` event, registered as a
  built-in handler of every botocore session made during the test (the way moto hooks in), so every
  client the handlers build is covered, Powertools' Secrets Manager client included. A hooked call
  never reaches moto; botocore's own retries do not see it (as with ``Stubber``), so each injected
  fault is one failed call.
- :meth:`Pipeline.invoke` is an asynchronous Lambda invocation: the first try and Lambda's two
  retries, then the event goes to the function's failure queue (:attr:`Pipeline.failed`), intact.
  The bus's rules put incident events in the respond function's queue and alerts in the notify
  function's; :meth:`Pipeline.pump` delivers them until the bus is quiet.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.handlers
import botocore.session
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.awsrequest import AWSResponse
from botocore.loaders import create_loader

from handlers import ingest, notify, poller, post_check, respond, state, wiring
from tests.conftest import drained, handler_aws, lambda_context, route_to_queue, subscription_document
from vpn_doctor import constants
from vpn_doctor.aws import webhook
from vpn_doctor.subscription import encode_subscription_data
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table
from vpn_doctor_tools.emulator.slack import SlackPost, SlackReceiver

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
REGION = "us-east-1"
INCIDENTS = "vpn-doctor-incidents"
REMEDIATION = "vpn-doctor-remediation"
BUS = "vpn-doctor"
SECRET = "vpn-doctor/slack-webhook"
LOG_GROUP = "/aws/vendedlogs/vpn-doctor/tunnels"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:123456789012:log-group:{LOG_GROUP}:*"
VPN = "vpn-0a1b2c3d4e5f60718"
T1, T2 = "198.51.100.10", "203.0.113.20"
FUNCTIONS: dict[str, ModuleType] = {
    function.__name__.rsplit(".", 1)[-1]: function for function in (ingest, state, poller, respond, notify, post_check)
}
#: Lambda's asynchronous invocation: the first try and two retries (the default MaximumRetryAttempts).
ATTEMPTS = 3
#: The functions' inputs (bus rules -> queues), a copy of every bus event, the e-mail inbox, Slack's DLQ.
QUEUES = ("respond", "notify", "all", "inbox", "slack-dlq")
# botocore reads a service's model (EC2's is megabytes of JSON) once per session, and every run makes
# new sessions (moto resets boto3's default one): one loader for the process reads each model once.
_LOADER = create_loader()


def describe_answer(up: Collection[str] = ()) -> dict[str, Any]:
    """The fixture ``DescribeVpnConnections`` answer (pre-shared keys included): the tunnels whose
    outside IP is in ``up`` UP for an hour, the others DOWN."""
    answer: dict[str, Any] = json.loads((EVENTS / "ec2-describe-vpn-connections.json").read_text())
    for entry in answer["VpnConnections"][0]["VgwTelemetry"]:
        entry["LastStatusChange"] = datetime.fromisoformat(entry["LastStatusChange"].replace("Z", "+00:00"))
        entry["Status"] = "UP" if entry["OutsideIpAddress"] in up else "DOWN"
        entry["StatusMessage"] = f"IPSEC IS {entry['Status']}"
        if entry["OutsideIpAddress"] in up:
            entry["LastStatusChange"] = datetime.now(UTC) - timedelta(hours=1)
    return answer


def pre_shared_keys() -> set[str]:
    """The keys the fixture answer holds."""
    return {t["PreSharedKey"] for t in describe_answer()["VpnConnections"][0]["Options"]["TunnelOptions"]}


@dataclass
class Fault:
    """``times`` failed calls of ``operation`` (e.g. ``events.PutEvents``) with AWS error ``code``, for
    the calls ``when`` accepts (their request); ``partial``: PutEvents answers HTTP 200 with the
    accepted entries failed (``FailedEntryCount``), and lets the others through."""

    operation: str
    code: str
    times: int
    status: int = 400
    partial: bool = False
    when: Callable[[dict[str, Any]], bool] = lambda request: True
    message: str = "injected"


def detail_type_is(detail_type: str) -> Callable[[dict[str, Any]], bool]:
    """A PutEvents request carrying an entry of ``detail_type``."""
    return lambda request: any(entry["DetailType"] == detail_type for entry in request.get("Entries", ()))


@dataclass
class Faults:
    """The injected faults, and what was injected (``operation code`` each time)."""

    plans: list[Fault] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    answers: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    # Every request made, (operation, request): what was sent to AWS, to search for secrets.
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def add(self, *faults: Fault) -> None:
        self.plans.extend(faults)

    def before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        operation = f"{model.service_model.endpoint_prefix}.{model.name}"
        request = _request(params)
        self.requests.append((operation, request))
        for plan in self.plans:
            if plan.operation != operation or plan.times <= 0 or not plan.when(request):
                continue
            plan.times -= 1
            self.injected[f"{operation} {plan.code}{' (partial)' if plan.partial else ''}"] += 1
            if plan.partial:
                return self._partial(plan, params, request, context)
            error = {
                "Error": {"Code": plan.code, "Message": plan.message},
                "ResponseMetadata": {"HTTPStatusCode": plan.status},
            }
            return AWSResponse(None, plan.status, {}, None), error
        if operation in self.answers:
            return AWSResponse(None, 200, {}, None), self.answers[operation]()
        return None

    def _partial(self, plan: Fault, params: dict[str, Any], request: dict[str, Any], context: dict[str, Any]) -> Any:
        entries = request["Entries"]
        failing = [plan.when({"Entries": [entry]}) for entry in entries]
        failed = {"ErrorCode": plan.code, "ErrorMessage": plan.message}
        if all(failing):
            return AWSResponse(None, 200, {}, None), {
                "FailedEntryCount": len(entries),
                "Entries": [failed] * len(entries),
            }
        # The others really go on the bus; after-call puts the failed ones back in their places.
        passing = [entry for entry, fails in zip(entries, failing, strict=True) if not fails]
        params["body"] = json.dumps({**request, "Entries": passing}).encode()
        context["vpn_doctor_failing"] = (failing, failed)
        return None

    @staticmethod
    def after_call(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "vpn_doctor_failing" not in context:
            return
        failing, failed = context.pop("vpn_doctor_failing")
        published = iter(parsed.get("Entries") or ())
        parsed["Entries"] = [failed if fails else next(published) for fails in failing]
        parsed["FailedEntryCount"] = parsed.get("FailedEntryCount", 0) + sum(failing)


def _request(params: dict[str, Any]) -> dict[str, Any]:
    body = params.get("body")
    if isinstance(body, bytes | str) and body[:1] in (b"{", "{"):
        document: dict[str, Any] = json.loads(body)
        return document
    return body if isinstance(body, dict) else {}


@dataclass
class Pipeline:
    """The deployed functions and what people receive."""

    faults: Faults
    slack: SlackReceiver
    queues: dict[str, str]
    # The receiver serves a whole test module (stopping one waits for its poll): earlier tests' posts.
    posts_before: int = 0
    # Events whose invocation failed every attempt: the function's failure queue, (function, event).
    failed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    invocations: Counter[str] = field(default_factory=Counter)

    def invoke(self, function: ModuleType, event: dict[str, Any]) -> Any:
        """One asynchronous invocation, with Lambda's retries; the result, or ``None`` when it gave up."""
        name = function.__name__.rsplit(".", 1)[-1]
        for _ in range(ATTEMPTS):
            self.invocations[name] += 1
            try:
                return function.handler(event, lambda_context(name))
            except Exception:  # noqa: S112 - Lambda retries whatever the function raised
                continue
        self.failed.append((name, event))
        return None

    def redrive(self) -> None:
        """An operator replays the failure queues (after the outage)."""
        failed, self.failed = self.failed, []
        for name, event in failed:
            self.invoke(FUNCTIONS[name], event)

    def pump(self) -> None:
        """Deliver what the bus routed to respond and notify, until nothing is left."""
        while True:
            incidents, alerts = self._drain("respond"), self._drain("notify")
            if not incidents and not alerts:
                return
            for event in incidents:
                self.invoke(respond, event)
            for event in alerts:
                self.invoke(notify, event)

    def ingest_lines(self, lines: list[str], *, tunnel_ip: str = T2) -> Any:
        """A CloudWatch Logs subscription delivery of ``lines`` (tunnel log records) for one tunnel."""
        document = subscription_document(lines, log_stream=f"{VPN}-{tunnel_ip}", log_group=LOG_GROUP)
        return self.invoke(ingest, {"awslogs": {"data": encode_subscription_data(document)}})

    def bus_events(self) -> list[dict[str, Any]]:
        """Every event put on the bus so far (a rule copies them all to a queue), drained."""
        return self._drain("all")

    def emails(self) -> list[dict[str, Any]]:
        """What the e-mail-like subscriber of the alert topic received (SNS envelopes), drained."""
        return self._drain("inbox")

    def slack_posts(self) -> list[SlackPost]:
        """What Slack received during this run."""
        return self.slack.posts()[self.posts_before :]

    def slack_dead_letters(self) -> list[dict[str, Any]]:
        return self._drain("slack-dlq")

    def _drain(self, name: str) -> list[dict[str, Any]]:
        return drained(boto3.client("sqs"), self.queues[name])


def tunnel_line(details: str, *, phase: str = "down", at: datetime | None = None) -> str:
    """One AWS tunnel activity log record (JSON format), a minute ago unless ``at``."""
    moment = at or datetime.now(UTC)
    return json.dumps(
        {
            "event_timestamp": int(moment.timestamp()) - 60,
            "details": details,
            "dpd_enabled": True,
            "nat_t_detected": False,
            "ike_phase1_state": phase,
            "ike_phase2_state": phase,
        },
        ensure_ascii=False,
    )


def slack_receiver() -> Iterator[SlackReceiver]:
    """A running local Slack webhook, for a module-scoped fixture (see :attr:`Pipeline.posts_before`)."""
    receiver = SlackReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@contextmanager
def pipeline(monkeypatch: pytest.MonkeyPatch, receiver: SlackReceiver, *, mode: str = "dry-run") -> Iterator[Pipeline]:
    """Every function's settings, its resources in moto, the fault hook; Slack is ``receiver``."""
    faults = Faults()
    faults.answers["ec2.DescribeVpnConnections"] = describe_answer
    faults.answers["ec2.DescribeCustomerGateways"] = lambda: {"CustomerGateways": []}
    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [*botocore.handlers.BUILTIN_HANDLERS, ("before-call", faults.before_call), ("after-call", faults.after_call)],
    )
    monkeypatch.setattr(botocore.session, "create_loader", lambda *_, **__: _LOADER)
    monkeypatch.setattr(webhook, "RETRY_BACKOFF_FACTOR", 0.01)
    parameters.clear_caches()
    receiver.fail_next(0)
    settings = {
        "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
        constants.ENV_INCIDENTS_TABLE: INCIDENTS,
        constants.ENV_EVENT_BUS_NAME: BUS,
        constants.ENV_TUNNEL_LOG_GROUP_ARN: LOG_GROUP_ARN,
        constants.ENV_CHATBOT_FORMAT: "true",
        constants.ENV_SLACK_SECRET_NAME: SECRET,
        constants.ENV_REMEDIATION_MODE: mode,
        constants.ENV_REMEDIATION_TABLE: REMEDIATION,
        constants.ENV_POST_CHECK_TARGET_ARN: f"arn:aws:lambda:{REGION}:123456789012:function:vpn-doctor-post-check",
        constants.ENV_POST_CHECK_ROLE_ARN: "arn:aws:iam::123456789012:role/vpn-doctor-post-check-scheduler",
    }
    try:
        with handler_aws(monkeypatch, wiring.reset, settings, region=REGION, table=INCIDENTS) as dynamodb:
            create_pipeline_table(dynamodb, REMEDIATION)
            sqs, sns = boto3.client("sqs"), boto3.client("sns")
            boto3.client("events").create_event_bus(Name=BUS)
            boto3.client("logs").create_log_group(logGroupName=LOG_GROUP)
            queues = {
                name: sqs.create_queue(QueueName=name)["QueueUrl"]
                for name in ("respond", "notify", "all", "inbox", "slack-dlq")
            }
            ours = {"source": [constants.EVENT_SOURCE]}
            route_to_queue(
                BUS, queues["respond"], {**ours, "detail-type": [constants.DETAIL_TYPE_INCIDENT]}, rule="respond"
            )
            route_to_queue(BUS, queues["notify"], {**ours, "detail-type": [constants.DETAIL_TYPE_ALERT]}, rule="notify")
            route_to_queue(BUS, queues["all"], ours, rule="all")
            topic = sns.create_topic(Name="vpn-doctor-alerts")["TopicArn"]
            inbox = sqs.get_queue_attributes(QueueUrl=queues["inbox"], AttributeNames=["QueueArn"])["Attributes"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox["QueueArn"])
            boto3.client("secretsmanager").create_secret(Name=SECRET, SecretString=receiver.url)
            monkeypatch.setenv(constants.ENV_ALERT_TOPIC_ARN, topic)
            monkeypatch.setenv(constants.ENV_SLACK_DLQ_URL, queues["slack-dlq"])
            yield Pipeline(faults, receiver, queues, posts_before=len(receiver.posts()))
    finally:
        parameters.clear_caches()
