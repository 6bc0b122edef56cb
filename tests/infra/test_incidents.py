"""Incidents: the incident store, and respond on the bus with read-only access to diagnose a tunnel."""

from __future__ import annotations

import pytest

from tests.infra.cfn import actions_of, as_list, function, function_statements, resources
from tests.infra.conftest import FULL_CONFIG, Synth
from vpn_doctor.constants import (
    DETAIL_TYPE_INCIDENT,
    ENV_INCIDENTS_TABLE,
    ENV_MAINTENANCE_WINDOWS,
    ENV_REMEDIATION_MODE,
    ENV_TUNNEL_LOG_GROUP_ARN,
    EVENT_SOURCE,
    TUNNEL_LOG_GROUP_NAME,
)
from vpn_doctor.silences import parse_windows, parse_windows_json

TABLE_SHAPE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    "SSESpecification": {"SSEEnabled": True},
}


def test_tables_have_string_keys_ttl_point_in_time_recovery_and_encryption(full_synth: Synth) -> None:
    tables = resources(full_synth.templates["VpnDoctor"], "AWS::DynamoDB::Table")
    assert len(tables) == 2  # incidents + remediation
    for table in tables.values():
        assert {key: table["Properties"].get(key) for key in TABLE_SHAPE} == TABLE_SHAPE
        assert table["DeletionPolicy"] == "Retain"


def test_respond_is_called_for_every_incident_on_the_vpn_doctor_bus(default_synth: Synth) -> None:
    template = default_synth.templates["VpnDoctor"]
    respond_id, _ = function(template, "respond")
    (bus_id,) = resources(template, "AWS::Events::EventBus")
    rules = [
        rule["Properties"] for rule in resources(template, "AWS::Events::Rule").values()
        if rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [respond_id, "Arn"]}
    ]  # fmt: skip
    assert rules == [
        {
            **rules[0],
            "EventBusName": {"Ref": bus_id},
            "EventPattern": {"detail-type": [DETAIL_TYPE_INCIDENT], "source": [EVENT_SOURCE]},
        }
    ]


def test_respond_knows_the_mode_the_tunnel_activity_log_group_and_the_table_of_silences(full_synth: Synth) -> None:
    _, props = function(full_synth.templates["VpnDoctor"], "respond")
    variables = props["Environment"]["Variables"]
    assert variables[ENV_REMEDIATION_MODE] == "auto"
    assert ENV_INCIDENTS_TABLE in variables  # the silences that hold alerts (vpn_doctor.silences)
    # One ARN (the first configured group): where remediation enables tunnel logging to.
    assert variables[ENV_TUNNEL_LOG_GROUP_ARN]["Fn::Join"][1][-1] == ":log-group:/aws/vpn/tunnels"


@pytest.mark.parametrize("module", ["state", "poller", "ingest"])
def test_look_back_reads_logs_only_from_the_tunnel_log_groups(full_synth: Synth, module: str) -> None:
    statements = function_statements(full_synth.templates["VpnDoctor"], module)
    (logs_read,) = [s for s in statements if "logs:FilterLogEvents" in as_list(s["Action"])]
    assert logs_read["Action"] == "logs:FilterLogEvents"
    resources_ = ["".join(p for p in r["Fn::Join"][1] if isinstance(p, str)) for r in logs_read["Resource"]]
    assert [r.split(":log-group:")[1] for r in resources_] == [
        "/aws/vpn/tunnels", "/aws/vpn/tunnels:*", "/cgw/strongswan", "/cgw/strongswan:*",
    ]  # fmt: skip


def test_without_configured_groups_the_look_back_reads_the_created_group(default_synth: Synth) -> None:
    _, props = function(default_synth.templates["VpnDoctor"], "state")
    arn = props["Environment"]["Variables"][ENV_TUNNEL_LOG_GROUP_ARN]["Fn::Join"][1][-1]
    assert arn == f":log-group:{TUNNEL_LOG_GROUP_NAME}"


def test_respond_can_describe_vpns_read_metrics_and_query_silences_but_not_modify_when_off(off_synth: Synth) -> None:
    actions = actions_of(function_statements(off_synth.templates["VpnDoctor"], "respond"))
    # Reads only: connections, metrics, and AWS's sample configuration for the gateway's device (quoted in alerts).
    samples = {"ec2:GetVpnConnectionDeviceTypes", "ec2:GetVpnConnectionDeviceSampleConfiguration"}
    assert {"ec2:DescribeVpnConnections", "cloudwatch:GetMetricData", *samples} <= actions
    assert not [a for a in actions if a.startswith("logs:FilterLogEvents")]
    assert {a for a in actions if a.startswith("dynamodb:")} == {"dynamodb:Query"}  # the silences, read only
    assert not [a for a in actions if a.startswith("ec2:") and not a.startswith("ec2:Describe") and a not in samples]


def test_configured_maintenance_windows_reach_respond_as_the_json_it_parses(
    full_synth: Synth, default_synth: Synth
) -> None:
    _, props = function(full_synth.templates["VpnDoctor"], "respond")
    text = props["Environment"]["Variables"][ENV_MAINTENANCE_WINDOWS]
    assert parse_windows_json(text) == parse_windows(FULL_CONFIG["maintenance_windows"])
    _, props = function(default_synth.templates["VpnDoctor"], "respond")
    assert ENV_MAINTENANCE_WINDOWS not in props["Environment"]["Variables"]  # none configured: none set
