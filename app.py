#!/usr/bin/env python3
"""CDK entry point: ``cdk deploy`` reads the ``vpn-doctor`` context of cdk.json and deploys the stacks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import CONTEXT_KEY, ConfigError, VpnDoctorConfig, parse_config
from stacks.estate import AssetsBucketStack, SpokeStackSet, assets_bucket_name, spoke_regions
from stacks.state import NETWORK_MANAGER_HOME_REGION
from stacks.vpn_doctor_stack import NetworkManagerForwarderStack, Part, VpnDoctorStack

# The StackSet's spoke: synthesized in its own stage (``cdk deploy`` never deploys it), and the stack in it.
SPOKE_STAGE = "Spokes"
SPOKE_STACK = "VpnDoctorSpoke"


def forwarder_stack_name(main_region: str) -> str:
    """The Network Manager forwarder stack (in us-west-2) of the vpn-doctor stack in ``main_region``."""
    return f"VpnDoctorNetworkManager-{main_region}"


def build_app(app: cdk.App, *, account: str | None = None, region: str | None = None) -> cdk.App:
    """Add the vpn-doctor stacks (and cdk-nag's AwsSolutions checks) to ``app``; used by tests too.

    Account and region default to the ones the CDK CLI resolved from the caller's credentials; without them
    the main stack is environment-agnostic (fine for synth, and for deploy of everything but the
    Network Manager forwarder, which needs to know the main region).
    """
    config = parse_config(app.node.try_get_context(CONTEXT_KEY))
    account = account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = region or os.environ.get("CDK_DEFAULT_REGION")
    part: Part = "hub" if config.deployment == "estate" else config.deployment
    if config.deployment == "estate":
        account, region = _hub_environment(config, account, region)
    main = VpnDoctorStack(
        app,
        "VpnDoctor",
        config=config,
        part=part,
        env=cdk.Environment(account=account, region=region),
        description=_DESCRIPTIONS[part],
    )
    if config.deployment == "estate":
        add_spoke_stack_set(app, main, config)
    if main.forwards_network_manager:
        # One forwarder stack per main region: all of them live in us-west-2, so a fixed name would let a second
        # region's deployment take over (and re-target) the first one's forwarder.
        forwarder = NetworkManagerForwarderStack(
            app,
            forwarder_stack_name(main.region),
            target_region=main.region,
            env=cdk.Environment(account=account, region=NETWORK_MANAGER_HOME_REGION),
            description="vpn-doctor: forwards Network Manager VPN events from us-west-2",
        )
        forwarder.add_stack_dependency(main)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


_DESCRIPTIONS = {
    "single": "vpn-doctor: watches Site-to-Site VPN tunnels, explains failures, fixes what is safe, alerts",
    "hub": "vpn-doctor hub: the estate's alerts, channels, silences and history; watches this account's tunnels",
    "spoke": "vpn-doctor spoke: watches this account's VPN tunnels, fixes what is safe, forwards to the hub",
}


def _hub_environment(config: VpnDoctorConfig, account: str | None, region: str | None) -> tuple[str, str]:
    """With ``deployment: estate`` the hub stack is in the configured hub account and region (the StackSet's
    template URL and the spokes name them), whatever credentials synthesize it."""
    hub_account, hub_region = config.hub_and_spokes.hub()
    if account and account != hub_account:
        raise ConfigError(
            f"vpn-doctor.estate.hub_account_id: {hub_account}, but the credentials are account {account}; "
            "deploy the hub with the hub account's credentials"
        )
    return hub_account, hub_region


def spoke_template_key(template_path: str) -> str:
    """The spoke template's key in the hub region's assets bucket: named by its content (the key CDK's asset
    manifest gives it, ``<sha256>.json``), so a changed template is a new URL and CloudFormation updates the
    StackSet; ``vpn-doctor publish-assets`` uploads it with the code."""
    return f"{hashlib.sha256(Path(template_path).read_bytes()).hexdigest()}.json"


def add_spoke_stack_set(app: cdk.App, hub: VpnDoctorStack, config: VpnDoctorConfig) -> None:
    """The spoke template (its own stage, no CDK bootstrap in the member accounts: no bootstrap version rule, code
    and layers in the per-region assets bucket), the assets buckets, and the StackSet in the hub stack."""
    estate = config.hub_and_spokes
    hub_account, _ = estate.hub()
    for bucket_region in spoke_regions(estate):
        AssetsBucketStack(
            app,
            f"VpnDoctorAssets-{bucket_region}",
            estate=estate,
            region=bucket_region,
            env=cdk.Environment(account=hub_account, region=bucket_region),
            description="vpn-doctor: the spoke template's code for this region, readable by the organization",
        )
    stage = cdk.Stage(app, SPOKE_STAGE)
    spoke = VpnDoctorStack(
        stage,
        SPOKE_STACK,
        config=config,
        part="spoke",
        description=_DESCRIPTIONS["spoke"],
        # Environment-agnostic, no bootstrap: the template names its code by region (${AWS::Region} in the bucket).
        synthesizer=cdk.DefaultStackSynthesizer(
            file_assets_bucket_name=assets_bucket_name(estate, "${AWS::Region}"),
            bucket_prefix="",
            generate_bootstrap_version_rule=False,
        ),
    )
    assembly = stage.synth()
    template = assembly.get_stack_artifact(spoke.artifact_id).template_full_path
    SpokeStackSet(hub, "Spokes", estate=estate, template_key=spoke_template_key(template))


if __name__ == "__main__":
    build_app(cdk.App()).synth()
