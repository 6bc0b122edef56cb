"""Real strongSwan (and libreswan) daemons reproduce each failure; their logs travel the product's real path.

Per scenario: both daemons (charon for AWS, charon or pluto for the customer gateway) run in their
namespaces, the scenario is driven (initiate, rekey, nftables), and each side's log is written to a
CloudWatch Logs group in moto under a stream named like AWS names tunnel streams
(``<vpn-id>-<tunnel outside ip>``), read back with FilterLogEvents and delivered to
``handlers.ingest.handler`` as a real subscription payload (``awslogs.data``: gzip + base64). The
handler classifies, opens the incident (DynamoDB in moto) and publishes the transition on the bus;
the test renders the alert from what was published.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from handlers.ingest import handler
from handlers.wiring import reset
from tests.conftest import OUR_EVENTS, drained, handler_aws, lambda_context, tapped_bus
from tests.lab.harness import (
    AWS_IP,
    CHARON,
    FAKE_PSKS,
    LOG_STREAM,
    PLUTO,
    VPN_ID,
    Lab,
    libreswan_unavailable_reason,
    running_lab,
    unavailable_reason,
)
from tests.lab.matrix import CELLS, LEVEL2_TOLERATED, Cell, Run, gap, run_cell
from tests.lab.scenarios import ALL_SCENARIOS, Capture, Scenario, run
from tests.lab.shipping import JOURNALD, RSYSLOGD
from tests.lab.shipping import unavailable_reason as shipping_unavailable_reason
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_INCIDENTS_TABLE
from vpn_doctor.models import Alert, IncidentTransition, TransitionKind, load
from vpn_doctor.parsing import parse_line
from vpn_doctor.render.common import build_view, problem_phrase
from vpn_doctor.render.email import render_email
from vpn_doctor.render.slack import render_slack

REASON = unavailable_reason()
LIBRESWAN_REASON = libreswan_unavailable_reason()
SHIPPING_REASON = shipping_unavailable_reason()
pytestmark = [pytest.mark.lab, pytest.mark.skipif(REASON is not None, reason=f"customer-gateway lab: {REASON}")]

ACCOUNT = "111122223333"
TABLE = "vpn-doctor-lab-incidents"
BUS = "vpn-doctor-lab"
# AWS's side goes to the tunnel log group, the customer gateway's to one the customer ships to.
GROUPS = {"aws": "/aws/vpn/lab/tunnels", "cgw": "/vpn-doctor/lab/customer-gateway"}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """One lab (namespaces + link) for all scenarios; removed afterwards, checked to be gone."""
    with running_lab() as built:
        names = (built.aws.namespace, built.cgw.namespace)
        yield built
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert not any(name in left for name in names), f"namespaces left behind: {left}"
    for daemon in (CHARON, str(PLUTO), JOURNALD, str(RSYSLOGD)):
        running = subprocess.run(["pgrep", "-f", daemon], capture_output=True, text=True, check=False).stdout.split()
        assert not set(running) & set(built.daemon_pids), f"{daemon} left behind"


@dataclass
class Aws:
    """The moto side: logs, the incidents table and a tap on the bus."""

    logs: Any
    sqs: Any
    queue_url: str

    def published(self) -> list[IncidentTransition]:
        """Every incident transition the handler put on the bus, in order."""
        return [
            load(IncidentTransition, body["detail"])
            for body in drained(self.sqs, self.queue_url)
            if body.get("detail-type") == "VPN Tunnel Incident"
        ]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto CloudWatch Logs, DynamoDB incidents table and an event bus, the handler configured for them."""
    settings = {"POWERTOOLS_METRICS_NAMESPACE": "VpnDoctor", ENV_INCIDENTS_TABLE: TABLE, ENV_EVENT_BUS_NAME: BUS}
    with handler_aws(monkeypatch, reset, settings, table=TABLE):
        queue_url = tapped_bus(BUS, "lab-bus-tap", OUR_EVENTS)
        logs = boto3.client("logs")
        for group in GROUPS.values():
            logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=LOG_STREAM)
        yield Aws(logs, boto3.client("sqs"), queue_url)


