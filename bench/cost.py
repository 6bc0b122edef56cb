"""What vpn-doctor costs a month with every detection on, for N tunnels, at AWS's public list prices.

The poller, whose cost grows with the estate, is **measured**: its real Lambda handler runs against moto
(the emulator's EC2 model for N/2 VPN connections of two UP tunnels each, the incidents table, the bus),
with every AWS call counted by a botocore hook on the default session (operations, ``GetMetricData``
metrics requested, DynamoDB keys read and items written), its stdout captured (the structured logs and
the embedded-metric-format lines, i.e. the function's log bytes and its custom metrics, each distinct
metric name + dimensions being one), and its code's time taken. Two polls are measured after a first,
warming one: a plain poll, and one that also reads the traffic (``no_traffic_minutes`` on, due every
poll); a day is ``1440 / poll_interval`` plain polls plus the traffic reads of ``TRAFFIC_EVERY``.

What does not grow with the estate's polling is modelled in :data:`WORKLOAD` (log batches per tunnel,
incidents per tunnel): each assumption is named there. The deployment's fixed parts (alarms, the KMS
key, the Slack secret) are counted in :data:`DEPLOYED`; ``tests/infra/test_cost_model.py`` checks the
alarm count against the synthesized stack. Free tiers are ignored (the figure is what the estate costs
on an account that has used them up). Tunnel log ingestion, which AWS bills whether vpn-doctor reads the
logs or not, is a separate line, not in ``monthly_usd``.

Run: ``.venv/bin/python bench/cost.py --tunnels 100 [--json]``; without ``--tunnels``, the table for 10,
100 and 1,000 tunnels (the README's). :func:`estimate` is what the test runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parents[1]
for part in ("functions", "tools", ""):
    if str(ROOT / part) not in sys.path:
        sys.path.insert(0, str(ROOT / part))

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.poll import ACCEPTED_ROUTES, no_transaction_snapshots  # noqa: E402
from vpn_doctor import constants  # noqa: E402
from vpn_doctor.app.incidents import TRAFFIC_EVERY  # noqa: E402
from vpn_doctor.replacement import CERTIFICATE_EVERY, REPLACEMENT_EVERY  # noqa: E402
from vpn_doctor_tools.emulator import VpnEmulation  # noqa: E402
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table  # noqa: E402

# --- prices -----------------------------------------------------------------------------------
#: AWS list prices, us-east-1, as published on the pages named (read 2026-12-02); USD.
PRICES_DATE: Final = "2026-12-02"
PRICES: Final[dict[str, tuple[float, str, str]]] = {
    # key: (price, unit, page)
    "lambda_request": (0.20 / 1e6, "request", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_second": (0.0000133334, "GB-second (arm64)", "https://aws.amazon.com/lambda/pricing/"),
    "get_metric_data": (0.01 / 1000, "metric requested", "https://aws.amazon.com/cloudwatch/pricing/"),
    "alarm": (0.10, "standard-resolution alarm metric-month", "https://aws.amazon.com/cloudwatch/pricing/"),
    "custom_metric": (
        0.30,
        "custom metric-month (first 10,000; prorated by the hour)",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "logs_ingested": (0.50, "GB ingested (standard log class)", "https://aws.amazon.com/cloudwatch/pricing/"),
    "logs_stored": (0.03, "GB-month archived", "https://aws.amazon.com/cloudwatch/pricing/"),
    "vended_logs": (
        0.50,
        "GB of vended logs delivered to CloudWatch Logs (first 10 TB)",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "dynamodb_write": (
        0.625 / 1e6,
        "write request unit (on-demand)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "dynamodb_read": (
        0.125 / 1e6,
        "read request unit (on-demand)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "eventbridge_event": (1.00 / 1e6, "custom event published", "https://aws.amazon.com/eventbridge/pricing/"),
    "scheduler_invocation": (
        1.00 / 1e6,
        "EventBridge Scheduler invocation",
        "https://aws.amazon.com/eventbridge/pricing/",
    ),
    "sns_publish": (0.50 / 1e6, "SNS publish", "https://aws.amazon.com/sns/pricing/"),
    "sns_email": (2.00 / 1e5, "SNS email notification", "https://aws.amazon.com/sns/pricing/"),
    "kms_key": (1.00, "customer managed key-month", "https://aws.amazon.com/kms/pricing/"),
    "kms_request": (0.03 / 1e4, "KMS request", "https://aws.amazon.com/kms/pricing/"),
    "secret": (0.40, "secret-month", "https://aws.amazon.com/secrets-manager/pricing/"),
    "secret_call": (0.05 / 1e4, "Secrets Manager API call", "https://aws.amazon.com/secrets-manager/pricing/"),
    "xray_trace": (5.00 / 1e6, "X-Ray trace recorded", "https://aws.amazon.com/xray/pricing/"),
}
DAYS_PER_MONTH: Final = 730 / 24  # AWS prices a month as 730 hours


def price(key: str) -> float:
    """The list price of one unit of ``key``."""
    return PRICES[key][0]


# --- cadences and assumptions -------------------------------------------------------------------
POLL_INTERVAL_MINUTES: Final = 1  # the deployment's default schedule (cdk.json poll_interval_minutes)
#: How often the poller reads the traffic metrics: the code's own cadence (GetMetricData is billed per metric
#: requested, two per UP tunnel a read).
TRAFFIC_EVERY_MINUTES: Final = int(TRAFFIC_EVERY.total_seconds() // 60)
#: The checks ahead of time (vpn_doctor.app.ahead): each connection's replacement status (every tunnel with lifecycle
#: control on: one GetVpnTunnelReplacementStatus each, free like every EC2 API call) every 6 hours, each tunnel
#: certificate's expiry (one ACM DescribeCertificate, free) once a day. Measured: a poll where every connection is
#: due, every tunnel with lifecycle control on (the worst case); the certificates are modelled as one per tunnel.
REPLACEMENT_EVERY_MINUTES: Final = int(REPLACEMENT_EVERY.total_seconds() // 60)
CERTIFICATE_READS_A_DAY: Final = 86_400 / CERTIFICATE_EVERY.total_seconds()
MEMORY_GB: Final = 256 / 1024  # every function's memory (stacks/function.py); arm64 (stacks/packaging.py)
AWS_CALL_MS: Final = 15.0  # a call's round trip from Lambda to a regional endpoint, added per counted call
PLATFORM_LOG_BYTES: Final = 350  # Lambda's own START/END/REPORT lines per invocation


@dataclass(frozen=True)
class Workload:
    """What the functions other than the poller see, per tunnel and day (assumptions, not measurements)."""

    # AWS tunnel logs: a healthy tunnel writes a few records an hour (phase 2 rekeys, DPD when idle);
    # the subscription delivers them in small batches: one ingest invocation per batch.
    log_batches: float = 48.0
    log_record_bytes: float = 450.0  # one AWS tunnel log record (JSON format)
    log_records: float = 96.0
    ingest_ms: float = 60.0  # one small batch: parse, classify, no AWS call for healthy chatter
    ingest_log_bytes: float = 600.0  # the ingest function's own log lines per batch (metrics included)
    # Incidents: one a week per tunnel, each with ~3 transitions (opened, an update, resolved); each
    # transition -> respond (diagnosis: DescribeVpnConnections, GetMetricData 2 metrics) -> notify
    # (SNS email and Slack: one secret read), and a post-check schedule for one in ten.
    incidents: float = 1 / 7
    transitions_per_incident: float = 3.0
    handler_ms: float = 400.0
    handler_log_bytes: float = 3000.0
    # BGP routes (vpn_doctor.routes): the poller writes a tunnel's record when its accepted routes' state changes
    # (a baseline raised or re-learned, a count turning low or recovering), outside any incident: a few a week per
    # tunnel, each one transaction of one item (2 write units); the measured steady poll writes nothing.
    route_changes: float = 4 / 7
    # The scheduled functions besides the poller, once every tunnel logs (on-boarding done, the watchdog finding
    # nothing): onboard every 5 minutes (stacks/onboarding.py: DescribeVpnConnections, then one Query of each
    # connection's progress), the watchdog every 15 minutes (stacks/watchdog.py: about 7 calls), the report once a
    # week (a Scan of about one item per tunnel and connection). Both count no metric when there is nothing to count.
    onboard_runs_a_day: float = 24 * 60 / 5
    watchdog_runs_a_day: float = 24 * 60 / 15
    watchdog_calls: float = 7.0
    scheduled_ms: float = 250.0
    scheduled_log_bytes: float = 400.0


WORKLOAD: Final = Workload()


@dataclass(frozen=True)
class Deployed:
    """What one deployment holds whatever the estate (counted from the stack; see the module docstring)."""

    # Errors and failure-queue alarms of every function, Slack's dead letters, publish failures: the synthesized
    # stack's count with every option on (tests/infra/test_cost_model.py checks it), the channels beyond e-mail
    # and Slack aside: each of those (Teams, PagerDuty) adds its secret and its dead-letter alarm.
    alarms: int = 20
    kms_keys: int = 1  # the topic's key (stacks/notifications.py)
    secrets: int = 1  # the Slack webhook secret (everything on)
    alarms_per_extra_channel: int = 1
    # Custom metrics emitted by the functions other than the poller in a typical hour (ingest: Records,
    # Findings{Category=healthy}); the poller's are measured.
    other_custom_metrics: int = 2


DEPLOYED: Final = Deployed()


# --- measurement ------------------------------------------------------------------------------
@dataclass
class Counted:
    """AWS calls seen by the hooks: by operation, GetMetricData metrics, DynamoDB units."""

    calls: Counter[str] = field(default_factory=Counter)
    metrics_requested: int = 0
    read_units: int = 0
    write_units: int = 0
    in_calls: float = 0.0
    _started: float = 0.0

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """botocore ``before-parameter-build``: count the call, its metrics and its DynamoDB units."""
        self._started = time.perf_counter()
        service = model.service_model.service_name
        self.calls[f"{service}:{model.name}"] += 1
        if model.name == "GetMetricData":
            self.metrics_requested += len(params.get("MetricDataQueries", ()))
        if service != "dynamodb":
            return
        if model.name == "BatchGetItem":  # strongly consistent, items under 4 KB: one unit a key
            self.read_units += sum(len(table.get("Keys", ())) for table in params.get("RequestItems", {}).values())
        elif model.name in {"GetItem", "Query"}:
            self.read_units += 1
        elif model.name == "TransactWriteItems":  # transactions cost two units an item
            self.write_units += 2 * len(params.get("TransactItems", ()))
        elif model.name in {"PutItem", "UpdateItem", "DeleteItem"}:
            self.write_units += 1
        elif model.name == "BatchWriteItem":
            self.write_units += sum(len(r) for r in params.get("RequestItems", {}).values())

    def after(self, **_: Any) -> None:
        """botocore ``after-call``: time spent in the call (moto's), left out of the function's time."""
        self.in_calls += time.perf_counter() - self._started

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass(frozen=True)
class Poll:
    """One measured poller invocation."""

    calls: dict[str, int]
    metrics_requested: int
    read_units: int
    write_units: int
    events_published: int
    seconds: float  # modelled: our code's time plus AWS_CALL_MS per call
    log_bytes: int
    custom_metrics: frozenset[str]
    traffic_findings: int


class _Context:
    """The Lambda context the handler's logger decorator reads."""

    function_name = "vpn-doctor-poller"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:vpn-doctor-poller"
    aws_request_id = "cost-model"


def _metric_identities(stdout: str) -> set[str]:
    """Distinct custom metrics (namespace, name, dimensions and their values) in EMF lines."""
    found: set[str] = set()
    for line in stdout.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        for directive in document["_aws"].get("CloudWatchMetrics", ()):
            for dimensions in directive.get("Dimensions", ()) or [[]]:
                values = ",".join(f"{d}={document.get(d)}" for d in sorted(dimensions))
                for metric in directive.get("Metrics", ()):
                    found.add(f"{directive.get('Namespace')}:{metric['Name']}[{values}]")
    return found


def _estate(connections: int) -> None:
    """moto with N VPN connections (two UP tunnels each, UP for hours), the table, the bus."""
    session = boto3.session.Session(region_name="us-east-1")
    ec2, dynamodb = session.client("ec2"), session.client("dynamodb")
    create_pipeline_table(dynamodb, "vpn-doctor-cost")
    session.client("events").create_event_bus(Name="vpn-doctor-cost")
    gateway = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="192.0.2.10", BgpAsn=65000)
    gateway_id = gateway["CustomerGateway"]["CustomerGatewayId"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    since = datetime.now(UTC) - timedelta(hours=3)
    lifecycle = {"EnableTunnelLifecycleControl": True}  # the checks ahead read every tunnel's replacement status
    for _ in range(connections):
        created = ec2.create_vpn_connection(
            Type="ipsec.1",
            CustomerGatewayId=gateway_id,
            VpnGatewayId=vgw,
            Options={"TunnelOptions": [lifecycle, lifecycle]},
        )
        vpn = created["VpnConnection"]["VpnConnectionId"]
        for ip in _EMULATION.tunnel_ips(vpn):
            # BGP (moto's default routing) with accepted routes: every poll also judges them (vpn_doctor.routes).
            _EMULATION.set_tunnel_status(vpn, ip, "UP", at=since, accepted_route_count=ACCEPTED_ROUTES)


_EMULATION = VpnEmulation()


def measure_polls(tunnels: int) -> tuple[Poll, Poll, Poll]:
    """A plain poll, a poll that reads the traffic and one where every connection's check ahead is due, of an
    estate of ``tunnels`` (steady state)."""
    connections = max(1, tunnels // 2)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto's fake credentials
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
        "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
        constants.ENV_INCIDENTS_TABLE: "vpn-doctor-cost",
        constants.ENV_EVENT_BUS_NAME: "vpn-doctor-cost",
    }
    saved = {
        name: os.environ.get(name)
        for name in (
            *env,
            constants.ENV_NO_TRAFFIC_MINUTES,
            constants.ENV_POLL_INTERVAL_MINUTES,
            constants.ENV_REPLACEMENT_CHECK_MINUTES,
            constants.ENV_CERTIFICATE_WARN_DAYS,
        )
    }
    os.environ.update(env)
    try:
        with mock_aws(), no_transaction_snapshots(), _EMULATION.installed():
            _estate(connections)
            boto3.setup_default_session(region_name="us-east-1")
            counted = Counted()
            boto3.DEFAULT_SESSION.events.register("before-parameter-build", counted.before)
            boto3.DEFAULT_SESSION.events.register("after-call", counted.after)
            boto3.DEFAULT_SESSION.events.register("after-call-error", counted.after)
            _invoke(counted, traffic=False)  # first poll: every tunnel new (not a steady-state figure)
            plain = _invoke(counted, traffic=False)
            traffic = _invoke(counted, traffic=True)
            ahead = _invoke(counted, traffic=False, ahead=True)
            return plain, traffic, ahead
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        boto3.DEFAULT_SESSION = None


def _invoke(counted: Counted, *, traffic: bool, ahead: bool = False) -> Poll:
    """One poller invocation through its real handler (settings from the environment, fresh wiring); ``ahead``:
    every connection's check ahead is due (else none is: the plain and traffic polls are the other polls)."""
    from handlers import observability, poller  # noqa: PLC0415 - imported once the environment is set
    from handlers.wiring import reset  # noqa: PLC0415

    os.environ[constants.ENV_NO_TRAFFIC_MINUTES] = "30" if traffic else "0"
    # A poll interval as long as the read cadence makes this poll's read due (the handler reads the clock).
    os.environ[constants.ENV_POLL_INTERVAL_MINUTES] = str(TRAFFIC_EVERY_MINUTES)
    # A check cadence no longer than the poll interval makes every connection due in this poll; 0 turns it off.
    os.environ[constants.ENV_REPLACEMENT_CHECK_MINUTES] = str(TRAFFIC_EVERY_MINUTES) if ahead else "0"
    os.environ[constants.ENV_CERTIFICATE_WARN_DAYS] = "0"  # modelled (the emulator's tunnels have no certificate)
    reset()
    counted.calls.clear()
    counted.metrics_requested = counted.read_units = counted.write_units = 0
    counted.in_calls = 0.0
    out = io.StringIO()
    # The function's logger writes to the stream it was given at import: point it here for the invocation.
    streams = [h for h in observability.logger.handlers if isinstance(h, logging.StreamHandler)]
    before = [h.setStream(out) for h in streams]
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out):
            result = poller.handler({"source": "aws.scheduler", "detail": {}}, _Context())  # type: ignore[arg-type]
    finally:
        for handler, stream in zip(streams, before, strict=True):
            handler.setStream(stream)
    wall = time.perf_counter() - start
    if result["errors"]:
        raise RuntimeError(f"the measured poll failed: {result['errors']}")
    return Poll(
        calls=dict(sorted(counted.calls.items())),
        metrics_requested=counted.metrics_requested,
        read_units=counted.read_units,
        write_units=counted.write_units,
        events_published=counted.calls.get("events:PutEvents", 0),
        seconds=max(0.0, wall - counted.in_calls) + counted.total * AWS_CALL_MS / 1000,
        log_bytes=len(out.getvalue().encode()),
        custom_metrics=frozenset(_metric_identities(out.getvalue())),
        traffic_findings=int(result.get("traffic_findings", 0)),
    )


