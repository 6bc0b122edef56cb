"""The ingest Lambda handler end to end: subscription event in, report, EMF metrics and structured logs out
(moto holding the incidents table and the bus the failures go to)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from handlers import ingest
from handlers.ingest import handler
from handlers.wiring import SettingsError, reset
from tests.conftest import (
    OUR_EVENTS,
    REQUEST_ID,
    STREAM,
    TUNNEL_IP,
    VPN_ID,
    control_document,
    drained,
    handler_aws,
    lambda_context,
    subscription_document,
    tapped_bus,
    tunnel_record,
)
from vpn_doctor.aws.logs import TunnelLogs
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_INCIDENTS_TABLE
from vpn_doctor.subscription import SubscriptionPayloadError, encode_subscription_data

T0 = 1_764_196_800
TABLE = "vpn-doctor-incidents"
BUS = "vpn-doctor"


@pytest.fixture(autouse=True)
def bus_queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The function's settings, its incidents table and bus in moto; yields the queue tapping the bus."""
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    settings = {ENV_INCIDENTS_TABLE: TABLE, ENV_EVENT_BUS_NAME: BUS}
    with handler_aws(monkeypatch, reset, settings, table=TABLE):
        yield tapped_bus(BUS, "bus-tap", OUR_EVENTS)


def _invoke(event: Any) -> dict[str, Any]:
    report: dict[str, Any] = handler(event, lambda_context("ingest"))
    return report


def _stdout_json(out: str) -> list[dict[str, Any]]:
    lines = []
    for raw in out.splitlines():
        line = raw.strip()
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _metrics(documents: list[dict[str, Any]]) -> dict[tuple[str, str | None], float]:
    """EMF documents flattened to {(metric name, Category dimension): value}."""
    found: dict[tuple[str, str | None], float] = {}
    for doc in documents:
        aws = doc.get("_aws")
        if not aws:
            continue
        for directive in aws["CloudWatchMetrics"]:
            assert directive["Namespace"] == "VpnDoctor"
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                found[(metric["Name"], doc.get("Category"))] = sum(value) if isinstance(value, list) else value
    return found


def _event() -> dict[str, Any]:
    document = subscription_document(
        [
            tunnel_record("AWS tunnel processed request (id=0x3a) for CREATE_CHILD_SA", T0),
            tunnel_record("AWS tunnel DPD timed out after 3 retransmits", T0 + 60, "down", "down"),
            tunnel_record("AWS tunnel detected a pre-shared key mismatch with cgw: 198.51.100.7", T0 + 90, "down"),
            "this is not a tunnel log record",
            {"timestamp": 1764196800000, "message": "log event without an id"},
        ]
    )
    return {"awslogs": {"data": encode_subscription_data(document)}}


def test_handler_returns_the_report_with_findings_and_bad_records(capfd: pytest.CaptureFixture[str]) -> None:
    report = _invoke(_event())
    assert report["records"] == 5
    assert report["by_category"] == {"dpd_timeout": 1, "healthy": 1, "ike_phase1_failure": 1, "unknown": 1}
    assert [f["category"] for f in report["findings"]] == ["dpd_timeout", "ike_phase1_failure", "unknown"]
    assert {f["vpn_connection_id"] for f in report["findings"]} == {VPN_ID}
    assert {f["tunnel"] for f in report["findings"]} == {TUNNEL_IP}
    assert len(report["bad_records"]) == 2
    capfd.readouterr()


def test_handler_emits_emf_metrics_per_category_unknown_and_bad_records(capfd: pytest.CaptureFixture[str]) -> None:
    _invoke(_event())
    metrics = _metrics(_stdout_json(capfd.readouterr().out))
    assert metrics[("Findings", "dpd_timeout")] == 1
    assert metrics[("Findings", "ike_phase1_failure")] == 1
    assert metrics[("Findings", "healthy")] == 1
    assert metrics[("Findings", "unknown")] == 1
    assert metrics[("Records", None)] == 5
    assert metrics[("UnknownRecords", None)] == 1
    assert metrics[("BadRecords", None)] == 2


