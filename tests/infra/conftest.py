"""Synthesize each deploy configuration once per session; every infra test reads the same cloud assemblies."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii's Node.js version banner would bury the test output; Node 20 works for synth.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import aws_cdk as cdk
from aws_cdk.assertions import Template

from app import build_app
from stacks.config import CONTEXT_KEY

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
VPN_ID = "vpn-0a1b2c3d4e5f60718"
TUNNELS = [
    {"vpn_connection_id": VPN_ID, "outside_ip": "203.0.113.5"},
    {"vpn_connection_id": VPN_ID, "outside_ip": "203.0.113.6"},
]
# Everything switched on: existing log groups, listed tunnels, emails, Slack, Teams, PagerDuty, Opsgenie (EU) with
# routing by owner, Network Manager, auto remediation.
FULL_CONFIG: dict[str, Any] = {
    "notification_emails": ["netops@example.com", "oncall@example.com"],
    "slack_secret_name": "vpn-doctor/slack-webhook",
    "teams_secret_name": "vpn-doctor/teams-webhook",
    "pagerduty_secret_name": "vpn-doctor/pagerduty-routing-key",
    "opsgenie_secret_name": "vpn-doctor/opsgenie-api-key",
    "opsgenie_region": "eu",
    "routing": {
        "default": {"channels": ["sns", "slack"]},
        "owners": {
            "network-emea": {
                "channels": ["sns", "teams", "pagerduty"],
                "min_severity": {"pagerduty": "critical"},
                # The team's own Teams webhook and PagerDuty service (per-owner secrets).
                "secrets": {"teams": "vpn-doctor/teams-emea", "pagerduty": "vpn-doctor/pagerduty-emea"},
            }
        },
    },
    "remediation_mode": "auto",
    "monitor": {"scope": "list", "vpn_connection_ids": [VPN_ID]},
    "tunnel_log_groups": ["/aws/vpn/tunnels", "/cgw/strongswan"],
    "tunnels": TUNNELS,
    "poll_interval_minutes": 5,
    "network_manager_events": True,
    "chatbot_format": True,
    "remediation_daily_budget": 2,
    "remediation_dpd_action": "none",
    "post_check_delay_seconds": 600,
    "max_clock_skew_seconds": 120,
    "apply_pending_maintenance_window": "sat,sun 02:00-05:00",
    # Recurring maintenance windows from the config (respond's settings read them: test_settings_contract).
    "maintenance_windows": {"*": "SUN 02:00-04:00 UTC", "site=paris": ["sat 23:00-01:00", "wed 12:00-13:00"]},
}


@dataclass(frozen=True)
class Synth:
    """One synthesized app: its stacks' templates (as assertions Templates and raw dicts) and the report."""

    directory: Path
    templates: Mapping[str, dict[str, Any]]
    validation_report: dict[str, Any]
    config_name: str

    def template(self, stack: str = "VpnDoctor") -> Template:
        """The aws_cdk.assertions view of one stack's template."""
        return Template.from_json(self.templates[stack])

    def resources(self, resource_type: str, stack: str = "VpnDoctor") -> dict[str, dict[str, Any]]:
        """Logical id -> resource of one CloudFormation type."""
        resources = self.templates[stack]["Resources"]
        return {key: value for key, value in resources.items() if value["Type"] == resource_type}


