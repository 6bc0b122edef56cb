"""E-mail rendering (subject and plain-text body) and the wording every channel shares."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.fixtures.golden.scenarios import (
    FIXTURE_PRE_SHARED_KEYS,
    REGION,
    SCENARIOS,
    check_golden,
)
from vpn_doctor import playbook
from vpn_doctor.models import Alert, RemediationAction, RemediationOutcome, RemediationStatus, TunnelState
from vpn_doctor.render.common import build_view, format_duration, remediation_words
from vpn_doctor.render.email import SUBJECT_LIMIT, email_subject, render_email


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_email_matches_its_reviewed_golden_file(name: str) -> None:
    email = render_email(build_view(SCENARIOS[name](), console_region=REGION))

    check_golden(f"{name}/email.txt", f"Subject: {email.subject}\n\n{email.body}")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_email_says_what_broke_why_what_was_done_and_what_next(name: str) -> None:
    body = render_email(build_view(SCENARIOS[name](), console_region=REGION)).body

    positions = [body.index(heading) for heading in ("WHAT BROKE", "WHY", "WHAT WAS DONE", "WHAT TO DO NEXT")]
    assert positions == sorted(positions)
    assert "  1. " in body


def test_subject_of_a_long_connection_name_is_cut_to_the_sns_limit() -> None:
    title = "vpn-0a1b2c3d4e5f60718 (Datacenter-Frankfurt-Primary-Uplink-Provider-B-2025) tunnel 203.0.113.5 DOWN: " + (
        "peer not answering DPD"
    )

    subject = email_subject(title)

    assert len(subject) == SUBJECT_LIMIT < 100
    assert subject.endswith("...")
    assert subject.startswith("vpn-0a1b2c3d4e5f60718 (Datacenter-Frankfurt")


def test_subject_too_long_with_the_connection_name_drops_the_name_not_the_problem() -> None:
    alert = SCENARIOS["dpd_timeout-opened"]()
    assert alert.diagnosis is not None
    named = replace(alert, diagnosis=replace(alert.diagnosis, connection_name="Datacenter-Frankfurt-Primary"))

    email = render_email(build_view(named))

    assert email.subject == "vpn-0a1b2c3d4e5f60718 tunnel 203.0.113.5 DOWN: peer not answering DPD"
    assert email.body.startswith("vpn-0a1b2c3d4e5f60718 (Datacenter-Frankfurt-Primary) tunnel 203.0.113.5 DOWN")


def test_incident_without_a_known_cause_says_so_instead_of_unrecognised_record() -> None:
    email = render_email(build_view(SCENARIOS["unknown-flapping"]()))

    assert email.subject == "vpn-0a1b2c3d4e5f60718 tunnel 203.0.113.5 FLAPPING: cause not identified yet"
    assert "unrecognised" not in email.body


def test_a_tunnel_logged_down_after_its_last_state_change_reads_down() -> None:
    alert = SCENARIOS["dpd_timeout-opened"]()
    up_before_the_logs = replace(alert.transition.incident, last_state=TunnelState.UP)

    view = build_view(replace(alert, transition=replace(alert.transition, incident=up_before_the_logs)))

    assert view.state == "DOWN"


def test_subject_is_one_line_of_ascii_with_accents_folded() -> None:
    assert email_subject("vpn-1 (Zürich\nBüro)\ttunnel 1 DOWN") == "vpn-1 (Zurich Buro) tunnel 1 DOWN"


def test_resolved_email_says_how_long_the_incident_lasted() -> None:
    email = render_email(build_view(SCENARIOS["bgp_session-resolved"](), console_region=REGION))

    assert email.subject == "vpn-0a1b2c3d4e5f60718 tunnel 203.0.113.5 RESOLVED after 2h 5m: BGP hold timer expired"
    assert "  Lasted:   2h 5m" in email.body


def test_next_steps_come_from_the_diagnosis_when_it_has_them() -> None:
    alert = SCENARIOS["dpd_timeout-opened"]()
    diagnosis = replace(alert.diagnosis, next_steps=("Call the branch office.",)) if alert.diagnosis else None
    body = render_email(build_view(replace(alert, diagnosis=diagnosis))).body

    assert "WHAT TO DO NEXT\n  1. Call the branch office.\n\n" in body


def test_next_steps_fall_back_to_the_playbook_with_the_vendor_hint() -> None:
    alert = SCENARIOS["dpd_timeout-opened"]()
    body = render_email(build_view(alert)).body

    for step in playbook.next_steps("dpd_timeout", "peer_not_responsive", "cisco"):
        assert step in body
    assert "Cisco:" in body


def test_without_a_region_there_are_no_console_links() -> None:
    alert = replace(SCENARIOS["ike_phase1_failure-opened"](), region=None)

    assert "LINKS" not in render_email(build_view(alert)).body
    assert "console.aws.amazon.com" in render_email(build_view(alert, console_region="us-east-1")).body


def test_alert_without_a_log_group_links_to_the_deployment_log_group() -> None:
    alert = replace(SCENARIOS["dpd_timeout-opened"](), log_group=None)

    assert len(build_view(alert).links) == 1
    [_, logs] = build_view(alert, log_group="/aws/vendedlogs/vpn/other").links
    assert logs.url.endswith("~source~(~'*2Faws*2Fvendedlogs*2Fvpn*2Fother))")


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (RemediationStatus.APPLIED, "Done: set the DPD timeout action to restart."),
        (RemediationStatus.DRY_RUN, "Would set the DPD timeout action to restart (dry-run mode, nothing was changed)."),
        (RemediationStatus.BLOCKED, "Not allowed to set the DPD timeout action to restart: because."),
        (RemediationStatus.TRY_LATER, "AWS said not now (AWS error Throttling); will try later"),
        (RemediationStatus.FAILED, "Could not set the DPD timeout action to restart (AWS error Throttling): because."),
        (RemediationStatus.OFF, "Automatic remediation is off for this connection."),
    ],
)
def test_remediation_decision_is_said_in_words(status: RemediationStatus, words: str) -> None:
    outcome = RemediationOutcome(
        status, "because.", RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART, error_code="Throttling"
    )

    assert remediation_words(outcome).startswith(words)


def test_remediation_parameters_never_show_a_pre_shared_key() -> None:
    outcome = RemediationOutcome(
        RemediationStatus.APPLIED,
        "rotated.",
        RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART,
        {"TunnelOptions": {"DPDTimeoutAction": "restart", "PreSharedKey": FIXTURE_PRE_SHARED_KEYS[0]}},
    )

    words = remediation_words(outcome)

    assert FIXTURE_PRE_SHARED_KEYS[0] not in words
    assert "DPDTimeoutAction=restart" in words


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=3, seconds=20), "3m 20s"),
        (timedelta(minutes=14, seconds=20), "14m"),
        (timedelta(hours=2, minutes=5), "2h 5m"),
        (timedelta(days=3, hours=4, minutes=1), "3d 4h"),
        (timedelta(seconds=-5), "0s"),
    ],
)
def test_durations_read_like_people_say_them(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


def test_logs_insights_link_opens_the_tunnel_query_on_the_log_group_around_the_incident() -> None:
    alert: Alert = SCENARIOS["dpd_timeout-opened"]()
    [vpn, logs] = build_view(alert).links

    assert vpn.url.endswith("#VpnConnectionDetails:VpnConnectionId=vpn-0a1b2c3d4e5f60718")
    assert logs.url.startswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:logs-insights$3FqueryDetail$3D~(end~'2025-11-27T00*3A17*3A05.000Z"
        "~start~'2025-11-26T23*3A45*3A05.000Z~timeType~'ABSOLUTE~tz~'UTC~editorString~'fields*20*40timestamp"
    )
    assert "*7C*20filter*20*40logStream*20like*20*27vpn-0a1b2c3d4e5f60718*27" in logs.url
    assert logs.url.endswith("~source~(~'*2Faws*2Fvendedlogs*2Fvpn*2Ftunnels))")
