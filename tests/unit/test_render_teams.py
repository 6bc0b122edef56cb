"""Teams rendering: the Workflows webhook's message envelope around one Adaptive Card 1.4 that reads
what happened, why, what was done and next steps, with the console links as buttons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures.golden.scenarios import REGION, SCENARIOS, as_json, check_golden
from vpn_doctor.render.common import build_view
from vpn_doctor.render.teams import CARD_CONTENT_TYPE, TEXT_LIMIT, render_teams
from vpn_doctor_tools.emulator.receivers import teams_message_problems


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_teams_message_matches_its_reviewed_golden_file(name: str) -> None:
    check_golden(f"{name}/teams.json", as_json(render_teams(build_view(SCENARIOS[name](), console_region=REGION))))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_message_is_one_adaptive_card_a_workflows_webhook_accepts(name: str) -> None:
    message = render_teams(build_view(SCENARIOS[name](), console_region=REGION))

    assert teams_message_problems(message) == []
    [attachment] = message["attachments"]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    assert attachment["content"]["version"] == "1.4"


def test_card_reads_what_happened_why_what_was_done_and_next_steps_in_order() -> None:
    view = build_view(SCENARIOS["dpd_timeout-opened"](), console_region=REGION)
    card = render_teams(view)["attachments"][0]["content"]
    texts = [block["text"] for block in card["body"] if block["type"] == "TextBlock"]

    assert texts[0] == view.title
    headings = [block["text"] for block in card["body"] if block.get("separator")]
    assert headings == ["What happened", "Why", "What was done", "Next steps"]
    assert any("AWS tunnel DPD timed out after 3 retransmits" in text for text in texts)


def test_console_links_are_open_url_actions_and_the_owner_is_a_fact() -> None:
    alert = replace(SCENARIOS["dpd_timeout-opened"](), owner="network-emea")
    card = render_teams(build_view(alert, console_region=REGION))["attachments"][0]["content"]

    assert [action["title"] for action in card["actions"]] == [
        "VPN connection in the console",
        "Tunnel logs (Logs Insights)",
    ]
    assert all(action["type"] == "Action.OpenUrl" for action in card["actions"])
    facts = next(block["facts"] for block in card["body"] if block["type"] == "FactSet")
    assert {"title": "Owner", "value": "network-emea"} in facts


def test_a_huge_log_line_keeps_the_message_within_teams_size_limit() -> None:
    alert = SCENARIOS["dpd_timeout-opened"]()
    transition = replace(alert.transition, reason="y" * 100_000)
    message = render_teams(build_view(replace(alert, transition=transition)))

    assert teams_message_problems(message) == []
    assert all(len(block.get("text", "")) <= TEXT_LIMIT for block in message["attachments"][0]["content"]["body"])
