"""Parsing AWS tunnel/BGP records (JSON and text) into TunnelEvents: fields, timestamps, identity."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import TUNNEL_IP, VPN_ID
from vpn_doctor.classify import Classifier
from vpn_doctor.models import PhaseState, Source
from vpn_doctor.parsing import (
    MAX_LINE_CHARS,
    identity_from_name,
    parse_epoch,
    parse_line,
    parse_record,
    parse_timestamp,
    with_identity,
)

AT = datetime(2025, 11, 26, 22, 40, tzinfo=UTC)
EPOCH = 1764196800


def test_json_record_keeps_every_documented_field() -> None:
    event = parse_line(
        json.dumps(
            {
                "event_timestamp": EPOCH,
                "details": "AWS tunnel DPD timed out after 3 retransmits",
                "dpd_enabled": True,
                "nat_t_detected": "false",
                "ike_phase1_state": "DOWN",
                "ike_phase2_state": "rekeying",
            }
        )
    )
    assert event.source is Source.AWS_TUNNEL_JSON
    assert event.message == "AWS tunnel DPD timed out after 3 retransmits"
    assert event.timestamp == AT
    assert (event.ike_phase1_state, event.ike_phase2_state) == (PhaseState.DOWN, PhaseState.REKEYING)
    assert (event.dpd_enabled, event.nat_t_detected) == (True, False)
    assert "error" not in event.fields


@pytest.mark.parametrize("value", [EPOCH, EPOCH * 1000, str(EPOCH), f"{EPOCH}000", EPOCH + 0.0])
def test_epoch_in_seconds_or_milliseconds_gives_the_same_moment(value: object) -> None:
    assert parse_epoch(value) == AT


@pytest.mark.parametrize("value", [None, True, "soon", -5, float("nan"), float("inf"), 10**30])
def test_impossible_epochs_are_none_not_errors(value: object) -> None:
    assert parse_epoch(value) is None


@pytest.mark.parametrize(
    "text",
    ["2025-11-26T22:40:00Z", "2025-11-26 22:40:00", "2025-11-26T23:40:00+01:00", "2025-11-26 22:40:00,000Z"],
)
def test_iso_timestamps_are_read_as_utc(text: str) -> None:
    assert parse_timestamp(text) == AT


def test_syslog_timestamp_takes_the_year_of_the_reference_and_steps_back_over_new_year() -> None:
    assert parse_timestamp("Nov 26 22:40:00", reference_time=AT) == AT
    january = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert parse_timestamp("Dec 31 23:59:00", reference_time=january) == datetime(2025, 12, 31, 23, 59, tzinfo=UTC)


def test_record_without_timestamp_takes_the_reference_time() -> None:
    event = parse_line('{"details": "AWS tunnel DPD timed out after 3 retransmits"}', reference_time=AT)
    assert event.timestamp == AT


@pytest.mark.parametrize(
    "line",
    [
        "event_timestamp=1764196800 ike_phase1_state=established ike_phase2_state=down "
        "details=AWS tunnel received DELETE for Phase 2 SA with SPI: c2a9b7f1",
        "timestamp: 2025-11-26 22:40:00, ike_phase1_state: Established, ike_phase2_state: Down, "
        "details: AWS tunnel received DELETE for Phase 2 SA with SPI: c2a9b7f1",
        '"event_timestamp": 1764196800, "ike_phase1_state": "established", "ike_phase2_state": "down", '
        '"details": "AWS tunnel received DELETE for Phase 2 SA with SPI: c2a9b7f1"',
        'details="AWS tunnel received DELETE for Phase 2 SA with SPI: c2a9b7f1" event_timestamp=1764196800 '
        "ike_phase1_state=established ike_phase2_state=down",
        "details=AWS tunnel received DELETE for Phase 2 SA with SPI: c2a9b7f1, event_timestamp=1764196800, "
        "ike_phase1_state=established, ike_phase2_state=down",
    ],
)
def test_text_layouts_read_states_and_details_wherever_the_details_sit(line: str) -> None:
    event = parse_line(line)
    assert event.source is Source.AWS_TUNNEL_TEXT
    assert event.message == "AWS tunnel received DELETE for Phase 2 SA with SPI: c2a9b7f1"
    assert event.timestamp == AT
    assert (event.ike_phase1_state, event.ike_phase2_state) == (PhaseState.ESTABLISHED, PhaseState.DOWN)


def test_quoted_details_keep_their_inner_quotes() -> None:
    event = parse_line(r'details="No Proposal Match Found. Notifying with \"No proposal chosen\"" ike_phase1_state=up')
    assert event.message == 'No Proposal Match Found. Notifying with "No proposal chosen"'
    unquoted = parse_line('ike_phase1_state=down details=No Proposal Match Found. Notifying with "No proposal chosen"')
    assert unquoted.message == 'No Proposal Match Found. Notifying with "No proposal chosen"'


def test_an_address_inside_the_message_is_not_taken_for_the_tunnel() -> None:
    # The CGW address in the message must not become the tunnel outside IP (the stream's wins).
    event = parse_line("2025-11-26T22:40:00Z AWS tunnel detected a pre-shared key mismatch with cgw: 198.51.100.7")
    assert event.tunnel_ip is None
    assert with_identity(event, log_stream=f"{VPN_ID}-{TUNNEL_IP}").tunnel_ip == TUNNEL_IP


def test_bare_aws_message_without_any_layout_is_recognised_without_an_error() -> None:
    finding = Classifier().classify(parse_line("AWS tunnel DPD timed out after 3 retransmits", reference_time=AT))
    assert (finding.category.value, finding.cause and finding.cause.value) == ("dpd_timeout", "peer_not_responsive")
    assert finding.error is None
    assert finding.event.source is Source.AWS_TUNNEL_TEXT


def test_bare_garbage_stays_unparsed_with_an_error() -> None:
    event = parse_line("hello world")
    assert event.source is Source.UNPARSED
    assert event.fields["error"] == "not a recognised log format"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"{VPN_ID}-{TUNNEL_IP}", (VPN_ID, TUNNEL_IP)),
        (f"{VPN_ID}_{TUNNEL_IP}", (VPN_ID, TUNNEL_IP)),
        ("vpn-1234abcd_1.2.3.4", ("vpn-1234abcd", "1.2.3.4")),
        (f"/aws/vendedlogs/{VPN_ID}/{TUNNEL_IP}", (VPN_ID, TUNNEL_IP)),
        ("no identity here 999.1.1.1", (None, None)),
        # AWS connection ids have 8 or 17 hex digits: anything else is not one.
        ("vpn-0123456789ab_1.2.3.4", (None, "1.2.3.4")),
    ],
)
def test_identity_is_taken_from_stream_or_resource_names(name: str, expected: tuple[str | None, str | None]) -> None:
    assert identity_from_name(name) == expected


def test_identity_in_the_record_wins_over_the_stream_name() -> None:
    event = parse_record(
        {"details": "x", "vpn_connection_id": "vpn-0fedcba9876543210", "tunnel_outside_ip": "192.0.2.1"}
    )
    enriched = with_identity(event, log_stream=f"{VPN_ID}-{TUNNEL_IP}")
    assert (enriched.vpn_connection_id, enriched.tunnel_ip) == ("vpn-0fedcba9876543210", "192.0.2.1")


def test_bgp_record_reads_identity_type_status_and_route_fields() -> None:
    event = parse_record(
        {
            "resource_id": "vpn-1234abcd_1.2.3.4",
            "event_timestamp": EPOCH * 1000,
            "type": "RouteStatus",
            "status": "WITHDRAWN",
            "message": {"details": "DENIED due to: non-connected next-hop", "prefix": "10.0.0.0/16", "med": 0},
        }
    )
    assert event.source is Source.AWS_BGP
    assert (event.vpn_connection_id, event.tunnel_ip, event.timestamp) == ("vpn-1234abcd", "1.2.3.4", AT)
    assert event.fields["bgp_prefix"] == "10.0.0.0/16"
    assert event.fields["bgp_med"] == "0"


def test_truncated_json_keeps_details_and_states_and_says_it_was_broken() -> None:
    line = (
        '{"event_timestamp": 1764196800, "ike_phase1_state": "negotiating", '
        '"details": "AWS tunnel is sending AUTHENTICATION_FAILED as the resp'
    )
    event = parse_line(line)
    assert event.message.startswith("AWS tunnel is sending AUTHENTICATION_FAILED")
    assert event.ike_phase1_state is PhaseState.NEGOTIATING
    assert event.timestamp == AT
    assert "malformed JSON" in event.fields["error"]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("", "empty record"),
        ('{"foo": 1}', "none of the VPN tunnel log fields"),
        ('{"event_timestamp": 1}', "no details message"),
    ],
)
def test_unusable_records_say_why(line: str, error: str) -> None:
    assert error in parse_line(line).fields["error"]


def test_overlong_lines_are_cut_and_say_so() -> None:
    event = parse_line("x" * (MAX_LINE_CHARS + 10))
    assert len(event.raw) == MAX_LINE_CHARS
    assert "truncated" in event.fields["error"]


def test_a_spaced_timestamp_with_a_zone_is_read_whole_and_stays_out_of_the_message() -> None:
    event = parse_line(
        "timestamp=2025-11-26 23:40:00+01:00 ike_phase1_state=down AWS tunnel DPD timed out after 3 retransmits"
    )
    assert event.timestamp == AT
    assert event.message == "AWS tunnel DPD timed out after 3 retransmits"
    zulu = parse_line(
        "timestamp=2025-11-26 22:40:00Z ike_phase1_state=down AWS tunnel DPD timed out after 3 retransmits"
    )
    assert (zulu.timestamp, zulu.message) == (AT, "AWS tunnel DPD timed out after 3 retransmits")


def test_free_text_header_with_connection_id_and_tunnel_address_names_the_tunnel() -> None:
    event = parse_line(f"2025-11-26 22:40:00 | {VPN_ID} | {TUNNEL_IP} | AWS tunnel DPD timed out after 3 retransmits")
    assert (event.vpn_connection_id, event.tunnel_ip, event.timestamp) == (VPN_ID, TUNNEL_IP, AT)
    # An address later in the message is the customer gateway's, not the tunnel's.
    cgw = parse_line(
        f"2025-11-26 22:40:00 {VPN_ID} AWS tunnel detected a pre-shared key mismatch with cgw: 198.51.100.7"
    )
    assert (cgw.vpn_connection_id, cgw.tunnel_ip) == (VPN_ID, None)