def feature_flags() -> dict[str, Any]:
    """cdk.json's context minus the ``vpn-doctor`` block: the feature flags ``cdk deploy`` synthesizes with."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return {key: value for key, value in context.items() if key != CONTEXT_KEY}


def deploy_app(config: Mapping[str, Any] | None = None, *, outdir: Path | None = None) -> cdk.App:
    """An App with the context ``cdk deploy`` gives it (cdk.json's feature flags), without asset bundling.

    ``config`` is the ``vpn-doctor`` context; None leaves it out, i.e. the defaults (which the shipped cdk.json
    holds, see test_config).
    """
    context: dict[str, Any] = {**feature_flags(), "aws:cdk:bundling-stacks": []}
    if config is not None:
        context[CONTEXT_KEY] = dict(config)
    return cdk.App(outdir=None if outdir is None else str(outdir), context=context)


def synthesize(
    outdir: Path, config: Mapping[str, Any] | None, *, region: str | None = REGION, name: str = "custom"
) -> Synth:
    """Synthesize the app like ``cdk synth`` does (cdk.json's feature flags, cdk-nag), skipping asset bundling."""
    app = deploy_app(config, outdir=outdir)
    build_app(app, account=ACCOUNT if region else None, region=region)
    assembly = app.synth()  # raises if cdk-nag reports an unacknowledged finding
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    report = json.loads((outdir / "validation-report.json").read_text(encoding="utf-8"))
    return Synth(Path(assembly.directory), templates, report, name)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """cdk.json as shipped: dry-run, a created tunnel log group, no tunnels listed, no environment."""
    return synthesize(tmp_path_factory.mktemp("default"), None, region=None, name="default")


@pytest.fixture(scope="session")
def full_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Every option on, in eu-west-1 (so the Network Manager forwarder stack exists)."""
    return synthesize(tmp_path_factory.mktemp("full"), FULL_CONFIG, name="full")


@pytest.fixture(scope="session")
def off_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Remediation mode off."""
    return synthesize(tmp_path_factory.mktemp("off"), {"remediation_mode": "off"}, name="off")


@pytest.fixture(scope="session")
def all_synths(default_synth: Synth, full_synth: Synth, off_synth: Synth) -> tuple[Synth, ...]:
    """The three configurations, for checks that must hold whatever the configuration."""
    return (default_synth, full_synth, off_synth)


# --- hub and spokes (docs/estate.md): one synth each, shared by every test file --------------------------------

ORGANIZATION = "o-a1b2c3d4e5"
HUB_ACCOUNT = ACCOUNT
SPOKE_REGIONS = ["eu-west-1", "us-east-1"]
# The hub (with a StackSet of spokes) in the rehearsal's account and region, alerting by e-mail and Slack.
ESTATE_CONFIG: dict[str, Any] = {
    "deployment": "estate",
    "notification_emails": ["netops@example.com"],
    "slack_secret_name": "vpn-doctor/slack-webhook",
    "remediation_mode": "auto",
    "estate": {
        "organization_id": ORGANIZATION,
        "hub_account_id": HUB_ACCOUNT,
        "hub_region": REGION,
        "organizational_unit_ids": ["ou-ab12-cd34ef56"],
        "regions": SPOKE_REGIONS,
    },
}
# One spoke deployed with `cdk deploy` in a member account (the rehearsal's), forwarding to a hub in us-east-1.
SPOKE_HUB = {"hub_account_id": "999988887777", "hub_region": "us-east-1"}
SPOKE_CONFIG: dict[str, Any] = {"deployment": "spoke", "remediation_mode": "auto", "estate": SPOKE_HUB}
# The StackSet's spoke template, synthesized in its own stage (app.SPOKE_STAGE), as a key of Synth.templates.
STACK_SET_SPOKE = "Spokes/VpnDoctorSpoke"


@pytest.fixture(scope="session")
def estate_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """``deployment: estate``: the hub stack with the StackSet, the assets buckets, and the spoke template."""
    from dataclasses import replace  # noqa: PLC0415

    synth = synthesize(tmp_path_factory.mktemp("estate"), ESTATE_CONFIG, name="estate")
    nested = sorted((synth.directory / "assembly-Spokes").glob("*.template.json"))
    assert len(nested) == 1, nested
    spoke = json.loads(nested[0].read_text(encoding="utf-8"))
    return replace(synth, templates={**synth.templates, STACK_SET_SPOKE: spoke})


@pytest.fixture(scope="session")
def spoke_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """``deployment: spoke``: one spoke deployed with ``cdk deploy`` in a (bootstrapped) member account."""
    return synthesize(tmp_path_factory.mktemp("spoke"), SPOKE_CONFIG, name="spoke")
