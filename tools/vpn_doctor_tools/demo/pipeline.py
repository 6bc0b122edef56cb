"""Drives the real Lambda handlers against the emulator, the way AWS would invoke them.

- Log records are written to the moto log group, read back, and delivered to ``handlers.ingest``
  as a CloudWatch Logs subscription payload (gzip + base64 of what moto stored).
- Tunnel state reaches ``handlers.poller`` as a scheduled event (it reads ``VgwTelemetry`` from the
  emulator), or ``handlers.state`` as CloudWatch alarm state-change events when no poller exists.
- Events the handlers put on the vpn-doctor bus reach SQS queues through EventBridge rules in
  moto (as the stack's rules would route them); the demo reads them and invokes
  ``handlers.respond`` (incidents) and ``handlers.notify`` (alerts).
- What was sent is read where a person would see it: the local Slack receiver and the e-mail
  inbox queue subscribed to the SNS topic.

A handler module that does not exist yet is reported as "not wired" and its stage skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import logging
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import boto3
import botocore.session

from vpn_doctor.constants import DETAIL_TYPE_ALERT, DETAIL_TYPE_INCIDENT, EVENT_SOURCE, SERVICE_NAME
from vpn_doctor.subscription import encode_subscription_data
from vpn_doctor_tools.emulator import Emulator, patched_environment

from .stack import DemoStack

Handler = Callable[[dict[str, Any], Any], Any]

# The place (account/region) whose settings and clients the handlers hold now, and a botocore session per place.
_ACTIVE_PLACE: dict[str, str] = {}
_BOTOCORE_SESSIONS: dict[str, botocore.session.Session] = {}


def forget_places() -> None:
    """A new demo run: no place's clients are held yet (its emulator is new)."""
    _ACTIVE_PLACE.clear()
    _BOTOCORE_SESSIONS.clear()


STAGES: Final = ("ingest", "state", "poller", "respond", "notify", "post_check", "watchdog")


@dataclass(frozen=True, slots=True)
class LambdaContext:
    """The parts of the Lambda context object that Powertools reads."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/vpn-doctor"
    log_stream_name: str = "demo"

    def get_remaining_time_in_millis(self) -> int:
        """Lambda's remaining time: plenty, locally."""
        return 60_000


def load_handlers() -> dict[str, Handler | None]:
    """Each stage's ``handler`` function, or ``None`` where the module does not exist yet."""
    found: dict[str, Handler | None] = {}
    for stage in STAGES:
        name = f"handlers.{stage}"
        if importlib.util.find_spec(name) is None:
            found[stage] = None
            continue
        module = importlib.import_module(name)
        found[stage] = getattr(module, "handler", None)
    return found


@contextmanager
def quiet_handler_logs() -> Iterator[None]:
    """The handlers' structured logs are for CloudWatch; the demo prints its own timeline."""
    service_logger = logging.getLogger(SERVICE_NAME)
    previous = service_logger.level
    service_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        service_logger.setLevel(previous)


@dataclass(slots=True)
class Delivery:
    """One subscription payload delivered to ingest, kept for a redelivery."""

    event: dict[str, Any]
    result: Any