def test_handler_logs_are_structured_with_connection_and_tunnel_keys(log_output: io.StringIO) -> None:
    _invoke(_event())
    logs = _stdout_json(log_output.getvalue())
    findings = [doc for doc in logs if doc["message"] == "Finding"]
    assert {doc["category"] for doc in findings} == {"dpd_timeout", "ike_phase1_failure"}
    assert all(doc["vpn_connection_id"] == VPN_ID and doc["tunnel_ip"] == TUNNEL_IP for doc in logs)
    assert all(doc["function_request_id"] == REQUEST_ID for doc in logs)
    bad = [doc for doc in logs if doc["message"] == "Bad record kept as unknown"]
    assert {doc["level"] for doc in bad} == {"WARNING"}
    assert any("id: Field required" in doc["reason"] for doc in bad)
    assert any("not a recognised log format" in doc["reason"] for doc in bad)


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_control_message_is_acknowledged_without_findings(log_output: io.StringIO) -> None:
    report = _invoke({"awslogs": {"data": encode_subscription_data(control_document())}})
    assert report["control_message"] is True
    assert report["findings"] == []
    logs = _stdout_json(log_output.getvalue())
    assert any(doc.get("message", "").startswith("Control message") for doc in logs)


def test_invalid_payload_raises_a_clear_error_and_counts_it(
    capfd: pytest.CaptureFixture[str], log_output: io.StringIO
) -> None:
    with pytest.raises(SubscriptionPayloadError, match="not a CloudWatch Logs subscription payload"):
        _invoke({"Records": [{"body": "hello"}]})
    assert _metrics(_stdout_json(capfd.readouterr().out))[("InvalidPayloads", None)] == 1
    (rejected,) = [doc for doc in _stdout_json(log_output.getvalue()) if doc.get("message") == "Rejected event"]
    assert rejected["level"] == "ERROR"
    assert "awslogs.data" in rejected["reason"]
    assert rejected["event_keys"] == ["Records"]


def test_a_delete_is_read_with_the_tunnels_earlier_lines_from_its_log_group() -> None:
    """CloudWatch Logs delivers the DELETE alone, 15 minutes after the tunnel's last line: the handler
    reads that line back from the log group (moto) and sees the quiet period: an idle timeout."""
    group = "/aws/vendedlogs/vpn/tunnels"
    now = int(time.time()) // 60 * 60  # CloudWatch Logs refuses events older than 14 days
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=STREAM)
    rekey = tunnel_record("AWS tunnel processed request (id=0x3a) for CREATE_CHILD_SA", now - 900)
    logs.put_log_events(
        logGroupName=group, logStreamName=STREAM, logEvents=[{"timestamp": (now - 900) * 1000, "message": rekey}]
    )
    delete = tunnel_record("AWS tunnel received DELETE for IKE_SA from CGW", now)
    document = subscription_document([delete], log_group=group, start_ms=now * 1000)
    report = _invoke({"awslogs": {"data": encode_subscription_data(document)}})
    assert report["context_records"] == 1
    assert [finding["category"] for finding in report["findings"]] == ["idle_timeout"]
    # No log group to read (or no grant): another instance classifies the records without them.
    logs.delete_log_group(logGroupName=group)
    reset()
    report = _invoke({"awslogs": {"data": encode_subscription_data(document)}})
    assert report["context_records"] == 0
    assert [finding["category"] for finding in report["findings"]] == ["ike_phase1_failure"]


def test_rekeys_two_minutes_apart_in_separate_deliveries_are_a_lifetime_mismatch() -> None:
    """Each rekey exchange arrives in its own delivery; the function instance remembers the earlier
    ones (a redelivery is not counted twice), so the fourth in ten minutes is a lifetime mismatch."""

    def delivery(n: int) -> dict[str, Any]:
        at = T0 + 120 * n
        lines = [
            tunnel_record(f"AWS tunnel is sending request (id=0x{n:x}) for CREATE_CHILD_SA", at, phase2="rekeying"),
            tunnel_record(f"AWS tunnel processed response (id=0x{n:x}) for CREATE_CHILD_SA", at + 1),
        ]
        return {"awslogs": {"data": encode_subscription_data(subscription_document(lines, start_ms=at * 1000))}}

    listed = []
    for n in (0, 1, 1, 2, 3):  # the second exchange is delivered twice
        listed.append([(finding["category"], finding["cause"]) for finding in _invoke(delivery(n))["findings"]])
    assert listed[:4] == [[], [], [], []]  # healthy findings are counted, not listed
    assert listed[4] == [("rekey_failure", "lifetime_mismatch")] * 2
    assert "4 rekeys in 10 minutes" in _invoke(delivery(3))["findings"][0]["summary"]


