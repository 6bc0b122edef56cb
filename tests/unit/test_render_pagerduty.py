"""PagerDuty rendering: Events API v2 events that PagerDuty accepts, one dedup key per connection,
a resolve only when no other tunnel of the connection is down, and no routing key in what is rendered."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures.golden.scenarios import REGION, SCENARIOS, as_json, check_golden
from vpn_doctor.models import TransitionKind
from vpn_doctor.render.common import build_view
from vpn_doctor.render.pagerduty import SUMMARY_LIMIT, dedup_key, render_pagerduty
from vpn_doctor_tools.emulator.receivers import pagerduty_event_problems

ANY_KEY = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_pagerduty_event_matches_its_reviewed_golden_file(name: str) -> None:
    event = render_pagerduty(build_view(SCENARIOS[name](), console_region=REGION))
    check_golden(f"{name}/pagerduty.json", as_json(event))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_event_is_valid_for_the_events_api_once_the_routing_key_is_added(name: str) -> None:
    event = render_pagerduty(build_view(SCENARIOS[name](), console_region=REGION))

    assert event is not None
    assert "routing_key" not in event
    assert pagerduty_event_problems({**event, "routing_key": ANY_KEY}) == []


def test_a_recovery_resolves_and_every_other_transition_triggers() -> None:
    actions = {
        name: render_pagerduty(build_view(SCENARIOS[name]()))["event_action"]  # type: ignore[index]
        for name in SCENARIOS
    }

    assert {name for name, action in actions.items() if action == "resolve"} == {
        "dpd_timeout-resolved",
        "bgp_session-resolved",
        "connection-resolved",  # the connection back to OK
    }
    # A storm's end with connections still broken keeps its page open (a trigger updates it).
    assert actions["storm-ended"] == "trigger"


def test_the_page_is_the_connection_level_incident_or_the_storm() -> None:
    outage, resolved = SCENARIOS["connection-outage"](), SCENARIOS["connection-resolved"]()
    assert outage.connection is not None
    assert resolved.connection is not None
    keys = [render_pagerduty(build_view(alert))["dedup_key"] for alert in (outage, resolved)]  # type: ignore[index]
    # The outage and the connection's final recovery are one connection-level incident: one page, opened, resolved.
    assert keys == [outage.connection.incident_id] * 2
    assert resolved.connection.incident_id == outage.connection.incident_id
    storm = SCENARIOS["storm-opened"]()
    assert storm.storm is not None
    assert render_pagerduty(build_view(storm))["dedup_key"] == storm.storm.storm_id  # type: ignore[index]


def test_both_tunnels_of_a_connection_share_one_dedup_key_and_another_connection_has_its_own() -> None:
    alert = SCENARIOS["dpd_timeout-opened"]()
    incident = alert.transition.incident
    second = replace(incident, tunnel_ip="198.51.100.9", incident_id="inc-second-tunnel")
    other = replace(incident, vpn_connection_id="vpn-0fedcba9876543210")

    def key(changed: object) -> str:
        view = build_view(replace(alert, transition=replace(alert.transition, incident=changed)))
        return str(render_pagerduty(view)["dedup_key"])  # type: ignore[index]

    assert key(incident) == key(second) == dedup_key(incident.vpn_connection_id)
    assert key(other) != key(incident)


def test_a_tunnel_recovering_while_its_sibling_is_down_sends_nothing() -> None:
    resolved = SCENARIOS["dpd_timeout-resolved"]()

    assert render_pagerduty(build_view(replace(resolved, other_tunnels_down=("198.51.100.9",)))) is None
    assert render_pagerduty(build_view(resolved)) == {
        "event_action": "resolve",
        "dedup_key": dedup_key(resolved.transition.incident.vpn_connection_id),
    }


def test_severity_maps_to_pagerdutys_and_the_owner_becomes_the_group() -> None:
    alert = replace(SCENARIOS["dpd_timeout-opened"](), owner="network-emea")
    event = render_pagerduty(build_view(alert))

    assert event is not None
    assert event["payload"]["severity"] == alert.transition.incident.severity.value
    assert event["payload"]["group"] == "network-emea"
    assert event["payload"]["source"] == alert.transition.incident.vpn_connection_id


def test_a_very_long_title_is_cut_to_the_summary_limit() -> None:
    alert = SCENARIOS["unknown-flapping"]()
    transition = replace(alert.transition, kind=TransitionKind.OPENED, reason="x" * 5000)
    incident = replace(transition.incident, tunnel_ip="203.0.113.5" + " " * 2000)
    event = render_pagerduty(build_view(replace(alert, transition=replace(transition, incident=incident))))

    assert event is not None
    assert len(event["payload"]["summary"]) == SUMMARY_LIMIT
    assert pagerduty_event_problems({**event, "routing_key": ANY_KEY}) == []
