"""The diagnosis reads the tunnel's real configuration and says whether it will come back by itself."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vpn_doctor.diagnosis import TunnelTraffic, diagnose, proposals_in, review_incident
from vpn_doctor.models import (
    CheckStatus,
    Diagnosis,
    Evidence,
    Incident,
    IncidentStatus,
    Source,
    TunnelState,
    Verdict,
    dump,
)
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.vpn import VpnConnectionInfo, connection_from_api

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "ec2-describe-vpn-connections.json"
NOW = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
VPN = "vpn-0a1b2c3d4e5f60718"
T1 = "198.51.100.10"  # clear/add, ikev1+ikev2, defaults, logging on, BGP logging off, telemetry DOWN
T2 = "203.0.113.20"  # restart/start, ikev2 only, logging + BGP logging on, telemetry UP


def _item() -> dict[str, Any]:
    return copy.deepcopy(json.loads(FIXTURE.read_text())["VpnConnections"][0])


def _connection(**changes: Any) -> VpnConnectionInfo:
    item = _item()
    item["Options"].update(changes.pop("options", {}))
    for index, tunnel_changes in changes.pop("tunnels", {}).items():
        item["Options"]["TunnelOptions"][index].update(tunnel_changes)
    for index, status in changes.pop("telemetry", {}).items():
        item["VgwTelemetry"][index]["Status"] = status
    return connection_from_api(item)


def _incident(
    category: Category = Category.UNKNOWN,
    cause: Cause | None = None,
    *,
    tunnel_ip: str = T1,
    state: TunnelState = TunnelState.DOWN,
    maintenance: bool = False,
) -> Incident:
    return Incident(
        incident_id="inc-1",
        vpn_connection_id=VPN,
        tunnel_ip=tunnel_ip,
        status=IncidentStatus.OPEN,
        category=category,
        cause=cause,
        severity=Severity.CRITICAL,
        summary="test",
        opened_at=NOW - timedelta(minutes=3),
        updated_at=NOW,
        last_state=state,
        maintenance=maintenance,
    )


def _check(diagnosis: Diagnosis, check_id: str) -> tuple[CheckStatus, str, str | None]:
    check = next(c for c in diagnosis.checks if c.check_id == check_id)
    return check.status, check.reason, check.recommendation


def test_dpd_timeout_with_clear_and_add_waits_for_the_customer_gateway() -> None:
    result = diagnose(_incident(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE), _connection(), now=NOW)
    status, reason, recommendation = _check(result, "dpd_recovery")
    assert status is CheckStatus.FAIL
    assert "'clear'" in reason
    assert "'add'" in reason
    assert "waits for the customer gateway" in reason
    assert recommendation is not None
    assert "'restart'" in recommendation
    assert result.verdict is Verdict.NEEDS_AWS_CHANGE
    assert any("every 10 seconds" in step for step in result.next_steps)


def test_dpd_timeout_with_restart_action_will_self_heal() -> None:
    result = diagnose(_incident(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE, tunnel_ip=T2), _connection(), now=NOW)
    assert _check(result, "dpd_recovery")[0] is CheckStatus.PASS
    assert result.verdict is Verdict.WILL_SELF_HEAL


def test_dpd_timeout_with_action_none_needs_the_customer_gateway() -> None:
    connection = _connection(tunnels={0: {"DpdTimeoutAction": "none"}})
    result = diagnose(_incident(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE), connection, now=NOW)
    assert _check(result, "dpd_recovery")[0] is CheckStatus.WARN
    assert result.verdict is Verdict.NEEDS_CGW_CHANGE


def test_endpoint_replacement_with_startup_add_stays_down_until_the_cgw_initiates() -> None:
    result = diagnose(_incident(maintenance=True), _connection(), now=NOW)
    status, reason, recommendation = _check(result, "startup_action")
    assert status is CheckStatus.FAIL
    assert "stays down" in reason
    assert recommendation is not None
    assert "'start'" in recommendation
    assert result.verdict is Verdict.NEEDS_AWS_CHANGE
    assert "endpoint" in result.next_steps[0]


def test_endpoint_replacement_with_startup_start_will_self_heal() -> None:
    result = diagnose(_incident(tunnel_ip=T2, maintenance=True), _connection(), now=NOW)
    assert _check(result, "startup_action")[0] is CheckStatus.PASS
    assert result.verdict is Verdict.WILL_SELF_HEAL


def test_endpoint_replacement_with_ikev1_only_needs_the_customer_gateway() -> None:
    connection = _connection(tunnels={0: {"IkeVersions": [{"Value": "ikev1"}]}})
    result = diagnose(_incident(maintenance=True), connection, now=NOW)
    assert result.verdict is Verdict.NEEDS_CGW_CHANGE
    assert _check(result, "ike_versions")[0] is CheckStatus.WARN


def test_ike_version_mismatch_fails_the_ike_versions_check() -> None:
    connection = _connection(tunnels={0: {"IkeVersions": [{"Value": "ikev2"}]}})
    result = diagnose(_incident(Category.IKE_PHASE1_FAILURE, Cause.IKE_VERSION_MISMATCH), connection, now=NOW)
    status, reason, _ = _check(result, "ike_versions")
    assert status is CheckStatus.FAIL
    assert "ikev2" in reason
    assert result.verdict is Verdict.NEEDS_CGW_CHANGE


def test_lifetime_mismatch_states_aws_lifetimes_to_copy() -> None:
    result = diagnose(_incident(Category.REKEY_FAILURE, Cause.LIFETIME_MISMATCH, tunnel_ip=T2), _connection(), now=NOW)
    status, reason, recommendation = _check(result, "lifetimes")
    assert status is CheckStatus.FAIL
    assert "phase 1 28800 s" in reason
    assert "rekey margin 540 s" in reason
    assert recommendation is not None
    assert "3600" in recommendation


def test_out_of_range_rekey_margin_is_a_warning() -> None:
    connection = _connection(tunnels={0: {"Phase2LifetimeSeconds": 900, "RekeyMarginTimeSeconds": 600}})
    status, reason, _ = _check(diagnose(_incident(), connection, now=NOW), "lifetimes")
    assert status is CheckStatus.WARN
    assert "rekey margin" in reason


def test_proposal_mismatch_lists_what_aws_allows() -> None:
    result = diagnose(
        _incident(Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH, tunnel_ip=T2), _connection(), now=NOW
    )
    status, reason, _ = _check(result, "proposals")
    assert status is CheckStatus.FAIL
    assert "phase 1 proposal mismatch" in reason
    assert "AES256" in reason
    assert "DH 14" in reason


def test_pfs_mismatch_says_pfs_must_be_enabled() -> None:
    result = diagnose(_incident(Category.IPSEC_PHASE2_FAILURE, Cause.PFS_MISMATCH), _connection(), now=NOW)
    status, reason, _ = _check(result, "proposals")
    assert status is CheckStatus.FAIL
    assert "phase 2" in reason
    assert "PFS must be enabled" in reason


def test_weak_algorithms_allowed_by_default_are_reported_as_info() -> None:
    status, reason, _ = _check(diagnose(_incident(), _connection(), now=NOW), "proposals")
    assert status is CheckStatus.INFO
    assert "SHA1" in reason
    assert "DH 2" in reason


def test_logging_disabled_is_a_warning_with_a_next_step() -> None:
    connection = _connection(tunnels={0: {"LogOptions": {"CloudWatchLogOptions": {"LogEnabled": False}}}})
    result = diagnose(_incident(), connection, now=NOW)
    assert _check(result, "tunnel_logging")[0] is CheckStatus.WARN
    assert any("Enable tunnel activity logging" in step for step in result.next_steps)


def test_logging_enabled_names_the_log_group_and_bgp_logging_is_checked() -> None:
    result = diagnose(_incident(tunnel_ip=T2), _connection(), now=NOW)
    status, reason, _ = _check(result, "tunnel_logging")
    assert status is CheckStatus.PASS
    assert "/aws/vendedlogs/vpn-doctor/tunnels" in reason
    assert _check(result, "bgp_logging")[0] is CheckStatus.PASS
    assert _check(diagnose(_incident(), _connection(), now=NOW), "bgp_logging")[0] is CheckStatus.INFO


def test_static_routing_with_both_tunnels_up_warns_of_asymmetric_routing() -> None:
    connection = _connection(options={"StaticRoutesOnly": True}, telemetry={0: "UP"})
    result = diagnose(_incident(), connection, now=NOW)
    status, reason, _ = _check(result, "routing")
    assert status is CheckStatus.WARN
    assert "asymmetric" in reason
    assert all(check.check_id != "bgp_logging" for check in result.checks)


def test_static_routing_asymmetry_incident_fails_the_routing_check() -> None:
    connection = _connection(options={"StaticRoutesOnly": True})
    result = diagnose(_incident(Category.STATIC_ROUTING_ASYMMETRY, Cause.BOTH_TUNNELS_UP_STATIC), connection, now=NOW)
    assert _check(result, "routing")[0] is CheckStatus.FAIL
    assert result.verdict is Verdict.NEEDS_CGW_CHANGE


def test_bgp_routing_passes() -> None:
    assert _check(diagnose(_incident(), _connection(), now=NOW), "routing")[0] is CheckStatus.PASS


def test_policy_based_vpn_names_the_single_encryption_domain() -> None:
    connection = _connection(options={"LocalIpv4NetworkCidr": "10.0.0.0/16", "RemoteIpv4NetworkCidr": "172.16.0.0/12"})
    result = diagnose(_incident(Category.POLICY_BASED_VPN, Cause.TS_UNACCEPTABLE), connection, now=NOW)
    status, reason, recommendation = _check(result, "encryption_domain")
    assert status is CheckStatus.FAIL
    assert "single encryption domain" in reason
    assert recommendation is not None
    assert "10.0.0.0/16 <-> 172.16.0.0/12" in recommendation


def test_no_traffic_before_a_down_suggests_an_idle_timeout() -> None:
    traffic = TunnelTraffic(bytes_in=(0, 0, 0), bytes_out=(0.0, 0.0, 0.0), period_seconds=300)
    result = diagnose(_incident(), _connection(), traffic=traffic, now=NOW)
    status, reason, recommendation = _check(result, "traffic")
    assert status is CheckStatus.FAIL
    assert "idle timeout" in reason
    assert "15 minutes" in reason
    assert recommendation is not None
    assert "every 5 seconds" in recommendation


def test_traffic_both_ways_passes_and_one_way_warns() -> None:
    both = diagnose(_incident(), _connection(), traffic=TunnelTraffic((10, 20), (5, 5)), now=NOW)
    assert _check(both, "traffic")[0] is CheckStatus.PASS
    one_way = diagnose(_incident(), _connection(), traffic=TunnelTraffic((0, 0), (5, 5)), now=NOW)
    assert _check(one_way, "traffic")[0] is CheckStatus.WARN
    empty = diagnose(_incident(), _connection(), traffic=TunnelTraffic(), now=NOW)
    assert _check(empty, "traffic")[0] is CheckStatus.INFO


def test_idle_timeout_with_startup_add_needs_startup_start() -> None:
    result = diagnose(_incident(Category.IDLE_TIMEOUT, Cause.PEER_DELETE_IDLE), _connection(), now=NOW)
    assert result.verdict is Verdict.NEEDS_AWS_CHANGE
    assert _check(result, "startup_action")[0] is CheckStatus.FAIL


def test_blocked_esp_names_ip_protocol_50() -> None:
    result = diagnose(_incident(Category.CGW_NETWORK, Cause.ESP_BLOCKED), _connection(), now=NOW)
    status, reason, recommendation = _check(result, "firewall")
    assert status is CheckStatus.FAIL
    assert "IP protocol 50 (ESP)" in reason
    assert recommendation is not None
    assert T1 in recommendation


def test_acceleration_requires_nat_t() -> None:
    connection = _connection(options={"EnableAcceleration": True})
    status, reason, _ = _check(diagnose(_incident(), connection, now=NOW), "firewall")
    assert status is CheckStatus.INFO
    assert "UDP 4500" in reason
    assert "NAT-T is required" in reason


def test_no_response_suspects_udp_filtering() -> None:
    result = diagnose(_incident(Category.IKE_PHASE1_FAILURE, Cause.NO_RESPONSE), _connection(), now=NOW)
    assert _check(result, "firewall")[0] is CheckStatus.WARN


def test_sibling_up_passes_and_both_down_fails() -> None:
    assert _check(diagnose(_incident(), _connection(), now=NOW), "sibling")[0] is CheckStatus.PASS
    both_down = _connection(telemetry={1: "DOWN"})
    assert _check(diagnose(_incident(), both_down, now=NOW), "sibling")[0] is CheckStatus.FAIL


def test_connection_not_available_and_unknown_tunnel_are_warnings() -> None:
    item = _connection()
    modifying = replace(item, state="modifying")
    assert _check(diagnose(_incident(), modifying, now=NOW), "connection")[0] is CheckStatus.WARN
    result = diagnose(_incident(tunnel_ip="192.0.2.99"), item, now=NOW)
    assert _check(result, "connection")[0] is CheckStatus.WARN
    assert result.verdict is Verdict.UNDETERMINED


def test_unreadable_connection_gives_an_undetermined_verdict_with_playbook_steps() -> None:
    result = diagnose(_incident(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE), None, now=NOW)
    assert result.verdict is Verdict.UNDETERMINED
    assert result.next_steps
    assert result.diagnosed_at == NOW


def test_configuration_mismatches_need_a_customer_gateway_change() -> None:
    for category, cause in [
        (Category.IKE_PHASE1_FAILURE, Cause.PSK_MISMATCH),
        (Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH),
        (Category.BGP_SESSION, Cause.ASN_MISMATCH),
    ]:
        assert diagnose(_incident(category, cause), _connection(), now=NOW).verdict is Verdict.NEEDS_CGW_CHANGE


def test_rekey_collision_will_self_heal() -> None:
    result = diagnose(_incident(Category.REKEY_FAILURE, Cause.REKEY_COLLISION), _connection(), now=NOW)
    assert result.verdict is Verdict.WILL_SELF_HEAL


def test_vendor_hints_come_from_the_vendor_tag_or_device_name() -> None:
    item = _item()
    item["Tags"].append({"Key": "vpn-doctor:vendor", "Value": "FortiGate 100F"})
    result = diagnose(_incident(Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE), connection_from_api(item), now=NOW)
    assert result.vendor == "fortinet"
    assert any("FortiGate" in step for step in result.next_steps)
    by_device = replace(_connection(), customer_gateway_device_name="Cisco ASA 5506-X")
    assert diagnose(_incident(), by_device, now=NOW).vendor == "cisco"


def test_a_diagnosis_never_contains_a_pre_shared_key_or_gateway_configuration() -> None:
    item = _item()
    secrets = [t["PreSharedKey"] for t in item["Options"]["TunnelOptions"]]
    for category in Category:
        for tunnel_ip in (T1, T2):
            text = json.dumps(dump(diagnose(_incident(category, tunnel_ip=tunnel_ip), _connection(), now=NOW)))
            assert not any(secret in text for secret in secrets)
            assert "pre_shared_key" not in text


def _with_evidence(incident: Incident, *messages: str) -> Incident:
    lines = tuple(Evidence(message, NOW, Source.STRONGSWAN) for message in messages)
    return replace(incident, evidence=lines)


def test_proposals_seen_in_the_logs_that_aws_does_not_allow_are_named() -> None:
    incident = _with_evidence(
        _incident(Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH, tunnel_ip=T2),
        "charon: 09[CFG] received proposals: IKE:3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024, "
        "IKE:AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024",
        "charon: 09[IKE] no acceptable proposal found",
    )
    status, reason, _ = _check(diagnose(incident, _connection(), now=NOW), "proposals")
    assert status is CheckStatus.FAIL
    assert "IKE:3DES/SHA1/DH 2 (3DES, SHA1, DH 2 not allowed)" in reason
    assert "IKE:AES128/SHA1/DH 2 (AES128, SHA1, DH 2 not allowed)" in reason


def test_an_allowed_proposal_in_the_logs_passes_the_proposal_check() -> None:
    incident = _with_evidence(
        _incident(tunnel_ip=T2),
        "received proposals: IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
        "received proposals: ESP:AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_EXT_SEQ, ESP:3DES_CBC/HMAC_MD5_96",
    )
    status, reason, _ = _check(diagnose(incident, _connection(), now=NOW), "proposals")
    assert status is CheckStatus.INFO
    assert "ESP:3DES/MD5" in reason
    assert proposals_in(["no proposals here"]) == []


def test_nat_traversal_seen_in_the_logs_asks_for_udp_4500_without_calling_it_a_failure() -> None:
    incident = _with_evidence(_incident(), "charon: 05[IKE] local host is behind NAT, sending keep alives")
    status, reason, _ = _check(diagnose(incident, _connection(), now=NOW), "firewall")
    assert status is CheckStatus.INFO
    assert "NAT-T" in reason
    assert "UDP 4500" in reason


def test_a_configuration_review_without_an_incident_uses_the_telemetry_state() -> None:
    connection = _connection()
    down = review_incident(connection, T1, now=NOW)
    assert down.last_state is TunnelState.DOWN
    assert down.severity is Severity.CRITICAL
    result = diagnose(down, connection, now=NOW)
    assert result.verdict is Verdict.UNDETERMINED  # down for an unknown reason, AWS waits for the CGW
    up = diagnose(review_incident(connection, T2, now=NOW), connection, now=NOW)
    assert _check(up, "dpd_recovery")[0] is CheckStatus.PASS
