"""Routing by owner and severity: the owner's route picks the channels, a channel's minimum severity
keeps lesser alerts off it, every other connection follows the default, and bad routing is refused
with the key that is wrong."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from tests.fixtures.golden.scenarios import REGION, SCENARIOS
from tests.unit.test_channels import FakeChannel, MemoryOnce
from vpn_doctor.app.notify import SKIPPED, deliver_alert
from vpn_doctor.aws.dead_letter import DeadLetterQueue
from vpn_doctor.aws.webhook import Webhook
from vpn_doctor.channels import owned_channels
from vpn_doctor.channels.webhook import WebhookChannel
from vpn_doctor.constants import OWNER_TAG
from vpn_doctor.models import Alert, TunnelState
from vpn_doctor.render.common import AlertView
from vpn_doctor.routing import EVERY_CHANNEL, Routing, other_tunnels_down, owner_of, parse_routing
from vpn_doctor.taxonomy import Severity
from vpn_doctor.vpn import TunnelConfig, TunnelTelemetry, VpnConnectionInfo

ROUTING = {
    "default": {"channels": ["sns", "slack"]},
    "owners": {
        "network-emea": {"channels": ["sns", "teams", "pagerduty"], "min_severity": {"pagerduty": "critical"}},
        "network-apac": {"channels": ["slack"]},
    },
}


def _sent_to(alert: Alert, routing: Routing) -> list[str]:
    channels = [FakeChannel(name) for name in ("sns", "slack", "teams", "pagerduty")]
    deliver_alert(alert, channels=channels, once=MemoryOnce(), console_region=REGION, log_group=None, routing=routing)
    return [channel.name for channel in channels if channel.sent]


def _with_severity(alert: Alert, severity: Severity) -> Alert:
    incident = replace(alert.transition.incident, severity=severity)
    return replace(alert, transition=replace(alert.transition, incident=incident))


def test_an_owners_alerts_go_to_its_channels_and_the_pager_only_when_critical() -> None:
    routing = parse_routing(json.dumps(ROUTING))
    alert = replace(SCENARIOS["dpd_timeout-opened"](), owner="network-emea")

    assert _sent_to(_with_severity(alert, Severity.CRITICAL), routing) == ["sns", "teams", "pagerduty"]
    assert _sent_to(_with_severity(alert, Severity.WARNING), routing) == ["sns", "teams"]


@pytest.mark.parametrize("owner", [None, "someone-else", "   "])
def test_a_connection_without_a_listed_owner_follows_the_default_route(owner: str | None) -> None:
    routing = Routing.model_validate(ROUTING)

    assert _sent_to(replace(SCENARIOS["dpd_timeout-opened"](), owner=owner), routing) == ["sns", "slack"]


def test_without_routing_every_channel_gets_every_alert() -> None:
    alert = _with_severity(replace(SCENARIOS["dpd_timeout-opened"](), owner="network-emea"), Severity.INFO)

    assert _sent_to(alert, parse_routing("")) == ["sns", "slack", "teams", "pagerduty"]
    assert parse_routing(None) is EVERY_CHANNEL


def test_the_delivery_says_whose_alert_it_was_and_which_channels_the_routing_left_out() -> None:
    alert = replace(SCENARIOS["dpd_timeout-opened"](), owner="network-apac")
    channels = [FakeChannel("sns"), FakeChannel("slack")]
    routing = Routing.model_validate(ROUTING)

    summary = deliver_alert(
        alert, channels=channels, once=MemoryOnce(), console_region=REGION, log_group=None, routing=routing
    ).summary()

    assert summary["owner"] == "network-apac"
    assert summary["not_routed"] == ["sns"]
    assert list(summary["channels"]) == ["slack"]


def test_a_channel_with_nothing_to_send_is_recorded_as_skipped_and_sends_nothing() -> None:
    class Quiet(FakeChannel):
        def render(self, view: AlertView) -> Any:
            return None

    quiet = Quiet("pagerduty")
    delivery = deliver_alert(
        SCENARIOS["dpd_timeout-resolved"](), channels=[quiet], once=MemoryOnce(), console_region=REGION, log_group=None
    )

    assert quiet.sent == []
    assert [(item.channel, item.outcome) for item in delivery.delivered] == [("pagerduty", SKIPPED)]


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ('{"default": {"channels": ["email"]}}', "default: 'email' is not a channel; use one of sns, slack, teams"),
        ('{"owners": {"a": {"channels": ["slack", "slack"]}}}', "owners.a: a channel is listed twice"),
        ('{"owners": {"a": {"min_severity": {"slack": "urgent"}}}}', "owners.a.min_severity.slack"),
        (
            '{"owners": {"a": {"channels": ["sns"], "min_severity": {"pagerduty": "critical"}}}}',
            "min_severity names pagerduty, which this route does not send to",
        ),
        ('{"owner": {}}', "owner: Extra inputs are not permitted"),
        (
            '{"owners": {"a": {"channels": ["sns"], "secrets": {"slack": "vpn-doctor/slack-a"}}}}',
            "owners.a: secrets names slack, which this route does not send to",
        ),
        ('{"owners": {"a": {"secrets": {"sns": "x"}}}}', "secrets names sns, which has no secret of its own"),
        ('{"owners": {"a": {"secrets": {"slack": "no spaces"}}}}', "owners.a.secrets.slack: String should match"),
        ('{"default": {"secrets": {"slack": "x"}}}', "default.secrets: the default route uses each channel's own"),
        ('{"default": ', "routing is not valid JSON"),
    ],
)
def test_bad_routing_is_refused_naming_the_key(routing: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        parse_routing(routing)

    assert "Traceback" not in str(caught.value)


def _connection(tags: dict[str, str], down: tuple[str, ...]) -> VpnConnectionInfo:
    tunnels = tuple(
        TunnelConfig(outside_ip=ip, telemetry=TunnelTelemetry(TunnelState.DOWN if ip in down else TunnelState.UP))
        for ip in ("203.0.113.5", "198.51.100.9")
    )
    return VpnConnectionInfo("vpn-0a1b2c3d4e5f60718", "available", tunnels, tags=tags)


def test_the_owner_comes_from_the_connections_tag_and_only_other_down_tunnels_are_listed() -> None:
    connection = _connection({OWNER_TAG: " network-emea ", "Name": "Branch-1"}, down=("203.0.113.5", "198.51.100.9"))

    assert owner_of(connection) == "network-emea"
    assert other_tunnels_down(connection, "203.0.113.5") == ("198.51.100.9",)
    assert other_tunnels_down(_connection({}, down=("203.0.113.5",)), "203.0.113.5") == ()
    assert owner_of(_connection({OWNER_TAG: ""}, down=())) is None
    assert owner_of(None) is None


def test_a_lesser_recovery_still_reaches_the_pager_which_may_hold_the_connections_page_but_not_chat() -> None:
    # Tunnel 1's critical incident paged; tunnel 2 (a warning) recovers last: only its resolve closes the page.
    routing = Routing.model_validate(
        {
            "default": {
                "channels": ["slack", "pagerduty"],
                "min_severity": {"pagerduty": "critical", "slack": "critical"},
            }
        }
    )
    resolved = _with_severity(SCENARIOS["dpd_timeout-resolved"](), Severity.WARNING)
    opened = _with_severity(SCENARIOS["dpd_timeout-opened"](), Severity.WARNING)

    assert _sent_to(resolved, routing) == ["pagerduty"]
    assert _sent_to(opened, routing) == []


def test_an_owner_with_its_own_secret_gets_the_channel_posting_with_it_and_the_others_the_channels_own() -> None:
    routing = parse_routing(
        '{"owners": {"a": {"channels": ["sns", "slack"], "secrets": {"slack": "vpn-doctor/slack-a"}}, "b": {}}}'
    )
    hook = Webhook("vpn-doctor/slack", service="Slack")
    slack = WebhookChannel("slack", lambda view: {"text": view.title}, hook, DeadLetterQueue("https://sqs/q"))
    topic = FakeChannel("sns")
    owned = owned_channels([topic, slack], routing)
    assert owned.for_owner(None) == owned.for_owner("b") == owned.for_owner("unknown") == (topic, slack)
    a_topic, a_slack = owned.for_owner(" a ")
    assert a_topic is topic
    assert isinstance(a_slack, WebhookChannel)
    assert a_slack.webhook.secret_name == "vpn-doctor/slack-a"
    assert (a_slack.name, a_slack.layout, a_slack.dead_letters) == (slack.name, slack.layout, slack.dead_letters)
    assert hook.secret_name == "vpn-doctor/slack"  # the channel's own is untouched
    with pytest.raises(ValueError, match="routing owner 'a' names a secret for slack, not configured here"):
        owned_channels([topic], routing)
