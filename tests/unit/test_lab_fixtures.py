"""The customer-gateway lab's captured strongSwan 5.9.8 and libreswan 4.10 logs, classified without daemons.

Each fixture is one side (the AWS endpoint or the customer gateway) of one lab scenario, captured
by ``python -m tests.lab.scenarios``; the lab itself (tests/lab) re-runs the daemons. Scenarios
are named by key: ``psk_mismatch`` has strongSwan on the customer gateway, ``psk_mismatch.libreswan``
libreswan's pluto.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.lab import harness
from tests.lab.harness import FAKE_PSKS, LOG_STREAM
from tests.lab.scenarios import (
    ALL_SCENARIOS,
    FIXTURES,
    LIBRESWAN_SCENARIOS,
    SCENARIOS_BY_KEY,
    SIDES,
    fixture_path,
    primary,
)
from vpn_doctor.classify import Classifier
from vpn_doctor.models import Finding, Source
from vpn_doctor.parsing import parse_line, with_identity
from vpn_doctor.taxonomy import Category, Cause

CASES = [(scenario.key, side) for scenario in ALL_SCENARIOS for side in SIDES]
# pluto's log-file times have no year: the CloudWatch event time supplies it, as in ingest.
CAPTURED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _lines(name: str, side: str) -> list[str]:
    return fixture_path(name, side).read_text().splitlines()


def _classify(name: str, side: str) -> list[Finding]:
    """What the ingest path does per line: parse, identity from the AWS-style stream name, classify."""
    classifier = Classifier()
    return [
        classifier.classify(with_identity(parse_line(line, reference_time=CAPTURED), log_stream=LOG_STREAM))
        for line in _lines(name, side)
    ]


def _pair(finding: Finding | None) -> tuple[Category, Cause | None] | None:
    return None if finding is None else (finding.category, finding.cause)


def test_every_scenario_has_a_captured_log_for_both_sides_and_nothing_else_is_kept() -> None:
    expected = {fixture_path(name, side).name for name, side in CASES}
    assert {path.name for path in FIXTURES.glob("*.log")} == expected


@pytest.mark.parametrize(("name", "side"), CASES)
def test_captured_logs_are_real_daemon_lines_without_any_pre_shared_key(name: str, side: str) -> None:
    text = fixture_path(name, side).read_text()
    assert not any(psk in text for psk in FAKE_PSKS)
    # pluto names the authentication method ("authenticated peer using authby=secret"), never the key.
    assert "secret" not in text.lower().replace("authby=secret", "")
    events = [parse_line(line, reference_time=CAPTURED) for line in _lines(name, side)]
    assert len(events) >= 5
    source = Source.LIBRESWAN if SCENARIOS_BY_KEY[name].gateway == "libreswan" and side == "cgw" else Source.STRONGSWAN
    assert all(event.source is source and event.timestamp is not None for event in events)


@pytest.mark.parametrize(("name", "side"), CASES)
def test_every_line_the_daemons_printed_is_recognised(name: str, side: str) -> None:
    unknown = [finding.event.message for finding in _classify(name, side) if finding.category is Category.UNKNOWN]
    assert unknown == []


@pytest.mark.parametrize(("name", "side"), CASES)
def test_the_worst_finding_of_each_side_names_the_scenario_s_cause(name: str, side: str) -> None:
    scenario = SCENARIOS_BY_KEY[name]
    assert _pair(primary(_classify(name, side))) == scenario.expected_for(side)


@pytest.mark.parametrize("name", ["established", "established.libreswan"])
@pytest.mark.parametrize("side", SIDES)
def test_a_healthy_tunnel_with_dpd_raises_no_failure_at_all(name: str, side: str) -> None:
    findings = _classify(name, side)
    assert [finding.summary for finding in findings if finding.is_failure] == []
    assert any(finding.cause is Cause.ESTABLISHED for finding in findings)


@pytest.mark.parametrize("side", SIDES)
def test_a_normal_child_sa_rekey_and_its_deletes_are_not_failures_until_they_come_too_often(side: str) -> None:
    findings = _classify("phase2_lifetime_too_short", side)
    deletes = [finding for finding in findings if "received DELETE for ESP CHILD_SA" in finding.event.message]
    assert deletes
    assert all(finding.category is Category.HEALTHY for finding in deletes)
    failures = [finding for finding in findings if finding.is_failure]
    assert {(finding.category, finding.cause) for finding in failures} == {
        (Category.REKEY_FAILURE, Cause.LIFETIME_MISMATCH)
    }
    rekeys_before_first = [f for f in findings[: findings.index(failures[0])] if f.rule_id == "swan.child_rekeyed"]
    assert len(rekeys_before_first) == 3  # the fourth rekey within the window is the first finding


def test_a_phase_2_mismatch_at_ike_auth_is_not_taken_for_pfs_although_the_ike_sa_schedules_a_rekey() -> None:
    for side in SIDES:
        kinds = {(f.category, f.cause) for f in _classify("phase2_proposal_mismatch", side) if f.is_failure}
        assert kinds == {(Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH)}


def test_the_pfs_rekey_failure_points_at_the_dh_group_with_the_rekey_request_as_evidence() -> None:
    worst = primary(_classify("pfs_mismatch", "cgw"))
    assert worst is not None
    assert "DH group" in worst.summary
    assert any("N(REKEY_SA)" in item.message for item in worst.evidence)


def test_the_cgw_refused_on_ikev1_is_told_it_may_be_the_ike_version() -> None:
    worst = primary(_classify("ike_version_mismatch", "cgw"))
    assert worst is not None
    assert "IKEv1" in worst.summary
    aws = primary(_classify("ike_version_mismatch", "aws"))
    assert aws is not None
    assert aws.cause is Cause.IKE_VERSION_MISMATCH
    assert "IKEv1" in aws.summary


def test_dpd_and_nat_t_retransmits_are_told_apart_by_the_unanswered_request() -> None:
    dpd = primary(_classify("dpd_timeout", "cgw"))
    nat_t = primary(_classify("nat_t_blocked", "cgw"))
    assert dpd is not None
    assert nat_t is not None
    assert any("INFORMATIONAL request" in item.message for item in dpd.evidence)
    assert "UDP 4500" in nat_t.summary


def test_generic_follow_up_lines_take_the_specific_cause_before_them() -> None:
    findings = _classify("traffic_selector_mismatch", "cgw")
    follow_up = next(f for f in findings if f.event.message == "failed to establish CHILD_SA, keeping IKE_SA")
    assert (follow_up.category, follow_up.cause) == (Category.POLICY_BASED_VPN, Cause.TS_UNACCEPTABLE)


def test_all_lines_of_one_negotiation_share_one_history_on_the_responder_side() -> None:
    # The responder's first lines carry only "<1>" and name the initiator's address; the phase 2
    # refusal must still see the IKE_AUTH exchange that came before it.
    worst = primary(_classify("phase2_proposal_mismatch", "aws"))
    assert worst is not None
    assert worst.category is Category.IPSEC_PHASE2_FAILURE
    event = parse_line("2026-11-27T00:00:26.634 10[NET] <1> received packet: from 198.18.0.2[500] to 198.18.0.1[500]")
    assert event.fields.get("sa") == "1"
    assert "conn" not in event.fields


def test_the_lab_says_why_it_is_skipped_where_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness.os, "geteuid", lambda: 1000)
    assert harness.unavailable_reason() == "the lab needs root (network namespaces, mounts, /dev/net/tun)"
    monkeypatch.setattr(harness.os, "geteuid", lambda: 0)
    monkeypatch.setattr(harness, "CHARON", "/nonexistent/charon-systemd")
    assert harness.unavailable_reason() == "no strongSwan daemon at /nonexistent/charon-systemd (run `make lab-deps`)"


# --- libreswan 4.10 (pluto) as the customer gateway -------------------------------------------


def test_pluto_s_log_file_lines_are_read_with_their_time_connection_and_state_serial() -> None:
    line = 'Nov 27 03:43:46.077806: "cgw" #1: IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED'
    event = parse_line(line, reference_time=CAPTURED)
    assert event.source is Source.LIBRESWAN
    assert event.timestamp == datetime(2026, 11, 27, 3, 43, 46, 77806, tzinfo=UTC)
    assert event.message == "IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED"
    assert (event.fields["conn"], event.fields["sa"]) == ("cgw", "1")
    bare = parse_line("Nov  7 03:43:44.457400: netlink_expire got message with length 116 < 232 bytes; ignore message")
    assert bare.source is Source.LIBRESWAN
    assert "conn" not in bare.fields


def test_pluto_s_start_up_notice_of_a_helper_thread_is_recognised_as_healthy() -> None:
    # Printed by pluto 4.10 at start-up; it lands in a scenario's capture only when the negotiation starts
    # before pluto's helpers are up (seen in CI under load), and must not count as an unknown line.
    line = "Dec  2 07:09:11.480312: helper(1) seccomp security for helper not supported"
    finding = Classifier().classify(parse_line(line, reference_time=CAPTURED))
    assert finding.event.source is Source.LIBRESWAN
    assert (finding.category, finding.rule_id) == (Category.HEALTHY, "pluto.startup")


def test_every_libreswan_scenario_has_pluto_s_log_next_to_the_aws_side_s() -> None:
    for scenario in LIBRESWAN_SCENARIOS:
        assert fixture_path(scenario.key, "cgw").name == f"{scenario.name}.libreswan.log"
        assert fixture_path(scenario.key, "aws").name == f"{scenario.name}.libreswan.aws.log"


def test_pluto_asking_the_initiator_for_another_dh_group_is_normal_not_a_pfs_mismatch() -> None:
    # "initiator guessed wrong keying material group (MODP1024); responding with INVALID_KE_PAYLOAD
    # requesting MODP2048": the INVALID_KE_PAYLOAD row alone took this for a PFS mismatch.
    findings = _classify("established.libreswan", "cgw")
    guesses = [f for f in findings if "INVALID_KE_PAYLOAD" in f.event.message]
    assert len(guesses) == 2
    assert {(f.category, f.cause) for f in guesses} == {(Category.HEALTHY, None)}
    assert any(f.cause is Cause.ESTABLISHED and "responder established IKE SA" in f.event.message for f in findings)


def test_pluto_retransmitting_after_a_dropped_refusal_keeps_the_refusal_s_cause() -> None:
    # pluto ignores an unauthenticated NO_PROPOSAL_CHOSEN and retransmits until retransmit-timeout.
    findings = _classify("phase1_proposal_mismatch.libreswan", "cgw")
    waits = [f for f in findings if f.rule_id in ("pluto.retransmit_init", "pluto.first_message_timeout")]
    assert [f.rule_id for f in waits].count("pluto.first_message_timeout") == 1
    assert {(f.category, f.cause) for f in waits} == {(Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH)}


def test_pluto_not_answered_at_all_is_no_response() -> None:
    classifier = Classifier()
    lines = [
        'Nov 27 03:43:46.556329: "cgw" #1: initiating IKEv2 connection',
        'Nov 27 03:43:46.557641: "cgw" #1: sent IKE_SA_INIT request to 198.18.0.1:500',
        'Nov 27 03:43:47.054276: "cgw" #1: STATE_V2_PARENT_I1: retransmission; will wait 0.5 seconds for response',
        'Nov 27 03:43:50.555995: "cgw" #1: STATE_V2_PARENT_I1: 3 second timeout exceeded after 3 retransmits.  '
        "No response (or no acceptable response) to our first IKEv2 message",
    ]
    findings = [
        classifier.classify(with_identity(parse_line(line, reference_time=CAPTURED), log_stream=LOG_STREAM))
        for line in lines
    ]
    assert [(f.category, f.cause) for f in findings[2:]] == [(Category.IKE_PHASE1_FAILURE, Cause.NO_RESPONSE)] * 2


def test_pluto_on_ikev1_refused_is_told_it_may_be_the_ike_version() -> None:
    worst = primary(_classify("ike_version_mismatch.libreswan", "cgw"))
    assert worst is not None
    assert (worst.category, worst.cause) == (Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH)
    assert "IKEv1" in worst.summary
    assert any("initiating IKEv1 Main Mode" in item.message for item in worst.evidence)


def test_pluto_phase_2_refusals_in_ike_auth_are_phase_2_after_the_ike_sa_came_up() -> None:
    proposal = primary(_classify("phase2_proposal_mismatch.libreswan", "cgw"))
    selectors = primary(_classify("traffic_selector_mismatch.libreswan", "cgw"))
    assert proposal is not None
    assert selectors is not None
    assert (proposal.category, proposal.cause) == (Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH)
    assert (selectors.category, selectors.cause) == (Category.POLICY_BASED_VPN, Cause.TS_UNACCEPTABLE)


def test_pluto_answering_the_same_dpd_request_again_means_its_responses_are_lost() -> None:
    findings = _classify("dpd_timeout.libreswan", "cgw")
    repeats = [f for f in findings if "duplicate Message ID" in f.event.message]
    assert repeats
    assert {(f.category, f.cause, f.severity.value) for f in repeats} == {
        (Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE, "warning")
    }


def test_the_libreswan_lab_says_why_it_is_skipped_where_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "unavailable_reason", lambda: None)
    monkeypatch.setattr(harness, "PLUTO", FIXTURES / "no-such-pluto")
    assert harness.libreswan_unavailable_reason() == (
        f"no libreswan pluto at {FIXTURES / 'no-such-pluto'} (run `make lab-deps`)"
    )
