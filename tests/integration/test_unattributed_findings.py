"""Gateway findings that name no tunnel (no connection id, no tunnel IP) are counted, not only logged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from handlers import ingest, wiring
from tests.conftest import OUR_EVENTS, drained, handler_aws, lambda_context, subscription_document, tapped_bus
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_INCIDENTS_TABLE, METRIC_UNATTRIBUTED_FINDINGS
from vpn_doctor.subscription import encode_subscription_data

TABLE, BUS = "vpn-doctor-incidents", "vpn-doctor"
# strongSwan on the customer gateway, logged to a stream named after the host: its connection name
# ("cgw") and this line name neither the VPN connection nor the AWS endpoint.
RETRANSMIT = "2026-11-27T00:11:02.577 09[IKE] <cgw|1> retransmit 1 of request with message ID 2"


@pytest.fixture
def bus_queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with handler_aws(monkeypatch, wiring.reset, {ENV_INCIDENTS_TABLE: TABLE, ENV_EVENT_BUS_NAME: BUS}, table=TABLE):
        yield tapped_bus(BUS, "bus-tap", OUR_EVENTS)


def test_a_gateway_failure_naming_no_tunnel_is_counted_as_unattributed(
    bus_queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    document = subscription_document([RETRANSMIT, RETRANSMIT], log_stream="cgw-01.example.net", log_group="/cgw/syslog")

    report = ingest.handler({"awslogs": {"data": encode_subscription_data(document)}}, lambda_context("ingest"))

    assert report["by_category"] == {"ike_phase1_failure": 2}
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m[METRIC_UNATTRIBUTED_FINDINGS] for m in metrics if METRIC_UNATTRIBUTED_FINDINGS in m] == [[2.0]]
    assert drained(boto3.client("sqs"), bus_queue) == [], "no incident can hold them"
