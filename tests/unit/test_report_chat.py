"""The weekly report in the chats: its Slack Block Kit message and Teams Adaptive Card (golden files, limits), and
its delivery through the channel plugins (once per channel and scheduled event, dead-lettered when refused)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.fixtures.golden.scenarios import as_json, check_golden
from tests.unit.test_channels import FakeChannel, MemoryOnce
from tests.unit.test_report import END, HORIZON, IP1, IP2, START, VPN, incident, report, up_since
from vpn_doctor.app.report import ChatsFailed, send_report_to_chats
from vpn_doctor.models import IncidentStatus, TunnelState
from vpn_doctor.render.report import (
    SHOWN_CONNECTIONS,
    render_slack_report,
    render_teams_report,
)
from vpn_doctor.report import Change, Report, TunnelHistory, build_report
from vpn_doctor.taxonomy import Cause
from vpn_doctor_tools.emulator.receivers import teams_message_problems

OTHER = "vpn-0fedcba9876543210"
STUCK = "vpn-0aaaaaaaaaaaaaaa1"


def week() -> Report:
    """A week with a bit of everything: two incidents and a remediation on one connection (one tunnel flapping),
    a connection down for more than a week, a connection with no data at all until mid-week."""
    flapping = incident(IP1, timedelta(days=1), timedelta(minutes=40), cause=Cause.PEER_NOT_RESPONSIVE, flips=5)
    rekey = incident(IP2, timedelta(days=3), timedelta(hours=2), cause=Cause.PSK_MISMATCH)
    down = incident("198.51.100.7", -timedelta(days=9), None, vpn=STUCK, cause=Cause.NO_RESPONSE)
    histories = [
        up_since(IP1, START - timedelta(days=30), flapping),
        up_since(IP2, START - timedelta(days=30), rekey),
        TunnelHistory(STUCK, "198.51.100.7", (down,), TunnelState.DOWN, START - timedelta(days=9)),
        TunnelHistory(STUCK, "198.51.100.8", (), TunnelState.DOWN, START - timedelta(days=9)),
        up_since("192.0.2.1", START + timedelta(days=4), vpn=OTHER),
    ]
    change = Change(
        VPN,
        IP1,
        START + timedelta(days=1, minutes=5),
        "applied",
        "DPD timeout action set to restart",
        incident_id=flapping.incident_id,
        action="set_dpd_timeout_action_restart",
    )
    return report(histories, [change])


def test_the_slack_report_matches_its_reviewed_golden_file() -> None:
    check_golden("report/slack.json", as_json(render_slack_report(week())))


def test_the_teams_report_matches_its_reviewed_golden_file() -> None:
    card = render_teams_report(week())
    check_golden("report/teams.json", as_json(card))
    assert teams_message_problems(card) == []  # what the local Workflows receiver (Teams' contract) accepts


def test_many_connections_stay_within_slacks_and_teams_limits_worst_first() -> None:
    # 40 connections, each with its own incident of a different length: the worst are named, the rest counted.
    histories = [
        up_since(
            IP1,
            START - timedelta(days=30),
            incident(IP1, timedelta(days=1), timedelta(minutes=n + 1), vpn=f"vpn-{n:017x}"),
            vpn=f"vpn-{n:017x}",
        )
        for n in range(40)
    ]
    many = build_report(histories, [], start=START, end=END, horizon=HORIZON, flap_transitions=4)
    slack = render_slack_report(many)
    assert len(slack["blocks"]) <= 50
    assert all(len(block.get("fields", ())) <= 10 for block in slack["blocks"])
    assert all(
        len(block["text"]["text"]) <= 3000
        for block in slack["blocks"]
        if block["type"] == "section" and "text" in block
    )
    availability = next(
        b["text"]["text"] for b in slack["blocks"] if "Availability" in b.get("text", {}).get("text", "")
    )
    lines = availability.splitlines()[1:]
    assert len(lines) == SHOWN_CONNECTIONS + 1
    assert lines[0].startswith(f"vpn-{39:017x}:")  # the longest outage first
    assert lines[-1] == f"... and {40 - SHOWN_CONNECTIONS} more (see the e-mail)"
    card = render_teams_report(many)
    assert len(json.dumps(card)) < 28_000


def test_an_empty_store_says_so_in_the_chats() -> None:
    empty = build_report([], [], start=START, end=END, horizon=HORIZON, flap_transitions=4)
    assert "no connection has any record" in json.dumps(render_slack_report(empty))
    assert "no connection has any record" in json.dumps(render_teams_report(empty))


def test_each_chat_gets_the_report_once_per_event_and_a_pager_none() -> None:
    slack, teams, pager, topic = (
        FakeChannel("slack"),
        FakeChannel("teams"),
        FakeChannel("pagerduty"),
        FakeChannel("sns"),
    )
    once = MemoryOnce()
    first = send_report_to_chats(week(), channels=[topic, slack, teams, pager], once=once, event_id="evt-1")
    again = send_report_to_chats(week(), channels=[topic, slack, teams, pager], once=once, event_id="evt-1")
    next_week = send_report_to_chats(week(), channels=[slack], once=once, event_id="evt-2")
    assert [(d.channel, d.outcome, d.duplicate) for d in first] == [("slack", "sent", False), ("teams", "sent", False)]
    assert [d.duplicate for d in again] == [True, True]
    assert [d.duplicate for d in next_week] == [False]
    assert slack.sent == [render_slack_report(week())] * 2
    assert teams.sent == [render_teams_report(week())]
    assert pager.sent == topic.sent == []


def test_a_refused_report_is_dead_lettered_and_one_that_cannot_be_kept_fails_after_the_others() -> None:
    refused = FakeChannel("slack", refuse=True)
    lost = FakeChannel("teams", refuse=True, no_dead_letters=True)
    once = MemoryOnce()
    with pytest.raises(ChatsFailed, match="teams: answered HTTP 500; the queue refused it too"):
        send_report_to_chats(week(), channels=[lost, refused], once=once, event_id="evt-1")
    assert refused.letters == [(render_slack_report(week()), "answered HTTP 500", {"report": "evt-1"})]
    # The retry: Slack's was kept already (nothing again); Teams' is tried again.
    lost.refuse = False
    retried = send_report_to_chats(week(), channels=[lost, refused], once=once, event_id="evt-1")
    assert [(d.channel, d.outcome, d.duplicate) for d in retried] == [
        ("teams", "sent", False),
        ("slack", "dead_lettered", True),
    ]
    assert len(refused.letters) == 1


def test_the_week_used_by_the_golden_files_has_what_it_claims() -> None:
    made = week()
    assert made.flapping == ((VPN, IP1),)
    assert STUCK in made.long_down
    assert [c.incidents[0].incident.status for c in made.connections if c.vpn_connection_id == STUCK] == [
        IncidentStatus.OPEN
    ]
    assert made.changes
