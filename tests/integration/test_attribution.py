"""Attribution end to end (moto): the poller keeps the connection map in the incidents table, and the
ingest function attributes a customer gateway's line with it (never calling EC2): a line naming a
tunnel's outside IP opens that tunnel's incident; a line naming nothing known is counted, not applied."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers import ingest, poller
from tests.conftest import lambda_context, subscription_document
from tests.integration.test_poller import _describe
from tests.integration.test_state_handler import T1, T2, TABLE, VPN, Aws, aws, stub_ec2
from vpn_doctor.attribution import map_from_dict
from vpn_doctor.aws.connection_map import MAP_PK, MAP_SK, DynamoDbConnectionMap
from vpn_doctor.constants import METRIC_ATTRIBUTED_FINDINGS, METRIC_UNATTRIBUTED_FINDINGS
from vpn_doctor.models import IncidentTransition, load
from vpn_doctor.subscription import encode_subscription_data

__all__ = ["aws"]

NAMES_T2 = f"Dec  2 04:22:37 cgw-01 charon: 10[IKE] <cgw|3> retransmit 5 of request with message ID 0 to {T2}"
NAMES_NOTHING = "Dec  2 04:22:37 cgw-01 charon: 10[IKE] <cgw|3> giving up after 5 retransmits"


def _poll() -> dict[str, Any]:
    result: dict[str, Any] = poller.handler({"source": "aws.scheduler", "detail": {}}, lambda_context("poller"))
    return result


def _ingest(*lines: str) -> dict[str, Any]:
    document = subscription_document(list(lines), log_stream="cgw-01", log_group="/cgw/syslog")
    result: dict[str, Any] = ingest.handler(
        {"awslogs": {"data": encode_subscription_data(document)}}, lambda_context("ingest")
    )
    return result


def _stored_map(aws: Aws) -> dict[str, Any]:
    item = aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": MAP_PK}, "sk": {"S": MAP_SK}})["Item"]
    document: dict[str, Any] = json.loads(item["doc"]["S"])
    return document


def test_the_poller_keeps_the_map_and_a_gateway_line_naming_a_tunnel_ip_opens_that_tunnels_incident(
    aws: Aws, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    stub_ec2(_describe(**{T1: "UP", T2: "UP"}), poller.ports().connections)
    assert _poll()["transitions"] == []

    stored = map_from_dict(_stored_map(aws))
    [connection] = stored.connections
    assert (connection.vpn_connection_id, connection.tunnel_ips, connection.gateway_ip) == (VPN, (T1, T2), "192.0.2.1")
    assert not [secret for secret in ("PreSharedKey", "FAKEpsk") if secret in json.dumps(_stored_map(aws))]

    report = _ingest(NAMES_T2, NAMES_NOTHING)

    assert report["by_category"] == {"ike_phase1_failure": 2}
    [published] = aws.published()
    transition = load(IncidentTransition, published["detail"])
    assert (transition.kind.value, transition.incident.vpn_connection_id, transition.incident.tunnel_ip) == (
        "opened",
        VPN,
        T2,
    )
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    assert [m[METRIC_ATTRIBUTED_FINDINGS] for m in metrics if METRIC_ATTRIBUTED_FINDINGS in m] == [[1.0]]
    assert [m[METRIC_UNATTRIBUTED_FINDINGS] for m in metrics if METRIC_UNATTRIBUTED_FINDINGS in m] == [[1.0]]
    reasons = [getattr(record, "reason", None) for record in caplog.records]
    assert "the line names no tunnel IP, gateway IP or connection known to the map" in reasons


def test_a_poll_whose_connections_did_not_change_does_not_write_the_map_again(aws: Aws) -> None:
    stub_ec2(_describe(**{T1: "UP", T2: "UP"}) * 2, poller.ports().connections)
    _poll()
    assert _stored_map(aws)["connections"]
    calls: list[str] = []
    # moto keeps no write counter: watch the calls the poller's DynamoDB client makes.
    kept = poller.ports().connection_map
    assert isinstance(kept, DynamoDbConnectionMap)
    client = kept.client
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))

    _poll()

    assert not {"PutItem", "GetItem"} & set(calls), calls
