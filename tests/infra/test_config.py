"""The cdk.json configuration: defaults are safe, every bad value stops the synth with a clear sentence, and the
CDK feature flags are set to what the pinned CDK recommends for a new project."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from stacks.config import CONTEXT_KEY, ConfigError, Tunnel, VpnDoctorConfig, parse_config
from tests.infra.conftest import CDK_JSON, Synth, feature_flags
from vpn_doctor.constants import DpdAction, Mode, MonitorScope

README = CDK_JSON.parent / "README.md"

# What `cdk init` writes into a new project's cdk.json, as shipped with the pinned CLI (package.json, installed by
# `make cdk-deps`); read from disk, no network.
CLI_RECOMMENDED = (
    CDK_JSON.parent / "node_modules" / "aws-cdk" / "lib" / "init-templates" / ".recommended-feature-flags.json"
)


def flag_report(synth: Synth) -> dict[str, dict[str, Any]]:
    """Flag -> its entry in the cloud assembly's feature-flag report (what `cdk flags` reads): the value set
    (``userValue``), the value aws-cdk-lib recommends, and how the flag behaves when unset."""
    manifest = json.loads((synth.directory / "manifest.json").read_text(encoding="utf-8"))
    (report,) = [a for a in manifest["artifacts"].values() if a["type"] == "cdk:feature-flag-report"]
    flags: dict[str, dict[str, Any]] = report["properties"]["flags"]
    return flags


def effective(entry: dict[str, Any]) -> Any:
    """The value a flag acts with: the configured one, else its unset behaviour (the CLI's own rule)."""
    return entry["userValue"] if "userValue" in entry else entry.get("unconfiguredBehavesLike", {}).get("v2", False)


def test_shipped_cdk_json_is_valid_and_equals_the_defaults() -> None:
    shipped = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"][CONTEXT_KEY]
    assert parse_config(shipped) == parse_config(None)


def test_every_feature_flag_acts_as_aws_cdk_lib_recommends(all_synths: tuple[Synth, ...]) -> None:
    """Every flag the library knows acts as recommended; every cdk.json flag is one the library knows (a misspelt
    or retired one would be ignored without a word) and reached the infra tests' synth, as with `cdk deploy`."""
    for synth in all_synths:
        report = flag_report(synth)
        assert len(report) >= 100  # aws-cdk-lib 2.275.0 reports 105
        assert {
            flag: (effective(entry), entry["recommendedValue"])
            for flag, entry in report.items()
            if effective(entry) != entry["recommendedValue"]
        } == {}, synth.config_name
        assert {flag: entry["userValue"] for flag, entry in report.items() if "userValue" in entry} == feature_flags()


def test_cdk_json_sets_every_flag_the_pinned_cli_writes_for_a_new_project() -> None:
    if not CLI_RECOMMENDED.exists():
        pytest.skip("the aws-cdk CLI is installed by `make cdk-deps` (npm ci)")
    recommended = json.loads(CLI_RECOMMENDED.read_text(encoding="utf-8"))
    flags = feature_flags()
    assert {
        flag: (flags.get(flag, "unset"), value)
        for flag, value in recommended.items()
        if flags.get(flag, "unset") != value
    } == {}


def test_every_configuration_key_is_documented_in_the_readme_table() -> None:
    section = README.read_text(encoding="utf-8").split("### Configuration", 1)[1].split("\n### ", 1)[0]
    documented = {
        key for row in section.splitlines() if row.startswith("| `")
        for key in re.findall(r"`([a-z_]+)`", row.split("|")[1])
    }  # fmt: skip
    assert documented == set(VpnDoctorConfig.model_fields)


@pytest.mark.parametrize(
    ("key", "choices"),
    [("remediation_mode", Mode), ("remediation_dpd_action", DpdAction)],
)
def test_choices_are_the_cores_own(key: str, choices: Any) -> None:
    for choice in choices:
        assert getattr(parse_config({key: choice.value}), key) is choice


def test_monitor_scopes_are_the_cores_own() -> None:
    for scope in MonitorScope:
        ids = ["vpn-0a1b2c3d"] if scope is MonitorScope.LIST else []
        assert parse_config({"monitor": {"scope": scope.value, "vpn_connection_ids": ids}}).monitor.scope is scope


def test_defaults_are_dry_run_watching_every_connection_with_a_created_log_group() -> None:
    config = parse_config(None)
    assert config.remediation_mode is Mode.DRY_RUN
    assert config.monitor.scope is MonitorScope.ALL
    assert config.creates_log_group
    assert config.log_group_names == ("/aws/vendedlogs/vpn-doctor/tunnels",)
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
    assert config.monitor.vpn_connection_ids == ("vpn-0a1b2c3d",)
    assert config.tunnels == (Tunnel(vpn_connection_id="vpn-0a1b2c3d", outside_ip="203.0.113.5"),)
    assert not config.creates_log_group
    assert config.log_group_names == ("/aws/vpn/tunnels",)


def test_json_text_from_the_command_line_is_accepted() -> None:
    assert parse_config('{"remediation_mode": "auto"}').remediation_mode is Mode.AUTO


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"remediation_mode": "yes"}, "remediation_mode: Input should be 'off', 'dry-run' or 'auto', got 'yes'"),
        ({"remediaton_mode": "auto"}, "remediaton_mode: unknown key; allowed: notification_emails, "),
        ({"monitor": {"scope": "all", "vpn_ids": []}}, "monitor.vpn_ids: unknown key"),
        ({"notification_emails": "ops@example.com"}, "notification_emails: expected a list, got 'ops@example.com'"),
        ({"notification_emails": ["not-an-email"]}, "notification_emails.0: not valid (expected something like"),
        ({"monitor": {"scope": "list"}}, "monitor: scope 'list' needs at least one VPN connection id"),
        ({"monitor": {"scope": "tags"}}, "monitor.scope: Input should be 'all', 'tag' or 'list', got 'tags'"),
        ({"monitor": "all"}, "monitor: expected an object, got 'all'"),
        (
            {"monitor": {"scope": "all", "vpn_connection_ids": ["vpn-0a1b2c3d"]}},
            "monitor: vpn_connection_ids is only used",
        ),
        (
            {"tunnels": [{"vpn_connection_id": "vpn-0a1b2c3d", "outside_ip": "300.1.1.1"}]},
            "tunnels.0.outside_ip: not the tunnel's IPv4 outside address, got '300.1.1.1'",
        ),
        (
            {"tunnels": [{"vpn_connection_id": "vpn-xyz", "outside_ip": "203.0.113.5"}]},
            "tunnels.0.vpn_connection_id: not valid (expected something like 'vpn-0123abcd'), got 'vpn-xyz'",
        ),
        ({"tunnels": [{"vpn": "vpn-0a1b2c3d"}]}, "tunnels.0.vpn_connection_id: Field required"),
        ({"tunnels": [{"vpn_connection_id": "vpn-0a1b2c3d", "outside_ip": "203.0.113.5"}] * 2}, "tunnels: an entry"),
        ({"poll_interval_minutes": 0}, "poll_interval_minutes: Input should be greater than or equal to 1, got 0"),
        ({"poll_interval_minutes": "5"}, "poll_interval_minutes: must be a whole number, got '5'"),
        ({"flap_transitions": True}, "flap_transitions: must be a whole number, got True"),
        ({"network_manager_events": "yes"}, "network_manager_events: must be true or false, got 'yes'"),
        ({"log_retention_days": 31}, "log_retention_days: not a CloudWatch Logs retention; use one of 1, 3, 5"),
        ({"tunnel_log_groups": ["/a", "/a"]}, "tunnel_log_groups: an entry is listed twice, got ['/a', '/a']"),
        ({"slack_secret_name": "has space"}, "slack_secret_name: not valid (expected something like"),
        ({"remediation_dpd_action": "clear"}, "remediation_dpd_action: Input should be 'restart' or 'none', got"),
        ({"post_check_delay_seconds": 10}, "post_check_delay_seconds: Input should be greater than or equal to 60"),
        ({"powertools_layer_version": 0}, "powertools_layer_version: Input should be greater than or equal to 1"),
        ({"teams_secret_name": "has space"}, "teams_secret_name: not valid (expected something like"),
        (
            {"routing": {"owners": {"network-emea": {"channels": ["sns", "pager"]}}}},
            "routing.owners.network-emea: 'pager' is not a channel; use one of sns, slack, teams, pagerduty",
        ),
        (
            {"routing": {"owners": {"network-emea": {"min_severity": {"slack": "urgent"}}}}},
            "routing.owners.network-emea.min_severity.slack: Input should be 'info', 'warning' or 'critical'",
        ),
        ({"routing": {"owner": {}}}, "routing.owner: unknown key"),
        (
            {"routing": {"owners": {"network-emea": {"secrets": {"teams": "vpn-doctor/teams-emea"}}}}},
            "routing: names teams, which this deployment does not configure (configured: sns), got {",
        ),
        (
            {"slack_secret_name": "vpn-doctor/slack", "routing": {"default": {"channels": ["sns", "pagerduty"]}}},
            "routing: names pagerduty, which this deployment does not configure (configured: slack, sns), got {",
        ),
        ({"max_clock_skew_seconds": -1}, "max_clock_skew_seconds: Input should be greater than or equal to 0"),
        ({"max_clock_skew_seconds": 86_401}, "max_clock_skew_seconds: Input should be less than or equal to 86400"),
    ],
)
def test_a_bad_value_is_rejected_with_a_message_naming_key_and_value(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value).startswith(f"{CONTEXT_KEY}.{message}")