@dataclass(slots=True)
class Pipeline:
    """The handlers wired to the emulator's resources."""

    emulator: Emulator
    stack: DemoStack
    handlers: Mapping[str, Handler | None]
    # The functions' environment in this place (account and region; ``DemoStack.environment`` plus the
    # emulator's endpoint and this account's credentials): set around each invocation, as Lambda would.
    environment: Mapping[str, str] | None = None
    errors: list[str] = field(default_factory=list)
    _slack_seen: int = 0
    _teams_seen: int = 0
    _pagerduty_seen: int = 0
    _schedules_run: set[tuple[str, str]] = field(default_factory=set)
    _calls_seen: int = 0

    def wired(self, stage: str) -> bool:
        """True when the stage's handler exists."""
        return self.handlers.get(stage) is not None

    def invoke(self, stage: str, event: dict[str, Any]) -> Any:
        """Invoke a stage's handler like Lambda would (``None`` when not wired)."""
        handler = self.handlers.get(stage)
        if handler is None:
            return None
        context = LambdaContext(
            function_name=f"vpn-doctor-{stage}",
            invoked_function_arn=f"arn:aws:lambda:{self.stack.region}:{self.stack.account_id}:function:vpn-doctor-{stage}",
        )
        # Handlers print CloudWatch embedded-metric JSON to stdout; the demo's output is its timeline.
        try:
            # "No application metrics to publish" is a warning for CloudWatch, not for the demo.
            with self.entered(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return handler(event, context)
        except Exception as exc:  # a failing stage is shown, and the demo goes on
            self.errors.append(f"{stage} failed: {type(exc).__name__}: {exc}")
            return None

    @contextmanager
    def entered(self) -> Iterator[None]:
        """This place's environment around an invocation. When the previous invocation ran in another account or
        region, the handlers forget what they built (settings, clients: ``handlers.wiring.reset``) and the default
        session is this place's (its credentials and region), as a separate Lambda function's would be."""
        if self.environment is None:
            yield
            return
        place = f"{self.stack.account_id}/{self.stack.region}"
        with patched_environment(self.environment):
            if _ACTIVE_PLACE.get("place") != place:
                from handlers.wiring import reset  # noqa: PLC0415 - the handlers' path is set by then

                reset()
                # One botocore session per place: its parsed models are kept across switches (parsing EC2's model
                # again on every switch would cost most of the demo's time).
                session = _BOTOCORE_SESSIONS.setdefault(place, botocore.session.get_session())
                boto3.setup_default_session(
                    botocore_session=session,
                    aws_access_key_id=self.environment["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=self.environment["AWS_SECRET_ACCESS_KEY"],
                    aws_session_token=self.environment["AWS_SESSION_TOKEN"],
                    region_name=self.stack.region,
                )
                _ACTIVE_PLACE["place"] = place
            yield

    # --- logs -----------------------------------------------------------------------------------

    def write_and_deliver(self, group: str, stream: str, messages: list[tuple[int, str]]) -> Delivery:
        """Put log events into moto, read them back, deliver them to ingest as a subscription payload."""
        logs = self.emulator.client("logs")
        existing = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]
        if not any(item["logStreamName"] == stream for item in existing):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": at, "message": message} for at, message in messages],
        )
        stored = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        fresh = stored[-len(messages) :]
        offset = len(stored) - len(messages)
        document = {
            "messageType": "DATA_MESSAGE",
            "owner": self.stack.account_id,
            "logGroup": group,
            "logStream": stream,
            "subscriptionFilters": ["vpn-doctor"],
            "logEvents": [
                {"id": _event_id(group, stream, item["timestamp"], offset + index), **_pick(item)}
                for index, item in enumerate(fresh)
            ],
        }
        event = {"awslogs": {"data": encode_subscription_data(document)}}
        return Delivery(event=event, result=self.invoke("ingest", event))

    def redeliver(self, delivery: Delivery) -> Delivery:
        """The same payload again (CloudWatch Logs delivers at least once)."""
        return Delivery(event=delivery.event, result=self.invoke("ingest", delivery.event))

    # --- tunnel state ---------------------------------------------------------------------------

    def poll(self) -> Any:
        """The scheduled telemetry poll (EventBridge Scheduler / schedule rule event)."""
        now = datetime.now(UTC)
        result = self.invoke("poller", self._scheduled("vpn-doctor-telemetry-poll", now))
        # Lambda counts every invocation in AWS/Lambda Invocations: the watchdog reads it to know the poller runs.
        self.emulator.client("cloudwatch").put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": [{"Name": "FunctionName", "Value": "vpn-doctor-poller"}],
                    "Timestamp": now,
                    "Value": 1.0,
                }
            ],
        )
        return result

    def watchdog(self) -> Any:
        """The watchdog's scheduled run."""
        return self.invoke("watchdog", self._scheduled("vpn-doctor-watchdog", datetime.now(UTC)))

    def _scheduled(self, rule: str, now: datetime) -> dict[str, Any]:
        """The event an EventBridge schedule rule named ``rule`` delivers to its function at ``now``."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.stack.account_id,
            "time": _iso(now),
            "region": self.stack.region,
            "resources": [f"arn:aws:events:{self.stack.region}:{self.stack.account_id}:rule/{rule}"],
            "detail": {},
        }

    def alarm(self, vpn_id: str, tunnel_ip: str, *, down: bool) -> Any:
        """A CloudWatch alarm on ``AWS/VPN TunnelState`` changing state, delivered to the state stage."""
        now = datetime.now(UTC)
        name = f"vpn-doctor-{vpn_id}-{tunnel_ip}-TunnelState"
        value, previous = ("ALARM", "OK") if down else ("OK", "ALARM")
        comparison = "was less than" if down else "was not less than"
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": self.stack.account_id,
            "time": _iso(now),
            "region": self.stack.region,
            "resources": [f"arn:aws:cloudwatch:{self.stack.region}:{self.stack.account_id}:alarm:{name}"],
            "detail": {
                "alarmName": name,
                "state": {
                    "value": value,
                    "reason": f"Threshold Crossed: 1 out of the last 1 datapoints [{0.0 if down else 1.0}] "
                    f"{comparison} the threshold (1.0).",
                    "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
                },
                "previousState": {"value": previous, "reason": "Threshold Crossed"},
                "configuration": {
                    "description": f"Tunnel {tunnel_ip} of {vpn_id} is down (missing data treated as breaching)",
                    "metrics": [
                        {
                            "id": "m1",
                            "metricStat": {
                                "metric": {
                                    "namespace": "AWS/VPN",
                                    "name": "TunnelState",
                                    "dimensions": {"VpnId": vpn_id, "TunnelIpAddress": tunnel_ip},
                                },
                                "period": 60,
                                "stat": "Minimum",
                            },
                            "returnData": True,
                        }
                    ],
                },
            },
        }
        return self.invoke("state", event)

    def endpoint_replaced(self, vpn_id: str, tunnel_ip: str) -> Any:
        """AWS Health's tunnel endpoint replacement notice (sent for the account's own modifications too),
        delivered to the state stage. The shape of AWS Health events in EventBridge; the code is assumed
        (tests/fixtures/events/README.md)."""
        now = datetime.now(UTC)
        code = "AWS_VPN_TUNNEL_ENDPOINT_REPLACEMENT"
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "AWS Health Event",
            "source": "aws.health",
            "account": self.stack.account_id,
            "time": _iso(now),
            "region": self.stack.region,
            "resources": [vpn_id],
            "detail": {
                "eventArn": f"arn:aws:health:{self.stack.region}::event/VPN/{code}/{code}-{uuid.uuid4().hex[:12]}",
                "service": "VPN",
                "eventTypeCode": code,
                "eventTypeCategory": "accountNotification",
                "startTime": now.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                "statusCode": "closed",
                "eventDescription": [
                    {
                        "language": "en_US",
                        "latestDescription": f"The tunnel endpoint of VPN tunnel {tunnel_ip} of your VPN "
                        "connection was replaced.",
                    }
                ],
                "affectedEntities": [{"entityValue": vpn_id}],
            },
        }
        return self.invoke("state", event)

    # --- the bus --------------------------------------------------------------------------------

    def incident_events(self) -> list[dict[str, Any]]:
        """Incident transitions the handlers published (routed by the bus rule to a queue)."""
        return self._drain(self.stack.incident_queue_url)

    def alert_events(self) -> list[dict[str, Any]]:
        """Alerts the respond stage published."""
        return self._drain(self.stack.alert_queue_url)

    def publish_alert(self, detail: Mapping[str, Any]) -> None:
        """Put an alert on the bus, as the respond stage does (used while respond is not wired)."""
        self.emulator.client("events").put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": DETAIL_TYPE_ALERT,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.stack.bus_name,
                }
            ]
        )

    def _drain(self, queue_url: str) -> list[dict[str, Any]]:
        sqs = self.emulator.client("sqs")
        events: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages") or []
            if not messages:
                return events
            for message in messages:
                body = json.loads(message["Body"])
                if body.get("source") == EVENT_SOURCE and body.get("detail-type") in (
                    DETAIL_TYPE_INCIDENT,
                    DETAIL_TYPE_ALERT,
                ):
                    events.append(body)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    # --- post-checks ----------------------------------------------------------------------------

    def due_post_checks(self) -> list[tuple[str, dict[str, Any]]]:
        """One-time schedules the respond stage created (EventBridge Scheduler), not yet run: name and input.

        In AWS they fire minutes after a modification; the demo runs them as soon as it sees them.
        """
        scheduler = self.emulator.client("scheduler")
        due: list[tuple[str, dict[str, Any]]] = []
        for summary in scheduler.list_schedules().get("Schedules") or ():
            name = str(summary.get("Name"))
            group = summary.get("GroupName") or "default"
            if (group, name) in self._schedules_run:
                continue
            self._schedules_run.add((group, name))
            target = scheduler.get_schedule(Name=name, GroupName=group).get("Target") or {}
            try:
                payload = json.loads(target.get("Input") or "{}")
            except json.JSONDecodeError:
                payload = {}
            due.append((name, payload if isinstance(payload, dict) else {"input": payload}))
        return due

    # --- what people receive --------------------------------------------------------------------

    def new_emails(self) -> list[dict[str, str]]:
        """Messages the e-mail subscriber received since the last call (subject and body)."""
        emails: list[dict[str, str]] = []
        sqs = self.emulator.client("sqs")
        while True:
            answer = sqs.receive_message(QueueUrl=self.stack.email_queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages") or []
            if not messages:
                return emails
            for message in messages:
                envelope = json.loads(message["Body"])
                emails.append({"subject": str(envelope.get("Subject") or ""), "text": str(envelope.get("Message"))})
                sqs.delete_message(QueueUrl=self.stack.email_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def new_slack_posts(self) -> list[str]:
        """Texts of the Slack messages received since the last call."""
        posts = self.emulator.slack.posts()
        fresh = posts[self._slack_seen :]
        self._slack_seen = len(posts)
        return [post.text for post in fresh]

    def new_teams_cards(self) -> list[dict[str, str]]:
        """The Adaptive Cards Teams received since the last call: title and text blocks."""
        with self.emulator.teams.lock:
            cards = list(self.emulator.teams.cards)
        fresh = cards[self._teams_seen :]
        self._teams_seen = len(cards)
        shown = []
        for card in fresh:
            texts = [str(block["text"]) for block in card["body"] if block.get("type") == "TextBlock"]
            shown.append({"title": texts[0] if texts else "", "text": "\n".join(texts[1:])})
        return shown

    def new_pagerduty_events(self) -> list[dict[str, Any]]:
        """The events PagerDuty accepted since the last call, with how many pages exist and are open."""
        receiver = self.emulator.pagerduty
        with receiver.lock:
            events = list(receiver.accepted)
            pages = len(receiver.alerts)
        fresh = events[self._pagerduty_seen :]
        self._pagerduty_seen = len(events)
        open_pages = len(receiver.open_alerts())
        return [
            {
                "action": event["event_action"],
                "dedup_key": event.get("dedup_key"),
                "severity": (event.get("payload") or {}).get("severity"),
                "summary": (event.get("payload") or {}).get("summary"),
                "pages": pages,
                "open_pages": open_pages,
            }
            for event in fresh
        ]

    def new_calls(self) -> list[Any]:
        """ModifyVpnTunnelOptions / ReplaceVpnTunnel requests the emulator received since the last call."""
        calls = self.emulator.vpn.calls()
        fresh = calls[self._calls_seen :]
        self._calls_seen = len(calls)
        return fresh


def _event_id(group: str, stream: str, timestamp: int, index: int) -> str:
    # CloudWatch Logs event ids are 56-digit strings, unique per log event; same input, same id.
    return f"{timestamp:020d}{zlib.crc32(f'{group}/{stream}'.encode()):010d}{index:026d}"


def _pick(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"timestamp": item["timestamp"], "message": item["message"]}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
