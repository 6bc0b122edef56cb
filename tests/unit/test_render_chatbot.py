"""Amazon Q Developer in chat applications custom notifications."""

from __future__ import annotations

import pytest

from tests.fixtures.golden.scenarios import REGION, SCENARIOS, as_json, check_golden
from vpn_doctor.render.chatbot import render_chatbot
from vpn_doctor.render.common import build_view


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_chat_notification_matches_its_reviewed_golden_file(name: str) -> None:
    check_golden(f"{name}/chatbot.json", as_json(render_chatbot(build_view(SCENARIOS[name](), console_region=REGION))))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_chat_notification_has_the_shape_the_service_renders(name: str) -> None:
    document = render_chatbot(build_view(SCENARIOS[name](), console_region=REGION))

    assert document["version"] == "1.0"
    assert document["source"] == "custom"
    content = document["content"]
    assert content["textType"] == "client-markdown"
    assert content["title"]
    assert content["description"]
    assert all(isinstance(step, str) and step for step in content["nextSteps"])
    assert all(isinstance(word, str) and word for word in content["keywords"])
    assert set(document["metadata"]) <= {
        "threadId",
        "summary",
        "eventType",
        "relatedResources",
        "additionalContext",
        "enableCustomActions",
    }
    assert all(isinstance(value, str) for value in document["metadata"]["additionalContext"].values())


def test_every_message_about_one_incident_shares_one_chat_thread() -> None:
    names = ["dpd_timeout-opened", "dpd_timeout-updated", "dpd_timeout-flapping", "dpd_timeout-resolved"]
    threads = {render_chatbot(build_view(SCENARIOS[name]()))["metadata"]["threadId"] for name in names}
    event_types = [render_chatbot(build_view(SCENARIOS[name]()))["metadata"]["eventType"] for name in names]

    assert threads == {"inc-4f9c2a1b7d3e8a60"}
    assert event_types == ["vpn-tunnel-opened", "vpn-tunnel-updated", "vpn-tunnel-flapping", "vpn-tunnel-resolved"]
