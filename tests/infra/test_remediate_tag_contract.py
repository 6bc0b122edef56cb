"""The vpn-doctor:remediate tag means the same to IAM and to the code (issue 13, defect 7).

IAM lets respond modify a connection by the tag's value (stacks/remediation.py, StringEquals: case-sensitive); the
code decides by the same tag whether to try (vpn_doctor.remediation.connection_mode). For every deployment mode and
tag value, the code runs in ``auto`` exactly where the synthesized role, as the evaluator reads it, allows the
modification: a value the code took as 'auto' while IAM refused it would fail the change and blame something else.
"""

from __future__ import annotations

import pytest

from tests.infra.conftest import ACCOUNT, REGION, VPN_ID, Synth
from tests.infra.iam.evaluator import Decision, evaluate
from tests.infra.iam.requests import Environment, call_requests
from tests.infra.iam.template import stack_templates
from vpn_doctor.constants import MONITOR_TAG, REMEDIATE_TAG, Mode
from vpn_doctor.remediation import RemediationPolicy, effective_mode
from vpn_doctor.vpn import connection_from_api

pytestmark = pytest.mark.infra

TAG_VALUES = [None, "auto", "Auto", "AUTO", " auto", "dry-run", "dry_run", "Dry-Run", "off", "Off", "yes", ""]
CHANGE = {
    "VpnConnectionId": VPN_ID,
    "VpnTunnelOutsideIpAddress": "203.0.113.5",
    "TunnelOptions": {"DPDTimeoutAction": "restart"},
}


def iam_allows(synth: Synth, tags: dict[str, str]) -> bool:
    """Whether respond's synthesized role may modify a connection with these tags."""
    (stack,) = [
        s
        for s in stack_templates(synth.directory, synth.templates, account=ACCOUNT, region=REGION)
        if s.name == "VpnDoctor"
    ]
    (role_id,) = [
        function["Properties"]["Role"]["Fn::GetAtt"][0]
        for function in stack.of_type("AWS::Lambda::Function").values()
        if function["Properties"]["Handler"] == "handlers.respond.handler"
    ]
    requests = call_requests("ec2", "ModifyVpnTunnelOptions", CHANGE, Environment(ACCOUNT, REGION), resource_tags=tags)
    ((modify, _),) = requests
    return evaluate(stack.identity_statements(role_id), modify) is Decision.ALLOW


@pytest.mark.parametrize("value", TAG_VALUES)
def test_the_code_modifies_exactly_where_iam_allows_it(
    value: str | None, default_synth: Synth, full_synth: Synth
) -> None:
    tags = {MONITOR_TAG: "true"} | ({} if value is None else {REMEDIATE_TAG: value})
    connection = connection_from_api(
        {"VpnConnectionId": VPN_ID, "State": "available", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    )
    for synth, deployed in ((default_synth, Mode.DRY_RUN), (full_synth, Mode.AUTO)):
        code_modifies = effective_mode(RemediationPolicy(mode=deployed), connection) is Mode.AUTO
        assert code_modifies == iam_allows(synth, tags), (deployed.value, value)


def test_the_one_value_that_allows_a_change_in_a_dry_run_deployment_is_exactly_auto(default_synth: Synth) -> None:
    allowed = [value for value in TAG_VALUES if value is not None and iam_allows(default_synth, {REMEDIATE_TAG: value})]
    assert allowed == ["auto"]
