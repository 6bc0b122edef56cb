"""The customer-gateway lab's captured strongSwan 5.9.8 logs, classified without daemons.

Each fixture is one side (the AWS endpoint or the customer gateway) of one lab scenario, captured
by ``python -m tests.lab.scenarios``; the lab itself (tests/lab) re-runs the daemons.
"""

from __future__ import annotations

import pytest
from vpn_doctor.classify import Classifier
from vpn_doctor.models import Finding, Source
from vpn_doctor.parsing import parse_line, with_identity
from vpn_doctor.taxonomy import Category, Cause

from tests.lab import harness
from tests.lab.harness import FAKE_PSKS, LOG_STREAM
from tests.lab.scenarios import FIXTURES, SCENARIOS, SCENARIOS_BY_NAME, SIDES, fixture_path, primary

CASES = [(scenario.name, side) for scenario in SCENARIOS for side in SIDES]


def _lines(name: str, side: str) -> list[str]:
    return fixture_path(name, side).read_text().splitlines()


def _classify(name: str, side: str) -> list[Finding]:
    """What the ingest path does per line: parse, identity from the AWS-style stream name, classify."""
    classifier = Classifier()
    return [classifier.classify(with_identity(parse_line(line), log_stream=LOG_STREAM)) for line in _lines(name, side)]


def _pair(finding: Finding | None) -> tuple[Category, Cause | None] | None:
    return None if finding is None else (finding.category, finding.cause)


def test_every_scenario_has_a_captured_log_for_both_sides_and_nothing_else_is_kept() -> None:
    expected = {fixture_path(name, side).name for name, side in CASES}
    assert {path.name for path in FIXTURES.glob("*.log")} == expected


@pytest.mark.parametrize(("name", "side"), CASES)
def test_captured_logs_are_real_charon_lines_without_any_pre_shared_key(name: str, side: str) -> None:
    text = fixture_path(name, side).read_text()
    assert not any(psk in text for psk in FAKE_PSKS)
    assert "secret" not in text.lower()
    events = [parse_line(line) for line in _lines(name, side)]
    assert len(events) >= 5
    assert all(event.source is Source.STRONGSWAN and event.timestamp is not None for event in events)


@pytest.mark.parametrize(("name", "side"), CASES)
def test_every_line_the_daemons_printed_is_recognised(name: str, side: str) -> None:
    unknown = [finding.event.message for finding in _classify(name, side) if finding.category is Category.UNKNOWN]
    assert unknown == []


@pytest.mark.parametrize(("name", "side"), CASES)
def test_the_worst_finding_of_each_side_names_the_scenario_s_cause(name: str, side: str) -> None:
    scenario = SCENARIOS_BY_NAME[name]
    assert _pair(primary(_classify(name, side))) == scenario.expected_for(side)


@pytest.mark.parametrize("side", SIDES)
def test_a_healthy_tunnel_with_dpd_and_traffic_raises_no_failure_at_all(side: str) -> None:
    findings = _classify("established", side)
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
