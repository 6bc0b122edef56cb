"""AWS's sample configurations: which device, which tunnel's section, which lines, and never a key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpn_doctor.sample_config import DeviceType, Topic, choose_device, quote, topics_for
from vpn_doctor.taxonomy import Cause

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
PLANTED = ("Planted.Key_0ne2345", "Planted.Key_tw0345678")
ASA = DeviceType("9005b6c1", "Cisco Systems, Inc.", "ASA 5500 Series", "ASA 9.7+ VTI")
ASA_OLD = DeviceType("1a2b3c4d", "Cisco Systems, Inc.", "ASA 5500 Series", "ASA 8.2+")
SRX = DeviceType("7e8f9a0b", "Juniper Networks, Inc.", "J-Series Service Router", "JunOS 9.5+")
FORTI = DeviceType("c0ffee01", "Fortinet", "Fortigate 40+ Series", "FortiOS 6.4.4+ (GUI)")
TYPES = (ASA, ASA_OLD, SRX, FORTI)


def sample(name: str) -> str:
    return (SAMPLES / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "topic", "tunnel_ip", "expected", "under"),
    [
        (
            "cisco-asa-vti",
            Topic.DPD,
            "203.0.113.10",
            "isakmp keepalive threshold 10 retry 10",
            "tunnel-group 203.0.113.10 ipsec-attributes",
        ),
        (
            "cisco-asa-vti",
            Topic.DPD,
            "203.0.113.20",
            "isakmp keepalive threshold 10 retry 10",
            "tunnel-group 203.0.113.20 ipsec-attributes",
        ),
        ("cisco-asa-vti", Topic.LIFETIMES, "203.0.113.20", "lifetime 28800", "crypto ikev1 policy 201"),
        (
            "juniper-srx",
            Topic.DPD,
            "203.0.113.20",
            "set security ike gateway gw-vpn-0a1b2c3d4e5f60718-2 dead-peer-detection interval 10 threshold 3",
            None,
        ),
        (
            "juniper-srx",
            Topic.NAT_T,
            "203.0.113.10",
            "set security ike gateway gw-vpn-0a1b2c3d4e5f60718-1 no-nat-traversal",
            None,
        ),
        ("fortigate", Topic.LIFETIMES, "203.0.113.10", "set keylife 28800", "edit vpn-0a1b2c3d4e5f60718-0"),
        (
            "fortigate",
            Topic.SELECTORS,
            "203.0.113.10",
            "set src-subnet 0.0.0.0 0.0.0.0",
            'edit "vpn-0a1b2c3d4e5f60718-0"',
        ),
        ("fortigate", Topic.NAT_T, "203.0.113.10", "set nattraversal disable", "edit vpn-0a1b2c3d4e5f60718-0"),
        (
            "generic",
            Topic.DPD,
            "203.0.113.10",
            "- DPD Interval             : 10",
            "recommend configuring DPD on your endpoint as follows:",
        ),
        ("generic", Topic.LIFETIMES, "203.0.113.20", "- Lifetime                 : 28800 seconds", "IPSec Tunnel #2"),
    ],
)
def test_the_tunnels_own_line_is_quoted_with_its_block(
    name: str, topic: Topic, tunnel_ip: str, expected: str, under: str | None
) -> None:
    number = 1 if tunnel_ip.endswith(".10") else 2
    quoted = quote(sample(name), ASA, (topic,), tunnel_ip=tunnel_ip, tunnel_number=number)
    assert quoted is not None
    assert quoted.tunnel_number == number
    first = quoted.lines[0]
    assert (first.text, first.under, first.topic) == (expected, under, topic)
    assert sample(name).splitlines()[first.number - 1].strip() == expected


def test_the_section_is_found_by_the_tunnels_address_before_its_position() -> None:
    # EC2 lists tunnel 203.0.113.20 first: the sample's "#2" section is still the one that names it.
    quoted = quote(sample("cisco-asa-vti"), ASA, (Topic.DPD,), tunnel_ip="203.0.113.20", tunnel_number=1)
    assert quoted is not None
    assert quoted.tunnel_number == 2
    assert quoted.lines[0].under == "tunnel-group 203.0.113.20 ipsec-attributes"


def test_no_section_naming_the_address_falls_back_to_the_tunnels_position() -> None:
    quoted = quote(sample("cisco-asa-vti"), ASA, (Topic.DPD,), tunnel_ip="192.0.2.99", tunnel_number=2)
    assert quoted is not None
    assert quoted.tunnel_number == 2


@pytest.mark.parametrize("name", ["cisco-asa-vti", "juniper-srx", "fortigate", "generic"])
def test_no_key_and_no_key_line_is_ever_quoted(name: str) -> None:
    for tunnel_ip, number in (("203.0.113.10", 1), ("203.0.113.20", 2)):
        quoted = quote(sample(name), ASA, tuple(Topic), tunnel_ip=tunnel_ip, tunnel_number=number)
        assert quoted is not None
        text = quoted.step()
        assert not any(key in text for key in PLANTED)
        assert "pre-shared" not in text.lower()
        assert "psksecret" not in text.lower()


def test_prose_and_headings_around_the_settings_are_not_quoted() -> None:
    quoted = quote(sample("generic"), ASA, (Topic.DPD,), tunnel_ip="203.0.113.10", tunnel_number=1)
    assert quoted is not None
    assert [line.text for line in quoted.lines] == ["- DPD Interval             : 10", "- DPD Retries              : 3"]


def test_a_known_key_standing_anywhere_in_a_quoted_line_is_masked_and_the_line_dropped() -> None:
    text = "IPSec Tunnel #1\nset dpd on-idle Zz9_secret_value_42\n"
    assert quote(text, ASA, (Topic.DPD,), tunnel_ip=None, tunnel_number=1, known_keys={"Zz9_secret_value_42"}) is None


def test_nothing_to_quote_is_none_and_the_quote_is_bounded() -> None:
    assert quote(sample("generic"), ASA, (), tunnel_ip=None, tunnel_number=1) is None
    assert quote("IPSec Tunnel #1\nhostname gw\n", ASA, (Topic.DPD,), tunnel_ip=None, tunnel_number=1) is None
    many = "\n".join(f"set dpd-retrycount {n}" for n in range(50))
    quoted = quote(many, ASA, (Topic.DPD,), tunnel_ip=None, tunnel_number=None)
    assert quoted is not None
    assert len(quoted.lines) == 8
    assert quoted.tunnel_number is None


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.sampled_from(
            [
                "  ikev1 pre-shared-key {k}",
                "set psksecret {k}",
                "  - Pre-Shared Key : {k}",
                'set security ike policy p pre-shared-key ascii-text "{k}"',
                "  isakmp keepalive threshold 10 retry 10",
                "  lifetime 28800",
                "set keylife {k}",
                "leftsubnet={k}",
                "IPSec Tunnel #1",
                "! comment {k}",
                "secret = {k}",
            ]
        ),
        max_size=30,
    ),
    key=st.from_regex(r"[A-Za-z0-9._]{8,64}", fullmatch=True),
)
def test_a_key_planted_in_any_line_never_reaches_the_quote(lines: list[str], key: str) -> None:
    text = "\n".join(line.format(k=key) for line in lines)
    quoted = quote(text, ASA, tuple(Topic), tunnel_ip=None, tunnel_number=1, known_keys={key})
    if quoted is not None:
        assert key not in quoted.step()


def test_the_device_is_chosen_by_the_tags_id_or_its_words_else_by_a_vendor_with_one_device() -> None:
    assert choose_device(TYPES, tag="9005b6c1", vendor=None).device == ASA
    assert choose_device(TYPES, tag="cisco asa 9.7+", vendor=None).device == ASA
    assert choose_device(TYPES, tag="juniper", vendor="cisco").device == SRX  # the tag wins
    assert choose_device(TYPES, tag=None, vendor="fortinet").device == FORTI
    ambiguous = choose_device(TYPES, tag=None, vendor="cisco")
    assert ambiguous.device is None
    assert "2 device types match vendor cisco" in ambiguous.why
    assert "9005b6c1" in ambiguous.why
    assert "vpn-doctor:device-type" in ambiguous.why
    assert choose_device(TYPES, tag="Check Point R80", vendor=None).device is None
    assert choose_device(TYPES, tag=None, vendor=None).device is None
    assert choose_device(TYPES, tag=None, vendor="palo alto").device is None


def test_the_topics_come_from_the_cause_then_the_failed_checks() -> None:
    assert topics_for(Cause.PEER_NOT_RESPONSIVE, ()) == (Topic.DPD,)
    assert topics_for(Cause.LIFETIME_MISMATCH, ("proposals", "lifetimes")) == (Topic.LIFETIMES, Topic.PROPOSALS)
    assert topics_for(Cause.MULTIPLE_SELECTORS, ()) == (Topic.SELECTORS,)
    assert topics_for(Cause.NAT_T_BLOCKED, ()) == (Topic.NAT_T,)
    assert topics_for(None, ("tunnel_logging",)) == ()
