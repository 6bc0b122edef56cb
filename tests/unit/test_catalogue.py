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
from vpn_doctor.catalogue import CATALOGUE, Family, Rule
from vpn_doctor.classify import Classifier
from vpn_doctor.ingest import ingest_batch
from vpn_doctor.models import Finding, PhaseState
from vpn_doctor.rules import CONTEXT_RULES
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


def test_a_row_is_refined_by_at_most_one_context_rule() -> None:
    for rule in CATALOGUE:
        assert len([item for item in CONTEXT_RULES if item.tag in rule.tags]) <= 1, rule.rule_id


def test_every_context_rule_applies_to_some_row() -> None:
    tags = {tag for rule in CATALOGUE for tag in rule.tags}
    assert [item.rule.__name__ for item in CONTEXT_RULES if item.tag not in tags] == []


def test_no_code_names_a_catalogue_row() -> None:
    # Rules ask for tags: a row id in code would tie the data to the code again.
    root = Path(__file__).resolve().parents[2]
    quoted = [f'"{rule.rule_id}"' for rule in CATALOGUE]
    sources = [*(root / "functions").rglob("*.py"), *(root / "tools").rglob("*.py")]
    named = [
        (path.name, row_id)
        for path in sources
        if "catalogue" not in path.parts
        for row_id in quoted
        if row_id in path.read_text(encoding="utf-8")
    ]
    assert named == []