def test_a_refused_look_back_is_counted_and_the_delivery_still_classified(
    capfd: pytest.CaptureFixture[str], log_output: io.StringIO
) -> None:
    # The instance's adapter, its client answering through the API model.
    stubber = Stubber(ingest.ports().logs.client)
    stubber.add_client_error("filter_log_events", service_error_code="AccessDeniedException", http_status_code=400)
    delete = tunnel_record("AWS tunnel received DELETE for IKE_SA from CGW", T0)
    with stubber:
        report = _invoke({"awslogs": {"data": encode_subscription_data(subscription_document([delete]))}})
    stubber.assert_no_pending_responses()
    assert report["context_records"] == 0
    assert [finding["category"] for finding in report["findings"]] == ["ike_phase1_failure"]
    assert _metrics(_stdout_json(capfd.readouterr().out))[("ContextReadFailures", None)] == 1
    (warning,) = [line for line in _stdout_json(log_output.getvalue()) if line["level"] == "WARNING"]
    assert warning["message"] == "Earlier lines not read: records classified without them"
    assert warning["code"] == "AccessDeniedException"


def test_every_failure_finding_reaches_its_incident_and_the_bus(bus_queue: str) -> None:
    _invoke(_event())
    published = drained(boto3.client("sqs"), bus_queue)
    kinds = [(p["detail-type"], p["detail"]["kind"], p["detail"]["incident"]["category"]) for p in published]
    assert kinds == [
        ("VPN Tunnel Incident", "opened", "dpd_timeout"),
        ("VPN Tunnel Incident", "updated", "ike_phase1_failure"),
    ]
    assert {p["detail"]["incident"]["tunnel_ip"] for p in published} == {TUNNEL_IP}


def test_a_burst_of_withdrawn_routes_over_two_deliveries_opens_a_routes_lost_incident(bus_queue: str) -> None:
    """Ten routes withdrawn within five minutes, delivered in two batches of the tunnel's BGP log stream:
    the tenth opens a bgp_session/routes_lost incident on the tunnel; none before it does."""

    def withdrawn(index: int) -> str:
        # Constructed: the ADVERTISED route status record of catalogue_cases.json, withdrawn.
        prefix = f"10.{index}.0.0/16"
        message = {"details": f"Route {prefix} WITHDRAWN by neighbor 169.254.10.1", "prefix": prefix}
        record = {"resource_id": f"{VPN_ID}_{TUNNEL_IP}", "event_timestamp": (T0 + 20 * index) * 1000}
        return json.dumps({**record, "type": "RouteStatus", "status": "WITHDRAWN", "message": message})

    def delivery(indexes: range) -> dict[str, Any]:
        lines = [withdrawn(index) for index in indexes]
        document = subscription_document(lines, log_stream=f"{STREAM}-bgp", start_ms=(T0 + 20 * indexes[0]) * 1000)
        return {"awslogs": {"data": encode_subscription_data(document)}}

    assert _invoke(delivery(range(5)))["findings"] == []
    assert drained(boto3.client("sqs"), bus_queue) == []
    findings = _invoke(delivery(range(5, 10)))["findings"]
    assert [(f["category"], f["cause"]) for f in findings] == [("bgp_session", "routes_lost")]
    (opened,) = drained(boto3.client("sqs"), bus_queue)
    incident = opened["detail"]["incident"]
    assert (opened["detail"]["kind"], incident["cause"], incident["tunnel_ip"]) == ("opened", "routes_lost", TUNNEL_IP)
    assert "10 routes withdrawn" in incident["summary"]


@pytest.mark.parametrize("missing", [ENV_INCIDENTS_TABLE, ENV_EVENT_BUS_NAME])
def test_without_its_table_or_bus_the_function_fails_at_its_first_invocation_even_on_chatter(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)
    reset()
    chatter = tunnel_record("AWS tunnel processed request (id=0x3a) for CREATE_CHILD_SA", T0)
    with pytest.raises(SettingsError, match=missing):
        _invoke({"awslogs": {"data": encode_subscription_data(subscription_document([chatter]))}})


def test_the_lookback_dates_a_line_without_a_year_by_its_event_as_the_delivery_does() -> None:
    # An RFC 3164 line has no year: read back for context (FilterLogEvents) it must get its event's time, as the
    # delivery's own record does, or the delivery's own lines read back are not known as its own (by line and
    # time) and count twice (seen in the lab: one IKEv1 rekey collision read as a lifetime mismatch).
    logs = boto3.client("logs")
    group, stream = "/vpn-doctor/lookback-rfc3164", f"{VPN_ID}-{TUNNEL_IP}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    line = (
        f"<30>{at:%b} {at.day:2d} {at:%H:%M:%S} vm charon: 11[IKE] <cgw|1> detected rekeying of CHILD_SA cgw-net{{1}}"
    )
    logs.put_log_events(
        logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": int(at.timestamp() * 1000), "message": line}]
    )
    read = TunnelLogs(logs).lookback(group, VPN_ID, TUNNEL_IP, start=at - timedelta(minutes=5), end=at)
    assert [(event.raw, event.timestamp) for event in read] == [(line, at)]
