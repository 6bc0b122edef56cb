"""The batched traffic reader: ``AWS/VPN`` TunnelDataIn/TunnelDataOut of many tunnels per GetMetricData call.

moto answers GetMetricData from what was put; batching and paging, which moto does not model, go
through botocore's Stubber, which checks every request against the real API model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tests.conftest import fake_aws_environment, mocked_aws
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.metrics import MAX_QUERIES, TunnelMetrics

VPN = "vpn-0a1b2c3d4e5f60718"
T1, T2, T3 = "198.51.100.10", "203.0.113.20", "203.0.113.30"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mocked_aws():
        yield boto3.client("cloudwatch")


def _put(cloudwatch: Any, tunnel_ip: str, name: str, values: dict[int, float]) -> None:
    dimensions = [{"Name": "VpnId", "Value": VPN}, {"Name": "TunnelIpAddress", "Value": tunnel_ip}]
    cloudwatch.put_metric_data(
        Namespace="AWS/VPN",
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Timestamp": NOW - timedelta(minutes=ago), "Value": value}
            for ago, value in values.items()
        ],
    )


def test_one_read_returns_every_tunnels_bytes_oldest_first_and_tells_no_data_from_zero_bytes(cloudwatch: Any) -> None:
    _put(cloudwatch, T1, "TunnelDataIn", {8: 100.0, 3: 50.0})
    _put(cloudwatch, T1, "TunnelDataOut", {3: 7.0})
    _put(cloudwatch, T2, "TunnelDataIn", {3: 0.0})
    _put(cloudwatch, T2, "TunnelDataOut", {3: 0.0})
    traffic = TunnelMetrics().traffic([(VPN, T1), (VPN, T2), (VPN, T3)], start=NOW - timedelta(minutes=10), end=NOW)
    busy, quiet, unknown = traffic[(VPN, T1)], traffic[(VPN, T2)], traffic[(VPN, T3)]
    assert busy.bytes_in == (100.0, 50.0)
    assert busy.bytes_out == (7.0,)
    assert not busy.idle
    assert quiet.has_datapoints
    assert quiet.idle  # zero bytes: datapoints that say nothing crossed
    assert not unknown.has_datapoints  # no datapoint: CloudWatch knows nothing, which is not idle
    assert not unknown.idle


def _stubbed() -> tuple[TunnelMetrics, Stubber]:
    client = boto3.client("cloudwatch", region_name="us-east-1")
    return TunnelMetrics(client), Stubber(client)


def _request(token: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "MetricDataQueries": ANY,
        "StartTime": NOW - timedelta(minutes=15),
        "EndTime": NOW,
        "ScanBy": "TimestampAscending",
    }
    return request | ({"NextToken": token} if token else {})


def test_tunnels_are_read_in_batches_of_the_apis_500_queries_and_every_page_is_read() -> None:
    tunnels = [(VPN, f"10.0.{index // 250}.{index % 250}") for index in range(300)]
    reader, stubber = _stubbed()
    seen: list[int] = []

    def answer(ids: list[str], value: float) -> list[dict[str, Any]]:
        return [{"Id": query_id, "Timestamps": [NOW], "Values": [value], "StatusCode": "Complete"} for query_id in ids]

    first = [f"{prefix}{index}" for index in range(250) for prefix in ("i", "o")]
    second = [f"{prefix}{index}" for index in range(250, 300) for prefix in ("i", "o")]
    stubber.add_response(
        "get_metric_data", {"MetricDataResults": answer(first[:10], 1.0), "NextToken": "p2"}, _request()
    )
    stubber.add_response("get_metric_data", {"MetricDataResults": answer(first[10:], 2.0)}, _request("p2"))
    stubber.add_response("get_metric_data", {"MetricDataResults": answer(second, 3.0)}, _request())
    client = reader.client
    client.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: seen.append(len(params["MetricDataQueries"])),
    )
    with stubber:
        traffic = reader.traffic(tunnels, start=NOW - timedelta(minutes=15), end=NOW)
    stubber.assert_no_pending_responses()
    assert seen == [MAX_QUERIES, MAX_QUERIES, 100]  # a page repeats its request with the token
    assert traffic[tunnels[0]].bytes_in == (1.0,)  # first page
    assert traffic[tunnels[10]].bytes_out == (2.0,)  # second page of the first batch
    assert traffic[tunnels[299]].bytes_in == (3.0,)  # second batch
    assert len(traffic) == 300


def test_a_refusal_is_translated_with_its_code() -> None:
    reader, stubber = _stubbed()
    stubber.add_client_error("get_metric_data", "AccessDenied", "not allowed")
    with stubber, pytest.raises(AwsCallFailed) as failure:
        reader.traffic([(VPN, T1)], start=NOW - timedelta(minutes=15), end=NOW)
    assert (failure.value.operation, failure.value.code) == ("GetMetricData", "AccessDenied")
