#!/usr/bin/env python3
"""CDK entry point: ``cdk deploy`` reads the ``vpn-doctor`` context of cdk.json and deploys the stacks."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import CONTEXT_KEY, parse_config
from stacks.state import NETWORK_MANAGER_HOME_REGION
from stacks.vpn_doctor_stack import NetworkManagerForwarderStack, VpnDoctorStack


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
    main = VpnDoctorStack(
        app,
        "VpnDoctor",
        config=config,
        env=cdk.Environment(account=account, region=region),
        description="vpn-doctor: watches Site-to-Site VPN tunnels, explains failures, fixes what is safe, alerts",
    )
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


if __name__ == "__main__":
    build_app(cdk.App()).synth()
