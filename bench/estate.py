"""An estate, measured: many accounts and regions polled as spokes would, and what a storm sends to the hub.

One run in moto (in process) with the emulator's VPN model (``VpnEmulation``): ``--connections`` VPN connections
(two tunnels each, UP) spread evenly over ``--accounts`` accounts and ``--regions`` regions. Each account is a
moto account entered with STS ``AssumeRole`` (moto files every call made with the assumed role's credentials
under that account), and each account-region holds what a spoke deploys: the incidents table, the bus, and a
rule sending incident events to a queue the respond stage reads (as the stack's rule targets the function).

Measured, per account-region, with the **real Lambda handlers** (``handlers.poller``, ``handlers.respond``,
``handlers.notify``; settings from the environment and the default boto3 session, as in Lambda):

1. the **first poll** (every tunnel new) and the **steady-state poll** right after it (nothing changed): AWS
   calls by operation, DynamoDB items written, duration. Every AWS call waits a fixed ``--delay-ms`` (default
   5 ms) in a botocore ``before-call`` hook, standing in for the network, so durations follow the number of
   sequential calls. moto's own time per call is not AWS's, so, as in ``bench/poll.py``, the duration that
   counts (``poll_seconds``) is **modelled**: the wall time less the time spent inside AWS calls, plus exactly the
   delay per call; the wall time is reported beside it. Spokes poll in parallel, so the estate's poll takes as
   long as its slowest account-region (``poll_seconds``); ``poll_seconds_sum`` is the total.
2. **The storm**: half the tunnels go DOWN at once (both tunnels of every other connection: an outage of half
   the connections, in every account and region). Each spoke's poller finds it and publishes the incidents; the
   spoke's respond stage (diagnosis, remediation policy in dry-run) publishes the alerts; they are forwarded to
   the **hub** (the first account and region, with the one topic and the one Slack webhook), whose notify stage
   delivers them. ``storm_messages`` counts what the channel layer delivered, as people would receive it: SNS
   ``Publish`` calls on the hub's topic and posts the local Slack receiver got. The delay is not added to the
   storm's calls (only message counts are reported from it).
3. The **monthly cost** of the estate from ``bench/cost.py``'s model: one spoke's bill (the model's own measured
   poll of a spoke's share of the tunnels, priced at list prices) times the account-regions (an upper bound:
   each spoke is priced as a whole deployment, channel secrets and their alarms included).

Run: ``.venv/bin/python bench/estate.py --json`` (defaults: 5,000 connections, 20 accounts, 4 regions). Prints
one JSON object. Exits 1 when the steady-state poll wrote anything or a poll reported an error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import multiprocessing
import os
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parents[1]
for part in ("functions", "tools", ""):
    if str(ROOT / part) not in sys.path:
        sys.path.insert(0, str(ROOT / part))

import boto3  # noqa: E402
import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.poll import no_transaction_snapshots  # noqa: E402
from vpn_doctor import constants  # noqa: E402
from vpn_doctor_tools.emulator import VpnEmulation  # noqa: E402
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table  # noqa: E402
from vpn_doctor_tools.emulator.slack import SlackReceiver  # noqa: E402

REGIONS: Final = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1", "ca-central-1")
TABLE: Final = "vpn-doctor-incidents"
REMEDIATION_TABLE: Final = "vpn-doctor-remediation"
BUS: Final = constants.SERVICE_NAME
TOPIC: Final = "vpn-doctor-alerts"
SLACK_SECRET: Final = "vpn-doctor/slack-webhook"  # noqa: S105 - a secret's name, not its value
_WRITES: Final = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


@dataclass
class Calls:
    """Every AWS call of one account-region's invocation: counted by operation, delayed, timed."""

    delay: float
    by_operation: Counter[str] = field(default_factory=Counter)
    dynamodb_writes: int = 0
    in_calls: float = 0.0
    _started: float = 0.0

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """botocore ``before-call``: wait the fixed delay, count the call and the DynamoDB items it writes."""
        self._started = time.perf_counter()
        if self.delay:
            time.sleep(self.delay)
        service = model.service_model.service_name
        self.by_operation[f"{service}:{model.name}"] += 1
        body = params.get("body")
        request = json.loads(body) if service == "dynamodb" and isinstance(body, (bytes, str)) and body else {}
        if model.name == "TransactWriteItems":
            self.dynamodb_writes += sum(1 for item in request.get("TransactItems", ()) if "ConditionCheck" not in item)
        elif model.name == "BatchWriteItem":
            self.dynamodb_writes += sum(len(items) for items in request.get("RequestItems", {}).values())
        elif service == "dynamodb" and model.name in _WRITES:
            self.dynamodb_writes += 1

    def after_call(self, **_: Any) -> None:
        """botocore ``after-call`` / ``after-call-error``: the call's time, the delay included."""
        self.in_calls += time.perf_counter() - self._started

    def reset(self) -> None:
        """Count afresh."""
        self.by_operation.clear()
        self.dynamodb_writes = 0
        self.in_calls = 0.0

    @property
    def total(self) -> int:
        """Calls of every service."""
        return sum(self.by_operation.values())


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """moto answers a ``Query`` of a table (not of an index) by listing and sorting **every** item of the table, then
    keeping the partition's: a cost that grows with the table, which DynamoDB's does not (a query reads one
    partition). The hub's table gathers an item per delivered alert, so the storm's cost grew with the square of the
    alerts. While installed, such a query lists the partition's items only (sorted as moto sorts them); what it
    returns is the same, and so is every call counted."""
    from moto.dynamodb.models.table import Table  # noqa: PLC0415 - patched here only

    real = Table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs["index_name"] if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
        if index_name or hash_key is None or not self.range_key_attr:
            return real(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: sorted(partition, key=lambda item: (item.hash_key, item.range_key))
        try:
            return real(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = real  # type: ignore[method-assign]


@dataclass(frozen=True)
class Spoke:
    """One account-region: its credentials and its connections."""

    account: str
    region: str
    credentials: dict[str, str]
    connections: tuple[str, ...]
    incident_queue_url: str


@dataclass(frozen=True)
class Hub:
    """The monitoring account-region: the topic, the Slack webhook, the notify stage's table."""

    account: str
    region: str
    credentials: dict[str, str]
    topic_arn: str
    slack_dlq_url: str


class _Context:
    """The Lambda context the handlers' logger decorator reads."""

    def __init__(self, name: str, account: str, region: str) -> None:
        self.function_name = name
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _progress(text: str) -> None:
    """A line on stderr: a full run takes minutes."""
    print(f"[estate {time.process_time():7.1f} s cpu] {text}", file=sys.stderr, flush=True)


def _accounts(count: int) -> list[str]:
    return [f"{100000000000 + 1111 * number:012d}" for number in range(1, count + 1)]


def _spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def _environment(account: str, region: str, credentials: dict[str, str], hub: Hub | None = None) -> dict[str, str]:
    """A spoke's (or the hub's) functions' environment, as the stack sets it."""
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
        "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        constants.ENV_INCIDENTS_TABLE: TABLE,
        constants.ENV_REMEDIATION_TABLE: REMEDIATION_TABLE,
        constants.ENV_EVENT_BUS_NAME: BUS,
        constants.ENV_NO_TRAFFIC_MINUTES: "0",
        constants.ENV_ALERT_TOPIC_ARN: f"arn:aws:sns:{region}:{account}:{TOPIC}",
        constants.ENV_CHATBOT_FORMAT: "false",
        # Remediation in dry-run (the deployment's default) needs its post-check's schedule target and role.
        constants.ENV_POST_CHECK_TARGET_ARN: f"arn:aws:lambda:{region}:{account}:function:vpn-doctor-post-check",
        constants.ENV_POST_CHECK_ROLE_ARN: f"arn:aws:iam::{account}:role/vpn-doctor-post-check-scheduler",
        constants.ENV_TUNNEL_LOG_GROUP_ARN: (
            f"arn:aws:logs:{region}:{account}:log-group:{constants.TUNNEL_LOG_GROUP_NAME}"
        ),
        **(
            {constants.ENV_SLACK_SECRET_NAME: SLACK_SECRET, constants.ENV_SLACK_DLQ_URL: hub.slack_dlq_url}
            if hub is not None
            else {}
        ),
    }


@contextlib.contextmanager
def _inside(environment: dict[str, str], calls: Calls | None) -> Iterator[None]:
    """The environment of one account-region's functions, a fresh default session (its credentials), fresh wiring."""
    from handlers.wiring import reset  # noqa: PLC0415 - imported once the path is set

    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    # The shared botocore session keeps what it was last given: this instance's credentials and region, explicitly.
    boto3.setup_default_session(
        botocore_session=_BOTOCORE,
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=environment["AWS_SESSION_TOKEN"],
        region_name=environment["AWS_DEFAULT_REGION"],
    )
    hooks = (
        (("before-call", calls.before_call), ("after-call", calls.after_call), ("after-call-error", calls.after_call))
        if calls is not None
        else ()
    )
    for event, hook in hooks:
        _BOTOCORE.register(event, hook)
    reset()
    try:
        yield
    finally:
        reset()
        for event, hook in hooks:
            _BOTOCORE.unregister(event, hook)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        boto3.DEFAULT_SESSION = None


def _invoke(stage: str, event: dict[str, Any], account: str, region: str) -> Any:
    """One invocation of a real handler, its stdout (logs, metrics) captured."""
    module = __import__(f"handlers.{stage}", fromlist=["handler"])
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no application metrics to publish"
        return module.handler(event, _Context(f"vpn-doctor-{stage}", account, region))


def _scheduled(account: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).isoformat(),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/vpn-doctor-telemetry-poll"],
        "detail": {},
    }


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages") or []:
        found.extend(json.loads(message["Body"]) for message in messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return found


#: One botocore session (its loader: the parsed service models; its endpoint resolver; its client classes) for
#: every function instance of the run, given each instance's credentials and region in turn (the instances run
#: one at a time). A new botocore session per instance parsed the models again (EC2's alone is megabytes of JSON)
#: and rebuilt every client class: most of the run's time went there, which a Lambda instance pays once.
_BOTOCORE: Final = botocore.session.get_session()


def _session(credentials: dict[str, str], region: str) -> Any:
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
        botocore_session=_BOTOCORE,
    )