def deliver(
    aws: Aws, side: str, lines: list[str], group: str | None = None, stream: str = LOG_STREAM
) -> dict[str, Any]:
    """Write one side's log to CloudWatch Logs (``group`` and ``stream``, by default the side's), read it back as
    a subscription would get it, and hand the gzip+base64 payload to the ingest handler; its report is returned."""
    if group is None:
        group = GROUPS[side]
    else:
        aws.logs.create_log_group(logGroupName=group)
        aws.logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events = []
    now = datetime.now(UTC)  # the year for pluto's log-file times, which have none
    for line in lines:
        at = parse_line(line, reference_time=now).timestamp
        assert at is not None, line
        events.append({"timestamp": int(at.timestamp() * 1000), "message": line})
    # PutLogEvents takes a batch in time order only; charon's threads write a verbose log a millisecond out of
    # order now and then, and a shipper sends it sorted, as here (stable: equal times keep their order).
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html: "The log events
    # in the batch must be in chronological order by their timestamp."
    events.sort(key=lambda event: event["timestamp"])
    aws.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    stored = aws.logs.filter_log_events(logGroupName=group, logStreamNames=[stream])["events"]
    assert [item["message"] for item in stored] == [event["message"] for event in events]
    document = {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": ["vpn-doctor"],
        "logEvents": [
            {"id": item["eventId"], "timestamp": item["timestamp"], "message": item["message"]} for item in stored
        ],
    }
    payload = {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()}}
    report: dict[str, Any] = handler(payload, lambda_context("ingest"))
    return report


def _worst(report: dict[str, Any]) -> tuple[str, str | None] | None:
    """The (category, cause) of the most severe failure in a report, the earliest of those."""
    rank = {"info": 0, "warning": 1, "critical": 2}
    failures = [f for f in report["findings"] if f["category"] not in ("healthy", "unknown")]
    if not failures:
        return None
    top = max(rank[f["severity"]] for f in failures)
    first = next(f for f in failures if rank[f["severity"]] == top)
    return first["category"], first["cause"]


def _value(expected: Any) -> tuple[str, str] | None:
    return None if expected is None else (expected[0].value, expected[1].value)


_SKIP_LIBRESWAN = pytest.mark.skipif(
    LIBRESWAN_REASON is not None, reason=f"libreswan customer gateway: {LIBRESWAN_REASON}"
)


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(s, id=s.key, marks=[_SKIP_LIBRESWAN] if s.gateway == "libreswan" else []) for s in ALL_SCENARIOS],
)
def test_real_daemon_logs_through_ingest_open_the_expected_incident_and_alert(
    lab: Lab, aws: Aws, scenario: Scenario
) -> None:
    capture: Capture = run(lab, scenario)
    for lines in (capture.aws, capture.cgw):
        assert lines, "a daemon logged nothing"
        assert not any(psk in line for psk in FAKE_PSKS for line in lines)

    # AWS's side first: the incident opens on what the AWS endpoint saw, the CGW's log adds to it.
    reports = {side: deliver(aws, side, getattr(capture, side)) for side in ("aws", "cgw")}
    for side, report in reports.items():
        assert report["records"] == len(getattr(capture, side))
        unknown = [f["evidence"][-1]["message"] for f in report["findings"] if f["category"] == "unknown"]
        assert unknown == [], (side, unknown)
        assert _worst(report) == _value(scenario.expected_for(side)), (side, report["findings"])

    transitions = aws.published()
    if scenario.expected is None:
        assert transitions == []
        return
    opened = [t for t in transitions if t.kind is TransitionKind.OPENED]
    assert len(opened) == 1
    incident = opened[0].incident
    assert (incident.vpn_connection_id, incident.tunnel_ip) == (VPN_ID, AWS_IP)
    assert (incident.category, incident.cause) == scenario.expected

    view = build_view(Alert(transition=opened[0], region="us-east-1", log_group=GROUPS["aws"]))
    email = render_email(view)
    words = problem_phrase(*scenario.expected)
    assert words in email.subject + email.body
    slack = json.dumps(render_slack(view))
    assert words in slack
    assert not any(psk in text for psk in FAKE_PSKS for text in (email.body, slack))