@pytest.mark.parametrize(
    ("raw", "message"), [("{not json", "context value is not valid JSON"), (["auto"], "expected an object, got list")]
)
def test_a_context_value_that_is_no_object_is_rejected(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value).startswith(f"{CONTEXT_KEY}: {message}")


def test_the_old_silence_minutes_key_names_its_new_name_and_the_traffic_window_defaults_to_30() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"silence_minutes": 15})
    assert "silence_minutes was renamed no_traffic_minutes" in str(error.value)
    assert parse_config({}).no_traffic_minutes == 30
    assert parse_config({"no_traffic_minutes": 0}).no_traffic_minutes == 0


def test_routes_lost_thresholds_default_to_the_rule_s_own_and_bad_values_name_their_key() -> None:
    config = parse_config({})
    assert (config.routes_lost_hold_seconds, config.routes_lost_drop_percent, config.routes_relearn_hours) == (
        300,
        50,
        6,
    )
    for key, value in (("routes_lost_drop_percent", 0), ("routes_lost_drop_percent", 101), ("routes_relearn_hours", 0)):
        with pytest.raises(ConfigError, match=key):
            parse_config({key: value})


def test_a_gateway_map_names_connections_or_tunnels_and_a_wrong_target_is_a_clear_error() -> None:
    mapping = {"/cgw/paris": "vpn-0a1b2c3d4e5f60718", "fw-lyon": "vpn-0a1b2c3d4e5f60718/198.51.100.10"}
    assert parse_config({"gateway_map": mapping}).gateway_map == mapping
    with pytest.raises(ConfigError, match="fw-lyon"):
        parse_config({"gateway_map": {"fw-lyon": "branch-lyon"}})