def _build(
    emulation: VpnEmulation, connections: int, accounts: list[str], regions: tuple[str, ...], slack: SlackReceiver
) -> tuple[list[Spoke], Hub]:
    """Every account-region's spoke resources and connections (UP for an hour), and the hub's topic and secret."""
    sts = boto3.client("sts", region_name=regions[0])
    since = datetime.now(UTC) - timedelta(hours=1)
    spokes: list[Spoke] = []
    sizes = iter(_spread(connections, len(accounts) * len(regions)))
    hub: Hub | None = None
    for account in accounts:
        credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/vpn-doctor-bench", RoleSessionName="bench")[
            "Credentials"
        ]
        for region in regions:
            session = _session(credentials, region)
            ec2, sqs, events = session.client("ec2"), session.client("sqs"), session.client("events")
            create_pipeline_table(session.client("dynamodb"), TABLE)
            create_pipeline_table(session.client("dynamodb"), REMEDIATION_TABLE)
            events.create_event_bus(Name=BUS)
            queue_url = sqs.create_queue(QueueName="vpn-doctor-incident-events")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            pattern = {"source": [constants.EVENT_SOURCE], "detail-type": [constants.DETAIL_TYPE_INCIDENT]}
            events.put_rule(Name="incidents-to-respond", EventBusName=BUS, EventPattern=json.dumps(pattern))
            events.put_targets(
                Rule="incidents-to-respond", EventBusName=BUS, Targets=[{"Id": "respond", "Arn": queue_arn}]
            )
            gateway = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="192.0.2.10", BgpAsn=65000)
            vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
            made: list[str] = []
            for _ in range(next(sizes)):
                vpn = ec2.create_vpn_connection(
                    Type="ipsec.1", CustomerGatewayId=gateway["CustomerGateway"]["CustomerGatewayId"], VpnGatewayId=vgw
                )["VpnConnection"]["VpnConnectionId"]
                for ip in emulation.tunnel_ips(vpn):
                    emulation.set_tunnel_status(vpn, ip, "UP", at=since)
                made.append(vpn)
            spokes.append(Spoke(account, region, credentials, tuple(made), queue_url))
            _progress(f"built {account} {region}: {len(made)} connections")
            if hub is None:  # the first account-region is the hub: the one topic and Slack set-up
                topic_arn = session.client("sns").create_topic(Name=TOPIC)["TopicArn"]
                session.client("secretsmanager").create_secret(Name=SLACK_SECRET, SecretString=slack.url)
                dlq = str(sqs.create_queue(QueueName="vpn-doctor-slack-dlq")["QueueUrl"])
                hub = Hub(account, region, credentials, topic_arn, dlq)
    assert hub is not None
    return spokes, hub


