"""Quiet customer-gateway logs: charon at log level 0 (and 1) and pluto without debug, IKEv1 and IKEv2.

A quiet log often prints no failure line at all; the classifier infers the failure from what is
missing (a negotiation started again and again and never established, a rekey started and never
completed) and quotes the lines that show the absence. The logs are real daemon output captured
by tests/fixtures/lab/quiet-capture/capture.py; ``manifest.json`` next to them says what each one
must be classified as (``null``: nothing may be raised), and why where the log cannot tell more.
They are replayed the way the lab's fixtures are (tests/unit/test_lab_fixtures.py): parsed, given the
identity of an AWS-style log stream, classified in order by one classifier.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.lab.harness import FAKE_PSKS, LOG_STREAM
from tests.lab.scenarios import primary
from tests.unit.test_no_failure_read_as_healthy import _healthy_failure_lines
from vpn_doctor.classify import Classifier
from vpn_doctor.history import ClassifierSettings
from vpn_doctor.ingest import ingest_batch
from vpn_doctor.models import Finding
from vpn_doctor.parsing import parse_line, with_identity
from vpn_doctor.records import TunnelEvent
from vpn_doctor.subscription import LogBatch, LogEvent
from vpn_doctor.taxonomy import Category, Cause

QUIET = Path(__file__).resolve().parents[1] / "fixtures" / "lab" / "quiet"
MANIFEST: dict[str, dict[str, Any]] = json.loads((QUIET / "manifest.json").read_text())["files"]
CAPTURED = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
FILES = sorted(MANIFEST)
FAILURES = [name for name in FILES if MANIFEST[name]["expected"] is not None]
HEALTHY = [name for name in FILES if MANIFEST[name]["expected"] is None and MANIFEST[name].get("healthy")]


def _lines(name: str) -> list[str]:
    return [line for line in (QUIET / name).read_text().splitlines() if line.strip()]


def _event(line: str) -> TunnelEvent:
    return with_identity(parse_line(line, reference_time=CAPTURED), log_stream=LOG_STREAM)


def _classify(name: str, classifier: Classifier | None = None) -> list[Finding]:
    engine = classifier or Classifier()
    return [engine.classify(_event(line)) for line in _lines(name)]


def _pair(finding: Finding | None) -> dict[str, str | None] | None:
    if finding is None:
        return None
    return {"category": finding.category.value, "cause": None if finding.cause is None else finding.cause.value}


def test_the_manifest_names_every_captured_log_and_nothing_else() -> None:
    assert {path.name for path in QUIET.glob("*.log")} == set(MANIFEST)
    levels = {(entry["daemon"], entry["ike"], entry.get("level")) for entry in MANIFEST.values()}
    assert {("strongswan", 2, 0), ("strongswan", 1, 0), ("strongswan", 2, 1), ("strongswan", 1, 1)} <= levels
    assert any(daemon == "libreswan" for daemon, _, _ in levels)


@pytest.mark.parametrize("name", FILES)
def test_a_quiet_log_is_real_daemon_output_without_a_pre_shared_key(name: str) -> None:
    text = (QUIET / name).read_text()
    assert not any(psk in text for psk in FAKE_PSKS)
    events = [_event(line) for line in _lines(name)]
    assert all(event.timestamp is not None for event in events)


@pytest.mark.parametrize("name", FILES)
def test_the_worst_finding_of_each_quiet_log_is_what_the_manifest_says(name: str) -> None:
    findings = _classify(name)
    assert _pair(primary(findings)) == MANIFEST[name]["expected"]
    assert [f.event.message for f in findings if f.category is Category.UNKNOWN] == []


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_captures_raise_nothing(name: str) -> None:
    assert [f.summary for f in _classify(name) if f.is_failure] == []


@pytest.mark.parametrize("name", FAILURES)
def test_no_line_of_a_quiet_failure_log_that_reports_a_failure_is_read_as_healthy(name: str) -> None:
    # Besides tests/unit/test_no_failure_read_as_healthy.py's NORMAL lines: charon's own bookkeeping
    # of an IKE SA it removes ("deleting IKE_SA ...", "IKE_SA deleted"), which follows the line that
    # carries the verdict (the peer's DELETE) or a close by either side at level 0.
    lines = _healthy_failure_lines(_classify(name))
    assert [line for line in lines if not re.search(r"^swan\.trace: (?:deleting IKE_SA|IKE_SA deleted)", line)] == []


def test_an_ike_sa_initiated_again_and_again_quotes_the_first_start_and_counts_them() -> None:
    findings = _classify("udp500_blocked.ikev2.l0.cgw.log")
    lines = _lines("udp500_blocked.ikev2.l0.cgw.log")
    assert len(lines) >= 4
    assert all("initiating IKE_SA cgw[1]" in line for line in lines)
    # Two starts prove nothing yet (the first may still be under way); the third proves two failed.
    assert [f.is_failure for f in findings[:3]] == [False, False, True]
    third = findings[2]
    assert (third.category, third.cause) == (Category.IKE_PHASE1_FAILURE, None)
    assert "initiated 3 times between 2026-12-02 13:06:16 UTC and 2026-12-02 13:06:21 UTC" in third.summary
    assert "never established" in third.summary
    assert [item.message for item in third.evidence] == [findings[0].event.message, third.event.message]
    last = findings[-1]
    assert f"initiated {len(lines)} times" in last.summary


def test_the_responder_sees_the_peer_begin_an_ike_sa_again_and_again() -> None:
    worst = primary(_classify("nat_t_blocked.ikev2.l0.aws.log"))
    assert worst is not None
    assert "198.18.0.2 began an IKE SA" in worst.summary
    assert "never established" in worst.summary


def test_at_level_1_the_failure_lines_carry_the_verdict_and_the_starts_stay_what_they_are() -> None:
    findings = _classify("udp500_blocked.ikev2.l1.cgw.log")
    starts = [f for f in findings if f.rule_id == "swan.ike_initiating"]
    assert len(starts) >= 3
    assert not any(f.is_failure for f in starts)
    worst = primary(findings)
    assert worst is not None
    assert (worst.category, worst.cause) == (Category.CGW_NETWORK, Cause.UDP500_BLOCKED)


def test_a_rekey_started_again_and_again_and_never_completed_is_a_rekey_failure() -> None:
    findings = _classify("pfs_mismatch.ikev2.l0.cgw.log")
    worst = primary(findings)
    assert worst is not None
    assert (worst.category, worst.cause) == (Category.REKEY_FAILURE, Cause.REKEY_FAILED)
    assert "rekey of CHILD_SA" in worst.summary
    assert "never completed" in worst.summary
    assert worst.evidence[0].message.startswith("establishing CHILD_SA cgw-net{2}")


def test_successful_early_rekeys_and_resolved_collisions_raise_no_absence() -> None:
    for name in FILES:
        scenario = MANIFEST[name]["scenario"]
        if scenario in ("lifetime_mismatch", "collision", "healthy"):
            inferred = [f for f in _classify(name) if f.rule_id in ("swan.ike_initiating", "swan.child_starting")]
            assert [f.summary for f in inferred if f.is_failure] == [], name


def test_a_resolved_collision_s_dh_group_request_and_delete_retransmit_are_not_failures() -> None:
    # The responder asks for its DH group (the initiator retries with it), and the DELETE of the
    # redundant CHILD_SA is retransmitted once while the peer is busy: both are part of the collision.
    cgw = {f.event.message: f for f in _classify("collision.ikev2.l1.cgw.log")}
    asked = cgw["DH group MODP_1024 unacceptable, requesting MODP_2048"]
    assert (asked.category, asked.cause) == (Category.HEALTHY, None)
    aws = {f.event.message: f for f in _classify("collision.ikev2.l1.aws.log")}
    again = aws["retransmit 1 of request with message ID 2"]
    assert again.category is Category.HEALTHY
    assert "DELETE" in again.summary
    assert any(item.message == "generating INFORMATIONAL request 2 [ D ]" for item in again.evidence)


def test_an_orderly_delete_is_the_peer_closing_the_tunnel_not_a_phase_1_failure() -> None:
    findings = _classify("peer_terminates.ikev2.l1.cgw.log")
    deletes = [f for f in findings if "received DELETE for IKE_SA" in f.event.message]
    assert deletes
    assert {(f.category, f.cause) for f in deletes} == {(Category.TUNNEL_CLOSED, Cause.PEER_CLOSED)}
    assert all(f.category is not Category.IKE_PHASE1_FAILURE for f in findings)


def test_an_ike_sa_closed_that_never_had_a_child_sa_is_a_phase_2_failure() -> None:
    lines = [
        "2026-12-02T13:01:35.351 13[IKE] <cgw|1> initiating Main Mode IKE_SA cgw[1] to 198.18.0.1",
        "2026-12-02T13:01:35.364 15[IKE] <cgw|1> IKE_SA cgw[1] established between 198.18.0.2[198.18.0.2]..."
        "198.18.0.1[198.18.0.1]",
        "2026-12-02T13:09:35.364 15[IKE] <cgw|1> received DELETE for IKE_SA cgw[1]",
    ]
    classifier = Classifier()
    *_, closed = [classifier.classify(_event(line)) for line in lines]
    assert (closed.category, closed.cause) == (Category.IPSEC_PHASE2_FAILURE, Cause.PHASE2_DOWN_PHASE1_UP)
    assert [item.message for item in closed.evidence] == [_event(lines[1]).message, closed.event.message]


def test_an_ike_sa_without_a_child_sa_is_concluded_at_the_next_start_of_the_connection() -> None:
    # The captured level-0 log ends with the IKE SA up and no CHILD_SA: nothing to conclude yet.
    name = "ts_mismatch.ikev2.l0.cgw.log"
    classifier = Classifier()
    assert not any(f.is_failure for f in _classify(name, classifier))
    # Ten minutes later the gateway starts the IKE SA again (a restart, reauthentication, an operator).
    again = "2026-12-02T13:11:28.830 16[IKE] <cgw|2> initiating IKE_SA cgw[2] to 198.18.0.1"
    finding = classifier.classify(_event(again))
    assert (finding.category, finding.cause) == (Category.IPSEC_PHASE2_FAILURE, Cause.PHASE2_DOWN_PHASE1_UP)
    assert "came up at 2026-12-02 13:01:28 UTC never had a CHILD_SA" in finding.summary
    assert finding.evidence[0].message.startswith("IKE_SA cgw[1] established between")
    # A healthy tunnel started again (its CHILD_SA was up) is no such case.
    healthy = Classifier()
    _classify("healthy.ikev2.l0.cgw.log", healthy)
    assert not healthy.classify(_event(again.replace("13:11", "13:09"))).is_failure


def test_a_gateway_s_own_syslog_counts_its_starts_by_connection_whatever_its_lines_name() -> None:
    # No stream identity: charon's lines are kept by the address they name, so one history may be
    # opened by a line naming no connection (AWS's side beginning an IKE SA, seen as responder) and
    # then hold the gateway's own starts: those still count for the connection they name.
    aws_began = "2026-12-02T13:06:10.000 05[IKE] <5> 198.18.0.1 is initiating an IKE_SA"
    failing = [aws_began, *_lines("udp500_blocked.ikev2.l0.cgw.log")]
    classifier = Classifier()
    findings = [classifier.classify(parse_line(line, reference_time=CAPTURED)) for line in failing]
    assert [f.is_failure for f in findings[:4]] == [False, False, False, True]
    # Three starts in ten minutes, each established, are three healthy tunnels.
    classifier = Classifier()
    healthy = []
    for minutes in (0, 5, 10):
        for line in _lines("healthy.ikev2.l0.cgw.log"):
            moved = datetime.fromisoformat(line[:23]).replace(tzinfo=UTC) + timedelta(minutes=minutes)
            stamped = moved.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + line[23:]
            healthy.append(classifier.classify(parse_line(stamped, reference_time=CAPTURED)))
    assert [f.summary for f in healthy if f.is_failure] == []
    assert sum(f.rule_id == "swan.ike_initiating" for f in healthy) == 3


def test_starts_spread_over_the_window_count_but_older_ones_do_not() -> None:
    settings = ClassifierSettings()
    start = "2026-12-02T13:00:00.000 12[IKE] <cgw|1> initiating IKE_SA cgw[1] to 198.18.0.1"
    at = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)

    def line(offset: timedelta) -> str:
        return start.replace("2026-12-02T13:00:00.000", (at + offset).strftime("%Y-%m-%dT%H:%M:%S.000"))

    # strongSwan's default retransmits: about 165 s per attempt.
    slow = [line(timedelta(seconds=165 * n)) for n in range(3)]
    assert [Classifier().classify_all(_event(item) for item in slow)[-1].is_failure] == [True]
    spread = [line(timedelta(0)), line(settings.attempt_window + timedelta(seconds=1)), line(timedelta(minutes=45))]
    assert not Classifier().classify_all(_event(item) for item in spread)[-1].is_failure


def test_the_absence_is_found_across_deliveries_through_the_ingest_look_back() -> None:
    # One delivery per line, each to a new function instance (a cold classifier): the earlier starts
    # come back through the look-back (FilterLogEvents), as the DELETE and collision rules' do.
    name = "udp500_blocked.ikev2.l0.cgw.log"
    events = [_event(line) for line in _lines(name)]

    def earlier(start: datetime, end: datetime) -> list[TunnelEvent]:
        return [e for e in events if e.timestamp is not None and start <= e.timestamp <= end]

    verdicts = []
    for index, event in enumerate(events):
        assert event.timestamp is not None
        batch = LogBatch(
            "DATA_MESSAGE",
            "123456789012",
            "/gateway/charon",
            LOG_STREAM,
            (),
            (LogEvent(f"id-{index}", event.timestamp, event.raw),),
        )
        report = ingest_batch(batch, Classifier(), earlier=lambda s, e, i=index: earlier(s, e)[:i])
        (finding,) = report.findings
        verdicts.append(finding.is_failure)
    assert verdicts[:3] == [False, False, True]
    assert all(verdicts[2:])
