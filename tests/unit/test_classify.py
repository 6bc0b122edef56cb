"""The classifier reads a line in the context of the tunnel's recent events (AWS tunnel and BGP logs)."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.conftest import STREAM, TUNNEL_IP, VPN_ID, tunnel_record
from vpn_doctor.classify import Classifier, ClassifierSettings, classify_lines
from vpn_doctor.history import TunnelHistory, history_key
from vpn_doctor.models import Finding, PhaseState, TunnelEvent
from vpn_doctor.parsing import parse_line, with_identity
from vpn_doctor.taxonomy import CAUSES_BY_CATEGORY, Category, Cause, Severity

T0 = 1_764_196_800
REKEY = "AWS tunnel processed request (id=0x3a) for CREATE_CHILD_SA"
DELETE_CHILD = "AWS tunnel received DELETE for Phase 2 SA with SPI: c2a9b7f1"
DELETE_IKE = "AWS tunnel received DELETE for IKE_SA from CGW"
COLLISION = "AWS tunnel (CHILD_SA) redundant SA is being deleted due to detected collision"
NO_PROPOSAL_CHOSEN = 'No Proposal Match Found. Notifying with "No proposal chosen"'


def _run(
    records: list[tuple[int, str] | tuple[int, str, str, str]],
    classifier: Classifier | None = None,
    stream: str = STREAM,
) -> list[Finding]:
    """Classify (offset seconds, details[, phase1, phase2]) tunnel records of one stream, in order."""
    engine = classifier or Classifier()
    findings = []
    for record in records:
        offset, details, *states = record
        line = tunnel_record(details, T0 + offset, *states)
        findings.append(engine.classify(with_identity(parse_line(line), log_stream=stream)))
    return findings


def _kind(finding: Finding) -> tuple[str, str | None]:
    return finding.category.value, finding.cause.value if finding.cause else None


def test_delete_after_a_long_quiet_period_is_an_idle_timeout() -> None:
    findings = _run([(0, REKEY), (15 * 60, DELETE_CHILD, "established", "down")])
    idle = findings[-1]
    assert _kind(idle) == ("idle_timeout", "peer_delete_idle")
    assert idle.severity is Severity.WARNING
    assert "15 minutes without activity" in idle.summary
    # The evidence shows the last record before the silence and the DELETE itself, with times.
    assert [item.message for item in idle.evidence] == [REKEY, DELETE_CHILD]
    assert idle.evidence[0].timestamp is not None
    assert idle.evidence[-1].ike_phase2_state is PhaseState.DOWN


def test_ike_delete_after_quiet_known_only_from_a_previous_invocation_is_an_idle_timeout() -> None:
    seeded = Classifier()
    _run([(0, REKEY)], classifier=seeded)
    later = Classifier(last_seen=seeded.last_seen)
    (finding,) = _run([(20 * 60, DELETE_IKE, "down", "down")], classifier=later)
    assert _kind(finding) == ("idle_timeout", "peer_delete_idle")
    assert finding.timestamp is not None
    assert seeded.last_seen == {f"{VPN_ID}#{TUNNEL_IP}": finding.timestamp - timedelta(minutes=20)}


def test_delete_shortly_after_activity_is_the_rows_own_meaning() -> None:
    findings = _run([(0, REKEY), (5 * 60, DELETE_IKE, "down", "down")])
    assert _kind(findings[-1]) == ("ike_phase1_failure", "peer_delete")


def test_delete_around_a_rekey_is_a_rekey_failure_with_the_rekey_as_evidence() -> None:
    findings = _run([(0, REKEY), (30, DELETE_CHILD, "established", "down")])
    failed = findings[-1]
    assert _kind(failed) == ("rekey_failure", "rekey_failed")
    assert "during a rekey" in failed.summary
    assert [item.message for item in failed.evidence] == [REKEY, DELETE_CHILD]


def test_delete_while_the_record_itself_says_rekeying_is_a_rekey_failure() -> None:
    (finding,) = _run([(0, DELETE_CHILD, "established", "rekeying")])
    assert _kind(finding) == ("rekey_failure", "rekey_failed")


def test_no_proposal_chosen_is_phase_1_while_negotiating_and_phase_2_once_phase_1_is_up() -> None:
    phase1, phase2 = _run(
        [(0, NO_PROPOSAL_CHOSEN, "negotiating", "down"), (60, NO_PROPOSAL_CHOSEN, "established", "down")]
    )
    assert _kind(phase1) == ("ike_phase1_failure", "proposal_mismatch")
    assert _kind(phase2) == ("ipsec_phase2_failure", "proposal_mismatch")
    assert "phase 2" in phase2.summary


def test_no_proposal_match_during_a_phase_2_rekey_is_a_pfs_mismatch() -> None:
    findings = _run([(0, REKEY), (10, "No Proposal Match Found by AWS", "established", "rekeying")])
    assert _kind(findings[-1]) == ("ipsec_phase2_failure", "pfs_mismatch")
    assert "PFS" in findings[-1].summary


def test_one_rekey_collision_is_benign_but_repeated_collisions_are_a_rekey_problem() -> None:
    findings = _run([(0, COLLISION), (120, COLLISION), (240, COLLISION)])
    assert [_kind(finding) for finding in findings] == [
        ("healthy", "rekey_ok"),
        ("healthy", "rekey_ok"),
        ("rekey_failure", "rekey_collision"),
    ]
    assert findings[-1].severity is Severity.WARNING
    assert "3 rekey collisions in 10 minutes" in findings[-1].summary
    assert len(findings[-1].evidence) == 3


def test_collisions_spread_over_hours_stay_benign() -> None:
    findings = _run([(0, COLLISION), (3600, COLLISION), (7200, COLLISION)])
    assert {_kind(finding) for finding in findings} == {("healthy", "rekey_ok")}


def test_history_is_per_tunnel_so_collisions_on_two_tunnels_do_not_add_up() -> None:
    engine = Classifier()
    other = f"{VPN_ID}-203.0.113.6"
    findings = [
        *_run([(0, COLLISION), (60, COLLISION)], classifier=engine),
        *_run([(120, COLLISION)], classifier=engine, stream=other),
    ]
    assert {_kind(finding) for finding in findings} == {("healthy", "rekey_ok")}


def _exchange(offset: int, message_id: int, *, aws_initiates: bool) -> list[tuple[int, str]]:
    """The two lines one CREATE_CHILD_SA exchange logs."""
    if aws_initiates:
        lines = ("is sending request", "processed response")
    else:
        lines = ("processed request", "is sending response")
    return [
        (offset + n, f"AWS tunnel {verb} (id=0x{message_id:x}) for CREATE_CHILD_SA") for n, verb in enumerate(lines)
    ]


def test_one_rekey_of_both_sas_logging_four_lines_is_healthy() -> None:
    findings = _run(_exchange(0, 0x10, aws_initiates=True) + _exchange(5, 0x11, aws_initiates=False))
    assert {_kind(finding) for finding in findings} == {("healthy", "rekey_ok")}


def test_a_normal_rekey_is_healthy_but_constant_rekeying_means_a_lifetime_mismatch() -> None:
    findings = _run(
        [
            (minute * 60, f"AWS tunnel processed request (id=0x{minute:x}) for CREATE_CHILD_SA")
            for minute in (0, 2, 4, 6)
        ]
    )
    assert [_kind(finding) for finding in findings[:3]] == [("healthy", "rekey_ok")] * 3
    assert _kind(findings[-1]) == ("rekey_failure", "lifetime_mismatch")
    assert "4 rekeys in 10 minutes" in findings[-1].summary
    assert "align the lifetimes" in findings[-1].summary


def test_rekey_exchanges_every_two_minutes_in_request_response_pairs_are_a_lifetime_mismatch() -> None:
    lines = [line for n in range(4) for line in _exchange(n * 120, n + 1, aws_initiates=n % 2 == 0)]
    findings = _run(lines)
    assert {_kind(finding) for finding in findings[:6]} == {("healthy", "rekey_ok")}
    assert _kind(findings[-1]) == ("rekey_failure", "lifetime_mismatch")


def test_hourly_rekeys_are_healthy() -> None:
    findings = _run([(hour * 3600, REKEY) for hour in range(6)])
    assert {_kind(finding) for finding in findings} == {("healthy", "rekey_ok")}


def test_thresholds_come_from_settings() -> None:
    engine = Classifier(settings=ClassifierSettings(collision_repeats=2))
    findings = _run([(0, COLLISION), (60, COLLISION)], classifier=engine)
    assert _kind(findings[-1]) == ("rekey_failure", "rekey_collision")


def _bgp(old: str, new: str) -> str:
    return json.dumps(
        {
            "resource_id": "vpn-0a1b2c3d4e5f60718_203.0.113.5",
            "event_timestamp": T0 * 1000,
            "type": "BGPStatus",
            "status": "UP" if new == "Established" else "DOWN",
            "message": {
                "details": f"AWS-side peer BGP session state has changed from {old} to {new} with neighbor 169.254.10.1"
            },
        }
    )


def test_bgp_transitions_raise_only_when_the_session_leaves_or_cannot_reach_established() -> None:
    findings = classify_lines(
        [
            _bgp("Idle", "Connect"),
            _bgp("Connect", "Active"),
            _bgp("OpenConfirm", "Established"),
            _bgp("Established", "Idle"),
        ]
    )
    assert [(_kind(f), f.severity) for f in findings] == [
        (("healthy", None), Severity.INFO),
        (("bgp_session", "session_down"), Severity.WARNING),
        (("healthy", "established"), Severity.INFO),
        (("bgp_session", "session_down"), Severity.CRITICAL),
    ]
    assert "TCP 179" in findings[1].summary
    assert all(f.vpn_connection_id == VPN_ID and f.tunnel_ip == TUNNEL_IP for f in findings)


def test_context_verdicts_keep_causes_inside_their_category() -> None:
    findings = [
        *_run([(0, REKEY), (15 * 60, DELETE_CHILD)]),
        *_run([(0, REKEY), (5, DELETE_CHILD)]),
        *_run([(0, COLLISION), (1, COLLISION), (2, COLLISION)]),
        *_run([(m, REKEY) for m in range(5)]),
        *_run([(0, REKEY), (1, "No Proposal Match Found by AWS", "established", "rekeying")]),
    ]
    for finding in findings:
        assert finding.cause is None or finding.cause in CAUSES_BY_CATEGORY[finding.category]


def test_unrecognised_record_is_unknown_and_kept_with_its_phase_states() -> None:
    (finding,) = _run([(0, "AWS tunnel did something new", "established", "down")])
    assert finding.category is Category.UNKNOWN
    assert finding.cause is None
    assert finding.error is None
    assert "phase 1 Established, phase 2 Down" in finding.summary
    assert finding.evidence[0].message == "AWS tunnel did something new"


def test_record_that_could_not_be_read_is_unknown_with_the_reason() -> None:
    (finding,) = classify_lines(['{"event_timestamp": 1764196800, "det'])
    assert finding.category is Category.UNKNOWN
    assert finding.error is not None
    assert "malformed JSON" in finding.summary


def test_one_finding_per_event_in_order() -> None:
    lines = [tunnel_record(REKEY, T0 + i) for i in range(3)] + ["garbage", ""]
    assert len(classify_lines(lines)) == 5
    assert Cause.REKEY_OK in {f.cause for f in classify_lines(lines)}


# --- the per-tunnel history ---------------------------------------------------------------------


def _delivered(details: str, offset: int, event_id: str) -> TunnelEvent:
    line = tunnel_record(details, T0 + offset)
    return parse_line(line, stream_identity=(VPN_ID, TUNNEL_IP), event_id=event_id)


def test_a_record_delivered_again_gets_its_finding_again_and_is_counted_once() -> None:
    classifier = Classifier()
    delivery = [_delivered(COLLISION, 0, "e1"), _delivered(COLLISION, 60, "e2")]
    findings = classifier.classify_all(delivery)
    assert classifier.classify_all(delivery) == findings  # CloudWatch Logs delivers at least once
    # Three collisions, not five: the redelivered two were not counted again.
    third = classifier.classify(_delivered(COLLISION, 120, "e3"))
    assert (third.category, third.summary[:1]) == (Category.REKEY_FAILURE, "3")


def test_a_line_read_back_from_the_log_group_is_the_delivered_line_whatever_its_id() -> None:
    classifier = Classifier()
    classifier.classify(_delivered(COLLISION, 0, "delivered-1"))
    classifier.classify_all([_delivered(COLLISION, 0, "read-back-1"), _delivered(COLLISION, 60, "read-back-2")])
    # Two collisions in all, not three: the first was delivered and read back.
    assert classifier.classify(_delivered(COLLISION, 60, "delivered-2")).category is Category.HEALTHY


def test_lines_of_one_log_event_share_its_id_and_each_counts() -> None:
    lines = [_delivered(COLLISION, offset, "one-event") for offset in (0, 1, 2)]
    assert [finding.category for finding in Classifier().classify_all(lines)][-1] is Category.REKEY_FAILURE


def test_a_long_lived_classifier_forgets_the_least_recently_heard_tunnel() -> None:
    classifier = Classifier(settings=ClassifierSettings(max_tunnels=2))
    for tunnel in (1, 2, 1, 3):
        classifier.classify(parse_line(tunnel_record(REKEY, T0), stream_identity=(VPN_ID, f"203.0.113.{tunnel}")))
    assert sorted(classifier.last_seen) == [f"{VPN_ID}#203.0.113.1", f"{VPN_ID}#203.0.113.3"]


def test_a_tunnels_history_keeps_at_most_history_size_lines() -> None:
    settings = ClassifierSettings(history_size=2)
    history = TunnelHistory(settings)
    engine = Classifier(settings=settings)
    for offset in range(5):
        history.remember(engine.classify(_delivered(REKEY, offset, f"e{offset}")), frozenset())
    assert [seen.event.event_id for seen in history] == ["e3", "e4"]


def test_strongswan_lines_group_by_ike_sa_and_aws_lines_by_tunnel() -> None:
    charon = parse_line(
        "Nov 26 23:00:00 cgw charon: 07[IKE] <aws-1|7> sending DPD request", stream_identity=(VPN_ID, None)
    )
    aws = parse_line(tunnel_record(REKEY, T0), stream_identity=(VPN_ID, TUNNEL_IP))
    assert (history_key(charon), history_key(aws)) == (f"{VPN_ID}#sa:7", f"{VPN_ID}#{TUNNEL_IP}")
