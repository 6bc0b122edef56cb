"""Opsgenie rendering: Alert API v2 creates the API accepts and closes by alias, one alias per connection (the
PagerDuty dedup key), a close only when no other tunnel of the connection is down, no API key in what is
rendered."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures.golden.scenarios import REGION, SCENARIOS, as_json, check_golden
from vpn_doctor.models import TransitionKind
from vpn_doctor.render.common import build_view
from vpn_doctor.render.opsgenie import MESSAGE_LIMIT, render_opsgenie
from vpn_doctor.render.pagerduty import dedup_key, render_pagerduty
from vpn_doctor_tools.emulator.opsgenie import create_problems


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_opsgenie_request_matches_its_reviewed_golden_file_and_the_api_accepts_it(name: str) -> None:
    view = build_view(SCENARIOS[name](), console_region=REGION)
    request = render_opsgenie(view)
    check_golden(f"{name}/opsgenie.json", as_json(request))
    assert request is not None
    pager = render_pagerduty(view)
    assert pager is not None
    # One id for both pagers: the roll-up's connection-level incident (or storm), else the connection's fixed key.
    assert request["alias"] == pager["dedup_key"] == (view.page_key or dedup_key(view.vpn_connection_id))
    if request["action"] == "create":
        assert create_problems(request["body"]) == {}
        assert request["body"]["alias"] == request["alias"]
    else:
        assert view.kind is TransitionKind.RESOLVED
        assert set(request["body"]) <= {"user", "source", "note"}


def test_a_recovery_while_another_tunnel_is_down_closes_nothing() -> None:
    alert = SCENARIOS["dpd_timeout-resolved"]()
    assert render_opsgenie(build_view(replace(alert, other_tunnels_down=("198.51.100.9",)))) is None
    close = render_opsgenie(build_view(alert))
    assert close is not None
    assert (close["action"], close["alias"]) == ("close", dedup_key(alert.transition.incident.vpn_connection_id))
    assert close["body"]["source"] == "vpn-doctor"
    assert "resolved" in close["body"]["note"].lower() or "UP" in close["body"]["note"]


def test_a_long_title_is_cut_to_the_message_limit() -> None:
    alert = SCENARIOS["dpd_timeout-opened"]()
    incident = replace(alert.transition.incident, vpn_connection_id="vpn-" + "f" * 17, summary="x" * 500)
    long = replace(alert, transition=replace(alert.transition, incident=incident), owner="o" * 200)
    request = render_opsgenie(build_view(long))
    assert request is not None
    assert len(request["body"]["message"]) <= MESSAGE_LIMIT
    assert create_problems(request["body"]) == {}
