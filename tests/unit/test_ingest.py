"""The ingest use case: a decoded batch in, one finding per record and an honest report out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.conftest import TUNNEL_IP, VPN_ID, control_document, subscription_document, tunnel_record
from vpn_doctor.classify import Classifier
from vpn_doctor.ingest import events_of_message, ingest_batch, ingest_events
from vpn_doctor.parsing import parse_line
from vpn_doctor.records import TunnelEvent
from vpn_doctor.subscription import LogBatch, batch_from_json
from vpn_doctor.taxonomy import Category, Cause

T0 = 1_764_196_800


def test_mixed_good_bad_and_truncated_records_never_drop_the_good_ones() -> None:
    document = subscription_document(
        [
            tunnel_record("AWS tunnel processed request (id=0x3a) for CREATE_CHILD_SA", T0),
            '{"event_timestamp": 1764196860, "details": "AWS tunnel DPD timed out after 3 retr',
            {"timestamp": 1764196800000, "message": "missing id"},
            "complete garbage",
            tunnel_record("AWS tunnel DPD timed out after 3 retransmits", T0 + 120, "down", "down"),
        ]
    )
    report = ingest_batch(batch_from_json(document), Classifier())
    assert report.records == 5
    assert len(report.findings) == 4
    assert [f.category.value for f in report.findings] == ["healthy", "unknown", "unknown", "dpd_timeout"]
    # Every bad record is counted once, with a reason a person can act on.
    reasons = [bad.reason for bad in report.bad_records]
    assert len(reasons) == 3
    assert any("malformed JSON" in reason for reason in reasons)
    assert any("log event 2: malformed log event: id: Field required" in reason for reason in reasons)
    assert any("not a recognised log format" in reason for reason in reasons)
    assert report.unknown == 2
    assert report.by_category == {"healthy": 1, "dpd_timeout": 1, "unknown": 2}
    assert [f.category.value for f in report.failures] == ["dpd_timeout"]
    assert {f.vpn_connection_id for f in report.findings} == {VPN_ID}
    assert {f.tunnel_ip for f in report.findings} == {TUNNEL_IP}


def test_findings_carry_the_cloudwatch_event_id_for_deduplication() -> None:
    document = subscription_document([tunnel_record("AWS tunnel DPD timed out after 3 retransmits", T0)])
    report = ingest_batch(batch_from_json(document), Classifier())
    assert report.findings[0].event.event_id == document["logEvents"][0]["id"]


def test_control_message_yields_no_findings_and_says_so() -> None:
    report = ingest_batch(batch_from_json(control_document()), Classifier())
    assert report.control_message
    assert report.findings == []
    assert report.to_dict()["control_message"] is True


def test_record_without_timestamp_takes_the_log_event_time() -> None:
    document = subscription_document(["AWS tunnel DPD timed out after 3 retransmits"], start_ms=T0 * 1000)
    (finding,) = ingest_batch(batch_from_json(document), Classifier()).findings
    assert finding.timestamp is not None
    assert int(finding.timestamp.timestamp()) == T0


def test_a_pretty_printed_json_record_is_one_record_and_syslog_lines_are_several() -> None:
    pretty = json.dumps({"event_timestamp": T0, "details": "AWS tunnel DPD timed out after 3 retransmits"}, indent=2)
    assert len(list(events_of_message(pretty))) == 1
    syslog = "Nov 26 22:40:00 cgw charon: 05[IKE] a\nNov 26 22:40:01 cgw charon: 05[IKE] b\n\n"
    assert [event.message for event in events_of_message(syslog)] == ["a", "b"]


def test_report_lists_failures_and_counts_healthy_records() -> None:
    document = subscription_document(
        [
            tunnel_record("AWS tunnel processed request (id=0x3a) for CREATE_CHILD_SA", T0),
            tunnel_record("AWS tunnel is sending AUTHENTICATION_FAILED as the response", T0 + 60, "negotiating"),
        ]
    )
    data = ingest_batch(batch_from_json(document), Classifier()).to_dict()
    assert data["records"] == 2
    assert data["by_category"] == {"healthy": 1, "ike_phase1_failure": 1}
    assert [f["cause"] for f in data["findings"]] == ["auth_failed"]
    json.dumps(data)  # JSON-ready


def test_ingest_events_classifies_already_parsed_events() -> None:
    report = ingest_events([parse_line("garbage"), parse_line(tunnel_record("x", T0))], Classifier())
    assert report.records == 2
    assert len(report.bad_records) == 1


# --- a delivery read with the tunnel's lines from earlier deliveries ----------------------------

DELETE = "AWS tunnel received DELETE for IKE_SA from CGW"
COLLISION = "AWS tunnel (CHILD_SA) redundant SA is being deleted due to detected collision"
REKEY = "AWS tunnel processed request (id=0x3a) for CREATE_CHILD_SA"


def _line(details: str, epoch: int, event_id: str) -> TunnelEvent:
    return parse_line(tunnel_record(details, epoch), stream_identity=(VPN_ID, TUNNEL_IP), event_id=event_id)


class _Earlier:
    """A tunnel log group as ingest_batch sees it: the lines between two times, and who asked."""

    def __init__(self, *lines: TunnelEvent) -> None:
        self.lines = lines
        self.asked: list[tuple[datetime, datetime]] = []

    def __call__(self, start: datetime, end: datetime) -> list[TunnelEvent]:
        self.asked.append((start, end))
        return [line for line in self.lines if line.timestamp is not None and start <= line.timestamp <= end]


def _delivery(*lines: tuple[str, int]) -> LogBatch:
    document = subscription_document([tunnel_record(details, epoch) for details, epoch in lines])
    return batch_from_json(document)


def test_a_delete_after_a_quiet_period_in_earlier_deliveries_is_an_idle_timeout() -> None:
    earlier = _Earlier(_line(REKEY, T0 - 900, "earlier-1"))
    report = ingest_batch(_delivery((DELETE, T0)), Classifier(), earlier=earlier)
    (finding,) = report.findings
    assert finding.category is Category.IDLE_TIMEOUT
    assert "15 minutes" in finding.summary
    assert [item.message for item in finding.evidence] == [REKEY, DELETE]
    moment = datetime.fromtimestamp(T0, UTC)
    assert earlier.asked == [(moment - timedelta(minutes=30), moment)]  # the classifier's history
    assert report.context_records == 1
    assert report.records == 1  # the earlier lines are context, not records of this delivery


def test_without_the_earlier_lines_the_same_delete_keeps_the_rows_own_meaning() -> None:
    (finding,) = ingest_batch(_delivery((DELETE, T0)), Classifier()).findings
    assert finding.category is not Category.IDLE_TIMEOUT


def test_a_third_collision_counts_the_two_of_earlier_deliveries() -> None:
    earlier = _Earlier(_line(COLLISION, T0 - 400, "c1"), _line(COLLISION, T0 - 200, "c2"))
    (finding,) = ingest_batch(_delivery((COLLISION, T0)), Classifier(), earlier=earlier).findings
    assert (finding.category, finding.cause) == (Category.REKEY_FAILURE, Cause.REKEY_COLLISION)


def test_deliveries_without_a_delete_or_collision_read_nothing_earlier() -> None:
    earlier = _Earlier(_line(REKEY, T0 - 60, "earlier-1"))
    report = ingest_batch(
        _delivery((REKEY, T0), ("AWS tunnel DPD timed out after 3 retransmits", T0 + 5)), Classifier(), earlier=earlier
    )
    assert earlier.asked == []
    assert report.context_records == 0


def test_the_deliverys_own_records_read_back_are_not_counted_twice() -> None:
    batch = _delivery((COLLISION, T0))
    own = batch.events[0]
    earlier = _Earlier(
        _line(COLLISION, T0 - 200, "c1"),
        parse_line(own.message, stream_identity=(VPN_ID, TUNNEL_IP), event_id=own.event_id),
    )
    report = ingest_batch(batch, Classifier(), earlier=earlier)
    assert report.context_records == 1
    assert report.findings[0].category is Category.HEALTHY  # two collisions, not three
