"""Gateway lines inside the envelopes they really arrive in: syslog (RFC 3164, RFC 5424, rsyslog's
ISO 8601 file format), journald (short, short-iso, short-precise, JSON export) and log shippers' JSON.

The fixtures in tests/fixtures/envelopes are one real charon-systemd run (an IKE SA to an address
nothing answers) captured through a real systemd-journald (capture.sh), sent through util-linux
``logger`` and written by a real rsyslogd (syslog_wire.py); see those scripts for what is captured and
what (Fluent Bit's records) is built from a documented format.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.lab.scenarios import primary
from vpn_doctor.classify import Classifier
from vpn_doctor.envelope import JSON_ENVELOPES, TEXT_ENVELOPES
from vpn_doctor.models import Finding, Source
from vpn_doctor.parsing import parse_line
from vpn_doctor.taxonomy import Category, Cause
from vpn_doctor_tools.cli.classify import classify_stream

ENVELOPES = Path(__file__).resolve().parents[1] / "fixtures" / "envelopes"
# The CloudWatch Logs event time the lines arrived with (decides RFC 3164's missing year).
ARRIVED = datetime(2026, 12, 2, 9, 24, 20, tzinfo=UTC)

#: fixture file -> the envelope kinds its lines are read in, outermost first.
FIXTURES = {
    "rfc3164.unreachable.log": "rfc3164",
    "rfc5424.unreachable.log": "rfc5424",
    "rsyslog-file.from5424.unreachable.log": "iso8601",
    "rsyslog-file.from3164.unreachable.log": "iso8601",
    "rsyslog-traditional.from3164.unreachable.log": "rfc3164",
    "journald-short.unreachable.log": "rfc3164",
    "journald-short-precise.unreachable.log": "rfc3164",
    "journald-short-iso.unreachable.log": "iso8601",
    "journald-json.unreachable.jsonl": "journald_json",
    "fluentbit-tail.unreachable.jsonl": "shipper_json+rfc3164",
    "fluentbit-syslog.unreachable.jsonl": "shipper_json",
}


def _classify(name: str) -> list[Finding]:
    classifier = Classifier()
    lines = (ENVELOPES / name).read_text().splitlines()
    return [classifier.classify(parse_line(line, reference_time=ARRIVED)) for line in lines]


def _verdicts(findings: list[Finding]) -> list[tuple[str, str | None, str]]:
    return [(f.category.value, f.cause and f.cause.value, f.event.message) for f in findings]


def test_every_envelope_fixture_is_tested_and_holds_the_whole_run() -> None:
    assert {path.name for path in ENVELOPES.iterdir() if path.suffix in (".log", ".jsonl")} == set(FIXTURES)
    assert {len((ENVELOPES / name).read_text().splitlines()) for name in FIXTURES} == {14}


@pytest.mark.parametrize(("name", "kind"), FIXTURES.items())
def test_a_charon_line_is_read_the_same_in_every_envelope(name: str, kind: str) -> None:
    findings = _classify(name)
    assert {f.event.source for f in findings} == {Source.STRONGSWAN}
    assert {f.event.fields["envelope"] for f in findings} == {kind}
    assert {f.event.fields["host"] for f in findings} == {"vm"}
    assert {f.event.fields["program"] for f in findings} <= {"charon", "charon-systemd"}
    assert all(f.error is None and f.category is not Category.UNKNOWN for f in findings)
    # The journal's own export is the reference: same messages, same verdicts, same times to the second.
    reference = _classify("journald-json.unreachable.jsonl")
    assert _verdicts(findings) == _verdicts(reference)
    assert [f.timestamp.replace(microsecond=0) for f in findings if f.timestamp] == [
        f.timestamp.replace(microsecond=0) for f in reference if f.timestamp
    ]
    worst = primary(findings)
    assert worst is not None
    assert (worst.category, worst.cause) == (Category.IKE_PHASE1_FAILURE, Cause.NO_RESPONSE)
    assert worst.event.message == "giving up after 2 retransmits"


def test_charon_systemd_journal_lines_without_a_thread_group_prefix_are_strongswan_lines() -> None:
    # charon-systemd logs to journald with neither "NN[GRP]" nor "<conn|N>": its fields say those.
    short = "Dec 02 09:24:14 vm charon-systemd[28944]: giving up after 2 retransmits"
    event = parse_line(short, reference_time=ARRIVED)
    assert (event.source, event.message) == (Source.STRONGSWAN, "giving up after 2 retransmits")
    assert (event.fields["program"], event.fields["pid"]) == ("charon-systemd", "28944")
    record = next(
        json.loads(line)
        for line in (ENVELOPES / "journald-json.unreachable.jsonl").read_text().splitlines()
        if "giving up" in line
    )
    exported = parse_line(json.dumps(record), reference_time=ARRIVED)
    assert (exported.fields["conn"], exported.fields["sa"]) == ("aws-tunnel-1", "1")
    assert exported.timestamp == datetime(2026, 12, 2, 9, 24, 14, 203806, tzinfo=UTC)


def test_rfc_5424_with_structured_data_and_a_message_id() -> None:
    line = (
        '<30>1 2026-12-02T04:22:40.157977+02:00 gw charon 1234 IKE [timeQuality tzKnown="1" isSynced="0"]'
        '[origin ip="198.51.100.2"] 10[IKE] <aws-1|3> giving up after 5 retransmits'
    )
    event = parse_line(line, reference_time=ARRIVED)
    assert event.source is Source.STRONGSWAN
    assert event.message == "giving up after 5 retransmits"
    assert event.timestamp == datetime(2026, 12, 2, 2, 22, 40, 157977, tzinfo=UTC)  # zone honoured
    assert (event.fields["host"], event.fields["pid"], event.fields["msgid"]) == ("gw", "1234", "IKE")
    assert (event.fields["conn"], event.fields["sa"]) == ("aws-1", "3")


def test_rfc_3164_without_pid_and_without_hostname() -> None:
    no_pid = parse_line("Dec  2 04:22:37 gw charon: 10[CFG] vici initiate CHILD_SA 'aws-net'", reference_time=ARRIVED)
    no_host = parse_line(
        "<30>Dec  2 04:22:37 charon[99]: 10[CFG] vici initiate CHILD_SA 'aws-net'", reference_time=ARRIVED
    )
    for event in (no_pid, no_host):
        assert (event.source, event.message) == (Source.STRONGSWAN, "vici initiate CHILD_SA 'aws-net'")
        assert event.timestamp == datetime(2026, 12, 2, 4, 22, 37, tzinfo=UTC)
    assert "pid" not in no_pid.fields
    assert no_pid.fields["host"] == "gw"
    assert "host" not in no_host.fields
    assert no_host.fields["pid"] == "99"


def test_pluto_through_syslog_keeps_its_connection_and_state() -> None:
    line = (
        'Dec  2 04:22:37 gw pluto[812]: "aws-1" #3: '
        "IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED"
    )
    finding = Classifier().classify(parse_line(line, reference_time=ARRIVED))
    assert finding.event.source is Source.LIBRESWAN
    assert (finding.event.fields["conn"], finding.event.fields["sa"]) == ("aws-1", "3")
    assert (finding.category, finding.cause) == (Category.IKE_PHASE1_FAILURE, Cause.AUTH_FAILED)


@pytest.mark.parametrize(
    ("stamp", "arrived", "expected"),
    [
        # A December line read just after New Year is last year's.
        ("Dec 31 23:59:58", datetime(2027, 1, 1, 0, 0, 3, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC)),
        # A gateway clock a few seconds ahead at New Year: next year's, not 364 days ago.
        ("Jan  1 00:00:02", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2027, 1, 1, 0, 0, 2, tzinfo=UTC)),
        # 29 February arriving in a common year belongs to the last leap year.
        ("Feb 29 23:59:59", datetime(2029, 3, 1, 0, 0, 1, tzinfo=UTC), datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)),
        ("Feb 29 12:00:00", datetime(2028, 2, 29, 12, 0, 5, tzinfo=UTC), datetime(2028, 2, 29, 12, 0, tzinfo=UTC)),
    ],
)
def test_rfc_3164_year_comes_from_the_time_the_line_arrived_with(
    stamp: str, arrived: datetime, expected: datetime
) -> None:
    event = parse_line(f"{stamp} gw charon[1]: 10[IKE] giving up after 5 retransmits", reference_time=arrived)
    assert event.timestamp == expected
    assert "no year" in event.fields["time_note"]
    assert "no zone" in event.fields["time_note"]


def test_a_year_is_never_invented_without_a_delivery_time() -> None:
    event = parse_line("Dec  2 04:22:37 gw charon[1]: 10[IKE] giving up after 5 retransmits")
    assert event.source is Source.STRONGSWAN
    assert event.timestamp is None
    assert "unknown" in event.fields["time_note"]


def test_times_with_a_zone_are_converted_and_those_without_say_so() -> None:
    offset = parse_line("2026-12-02T06:22:37.5+0200 gw charon[1]: 10[IKE] giving up after 5 retransmits")
    assert offset.timestamp == datetime(2026, 12, 2, 4, 22, 37, 500000, tzinfo=UTC)
    assert "time_note" not in offset.fields
    nanoseconds = parse_line("2026-12-02T04:22:37.123456789Z gw charon[1]: 10[IKE] giving up after 5 retransmits")
    assert nanoseconds.timestamp == datetime(2026, 12, 2, 4, 22, 37, 123456, tzinfo=UTC)
    zoneless = parse_line("2026-12-02T04:22:37 gw charon[1]: 10[IKE] giving up after 5 retransmits")
    assert zoneless.timestamp == datetime(2026, 12, 2, 4, 22, 37, tzinfo=UTC)
    assert "no zone" in zoneless.fields["time_note"]


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("<30>1 2026-13-45T04:22:40Z gw charon 1 - - 10[IKE] giving up after 5 retransmits", "RFC 5424 envelope"),
        ("Feb 30 04:22:37 gw charon[1]: 10[IKE] giving up after 5 retransmits", "RFC 3164 envelope"),
        ("2026-02-30T04:22:37Z gw charon[1]: 10[IKE] giving up after 5 retransmits", "ISO 8601 syslog envelope"),
        ('{"MESSAGE": 7, "_PID": "1", "SYSLOG_IDENTIFIER": "charon"}', "journald JSON envelope"),
        ('{"MESSAGE": "x", "__REALTIME_TIMESTAMP": "soon"}', "journald JSON envelope"),
        ('{"log": {"nested": true}, "stream": "stdout"}', "shipper JSON envelope"),
        ("Dec  2 04:22:37 gw sshd[77]: Accepted publickey for admin", "inside the rfc3164 envelope from sshd"),
        ('{"log": "Dec  2 04:22:37 gw sshd[77]: Accepted publickey"}', "inside the shipper_json+rfc3164 envelope"),
    ],
)
def test_a_line_that_cannot_be_read_is_unknown_with_an_error_naming_its_envelope(line: str, named: str) -> None:
    finding = Classifier().classify(parse_line(line, reference_time=ARRIVED))
    assert finding.category is Category.UNKNOWN
    assert finding.error is not None
    assert named in finding.error


def test_aws_text_records_are_not_taken_for_syslog_envelopes() -> None:
    # "<time> <word>: <text>" is also how AWS's text format may start: without a host and a
    # program, only a gateway line inside makes the prefix an envelope.
    line = "2025-11-26T22:53:00Z AWS: Traffic Selector: TS_UNACCEPTABLE: received from responder"
    finding = Classifier().classify(parse_line(line))
    assert finding.event.source is Source.AWS_TUNNEL_TEXT
    assert "envelope" not in finding.event.fields
    assert finding.category is Category.POLICY_BASED_VPN


def test_envelope_tables_are_tried_in_their_documented_order() -> None:
    assert [name for name, _ in TEXT_ENVELOPES] == ["rfc5424", "iso8601", "rfc3164"]
    assert [name for name, _ in JSON_ENVELOPES] == ["journald_json", "shipper_json"]


def test_the_classify_command_shows_the_envelope_evidence() -> None:
    lines = (ENVELOPES / "rfc5424.unreachable.log").read_text().splitlines()
    results = list(classify_stream(lines, now=ARRIVED))
    last = results[-1]
    assert last["category"] == "ike_phase1_failure"
    assert last["envelope"] == {"envelope": "rfc5424", "host": "vm", "program": "charon", "pid": "28944"}
    assert last["timestamp"] == "2026-12-02T09:24:14.204298Z"


def test_at_most_two_envelopes_are_opened_around_a_line() -> None:
    syslog = "Dec  2 04:22:37 gw charon[1]: 10[IKE] giving up after 5 retransmits"
    twice = json.dumps({"log": syslog})
    assert parse_line(twice, reference_time=ARRIVED).fields["envelope"] == "shipper_json+rfc3164"
    thrice = json.dumps({"log": json.dumps({"log": syslog})})
    event = parse_line(thrice, reference_time=ARRIVED)
    assert event.fields["envelope"] == "shipper_json+shipper_json"
    assert event.source is Source.STRONGSWAN  # charon's own prefix rule still reads the syslog line
