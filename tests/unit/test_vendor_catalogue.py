"""Vendor gateways' lines (Cisco ASA/FTD and IOS, PAN-OS, FortiGate, Junos, RouterOS): each catalogue row
has a fixture line in the format the device sends, with its source, and classifies as the row says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vpn_doctor.catalogue import CATALOGUE, Family, Tag
from vpn_doctor.classify import Classifier
from vpn_doctor.models import Source
from vpn_doctor.parsing import parse_line
from vpn_doctor.taxonomy import Category, Cause
from vpn_doctor.vendors import VENDOR_FORMATS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendors"
FIXTURE = json.loads((FIXTURES / "vendor_cases.json").read_text())
CASES: list[dict[str, Any]] = FIXTURE["cases"]
ARRIVED = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
VENDOR_FAMILIES = {
    Family.CISCO_ASA: "cisco",
    Family.CISCO_IOS: "cisco",
    Family.PANOS: "paloalto",
    Family.FORTIGATE: "fortinet",
    Family.JUNOS: "juniper",
    Family.ROUTEROS: "mikrotik",
}
VENDOR_ROWS = [rule for rule in CATALOGUE if rule.family in VENDOR_FAMILIES]


def test_every_vendor_row_has_a_fixture_line_and_every_line_names_its_row() -> None:
    assert sorted(case["rule"] for case in CASES) == sorted(rule.rule_id for rule in VENDOR_ROWS)


def test_every_case_says_where_it_comes_from_and_whether_a_documented_example_backs_it() -> None:
    for case in CASES:
        source = FIXTURE["sources"][case["rule"].split(".")[0]]
        assert source.startswith("https://"), case["rule"]
        assert isinstance(case["verified"], bool)
        assert case["why"].strip()


@pytest.mark.parametrize("case", CASES, ids=[case["rule"] for case in CASES])
def test_a_vendor_line_classifies_as_its_row_and_names_its_vendor(case: dict[str, Any]) -> None:
    finding = Classifier().classify(parse_line(case["line"], reference_time=ARRIVED))
    assert finding.rule_id == case["rule"]
    assert (finding.category.value, finding.cause and finding.cause.value) == (case["category"], case["cause"])
    assert finding.error is None
    assert finding.to_dict()["vendor"] == case["vendor"]
    assert VENDOR_FAMILIES[next(r.family for r in VENDOR_ROWS if r.rule_id == case["rule"])] == case["vendor"]
    # The peer a vendor line names is the AWS endpoint (documentation address 203.0.113.10).
    assert finding.tunnel_ip in (None, "203.0.113.10")


def test_vendor_readers_are_tried_in_their_documented_order() -> None:
    assert [name for name, _ in VENDOR_FORMATS] == ["cisco", "fortinet", "paloalto", "juniper", "mikrotik"]


def test_a_message_that_cannot_tell_the_phase_or_cause_says_so_rather_than_guess() -> None:
    generic = [rule for rule in VENDOR_ROWS if Tag.GENERIC_FAILURE in rule.tags]
    assert len(generic) >= 6
    assert [rule.rule_id for rule in generic if rule.cause is not None or "does not say" not in rule.summary] == []


def test_a_generic_vendor_failure_takes_the_specific_cause_logged_just_before_it() -> None:
    # A FortiGate phase 1 error with its reason, then the tunnel-down line that only says "down".
    classifier = Classifier()
    by_rule = {case["rule"]: case["line"] for case in CASES}
    specific = classifier.classify(parse_line(by_rule["forti.p1_proposal"], reference_time=ARRIVED))
    down = by_rule["forti.tunnel_down"].replace("05:10:05", "04:22:38")
    generic = classifier.classify(parse_line(down, reference_time=ARRIVED))
    assert specific.cause is Cause.PROPOSAL_MISMATCH
    assert (generic.category, generic.cause) == (Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH)


def test_a_junos_refusal_after_the_sa_came_up_is_phase_2() -> None:
    classifier = Classifier()
    by_rule = {case["rule"]: case["line"] for case in CASES}
    classifier.classify(parse_line(by_rule["junos.sa_established"], reference_time=ARRIVED))
    refused = classifier.classify(
        parse_line(by_rule["junos.no_proposal"].replace("04:22:37", "04:22:39"), reference_time=ARRIVED)
    )
    assert (refused.category, refused.cause) == (Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH)


def test_device_times_with_a_year_are_used_and_their_missing_zone_is_said() -> None:
    asa = parse_line(next(c["line"] for c in CASES if c["rule"] == "asa.phase2_completed"), reference_time=ARRIVED)
    assert asa.source is Source.CISCO_ASA
    assert asa.timestamp == datetime(2026, 12, 2, 4, 22, 38, tzinfo=UTC)
    assert "no zone" in asa.fields["time_note"]
    forti = parse_line(next(c["line"] for c in CASES if c["rule"] == "forti.p1_proposal"), reference_time=ARRIVED)
    assert forti.timestamp == datetime(2026, 12, 2, 4, 22, 37, tzinfo=UTC)
    assert "time_note" not in forti.fields  # tz="+0000" says the zone


def test_junos_structured_syslog_puts_the_event_tag_in_the_message_id() -> None:
    line = next(c["line"] for c in CASES if c["rule"] == "junos.ts_mismatch")
    event = parse_line(line, reference_time=ARRIVED)
    assert event.message.startswith("KMD_VPN_TS_MISMATCH: Traffic-selector mismatch")
    assert (event.fields["envelope"], event.fields["msgid"]) == ("rfc5424", "KMD_VPN_TS_MISMATCH")


@pytest.mark.parametrize("written", ["rsyslog-file.log", "rsyslog-traditional.log"])
def test_every_vendor_line_written_by_rsyslog_classifies_as_its_row(written: str) -> None:
    # Each case line sent to a real rsyslogd 8.2302 and written with its file templates
    # (tests/fixtures/vendors/through_rsyslog.py): one line per case, in order.
    lines = (FIXTURES / written).read_text().splitlines()
    assert len(lines) == len(CASES)
    got = [Classifier().classify(parse_line(line, reference_time=ARRIVED)) for line in lines]
    assert [(f.rule_id, f.cause and f.cause.value) for f in got] == [(c["rule"], c["cause"]) for c in CASES]
    assert all(f.event.fields.get("envelope") in ("iso8601", "rfc3164") for f in got)
