"""Slack rendering: Block Kit within Slack's limits, a text fallback, escaped text, console buttons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures.golden.scenarios import REGION, SCENARIOS, as_json, check_golden
from vpn_doctor.render.common import build_view
from vpn_doctor.render.slack import HEADER_LIMIT, SECTION_LIMIT, render_slack


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_slack_payload_matches_its_reviewed_golden_file(name: str) -> None:
    check_golden(f"{name}/slack.json", as_json(render_slack(build_view(SCENARIOS[name](), console_region=REGION))))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_slack_payload_has_a_fallback_text_and_blocks_within_limits(name: str) -> None:
    view = build_view(SCENARIOS[name](), console_region=REGION)
    payload = render_slack(view)

    assert view.title in payload["text"]
    header, *rest = payload["blocks"]
    assert header["type"] == "header"
    assert header["text"]["text"] == view.title
    for block in rest:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= SECTION_LIMIT
    assert len(payload["blocks"]) <= 50


def test_slack_message_reads_what_happened_why_what_was_done_and_next_steps_in_order() -> None:
    payload = render_slack(build_view(SCENARIOS["dpd_timeout-opened"](), console_region=REGION))
    texts = [block["text"]["text"] for block in payload["blocks"] if block["type"] == "section" and "text" in block]

    headings = [text.split("\n", 1)[0] for text in texts[1:]]
    assert headings == ["*What happened*", "*Why*", "*What was done*", "*Next steps*"]
    assert "```2025-11-27 00:00:05 UTC  AWS tunnel DPD timed out after 3 retransmits" in texts[1]


def test_console_links_are_buttons() -> None:
    payload = render_slack(build_view(SCENARIOS["dpd_timeout-opened"](), console_region=REGION))
    [actions] = [block for block in payload["blocks"] if block["type"] == "actions"]

    labels = [button["text"]["text"] for button in actions["elements"]]
    assert labels == ["VPN connection in the console", "Tunnel logs (Logs Insights)"]
    assert all(button["url"].startswith("https://eu-west-1.console.aws.amazon.com/") for button in actions["elements"])


def test_log_text_cannot_inject_slack_markup() -> None:
    alert = SCENARIOS["policy_based_vpn-opened"]()
    incident = replace(alert.transition.incident, summary="x")
    transition = replace(alert.transition, incident=incident, reason="<!channel> & <https://evil.example|click>")

    payload = render_slack(build_view(replace(alert, transition=transition)))
    what = next(b["text"]["text"] for b in payload["blocks"] if b.get("text", {}).get("text", "").startswith("*What"))

    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in what
    assert "<!channel>" not in what


def test_a_very_long_title_is_cut_for_the_header_but_kept_whole_in_the_fallback() -> None:
    alert = SCENARIOS["bgp_session-opened"]()
    diagnosis = SCENARIOS["dpd_timeout-opened"]().diagnosis
    assert diagnosis is not None
    long_name = replace(diagnosis, connection_name="N" * 200)

    payload = render_slack(build_view(replace(alert, diagnosis=long_name)))

    assert len(payload["blocks"][0]["text"]["text"]) == HEADER_LIMIT
    assert "N" * 200 in payload["text"]
