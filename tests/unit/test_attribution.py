"""Attribution of customer-gateway lines to their connection and tunnel (vpn_doctor.attribution): what a
line names, matched against the poller's connection map and the configured gateway map; nothing guessed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from handlers.ingest import Settings as IngestSettings
from handlers.wiring import SettingsError, load_settings
from vpn_doctor.app.logs import MapCache
from vpn_doctor.attribution import (
    ConnectionMap,
    MapFormatError,
    MappedConnection,
    attribute,
    map_from_dict,
    map_of,
    valid_source_target,
)
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_GATEWAY_MAP, ENV_INCIDENTS_TABLE
from vpn_doctor.parsing import parse_line
from vpn_doctor.records import Source, TunnelEvent
from vpn_doctor.vpn import TunnelConfig, VpnConnectionInfo
from vpn_doctor_tools.cli.classify import classify_stream

A, B = "vpn-0a1b2c3d4e5f60718", "vpn-0fedcba9876543210"
A1, A2, B1, B2 = "198.51.100.10", "203.0.113.20", "198.51.100.30", "203.0.113.40"
GATEWAY = "192.0.2.1"
ESTATE = ConnectionMap(
    (
        MappedConnection(A, (A1, A2), GATEWAY, "branch-paris"),
        MappedConnection(B, (B1, B2), "192.0.2.99", "branch-lyon"),
    )
)
NOW = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)


def _line(text: str) -> TunnelEvent:
    return parse_line(text, reference_time=NOW)


def test_a_strongswan_line_naming_a_tunnel_outside_ip_is_that_tunnel() -> None:
    event = _line("Dec  2 04:22:37 cgw-01 charon: 10[IKE] <cgw|3> retransmit 5 of request with message ID 0 to " + A2)

    found = attribute(event, ESTATE)

    assert (found.vpn_connection_id, found.tunnel_ip) == (A, A2)
    assert found.basis == f"tunnel outside IP {A2}"


def test_the_gateways_own_ip_names_the_connection_and_a_tunnel_n_connection_name_the_tunnel() -> None:
    event = _line(f"Dec  2 04:22:37 cgw-01 charon: 10[IKE] <Tunnel2|3> giving up after 5 retransmits ({GATEWAY})")

    found = attribute(event, ESTATE)

    assert (found.vpn_connection_id, found.tunnel_ip) == (A, A2)
    assert "customer gateway IP 192.0.2.1" in found.basis


def test_a_connection_known_without_its_tunnel_is_not_attributed_and_says_so() -> None:
    event = _line(f"Dec  2 04:22:37 cgw-01 charon: 10[IKE] <cgw|3> giving up after 5 retransmits ({GATEWAY})")

    found = attribute(event, ESTATE)

    assert not found.attributed
    assert found.basis == f"customer gateway IP {GATEWAY} names connection {A} but not which tunnel; not guessed"


def test_a_gateway_ip_shared_by_two_connections_is_not_guessed() -> None:
    shared = ConnectionMap(
        (MappedConnection(A, (A1, A2), GATEWAY), MappedConnection(B, (B1, B2), GATEWAY)),
    )
    event = _line(f"Dec  2 04:22:37 cgw-01 charon: 10[IKE] <Tunnel1|3> giving up after 5 retransmits ({GATEWAY})")

    found = attribute(event, shared)

    assert not found.attributed
    assert found.basis == f"ambiguous: customer gateway IP {GATEWAY} fit {A}, {B}; not guessed"


def test_a_tunnel_ip_listed_under_two_connections_is_not_guessed() -> None:
    twice = ConnectionMap((MappedConnection(A, (A1, A2)), MappedConnection(B, (A2, B2))))
    event = _line(f"Dec  2 04:22:37 cgw-01 charon: 10[IKE] <cgw|3> retransmit 5 of request with message ID 0 to {A2}")

    found = attribute(event, twice)

    assert not found.attributed
    assert found.basis.startswith("ambiguous: the line names several tunnels")


def test_clues_that_disagree_are_not_guessed() -> None:
    # The Name tag says connection B, the gateway IP says connection A.
    event = TunnelEvent(Source.STRONGSWAN, f"giving up ({GATEWAY})", "raw", fields={"conn": "branch-lyon"})

    found = attribute(event, ESTATE)

    assert not found.attributed
    assert found.basis.startswith("clues disagree")


def test_a_configured_host_names_the_connection_and_tunnel_of_a_gateway_whose_lines_name_no_ip() -> None:
    configured = ESTATE.with_sources({"fw-paris-01": f"{A}/{A1}"})
    event = TunnelEvent(Source.STRONGSWAN, "giving up after 5 retransmits", "raw", fields={"host": "fw-paris-01"})

    found = attribute(event, configured, log_group="/cgw/syslog")

    assert (found.vpn_connection_id, found.tunnel_ip) == (A, A1)
    assert found.basis == f"host 'fw-paris-01' (configured), tunnel {A1} (configured)"


def test_a_configured_log_group_names_the_connection_and_the_line_its_tunnel() -> None:
    configured = ESTATE.with_sources({"/cgw/paris": B})
    event = TunnelEvent(Source.STRONGSWAN, f"retransmit 5 of request with message ID 0 to {B2}", "raw")

    assert attribute(event, configured, log_group="/cgw/paris").tunnel_ip == B2
    no_ip = TunnelEvent(Source.STRONGSWAN, "giving up after 5 retransmits", "raw")
    assert attribute(no_ip, configured, log_group="/cgw/paris").basis.endswith("but not which tunnel; not guessed")


def test_a_line_naming_nothing_known_is_unattributed() -> None:
    event = _line("Dec  2 04:22:37 cgw-01 charon: 10[IKE] <cgw|3> giving up after 5 retransmits")

    found = attribute(event, ESTATE)

    assert not found.attributed
    assert found.basis == "the line names no tunnel IP, gateway IP or connection known to the map"


def test_an_aws_record_keeps_the_tunnel_its_stream_names() -> None:
    event = TunnelEvent(Source.AWS_TUNNEL_JSON, "x", "x", vpn_connection_id=B, tunnel_ip=B1)

    found = attribute(event, ESTATE)

    assert (found.vpn_connection_id, found.tunnel_ip, found.basis) == (B, B1, "named by the record")


def test_the_map_of_the_polled_connections_round_trips_through_its_stored_form() -> None:
    polled = VpnConnectionInfo(
        B, "available", (TunnelConfig(B1), TunnelConfig(B2)), name="branch-lyon", customer_gateway_ip="192.0.2.99"
    )
    other = VpnConnectionInfo(A, "available", (TunnelConfig(A1), TunnelConfig(A2)), customer_gateway_ip=GATEWAY)

    mapped = map_of([polled, other])

    assert [c.vpn_connection_id for c in mapped.connections] == [A, B], "the same estate gives the same map"
    assert map_from_dict(mapped.to_dict()) == mapped


@pytest.mark.parametrize(
    "document",
    [[], {"connections": {}}, {"connections": [{"tunnel_ips": []}]}, {"sources": {"host": 3}}],
)
def test_a_malformed_map_document_is_a_clear_error(document: object) -> None:
    with pytest.raises(MapFormatError):
        map_from_dict(document)


@pytest.mark.parametrize(
    ("target", "valid"),
    [(A, True), (f"{A}/{A1}", True), ("branch-paris", False), (f"{A}/tunnel1", False), (f"{A}/", False)],
)
def test_a_configured_target_is_a_connection_id_optionally_with_its_tunnel_ip(target: str, valid: bool) -> None:
    assert valid_source_target(target) is valid


class _CountedMap:
    """A connection map reader that counts its reads, refusing them when told to."""

    def __init__(self, stored: ConnectionMap, *, refuse: bool = False) -> None:
        self.stored, self.refuse, self.reads = stored, refuse, 0

    def load(self) -> ConnectionMap:
        self.reads += 1
        if self.refuse:
            raise AwsCallFailed("GetItem", "AccessDeniedException", "no")
        return self.stored


def test_a_warm_container_reads_the_map_once_per_ttl_and_adds_the_configured_sources() -> None:
    cache = MapCache({"fw-paris-01": A}, ttl=timedelta(minutes=5))
    reader = _CountedMap(ESTATE)

    first, _ = cache.get(reader, NOW)
    cache.get(reader, NOW + timedelta(minutes=4))
    cache.get(reader, NOW + timedelta(minutes=5))

    assert reader.reads == 2
    assert first.sources == {"fw-paris-01": A}
    assert first.connections == ESTATE.connections


def test_a_refused_map_read_leaves_the_configured_sources_and_says_so() -> None:
    cache = MapCache({"fw-paris-01": f"{A}/{A1}"})

    used, error = cache.get(_CountedMap(ESTATE, refuse=True), NOW)

    assert (used, error) == (ConnectionMap(sources={"fw-paris-01": f"{A}/{A1}"}), "AccessDeniedException")


def test_classify_with_a_map_file_attributes_gateway_failures_and_lists_the_rest_with_the_reason() -> None:
    lines = [
        f"Dec  2 04:22:37 cgw-01 charon: 10[IKE] <cgw|3> retransmit 5 of request with message ID 0 to {A2}",
        "Dec  2 04:22:37 cgw-01 charon: 10[IKE] <cgw|3> giving up after 5 retransmits",
    ]

    attributed, unattributed = classify_stream(lines, now=NOW, connection_map=ESTATE)

    assert (attributed["vpn_connection_id"], attributed["tunnel"]) == (A, A2)
    assert attributed["attribution"] == {"attributed": True, "basis": f"tunnel outside IP {A2}"}
    assert unattributed["attribution"] == {
        "attributed": False,
        "basis": "the line names no tunnel IP, gateway IP or connection known to the map",
    }


def test_the_ingest_function_refuses_a_gateway_map_naming_no_connection() -> None:
    with pytest.raises(SettingsError, match="fw-paris-01"):
        load_settings(
            IngestSettings,
            {
                ENV_INCIDENTS_TABLE: "t",
                ENV_EVENT_BUS_NAME: "b",
                ENV_GATEWAY_MAP: json.dumps({"fw-paris-01": "branch-paris"}),
            },
        )
    good = {ENV_INCIDENTS_TABLE: "t", ENV_EVENT_BUS_NAME: "b", ENV_GATEWAY_MAP: json.dumps({"fw-paris-01": A})}
    assert load_settings(IngestSettings, good).gateway_map == {"fw-paris-01": A}


VENDOR_PEER = "203.0.113.10"
VENDORS = ConnectionMap((MappedConnection(A, ("198.51.100.9", VENDOR_PEER), "198.51.100.2"),))


def test_a_vendor_line_naming_the_aws_peer_is_that_tunnel() -> None:
    asa = _line(
        f"Dec  2 04:22:39 asa01 %ASA-3-713902: Group = {VENDOR_PEER}, IP = {VENDOR_PEER}, "
        "All IPSec SA proposals found unacceptable!"
    )

    assert (attribute(asa, VENDORS).vpn_connection_id, attribute(asa, VENDORS).tunnel_ip) == (A, VENDOR_PEER)


def test_a_vendor_line_naming_no_ip_is_attributed_by_its_configured_host_only() -> None:
    asa = _line(
        "Dec  2 04:22:37 asa01 %ASA-5-713257: Phase 1 failure: Mismatched attribute types for class "
        "Group Description: Rcv'd: Group 5 Cfg'd: Group 14"
    )

    assert not attribute(asa, VENDORS).attributed
    found = attribute(asa, VENDORS.with_sources({"asa01": f"{A}/{VENDOR_PEER}"}))
    assert (found.vpn_connection_id, found.tunnel_ip) == (A, VENDOR_PEER)