# --- the matrix: IKEv1 and IKEv2, strongSwan and libreswan, shipped through journald and rsyslog ----------


def _matrix_params() -> list[Any]:
    params = []
    for cell in CELLS:
        marks = [] if cell.ci else [pytest.mark.lab_matrix]
        if cell.daemon == "libreswan":
            marks.append(_SKIP_LIBRESWAN)
        if SHIPPING_REASON is not None:
            marks.append(pytest.mark.skip(reason=f"log shippers: {SHIPPING_REASON}"))
        params.append(pytest.param(cell, id=cell.key, marks=marks))
    return params


@pytest.mark.parametrize("cell", _matrix_params())
def test_the_gateway_log_shipped_through_journald_and_rsyslog_is_classified_at_every_level(
    lab: Lab, aws: Aws, cell: Cell
) -> None:
    started = time.monotonic()
    ran: Run = run_cell(lab, cell)
    outputs: dict[str, list[str]] = {envelope.value: lines for envelope, lines in ran.shipped.items()}
    # Level 2 (thousands of lines through the handler) in the full matrix only; `make test`'s subset reads level 1.
    outputs |= {
        f"charon-level{level}": lines
        for level, lines in ran.levels.items()
        if level == 1 or (level == 2 and not cell.ci)
    }
    expected = _value(cell.expected)
    wrong: dict[str, Any] = {}
    for index, (name, lines) in enumerate(outputs.items()):
        assert lines, (cell.key, name, "nothing came out")
        # Each output as another connection and tunnel (its own stream name): the handler keeps a tunnel's (and
        # an IKE SA's) history across deliveries, and the same rekeys delivered nine times would read as a
        # lifetime mismatch.
        stream = f"{VPN_ID[:-2]}{index:02x}-198.18.{100 + index}.1"
        report = deliver(aws, "cgw", lines, group=f"/vpn-doctor/lab/matrix/{index}-{name}", stream=stream)
        assert report["records"] == len(lines)
        if not name.endswith("level2"):  # level 2 adds the daemon's internals: unknown there is expected
            unknown = [f["evidence"][-1]["message"] for f in report["findings"] if f["category"] == "unknown"]
            if unknown:
                wrong[name] = ("unknown lines", unknown[:3])
                continue
        got = _worst(report)
        tolerated = {_value(pair) for pair in LEVEL2_TOLERATED.get(cell.key, ())} if name.endswith("level2") else set()
        if got != expected and got not in tolerated:
            wrong[name] = got
    if (report_to := os.environ.get("VPN_DOCTOR_LAB_REPORT")) is not None:
        # `make lab-matrix` with VPN_DOCTOR_LAB_REPORT=FILE: one JSON line per cell, for tests/lab/README.md's table.
        with open(report_to, "a", encoding="utf-8") as out:
            row = {"cell": cell.key, "run": round(ran.seconds, 1), "checked": round(time.monotonic() - started, 1)}
            out.write(json.dumps({**row, "expected": expected, "wrong": {k: str(v) for k, v in wrong.items()}}) + "\n")
    # matrix.GAPS: outputs not yet read as a person would (each with its reason); they must still be wrong.
    gaps = {name for name in outputs if gap(cell.key, name, live=True) is not None}
    assert {name: got for name, got in wrong.items() if name not in gaps} == {}, (cell.key, expected)
    assert gaps <= set(wrong), f"now classified as expected, remove from matrix.GAPS: {sorted(gaps - set(wrong))}"
    if cell.expected is None and 0 in ran.levels:
        # A healthy tunnel's quiet log raises nothing either.
        quiet = deliver(
            aws, "cgw", ran.levels[0], group="/vpn-doctor/lab/matrix/level0", stream=f"{VPN_ID}-198.18.99.1"
        )
        assert _worst(quiet) is None
    print(f"{cell.key}: run {ran.seconds:.1f}s, checked in {time.monotonic() - started:.1f}s")
