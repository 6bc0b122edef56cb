"""Ingestion: subscription filters on the tunnel log groups, and a filter pattern that only drops routine records.

CloudWatch Logs evaluates the pattern, not us, and moto does not implement TestMetricFilter (nor exclusion
terms in FilterLogEvents). ``matches`` below implements the documented semantics of exactly the syntax the
pattern uses: a sequence of ``-"exact phrase"`` terms; a quoted term matches when the phrase occurs in the raw
event text (case-sensitive), and an event passes when it contains none of the excluded phrases. Anything else
in the pattern makes the parser fail, so a later edit to another syntax cannot pass these tests unnoticed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stacks.ingestion import FILTER_PATTERN
from tests.conftest import AWS_CASES
from tests.infra.cfn import function, resources
from tests.infra.conftest import Synth
from vpn_doctor.classify import classify_lines
from vpn_doctor.constants import TUNNEL_LOG_GROUP_NAME
from vpn_doctor.taxonomy import Category

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "vpn_doctor_tools" / "samples"
_TERM = re.compile(r'\s*-"([^"]+)"')

# Routine lines as strongSwan and libreswan write them: these must never cost an invocation.
ROUTINE = [
    "Nov 26 09:20:01 cgw charon: 05[IKE] <aws-t1|2> sending DPD request",
    "Nov 26 09:20:01 cgw charon: 07[IKE] <aws-t1|2> received DPD request",
    "Nov 26 09:12:30 cgw charon: 14[IKE] <aws-t1|1> IKE_SA aws-t1[1] established between "
    "198.51.100.77[cgw]...203.0.113.5[203.0.113.5]",
    "Nov 26 09:12:30 cgw charon: 14[IKE] <aws-t1|1> CHILD_SA aws-t1{1} established with SPIs "
    "c1a2b3c4_i 0d9e8f7a_o and TS 10.0.0.0/16 === 172.31.0.0/16",
    'Nov 26 09:12:30 cgw pluto[811]: "aws-t1" #2: IPsec SA established tunnel mode {ESP/NAT=>0xc1a2b3c4}',
    'Nov 26 09:12:29 cgw pluto[811]: "aws-t1" #1: ISAKMP SA established {auth=PRESHARED_KEY cipher=aes_256}',
]  # fmt: skip
# Failures whose text is close to a dropped phrase: these must pass.
LOOKALIKES = [
    "AWS tunnel Timeout: deleting un-established Phase 1 IKE_SA with cgw: 198.51.100.77",
    "AWS-side peer BGP session state has changed from Established to Idle with neighbor 169.254.10.1",
    "AWS tunnel DPD timed out after 3 retransmits",
    "Nov 26 09:25:40 cgw charon: 09[IKE] <aws-t1|2> giving up after 5 retransmits",
]


def parse_exclusions(pattern: str) -> list[str]:
    """The excluded phrases of a pattern made only of ``-"phrase"`` terms; anything else is an error."""
    phrases, position = [], 0
    while position < len(pattern):
        term = _TERM.match(pattern, position)
        if term is None:
            raise ValueError(f"unsupported filter syntax at {pattern[position:]!r}")
        phrases.append(term.group(1))
        position = term.end()
    return phrases


def matches(pattern: str, message: str) -> bool:
    """Whether CloudWatch Logs would deliver ``message`` through ``pattern`` (documented term semantics)."""
    return not any(phrase in message for phrase in parse_exclusions(pattern))


def corpus() -> list[str]:
    """Real-format records: every catalogue fixture (JSON and text layouts) and the shipped samples."""
    lines: list[str] = []
    for case in (*AWS_CASES["tunnel_cases"], *AWS_CASES["bgp_cases"]):
        lines.append(json.dumps(case["record"]))
        lines += [layout["line"] for layout in case.get("text", [])]
    for sample in sorted(SAMPLES.glob("*.log")):
        lines += [line for line in sample.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


def test_pattern_drops_dpd_exchanges_and_established_notices() -> None:
    assert [line for line in ROUTINE if matches(FILTER_PATTERN, line)] == []


def test_everything_dropped_is_classified_healthy() -> None:
    for finding in classify_lines(ROUTINE):
        assert finding.category is Category.HEALTHY, finding


@pytest.mark.parametrize("line", LOOKALIKES)
def test_failures_that_look_like_routine_records_pass(line: str) -> None:
    assert matches(FILTER_PATTERN, line)


def test_no_failure_record_of_any_format_is_dropped() -> None:
    lines = corpus()
    findings = classify_lines(lines)
    failures = [line for line, finding in zip(lines, findings, strict=True) if finding.category is not Category.HEALTHY]
    assert len(failures) > 50
    assert [line for line in failures if not matches(FILTER_PATTERN, line)] == []


def test_pattern_is_only_exclusion_terms_so_text_and_json_events_are_treated_alike() -> None:
    assert len(parse_exclusions(FILTER_PATTERN)) >= 6
    with pytest.raises(ValueError, match="unsupported"):
        parse_exclusions('{ $.details != "x" }')


def test_without_configured_log_groups_one_group_is_created_and_subscribed(default_synth: Synth) -> None:
    template = default_synth.templates["VpnDoctor"]
    created = [
        group
        for group in resources(template, "AWS::Logs::LogGroup").values()
        if group["Properties"].get("LogGroupName") == TUNNEL_LOG_GROUP_NAME
    ]
    assert len(created) == 1
    assert created[0]["DeletionPolicy"] == "Retain"
    (subscription,) = resources(template, "AWS::Logs::SubscriptionFilter").values()
    assert subscription["Properties"]["FilterPattern"] == FILTER_PATTERN


def test_each_configured_log_group_gets_one_subscription_to_ingest(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    ingest_id, _ = function(template, "ingest")
    subscriptions = resources(template, "AWS::Logs::SubscriptionFilter").values()
    assert sorted(s["Properties"]["LogGroupName"] for s in subscriptions) == ["/aws/vpn/tunnels", "/cgw/strongswan"]
    for subscription in subscriptions:
        assert subscription["Properties"]["DestinationArn"] == {"Fn::GetAtt": [ingest_id, "Arn"]}
        assert subscription["Properties"]["FilterPattern"] == FILTER_PATTERN
    assert not any(
        group["Properties"].get("LogGroupName") == TUNNEL_LOG_GROUP_NAME
        for group in resources(template, "AWS::Logs::LogGroup").values()
    )
    permissions = [
        p["Properties"] for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "logs.amazonaws.com"
    ]  # fmt: skip
    assert len(permissions) == 2
    assert all(p["FunctionName"] == {"Fn::GetAtt": [ingest_id, "Arn"]} for p in permissions)
