"""Key-like material is masked in evidence and alerts; the prose of log lines is left readable."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_remediation import PSK1, PSK2
from vpn_doctor.parsing import parse_line
from vpn_doctor.redact import MASK, known_keys, redact, redact_document, redacted_count
from vpn_doctor.render.safe import valid_unicode_document
from vpn_doctor.text import valid_unicode


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("psk=abc123", f"psk={MASK}"),
        ("PreSharedKey: Zx_9a.bcdefg", f"PreSharedKey: {MASK}"),
        ('leftright psk = "two words"', f'leftright psk = "{MASK}"'),
        (': PSK "0sGVkZGVk"', f': PSK "{MASK}"'),
        ("crypto isakmp pre-shared-key 0 Passw0rd.1 address 1", f"crypto isakmp pre-shared-key 0 {MASK} address 1"),
        ("preshared_key=xyz; next", f"preshared_key={MASK}; next"),
        ("key: hunter2", f"key: {MASK}"),
        ('{"details":"x","psk":"hunter2222"}', f'{{"details":"x","psk":"{MASK}"}}'),
    ],
)
def test_values_after_key_keywords_are_masked(text: str, masked: str) -> None:
    assert redact(text) == (masked, 1)


def test_every_value_is_masked_and_counted() -> None:
    assert redact("client_secret=abc, password : 'p w'") == (f"client_secret={MASK}, password : '{MASK}'", 2)


@pytest.mark.parametrize(
    "text",
    [
        "authentication of 'cgw' with pre-shared key successful",
        "rekey=yes keyexchange=ikev2 ikelifetime=8h keyingtries=%forever",
        "AWS tunnel detected a pre-shared key mismatch with cgw: 198.51.100.7",
        "IKE SA key exchange failed: NO_PROPOSAL_CHOSEN",
        "loaded IKE shared key with id 'ike-lab' for: '198.18.0.2'",
    ],
)
def test_the_prose_of_a_log_line_is_left_alone(text: str) -> None:
    assert redact(text) == (text, 0)


def test_a_known_key_is_masked_wherever_it_stands_and_counted() -> None:
    text = f"error for request {PSK1} (again {PSK1}); other {PSK2}"
    assert redact(text, {PSK1, PSK2}) == (f"error for request {MASK} (again {MASK}); other {MASK}", 3)
    assert redact("ab", {"ab"}) == ("ab", 0), "too short to be a pre-shared key (AWS: 8 to 64 characters)"


def test_known_keys_are_read_from_a_describe_answer() -> None:
    answer = {"VpnConnections": [{"Options": {"TunnelOptions": [{"PreSharedKey": PSK1}, {"PreSharedKey": PSK2}, {}]}}]}
    assert known_keys(answer) == {PSK1, PSK2}
    assert known_keys({}) == frozenset()


def test_a_document_is_masked_in_every_string_and_under_key_like_names() -> None:
    document = {
        "reason": "EC2 refused: psk=abc123",
        "parameters": {"TunnelOptions": {"PreSharedKey": "anything-at-all", "DPDTimeoutAction": "restart"}},
        "list": [f"quoted {PSK1}", 3, None],
    }
    masked, count = redact_document(document, {PSK1})
    assert masked == {
        "reason": f"EC2 refused: psk={MASK}",
        "parameters": {"TunnelOptions": {"PreSharedKey": MASK, "DPDTimeoutAction": "restart"}},
        "list": [f"quoted {MASK}", 3, None],
    }
    assert count == 3
    assert redact_document(masked, {PSK1}) == (masked, 0), "masking twice counts nothing more"


def test_parsing_masks_a_key_in_a_record_and_says_how_many() -> None:
    line = json.dumps({"event_timestamp": 1764196800, "details": "config dump: psk=Abc_12345, secret: xyz"})
    event = parse_line(line)
    assert event.message == f"config dump: psk={MASK}, secret: {MASK}"
    assert "Abc_12345" not in event.raw
    assert json.loads(event.raw)["details"] == event.message, "the raw line stays JSON"
    assert redacted_count(event) == 2
    assert redacted_count(parse_line("AWS tunnel DPD timed out after 3 retransmits")) == 0


def test_unpaired_surrogates_become_replacement_characters_and_valid_text_is_kept() -> None:
    assert valid_unicode("DPD \ud800 timed out") == "DPD \ufffd timed out"
    assert valid_unicode("café 😀") == "café 😀"
    assert valid_unicode_document({"k\udfff": ["\ud800", 1]}) == {"k\ufffd": ["\ufffd", 1]}