# --- the model --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One line of the bill: what, how many a month, and its monthly cost."""

    item: str
    quantity: float
    unit: str
    usd: float


def estimate(tunnels: int, polls: tuple[Poll, ...] | None = None) -> dict[str, Any]:
    """The monthly bill for ``tunnels`` with every detection on (the poller measured, the rest modelled);
    ``polls``: the plain, traffic and (optionally) checks-ahead polls of :func:`measure_polls`."""
    plain, traffic, *more = polls or measure_polls(tunnels)
    ahead = more[0] if more else plain
    month = DAYS_PER_MONTH
    polls_a_month = month * 1440 / POLL_INTERVAL_MINUTES
    reads_a_month = month * 1440 / TRAFFIC_EVERY_MINUTES
    w = WORKLOAD
    batches = tunnels * w.log_batches * month
    transitions = tunnels * w.incidents * w.transitions_per_incident * month
    handled = 2 * transitions + transitions / 10  # respond + notify per transition, post-checks for one in ten
    connections = max(1, tunnels // 2)
    onboard_runs = w.onboard_runs_a_day * month
    watchdog_runs = w.watchdog_runs_a_day * month
    report_runs = month / 7
    scheduled = onboard_runs + watchdog_runs + report_runs
    scheduled_calls = onboard_runs * (1 + connections) + watchdog_runs * w.watchdog_calls
    invocations = polls_a_month + batches + handled + scheduled
    extra_ms = max(0.0, traffic.seconds - plain.seconds)
    # The checks ahead: the measured poll checks every connection; each is checked once per REPLACEMENT_EVERY.
    checks_a_month = month * 1440 / REPLACEMENT_EVERY_MINUTES
    certificate_reads = tunnels * CERTIFICATE_READS_A_DAY * month  # one certificate per tunnel (worst case)
    gb_seconds = MEMORY_GB * (
        polls_a_month * plain.seconds
        + reads_a_month * extra_ms
        + batches * w.ingest_ms / 1000
        + handled * w.handler_ms / 1000
        + scheduled * w.scheduled_ms / 1000
        + scheduled_calls * AWS_CALL_MS / 1000
        + checks_a_month * max(0.0, ahead.seconds - plain.seconds)
        + certificate_reads * AWS_CALL_MS / 1000
    )
    # The watchdog reads the poller's Invocations (one metric a run).
    metrics_requested = reads_a_month * traffic.metrics_requested + transitions * 2 + watchdog_runs
    read_units = (
        polls_a_month * plain.read_units
        + reads_a_month * max(0, traffic.read_units - plain.read_units)
        + onboard_runs * connections  # one consistent Query of a connection's few progress items
        + watchdog_runs  # its conditions' item
        + report_runs * (tunnels + connections)  # the weekly Scan, about an item of under 4 KB each
        + checks_a_month * max(0, ahead.read_units - plain.read_units)  # each checked connection's warning record
        + connections * CERTIFICATE_READS_A_DAY * month  # ... and its certificate warning record
    )
    write_units = (
        polls_a_month * plain.write_units
        + transitions * 4  # a transition: record, outbox, archive
        + tunnels * w.route_changes * month * 2  # a BGP tunnel's routes state changing (one item, transactional)
    )
    events = polls_a_month * plain.events_published + transitions * 2  # the transition and its alert
    log_bytes = (
        polls_a_month * (plain.log_bytes + PLATFORM_LOG_BYTES)
        + reads_a_month * max(0, traffic.log_bytes - plain.log_bytes)
        + batches * (w.ingest_log_bytes + PLATFORM_LOG_BYTES)
        + handled * (w.handler_log_bytes + PLATFORM_LOG_BYTES)
        + scheduled * (w.scheduled_log_bytes + PLATFORM_LOG_BYTES)
        + checks_a_month * max(0, ahead.log_bytes - plain.log_bytes)
    )
    log_gb = log_bytes / 1e9
    custom_metrics = len(plain.custom_metrics | traffic.custom_metrics) + DEPLOYED.other_custom_metrics
    kms_requests = transitions * 2  # the topic's key: a data key for each SNS publish and its delivery
    secrets_usd = DEPLOYED.secrets * price("secret") + transitions * price("secret_call")
    lines = [
        Line("Lambda requests", invocations, "requests", invocations * price("lambda_request")),
        Line("Lambda compute", gb_seconds, "GB-s", gb_seconds * price("lambda_gb_second")),
        Line("CloudWatch GetMetricData", metrics_requested, "metrics", metrics_requested * price("get_metric_data")),
        Line("CloudWatch alarms", DEPLOYED.alarms, "alarms", DEPLOYED.alarms * price("alarm")),
        Line("CloudWatch custom metrics (EMF)", custom_metrics, "metrics", custom_metrics * price("custom_metric")),
        Line("CloudWatch Logs, functions' own", log_gb, "GB", log_gb * (price("logs_ingested") + price("logs_stored"))),
        Line("DynamoDB reads", read_units, "RRU", read_units * price("dynamodb_read")),
        Line("DynamoDB writes", write_units, "WRU", write_units * price("dynamodb_write")),
        Line("EventBridge events", events, "events", events * price("eventbridge_event")),
        Line("EventBridge Scheduler", transitions / 10, "schedules", transitions / 10 * price("scheduler_invocation")),
        Line("SNS", transitions, "emails", transitions * (price("sns_publish") + price("sns_email"))),
        Line(
            "KMS", DEPLOYED.kms_keys, "keys", DEPLOYED.kms_keys * price("kms_key") + kms_requests * price("kms_request")
        ),
        Line("Secrets Manager", DEPLOYED.secrets, "secrets", secrets_usd),
        Line("X-Ray traces", invocations, "traces", invocations * price("xray_trace")),
    ]
    monthly = sum(line.usd for line in lines)
    tunnel_log_gb = tunnels * w.log_records * w.log_record_bytes * month / 1e9
    alarms_instead = 3 * tunnels  # TunnelState, TunnelDataIn, TunnelDataOut: one alarm each per tunnel
    return {
        "tunnels": tunnels,
        "connections": connections,
        "monthly_usd": round(monthly, 2),
        "lines": [asdict(line) for line in lines],
        "tunnel_log_ingestion_usd": round(tunnel_log_gb * price("vended_logs"), 2),
        "alarm_per_metric_per_tunnel_usd": round(alarms_instead * price("alarm"), 2),
        # Each channel beyond e-mail and Slack (Teams, PagerDuty): its secret and its dead-letter alarm.
        "per_extra_channel_usd": round(price("secret") + DEPLOYED.alarms_per_extra_channel * price("alarm"), 2),
        "cadence": {
            "poll_minutes": POLL_INTERVAL_MINUTES,
            "traffic_read_minutes": TRAFFIC_EVERY_MINUTES,
            "replacement_check_minutes": REPLACEMENT_EVERY_MINUTES,
            "certificate_reads_a_day": CERTIFICATE_READS_A_DAY,
        },
        "measured": {
            "plain_poll": _poll_dict(plain),
            "traffic_poll": _poll_dict(traffic),
            "ahead_poll": _poll_dict(ahead),
        },
        "prices_date": PRICES_DATE,
    }


def _poll_dict(poll: Poll) -> dict[str, Any]:
    data = asdict(poll)
    data["custom_metrics"] = sorted(poll.custom_metrics)
    return data


def _table(results: list[dict[str, Any]]) -> str:
    head = "| | " + " | ".join(f"{r['tunnels']:,} tunnels" for r in results) + " |"
    rows = [head, "|---|" + "---:|" * len(results)]
    for index, line in enumerate(results[0]["lines"]):
        rows.append(f"| {line['item']} | " + " | ".join(f"${r['lines'][index]['usd']:.2f}" for r in results) + " |")
    rows.append("| **vpn-doctor, a month** | " + " | ".join(f"**${r['monthly_usd']:.2f}**" for r in results) + " |")
    rows.append(
        "| tunnel log ingestion (AWS bills it anyway) | "
        + " | ".join(f"${r['tunnel_log_ingestion_usd']:.2f}" for r in results)
        + " |"
    )
    rows.append(
        "| instead: one alarm per metric per tunnel (3) | "
        + " | ".join(f"${r['alarm_per_metric_per_tunnel_usd']:.2f}" for r in results)
        + " |"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Print one estimate (``--json``: one JSON object) or the table for 10, 100 and 1,000 tunnels."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tunnels", type=int)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [args.tunnels] if args.tunnels else [10, 100, 1000]
    results = [estimate(n) for n in sizes]
    if args.json:
        print(json.dumps(results[0] if args.tunnels else results, indent=2, default=str))
    else:
        print(
            f"us-east-1 list prices of {PRICES_DATE}; poll every {POLL_INTERVAL_MINUTES} min, "
            f"traffic every {TRAFFIC_EVERY_MINUTES} min"
        )
        print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
