"""The cdk.json configuration: defaults are safe, every bad value stops the synth with a clear sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError, Tunnel, parse_config

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"


def test_shipped_cdk_json_is_valid_and_equals_the_defaults() -> None:
    shipped = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]["vpn-doctor"]
    assert parse_config(shipped) == parse_config(None)


def test_defaults_are_dry_run_watching_every_connection_with_a_created_log_group() -> None:
    config = parse_config(None)
    assert config.remediation_mode == "dry-run"
    assert config.monitor_scope == "all"
    assert config.creates_log_group
    assert config.poll_interval_minutes == 1
    assert not config.network_manager_events


def test_a_full_configuration_is_parsed_into_typed_values() -> None:
    config = parse_config(
        {
            "notification_emails": ["netops@example.com"],
            "remediation_mode": "off",
            "monitor": {"scope": "list", "vpn_connection_ids": ["vpn-0a1b2c3d"]},
            "tunnels": [{"vpn_connection_id": "vpn-0a1b2c3d", "outside_ip": "203.0.113.5"}],
            "tunnel_log_groups": ["/aws/vpn/tunnels"],
        }
    )
    assert config.notification_emails == ("netops@example.com",)
    assert not config.remediation_enabled
    assert config.monitor_vpn_ids == ("vpn-0a1b2c3d",)
    assert config.tunnels == (Tunnel(vpn_connection_id="vpn-0a1b2c3d", outside_ip="203.0.113.5"),)
    assert not config.creates_log_group


def test_json_text_from_the_command_line_is_accepted() -> None:
    assert parse_config('{"remediation_mode": "auto"}').remediation_mode == "auto"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"remediation_mode": "yes"}, "remediation_mode: 'yes' is not allowed; use one of off, dry-run, auto"),
        ({"remediaton_mode": "auto"}, "unknown key(s) remediaton_mode"),
        ({"notification_emails": "ops@example.com"}, "notification_emails: expected a list"),
        ({"notification_emails": ["not-an-email"]}, "notification_emails: 'not-an-email' is not valid"),
        ({"monitor": {"scope": "list"}}, "scope 'list' needs at least one VPN connection id"),
        ({"monitor": {"scope": "tags"}}, "monitor.scope: 'tags' is not allowed"),
        ({"monitor": {"scope": "all", "vpn_connection_ids": ["vpn-0a1b2c3d"]}}, "only used with scope 'list'"),
        ({"tunnels": [{"vpn_connection_id": "vpn-0a1b2c3d", "outside_ip": "300.1.1.1"}]}, "not the tunnel's IPv4"),
        ({"tunnels": [{"vpn_connection_id": "vpn-xyz", "outside_ip": "203.0.113.5"}]}, "is not a VPN connection id"),
        ({"tunnels": [{"vpn": "vpn-0a1b2c3d"}]}, "tunnels: {'vpn': 'vpn-0a1b2c3d'} must be"),
        ({"poll_interval_minutes": 0}, "poll_interval_minutes: 0 must be a whole number from 1 to 1440"),
        ({"flap_transitions": True}, "flap_transitions: True must be a whole number"),
        ({"network_manager_events": "yes"}, "network_manager_events: 'yes' must be true or false"),
        ({"log_retention_days": 31}, "log_retention_days: 31 is not a CloudWatch Logs retention"),
        ({"tunnel_log_groups": ["/a", "/a"]}, "tunnel_log_groups: a log group is listed twice"),
        ({"slack_secret_name": "has space"}, "slack_secret_name: 'has space' is not a Secrets Manager secret name"),
        ({"remediation_dpd_action": "clear"}, "remediation_dpd_action: 'clear' is not allowed; use one of restart"),
        ({"post_check_delay_seconds": 10}, "post_check_delay_seconds: 10 must be a whole number from 60"),
        ("{not json", "not valid JSON"),
        (["auto"], "expected an object, got list"),
    ],
)
def test_a_bad_value_is_rejected_with_a_message_naming_key_and_value(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert message in str(error.value)
