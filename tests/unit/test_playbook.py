"""The playbook says what to do next, per category and cause, in the seed article's terms (but right)."""

from __future__ import annotations

import pytest

from vpn_doctor.playbook import next_steps, vendor_of
from vpn_doctor.taxonomy import Category, Cause


@pytest.mark.parametrize("category", [c for c in Category if c is not Category.HEALTHY])
def test_every_problem_category_has_next_steps(category: Category) -> None:
    assert next_steps(category, None)


def test_healthy_has_no_next_steps() -> None:
    assert next_steps(Category.HEALTHY, Cause.ESTABLISHED) == ()


def test_cause_specific_step_comes_first() -> None:
    steps = next_steps(Category.IKE_PHASE1_FAILURE, Cause.PSK_MISMATCH)
    assert "pre-shared keys differ" in steps[0]
    assert any("IKE version" in step for step in steps[1:])


def test_firewall_advice_says_esp_is_ip_protocol_50_not_a_udp_port() -> None:
    text = " ".join(next_steps(Category.CGW_NETWORK, Cause.ESP_BLOCKED))
    assert "IP protocol 50" in text
    assert "UDP 4500" in text
    assert "port 50" not in text.lower()


def test_dpd_steps_follow_the_playbook() -> None:
    text = " ".join(next_steps("dpd_timeout", "peer_not_responsive"))
    assert "every 10 seconds" in text
    assert "3 unanswered" in text
    assert "'none'" in text


def test_idle_steps_recommend_a_probe_every_five_seconds() -> None:
    assert any("every 5 seconds" in step for step in next_steps(Category.IDLE_TIMEOUT, Cause.NO_TRAFFIC))


def test_vendor_hint_is_appended_when_the_vendor_is_known() -> None:
    plain = next_steps(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE)
    cisco = next_steps(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE, "cisco")
    assert cisco[: len(plain)] == plain
    assert "isakmp keepalive" in cisco[-1]


def test_unknown_values_are_tolerated() -> None:
    assert next_steps("not-a-category", "not-a-cause", "nobody") == next_steps(Category.UNKNOWN, None)


@pytest.mark.parametrize(
    ("text", "vendor"),
    [
        ("Cisco ASA 5506", "cisco"),
        ("PA-3220 PAN-OS 10", "paloalto"),
        ("FortiGate 60F", "fortinet"),
        ("Juniper SRX300", "juniper"),
        ("strongSwan 5.9 on Debian", "strongswan"),
        ("Branch router", None),
    ],
)
def test_vendor_is_recognised_from_a_device_name(text: str, vendor: str | None) -> None:
    assert vendor_of(None, text) == vendor
