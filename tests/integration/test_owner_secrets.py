"""Per-owner secrets: a team's route names its own Slack webhook (vpn_doctor.routing ``secrets``); the notify
Lambda posts that team's messages to that webhook only, everyone else's to the channel's own. Both webhooks are
real HTTP servers on 127.0.0.1; the secrets, topic and queues are moto's."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace

import boto3
import pytest

from handlers import notify, wiring
from tests.fixtures.golden.scenarios import SCENARIOS
from tests.integration.test_notify_handler import SETTINGS, notify_stack
from vpn_doctor import constants
from vpn_doctor.app.notify import DEAD_LETTERED, SENT
from vpn_doctor.models import Alert
from vpn_doctor_tools.emulator.slack import SlackReceiver

TEAM_A = "network-emea"
TEAM_A_SECRET = "vpn-doctor/slack-emea"
ROUTING = {
    "default": {"channels": ["sns", "slack"]},
    "owners": {
        TEAM_A: {"channels": ["sns", "slack"], "secrets": {"slack": TEAM_A_SECRET}},
        "network-apac": {"channels": ["sns", "slack"]},  # no secret of its own: the channel's webhook
        # Its secret was never stored: its messages are dead-lettered, never posted to another webhook.
        "network-latam": {"channels": ["sns", "slack"], "secrets": {"slack": "vpn-doctor/slack-latam"}},
    },
}


def _alert(scenario: str, owner: str | None) -> Alert:
    # Each its own transition on its own connection (the golden scenarios share one connection, incident and event
    # id; on one connection the roll-up would tell people of its first problem only, docs/rollup.md).
    alert = SCENARIOS[scenario]()
    vpn_id = f"vpn-{zlib.crc32(scenario.encode()):017x}"
    incident = replace(alert.transition.incident, vpn_connection_id=vpn_id, incident_id=f"inc-{scenario}")
    return replace(
        alert, owner=owner, transition=replace(alert.transition, incident=incident, event_id=f"evt-{scenario}")
    )


def test_team_as_slack_message_goes_to_team_as_webhook_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    team_a = SlackReceiver()
    team_a.start()
    try:
        with notify_stack(monkeypatch) as stack:
            boto3.client("secretsmanager").create_secret(Name=TEAM_A_SECRET, SecretString=team_a.url)
            monkeypatch.setenv(constants.ENV_ROUTING, json.dumps(ROUTING))
            wiring.reset()
            owned = stack.invoke(_alert("dpd_timeout-opened", TEAM_A), event_id="bus-1")
            again = stack.invoke(_alert("dpd_timeout-opened", TEAM_A), event_id="bus-1")
            apac = stack.invoke(_alert("bgp_session-opened", "network-apac"), event_id="bus-2")
            unowned = stack.invoke(_alert("ike_phase1_failure-opened", None), event_id="bus-3")
            latam = stack.invoke(_alert("cgw_network-opened", "network-latam"), event_id="bus-4")
            [parked] = stack.dead_letters()
            shared, own = stack.slack.posts(), team_a.posts()
            logs = stack.logs.getvalue()
            emails = stack.emails()
            urls = (team_a.url, stack.slack.url)
    finally:
        team_a.stop()
    assert owned["channels"]["slack"]["outcome"] == SENT
    assert again["status"] == "duplicate"  # the redelivered alert posts nothing again, on either webhook
    assert len(own) == 1
    assert "DPD" in own[0].text or "dead peer" in own[0].text.lower()
    assert len(shared) == 2  # network-apac's (no secret of its own) and the unowned connection's
    assert not any(post.text == own[0].text for post in shared)
    assert {apac["channels"]["slack"]["outcome"], unowned["channels"]["slack"]["outcome"]} == {SENT}
    assert len(emails) == 4  # the alert topic is everyone's
    assert latam["channels"]["slack"]["outcome"] == DEAD_LETTERED
    assert "webhook secret unavailable" in latam["channels"]["slack"]["reason"]
    assert parked["payload"]["text"] not in {post.payload["text"] for post in [*own, *shared]}
    for text in (json.dumps([owned, apac, unowned, latam]), logs, caplog.text, capsys.readouterr().out):
        assert [url for url in urls if url in text] == []


def test_notify_refuses_an_owner_secret_for_a_channel_it_does_not_have() -> None:
    routing = {"owners": {TEAM_A: {"channels": ["sns", "teams"], "secrets": {"teams": "vpn-doctor/teams-emea"}}}}
    env = {**SETTINGS, constants.ENV_ROUTING: json.dumps(routing)}
    with pytest.raises(wiring.SettingsError, match="owners' secrets for teams, not configured"):
        wiring.load_settings(notify.Settings, env)
