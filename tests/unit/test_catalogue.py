"""Every AWS catalogue message, in the JSON and text output formats, classifies as documented.

The cases live in tests/fixtures/aws/catalogue_cases.json: one real-format record per message,
the same record in several plausible layouts of the (undocumented) text format, and what a
network engineer should see.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AWS_CASES, STREAM, TUNNEL_IP, VPN_ID, subscription_document
from vpn_doctor.catalogue import CATALOGUE, Family, Rule, required_literal
from vpn_doctor.classify import Classifier
from vpn_doctor.ingest import ingest_batch
from vpn_doctor.models import Finding, PhaseState
from vpn_doctor.parsing import parse_line
from vpn_doctor.subscription import batch_from_json
from vpn_doctor.taxonomy import CAUSES_BY_CATEGORY, Category

LAB_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lab"

TUNNEL_CASES: list[dict[str, Any]] = AWS_CASES["tunnel_cases"]
BGP_CASES: list[dict[str, Any]] = AWS_CASES["bgp_cases"]
TEXT_CASES = [
    pytest.param(case, variant, id=f"{case['id']}[{variant['layout']}]")
    for case in TUNNEL_CASES
    for variant in case["text"]
]


def _classify_in_stream(line: str, log_stream: str = STREAM) -> Finding:
    """Classify one line as the ingest Lambda would: a log event of a subscription batch."""
    batch = batch_from_json(subscription_document([line], log_stream=log_stream))
    report = ingest_batch(batch, Classifier())
    assert len(report.findings) == 1
    return report.findings[0]


def _assert_finding(finding: Finding, expect: dict[str, Any], rule_id: str) -> None:
    assert finding.rule_id == rule_id
    assert finding.category.value == expect["category"]
    assert (finding.cause.value if finding.cause else None) == expect["cause"]
    if "severity" in expect:
        assert finding.severity.value == expect["severity"]
    if "summary" in expect:
        assert expect["summary"].lower() in finding.summary.lower()
    assert finding.error is None
    # Identity comes from the log stream name: the record itself does not carry it.
    assert finding.vpn_connection_id == VPN_ID
    assert finding.tunnel_ip == TUNNEL_IP


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("case", TUNNEL_CASES, ids=[case["id"] for case in TUNNEL_CASES])
def test_tunnel_json_record_classifies_as_its_catalogue_row(case: dict[str, Any]) -> None:
    finding = _classify_in_stream(json.dumps(case["record"]))
    _assert_finding(finding, case["expect"], case["rule"])
    evidence = finding.evidence[-1]
    assert evidence.message == case["record"]["details"]
    assert _iso(evidence.timestamp) == case["timestamp"]
    assert evidence.ike_phase1_state is PhaseState.parse(case["record"]["ike_phase1_state"])
    assert evidence.ike_phase2_state is PhaseState.parse(case["record"]["ike_phase2_state"])


@pytest.mark.parametrize(("case", "variant"), TEXT_CASES)
def test_tunnel_text_record_classifies_as_its_catalogue_row(case: dict[str, Any], variant: dict[str, Any]) -> None:
    finding = _classify_in_stream(variant["line"])
    expect = {**case["expect"], **variant.get("expect", {})}
    if "expect" in variant:
        expect.pop("summary", None)
    _assert_finding(finding, expect, case["rule"])
    evidence = finding.evidence[-1]
    assert evidence.message == case["record"]["details"]
    assert _iso(evidence.timestamp) == case["timestamp"]
    if variant["states"]:
        assert evidence.ike_phase1_state is PhaseState.parse(case["record"]["ike_phase1_state"])
        assert evidence.ike_phase2_state is PhaseState.parse(case["record"]["ike_phase2_state"])
    else:
        assert (evidence.ike_phase1_state, evidence.ike_phase2_state) == (None, None)


@pytest.mark.parametrize("case", BGP_CASES, ids=[case["id"] for case in BGP_CASES])
def test_bgp_record_classifies_as_its_catalogue_row(case: dict[str, Any]) -> None:
    finding = _classify_in_stream(json.dumps(case["record"]), log_stream=AWS_CASES["bgp_log_stream"])
    _assert_finding(finding, case["expect"], case["rule"])
    evidence = finding.evidence[-1]
    assert evidence.message == case["record"]["message"]["details"]
    assert _iso(evidence.timestamp) == case["timestamp"]
    assert finding.event.fields["bgp_type"] == case["record"]["type"]
    assert finding.event.fields["bgp_status"] == case["record"]["status"]
    if "prefix" in case["record"]["message"]:
        assert finding.event.fields["bgp_prefix"] == case["record"]["message"]["prefix"]


def _aws_rules() -> list[Rule]:
    return [rule for rule in CATALOGUE if rule.family in (Family.AWS_TUNNEL, Family.AWS_BGP)]


def test_every_aws_and_bgp_catalogue_row_has_a_fixture() -> None:
    covered = {case["rule"] for case in TUNNEL_CASES} | {case["rule"] for case in BGP_CASES}
    missing = sorted(rule.rule_id for rule in _aws_rules() if rule.rule_id not in covered)
    assert missing == [], f"catalogue rows without a fixture in catalogue_cases.json: {missing}"


def test_every_tunnel_case_has_json_and_at_least_three_text_layouts() -> None:
    for case in TUNNEL_CASES:
        assert len({variant["layout"] for variant in case["text"]}) >= 3, case["id"]


def test_both_ike_versions_are_covered_for_every_documented_shared_message() -> None:
    by_rule: dict[str, set[str]] = {}
    for case in TUNNEL_CASES:
        by_rule.setdefault(case["rule"], set()).add(case["ike"])
    # Messages the documentation lists under both IKEv1 and IKEv2.
    for rule_id in ("aws.peer_delete_ike", "aws.peer_delete_phase2", "aws.no_proposal_match", "aws.no_proposal_chosen"):
        assert by_rule[rule_id] == {"ikev1", "ikev2"}, rule_id


@pytest.mark.parametrize("rule", CATALOGUE, ids=[rule.rule_id for rule in CATALOGUE])
def test_every_catalogue_row_names_a_cause_of_its_own_category(rule: Rule) -> None:
    assert rule.cause is None or rule.cause in CAUSES_BY_CATEGORY[rule.category]
    assert rule.category is not Category.UNKNOWN
    assert rule.summary.strip()


def test_catalogue_rule_ids_are_unique() -> None:
    ids = [rule.rule_id for rule in CATALOGUE]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [
        (r"DPD timed out after (?P<retries>\d+) retransmits", "dpd timed out after "),
        (r"No Proposal Match Found\.? Notifying", "no proposal match found"),
        (r"sending DPD request|received DPD request", ""),  # top-level alternation: nothing required
        (r"(?:processed|is sending) request for CREATE_CHILD_SA", " request for create_child_sa"),
    ],
)
def test_required_literal_is_the_longest_plain_run_every_match_contains(pattern: str, needle: str) -> None:
    assert required_literal(pattern) == needle


def _fixture_messages() -> list[str]:
    messages = [case["record"]["details"] for case in TUNNEL_CASES]
    messages += [case["record"]["message"]["details"] for case in BGP_CASES]
    for path in sorted(LAB_FIXTURES.glob("*.log")):
        messages += [parse_line(line).message for line in path.read_text(encoding="utf-8").splitlines()]
    return messages


def test_every_rule_needle_is_in_each_fixture_message_its_pattern_matches() -> None:
    # The needle is a pre-filter: a needle missing from a message the regex matches would hide a rule.
    checked = 0
    for message in _fixture_messages():
        for rule in CATALOGUE:
            if rule.pattern.search(message):
                assert rule.needle in message.lower(), (rule.rule_id, message)
                checked += 1
    assert checked > len(TUNNEL_CASES)
