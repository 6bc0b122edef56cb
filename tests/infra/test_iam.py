"""Least privilege across every configuration: no wildcard write actions, '*' resources only for reads."""

from __future__ import annotations

from typing import Any

from tests.infra.cfn import all_statements, as_list
from tests.infra.conftest import Synth
from tests.infra.iam.requests import TUNNEL_LOGGING_ACTIONS, arn_formats

READ_VERBS = ("Describe", "Get", "List", "BatchGet", "Query", "Scan", "FilterLogEvents")
# Actions without resource-level permissions that we need: X-Ray tracing and metric reads.
TELEMETRY_ON_ANY_RESOURCE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:GetMetricData"}
# Writes AWS authorises on '*' only (enabling tunnel logging's log delivery): granted nowhere else.
WRITES_WITHOUT_RESOURCE_TYPES = set(TUNNEL_LOGGING_ACTIONS)


def test_the_writes_granted_on_any_resource_have_no_resource_type_in_the_service_authorization_reference() -> None:
    assert {action: arn_formats(action) for action in WRITES_WITHOUT_RESOURCE_TYPES} == dict.fromkeys(
        WRITES_WITHOUT_RESOURCE_TYPES, ()
    )


def is_read(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_VERBS)


def allow_statements(synths: tuple[Synth, ...]) -> list[dict[str, Any]]:
    return [
        statement for synth in synths for template in synth.templates.values()
        for statement in all_statements(template) if statement["Effect"] == "Allow"
    ]  # fmt: skip


def test_no_wildcard_write_action_anywhere(all_synths: tuple[Synth, ...]) -> None:
    wildcards = {
        action for statement in allow_statements(all_synths) for action in as_list(statement["Action"])
        if "*" in action
    }  # fmt: skip
    # GenerateDataKey* is CDK's topic-publish grant, limited to the topic's own key (checked below).
    assert {action for action in wildcards if not is_read(action)} == {"kms:GenerateDataKey*"}


def test_kms_data_key_grants_name_the_topic_key(all_synths: tuple[Synth, ...]) -> None:
    for statement in allow_statements(all_synths):
        if "kms:GenerateDataKey*" in as_list(statement["Action"]):
            assert statement["Resource"] != "*"
            assert "Fn::GetAtt" in statement["Resource"]


def test_any_resource_is_only_granted_for_reads_and_telemetry(all_synths: tuple[Synth, ...]) -> None:
    for statement in allow_statements(all_synths):
        if "*" in as_list(statement["Resource"]):
            for action in as_list(statement["Action"]):
                assert (
                    is_read(action) or action in TELEMETRY_ON_ANY_RESOURCE or action in WRITES_WITHOUT_RESOURCE_TYPES
                ), statement


def test_the_only_ec2_write_is_tag_conditioned_tunnel_modification(all_synths: tuple[Synth, ...]) -> None:
    # Conditioned on the remediation tag (respond) or the on-boarding tag (onboard).
    ec2_writes = [
        (action, statement) for statement in allow_statements(all_synths) for action in as_list(statement["Action"])
        if action.startswith("ec2:") and not is_read(action)
    ]  # fmt: skip
    # ReplaceVpnTunnel: remediation's apply_pending_maintenance, in the deployments that opt in.
    assert {action for action, _ in ec2_writes} == {"ec2:ModifyVpnTunnelOptions", "ec2:ReplaceVpnTunnel"}
    for _, statement in ec2_writes:
        keys = {key for keys in statement["Condition"].values() for key in keys}
        assert keys & {"aws:ResourceTag/vpn-doctor:remediate", "aws:ResourceTag/vpn-doctor:logging"}


def test_every_write_names_its_resources(all_synths: tuple[Synth, ...]) -> None:
    for statement in allow_statements(all_synths):
        writes = [
            a
            for a in as_list(statement["Action"])
            if not is_read(a) and a not in TELEMETRY_ON_ANY_RESOURCE | WRITES_WITHOUT_RESOURCE_TYPES
        ]
        if writes:
            assert "*" not in as_list(statement["Resource"]), statement