def test_applying_pending_replacements_needs_remediation_and_a_valid_window() -> None:
    with pytest.raises(ConfigError, match="remediation_mode"):
        parse_config({"apply_pending_maintenance_window": "sat 02:00-05:00", "remediation_mode": "off"})
    with pytest.raises(ConfigError, match="sat,sun 02:00-05:00"):
        parse_config({"apply_pending_maintenance_window": "saturday night"})
    config = parse_config({"apply_pending_maintenance_window": "sat 02:00-05:00", "certificate_warn_days": []})
    assert (config.replacement_check_hours, config.certificate_warn_days) == (6, ())


def test_maintenance_windows_select_by_id_tag_or_star_and_a_bad_one_stops_the_synth_naming_it() -> None:
    windows = {"*": "SUN 02:00-04:00 UTC", "site=paris": ["sat 23:00-01:00"], "vpn-0a1b2c3d4e5f60718": "03:00-04:00"}
    assert parse_config({"maintenance_windows": windows}).maintenance_windows == windows
    for bad, message in (
        ({"paris": "SUN 02:00-04:00"}, "maintenance_windows: 'paris': not a VPN connection id (vpn-...), a tag"),
        ({"*": "sundays at 2"}, "maintenance_windows: *: maintenance window 'sundays at 2' is not like"),
        ({"site=paris": ["sat 23:00-01:00", "sun 25:00-26:00"]}, "site=paris: maintenance window 'sun 25:00-26:00'"),
        ({"*": []}, "maintenance_windows: *: expected a window like 'SUN 02:00-04:00 UTC' or a list of them"),
        ({f"site=s{n}": "sun 02:00-04:00" for n in range(60)}, "maintenance_windows: is over 1024 characters"),
    ):
        with pytest.raises(ConfigError) as error:
            parse_config({"maintenance_windows": bad})
        assert message in str(error.value), str(error.value)