def _polls(spoke: Spoke, delay: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first and the steady-state poll of one account-region through the real poller handler, one warm
    function instance (settings and clients kept between the two invocations, as Lambda keeps them)."""
    calls = Calls(delay=delay)
    _progress(f"polls of {spoke.account} {spoke.region}")
    with _inside(_environment(spoke.account, spoke.region, spoke.credentials), calls):
        return _poll(spoke, calls), _poll(spoke, calls)


def _poll(spoke: Spoke, calls: Calls) -> dict[str, Any]:
    calls.reset()
    start = time.perf_counter()
    result = _invoke("poller", _scheduled(spoke.account, spoke.region), spoke.account, spoke.region)
    wall = time.perf_counter() - start
    return {
        "account": spoke.account,
        "region": spoke.region,
        "connections": result["connections"],
        "seconds": round(wall - calls.in_calls + calls.total * calls.delay, 3),
        "wall_seconds": round(wall, 3),
        "api_calls": calls.total,
        "calls": dict(sorted(calls.by_operation.items())),
        "dynamodb_writes": calls.dynamodb_writes,
        "changes": result["changes"],
        "errors": list(result["errors"]),
    }


def _storm_spoke(emulation: VpnEmulation, spoke: Spoke, down_at: datetime) -> tuple[int, int, list[dict[str, Any]]]:
    """Both tunnels of every other connection of the spoke DOWN at ``down_at``; its poller and respond stage run.
    Returns the tunnels put down, the incident events respond handled, and the alerts it published."""
    down = 0
    for number, vpn in enumerate(spoke.connections):
        if number % 2 == 0:
            for ip in emulation.tunnel_ips(vpn):
                emulation.set_tunnel_status(vpn, ip, "DOWN", at=down_at, message="")
                down += 1
    _progress(f"storm in {spoke.account} {spoke.region}")
    with _inside(_environment(spoke.account, spoke.region, spoke.credentials), None):
        _invoke("poller", _scheduled(spoke.account, spoke.region), spoke.account, spoke.region)
        # What the spoke's responder sees: the incident events the bus rule routed to it.
        sqs, bus = boto3.client("sqs"), boto3.client("events")
        tap = _alert_tap(sqs, bus)
        events = _drain(sqs, spoke.incident_queue_url)
        for event in events:
            _invoke("respond", event, spoke.account, spoke.region)
        # The alerts the responder published, forwarded to the hub's bus as a spoke's rule would.
        return down, len(events), _drain(sqs, tap)


def _notify(hub: Hub, alerts: list[dict[str, Any]], slack: SlackReceiver) -> dict[str, Any]:
    """The hub's notify stage delivers every forwarded alert; what the channels delivered, counted where it lands."""
    _progress(f"hub: notify {len(alerts)} alerts")
    calls = Calls(delay=0.0)
    posts_before = len(slack.posts())
    with _inside(_environment(hub.account, hub.region, hub.credentials, hub), calls):
        for alert in alerts:
            _invoke("notify", alert, hub.account, hub.region)
    topic_publishes = calls.by_operation.get("sns:Publish", 0) + calls.by_operation.get("sns:PublishBatch", 0)
    slack_posts = len(slack.posts()) - posts_before
    return {
        "alerts_forwarded_to_hub": len(alerts),
        "topic_publishes": topic_publishes,
        "slack_posts": slack_posts,
        "storm_messages": topic_publishes + slack_posts,
    }


SpokeResult = tuple[dict[str, Any], dict[str, Any], int, int, list[dict[str, Any]]]


def _spokes_work(emulation: VpnEmulation, spokes: list[Spoke], delay: float, workers: int) -> list[SpokeResult]:
    """Each spoke's first and steady polls; then, once every spoke has polled, the storm (one ``down_at`` for all).

    With ``workers`` > 1 the spokes are shared among that many forked processes (moto's state is copied into each:
    the spokes are independent, and only their results, alerts included, come back); a worker keeps its spokes
    from their polls to their storm. With 1, everything runs here."""
    if workers <= 1:
        polls = [_polls(spoke, delay) for spoke in spokes]
        down_at = datetime.now(UTC)
        storms = [_storm_spoke(emulation, spoke, down_at) for spoke in spokes]
        return [(*poll, *storm) for poll, storm in zip(polls, storms, strict=True)]
    context = multiprocessing.get_context("fork")
    groups = [list(range(len(spokes)))[worker::workers] for worker in range(workers)]
    pipes, processes = [], []
    for group in groups:
        parent, child = context.Pipe()

        def work(indices: list[int] = group, pipe: Any = child) -> None:
            pipe.send([_polls(spokes[index], delay) for index in indices])
            when = pipe.recv()
            pipe.send([_storm_spoke(emulation, spokes[index], when) for index in indices])
            pipe.close()

        process = context.Process(target=work, daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    polled = [pipe.recv() for pipe in pipes]
    down_at = datetime.now(UTC)  # every spoke has polled twice: the storm starts, at one moment for all
    for pipe in pipes:
        pipe.send(down_at)
    stormed = [pipe.recv() for pipe in pipes]
    for process in processes:
        process.join()
    results: dict[int, SpokeResult] = {}
    for group, polls, storms in zip(groups, polled, stormed, strict=True):
        for index, poll, storm in zip(group, polls, storms, strict=True):
            results[index] = (*poll, *storm)
    return [results[index] for index in range(len(spokes))]


def _alert_tap(sqs: Any, events: Any) -> str:
    """A queue on the spoke's bus receiving its alerts (what a forwarding rule to the hub's bus matches)."""
    url = str(sqs.create_queue(QueueName="vpn-doctor-alerts-to-hub")["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [constants.EVENT_SOURCE], "detail-type": [constants.DETAIL_TYPE_ALERT]}
    events.put_rule(Name="alerts-to-hub", EventBusName=BUS, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="alerts-to-hub", EventBusName=BUS, Targets=[{"Id": "hub", "Arn": arn}])
    return url


def measure(
    connections: int, accounts: int, regions: int, delay_ms: float = 5.0, *, cost: bool = True, workers: int = 1
) -> dict[str, Any]:
    """The whole measurement; one JSON-ready object."""
    if not (1 <= regions <= len(REGIONS) and accounts >= 1 and connections >= accounts * regions):
        raise ValueError(f"need 1-{len(REGIONS)} regions, 1+ accounts, and a connection per account-region")
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGIONS[0],
        "NO_PROXY": "127.0.0.1,localhost",
        # moto fills every account-region's EC2 model with thousands of public AMIs (most of a region's set-up
        # time, 80 times over): VPN connections need none.
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    delay = delay_ms / 1000
    emulation, slack = VpnEmulation(), SlackReceiver()
    service_logger = logging.getLogger(constants.SERVICE_NAME)
    saved_level = service_logger.level  # put back afterwards: a caller in the same process keeps its logs
    service_logger.setLevel(logging.ERROR)
    started = time.perf_counter()
    try:
        slack.start()
        with mock_aws(), no_transaction_snapshots(), partition_queries(), emulation.installed():
            spokes, hub = _build(emulation, connections, _accounts(accounts), REGIONS[:regions], slack)
            built = time.perf_counter() - started
            for stage in ("poller", "respond", "notify"):  # imported once, before any worker is forked
                __import__(f"handlers.{stage}")
            # Their structured logs go to the stdout they found at import: only errors, and on stderr's side.
            logging.getLogger(constants.SERVICE_NAME).setLevel(logging.ERROR)
            work = _spokes_work(emulation, spokes, delay, workers)
            polled = time.perf_counter() - started
            first, steady = [result[0] for result in work], [result[1] for result in work]
            alerts = [alert for result in work for alert in result[4]]
            storm = {
                "tunnels_down": sum(result[2] for result in work),
                "incident_transitions": sum(result[3] for result in work),
                **_notify(hub, alerts, slack),
            }
    finally:
        slack.stop()
        service_logger.setLevel(saved_level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    monthly = _monthly_cost(connections, accounts * regions) if cost else None
    return {
        "connections": connections,
        "tunnels": 2 * connections,
        "accounts": accounts,
        "regions": regions,
        "delay_ms_per_call": delay_ms,
        "workers": workers,
        "poll_seconds": max(poll["seconds"] for poll in steady),
        "poll_seconds_sum": round(sum(poll["seconds"] for poll in steady), 3),
        "first_poll_seconds": max(poll["seconds"] for poll in first),
        "api_calls": sum(poll["api_calls"] for poll in steady),
        "first_poll_api_calls": sum(poll["api_calls"] for poll in first),
        "writes_when_unchanged": sum(poll["dynamodb_writes"] for poll in steady),
        "storm_messages": storm["storm_messages"],
        "storm": storm,
        "monthly_usd": monthly["estate_usd"] if monthly else None,
        "monthly_cost": monthly,
        "errors": [error for poll in first + steady for error in poll["errors"]],
        "per_account_region": [
            {
                "account": f["account"],
                "region": f["region"],
                "connections": f["connections"],
                "first_poll": {key: f[key] for key in ("seconds", "wall_seconds", "api_calls", "dynamodb_writes")},
                "steady_poll": {
                    key: s[key] for key in ("seconds", "wall_seconds", "api_calls", "calls", "dynamodb_writes")
                },
            }
            for f, s in zip(first, steady, strict=True)
        ],
        "run_seconds": {
            "build": round(built, 1),
            "spokes": round(polled - built, 1),
            "total": round(time.perf_counter() - started, 1),
        },
    }


def _monthly_cost(connections: int, spokes: int) -> dict[str, Any]:
    """``bench/cost.py``'s monthly bill, per spoke (each account-region is one deployment polling its own share;
    the model is measured once at the largest share) and for the estate (the sum). Each spoke is priced as a whole
    deployment, its own alarms, key and channel secret included, so the sum is an upper bound: in a hub and spokes
    deployment the channels' secrets and their alarms are the hub's only."""
    from bench.cost import estimate  # noqa: PLC0415 - its own moto estate, after this one is gone

    share = math.ceil(connections / spokes)
    bill = estimate(2 * share)
    return {
        "connections_per_spoke": share,
        "spoke_usd": bill["monthly_usd"],
        "estate_usd": round(bill["monthly_usd"] * spokes, 2),
        "tunnel_log_ingestion_usd": round(bill["tunnel_log_ingestion_usd"] * spokes, 2),
        "prices_date": bill["prices_date"],
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print one JSON object; exit 1 when the steady-state poll wrote or a poll failed."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes the spokes are shared among (default: the CPUs; 1: all in this process)",
    )
    parser.add_argument("--no-cost", action="store_true", help="leave out the monthly cost (bench/cost.py's model)")
    parser.add_argument("--json", action="store_true", help="one JSON object (the only output format)")
    args = parser.parse_args(argv)
    result = measure(
        args.connections, args.accounts, args.regions, args.delay_ms, cost=not args.no_cost, workers=args.workers
    )
    print(json.dumps(result, indent=2))
    return 1 if result["writes_when_unchanged"] or result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
