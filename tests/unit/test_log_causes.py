"""Causes only a tunnel's lines together show: several traffic-selector pairs on one tunnel, IKE that
never gets an answer on UDP 500, IKE_AUTH lost on UDP 4500 behind NAT, and a burst of withdrawn routes.

Where a line is constructed (not captured in the lab or the envelope capture) the test says so; every
constructed strongSwan line copies the layout of a captured one in tests/fixtures/lab.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import VPN_ID
from vpn_doctor.classify import Classifier
from vpn_doctor.models import Finding
from vpn_doctor.parsing import parse_line, with_identity
from vpn_doctor.taxonomy import Category, Cause, Severity

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# An AWS-style log stream of a customer gateway's log: the connection is known, the tunnel is not.
CGW_STREAM = f"{VPN_ID}-cgw"
T0 = 1_764_196_800


def _charon(lines: list[str], classifier: Classifier | None = None) -> list[Finding]:
    engine = classifier or Classifier()
    reference = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    return [
        engine.classify(with_identity(parse_line(line, reference_time=reference), log_stream=CGW_STREAM))
        for line in lines
    ]


def _kind(finding: Finding) -> tuple[Category, Cause | None]:
    return finding.category, finding.cause


# --- several traffic-selector pairs on one tunnel ------------------------------------------------

# Constructed in the layout of tests/fixtures/lab/phase2_lifetime_too_short.cgw.log (strongSwan 5.9.8):
# a policy-based gateway with two local networks, one CHILD_SA each, on the same IKE SA.
NET_A = "10.1.0.0/16 === 10.100.0.0/16"
NET_B = "10.2.0.0/16 === 10.100.0.0/16"


def _up(at: str, child: str, number: int, selectors: str, *, rekey: bool = False) -> str:
    prefix = "inbound " if rekey else ""
    return (
        f"2026-11-27T{at} 14[IKE] <cgw|1> {prefix}CHILD_SA {child}{{{number}}} established with SPIs "
        f"c{number}6dbb9e_i 2{number}541bf1_o and TS {selectors}"
    )


def test_a_second_child_sa_with_other_selectors_on_one_tunnel_is_multiple_selectors() -> None:
    findings = _charon([_up("00:11:07.209", "net-a", 1, NET_A), _up("00:11:07.411", "net-b", 2, NET_B)])
    assert _kind(findings[0]) == (Category.HEALTHY, Cause.ESTABLISHED)
    second = findings[1]
    assert _kind(second) == (Category.POLICY_BASED_VPN, Cause.MULTIPLE_SELECTORS)
    assert second.severity is Severity.WARNING
    assert NET_A in second.summary
    assert NET_B in second.summary
    assert next(item.message for item in second.evidence).endswith(NET_A)


def test_rekeys_of_two_selector_pairs_are_multiple_selectors_not_a_lifetime_mismatch() -> None:
    # Four rekeys in ten minutes, alternating between the two pairs (the starting code called this a
    # lifetime mismatch: it counted every pair's rekeys together).
    findings = _charon(
        [
            _up("00:11:09.265", "net-a", 3, NET_A, rekey=True),
            _up("00:13:09.265", "net-b", 4, NET_B, rekey=True),
            _up("00:15:09.265", "net-a", 5, NET_A, rekey=True),
            _up("00:17:09.265", "net-b", 6, NET_B, rekey=True),
        ]
    )
    assert {_kind(f) for f in findings[1:]} == {(Category.POLICY_BASED_VPN, Cause.MULTIPLE_SELECTORS)}
    assert all(f.cause is not Cause.LIFETIME_MISMATCH for f in findings)


def test_constant_rekeys_of_one_selector_pair_are_still_a_lifetime_mismatch() -> None:
    findings = _charon([_up(f"00:1{minute}:09.265", "net-a", minute, NET_A, rekey=True) for minute in (1, 3, 5, 7)])
    assert _kind(findings[-1]) == (Category.REKEY_FAILURE, Cause.LIFETIME_MISMATCH)
    assert all(f.cause is not Cause.MULTIPLE_SELECTORS for f in findings)


def test_the_captured_lab_rekeys_of_one_pair_stay_one_encryption_domain() -> None:
    lines = (FIXTURES / "lab" / "phase2_lifetime_too_short.cgw.log").read_text().splitlines()
    assert all(f.cause is not Cause.MULTIPLE_SELECTORS for f in _charon(lines))


def test_selector_pairs_on_two_ike_sas_are_two_tunnels_not_multiple_selectors() -> None:
    other_tunnel = _up("00:11:07.411", "net-b", 2, NET_B).replace("<cgw|1>", "<cgw|2>")
    findings = _charon([_up("00:11:07.209", "net-a", 1, NET_A), other_tunnel])
    assert all(_kind(f) == (Category.HEALTHY, Cause.ESTABLISHED) for f in findings)


# --- IKE that nothing answers on UDP 500 ------------------------------------------------------


def _unreachable() -> list[str]:
    # Captured: charon-systemd initiating to an address nothing answers (see test_envelopes.py).
    return (FIXTURES / "envelopes" / "rfc3164.unreachable.log").read_text().splitlines()


def test_ike_sa_init_sent_on_udp_500_with_nothing_back_is_udp500_blocked() -> None:
    findings = _charon(_unreachable())
    failures = [f for f in findings if f.category.is_failure]
    assert failures, "the capture retransmits IKE_SA_INIT and gives up"
    assert {_kind(f) for f in failures} == {(Category.CGW_NETWORK, Cause.UDP500_BLOCKED)}
    last = failures[-1]
    assert last.severity is Severity.CRITICAL
    # The evidence shows the request going out on UDP 500.
    assert any("[500] to 192.0.2.1[500]" in item.message for item in last.evidence)


def test_an_answer_on_udp_500_keeps_an_unanswered_ike_sa_init_a_phase_1_no_response() -> None:
    lines = _unreachable()
    at = next(i for i, line in enumerate(lines) if "sending packet" in line)
    # Constructed: the peer's answer, in the layout of the lab's captured "received packet" lines.
    answer = lines[at].replace(
        "sending packet: from 198.51.100.2[500] to 192.0.2.1[500]",
        "received packet: from 192.0.2.1[500] to 198.51.100.2[500]",
    )
    findings = _charon([*lines[: at + 1], answer, *lines[at + 1 :]])
    failures = [f for f in findings if f.category.is_failure]
    assert {_kind(f) for f in failures} == {(Category.IKE_PHASE1_FAILURE, Cause.NO_RESPONSE)}


def test_retransmits_without_the_packet_lines_stay_a_phase_1_no_response() -> None:
    # No "sending packet" line says which port: no evidence for UDP 500.
    lines = [line for line in _unreachable() if "[NET]" not in line]
    failures = [f for f in _charon(lines) if f.category.is_failure]
    assert failures
    assert {_kind(f) for f in failures} == {(Category.IKE_PHASE1_FAILURE, Cause.NO_RESPONSE)}


def test_ike_auth_unanswered_on_udp_4500_after_ike_sa_init_is_still_nat_t_blocked() -> None:
    lines = (FIXTURES / "lab" / "nat_t_blocked.cgw.log").read_text().splitlines()
    failures = [f for f in _charon(lines) if f.category.is_failure]
    assert {_kind(f) for f in failures} == {(Category.CGW_NETWORK, Cause.NAT_T_BLOCKED)}


# --- AWS's half-open IKE SA behind NAT ----------------------------------------------------------


def _aws_half_open(nat_t: bool) -> Finding:
    # The real record of tests/fixtures/aws/catalogue_cases.json ("ikev2-half-open"); the NAT-T
    # variant sets nat_t_detected, a field of every AWS tunnel record.
    record = {
        "event_timestamp": 1764197760,
        "details": "AWS tunnel Timeout: deleting un-established Phase 1 IKE_SA with cgw: 198.51.100.77",
        "dpd_enabled": True,
        "nat_t_detected": nat_t,
        "ike_phase1_state": "negotiating",
        "ike_phase2_state": "down",
    }
    stream = "vpn-0a1b2c3d4e5f60718-203.0.113.5"
    return Classifier().classify(with_identity(parse_line(json.dumps(record)), log_stream=stream))


def test_aws_half_open_ike_sa_with_nat_detected_is_nat_t_blocked() -> None:
    finding = _aws_half_open(nat_t=True)
    assert _kind(finding) == (Category.CGW_NETWORK, Cause.NAT_T_BLOCKED)
    assert finding.severity is Severity.CRITICAL
    assert "UDP 4500" in finding.summary


def test_aws_half_open_ike_sa_without_nat_stays_a_phase_1_no_response() -> None:
    assert _kind(_aws_half_open(nat_t=False)) == (Category.IKE_PHASE1_FAILURE, Cause.NO_RESPONSE)


# --- a burst of withdrawn routes ------------------------------------------------------------------


def _withdrawn(offset: int, index: int) -> str:
    # Constructed: the ADVERTISED route status record of catalogue_cases.json, withdrawn.
    prefix = f"10.{index}.0.0/16"
    return json.dumps(
        {
            "resource_id": "vpn-0a1b2c3d4e5f60718_203.0.113.5",
            "event_timestamp": (T0 + offset) * 1000,
            "type": "RouteStatus",
            "status": "WITHDRAWN",
            "message": {
                "details": f"Route {prefix} WITHDRAWN by neighbor 169.254.10.1",
                "prefix": prefix,
                "asPath": "65001",
                "nextHopIp": "169.254.10.1",
            },
        }
    )


def _routes(offsets: list[int]) -> list[Finding]:
    engine = Classifier()
    stream = "vpn-0a1b2c3d4e5f60718-203.0.113.5-bgp"
    return [
        engine.classify(with_identity(parse_line(_withdrawn(offset, index)), log_stream=stream))
        for index, offset in enumerate(offsets)
    ]


def test_ten_withdrawals_in_five_minutes_are_routes_lost_naming_the_trend() -> None:
    findings = _routes([20 * i for i in range(10)])
    assert all(_kind(f) == (Category.HEALTHY, None) for f in findings[:9])
    lost = findings[-1]
    assert _kind(lost) == (Category.BGP_SESSION, Cause.ROUTES_LOST)
    assert lost.severity is Severity.WARNING
    assert "10 routes withdrawn" in lost.summary
    assert "5 minutes" in lost.summary
    assert "10.9.0.0/16" in lost.summary
    assert lost.vpn_connection_id == VPN_ID


def test_one_withdrawal_is_a_named_routine_record() -> None:
    (finding,) = _routes([0])
    assert _kind(finding) == (Category.HEALTHY, None)
    assert finding.summary == "Route 10.0.0.0/16 withdrawn by the customer gateway"


def test_withdrawals_spread_over_an_hour_are_no_route_loss() -> None:
    findings = _routes([6 * 60 * i for i in range(10)])
    assert all(not f.category.is_failure for f in findings)


def test_one_selector_pair_logged_from_both_ends_is_one_pair() -> None:
    # Each end logs its own networks first: the lab's two strongSwan daemons on one tunnel's history showed
    # "10.100.0.0/16 === 10.1.0.0/16" and "10.1.0.0/16 === 10.100.0.0/16", read as two encryption domains.
    lines = [
        "2026-11-27T00:10:53.298 11[IKE] <aws|1> CHILD_SA aws-net{1} established with SPIs fb74eb2a_i bd59057a_o "
        "and TS 10.100.0.0/16 === 10.1.0.0/16",
        "2026-11-27T00:10:53.301 11[IKE] <cgw|1> CHILD_SA cgw-net{1} established with SPIs bd59057a_i fb74eb2a_o "
        "and TS 10.1.0.0/16 === 10.100.0.0/16",
    ]
    assert all(finding.cause is not Cause.MULTIPLE_SELECTORS for finding in _charon(lines))
