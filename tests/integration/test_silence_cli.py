"""``vpn-doctor silence add|list|lift`` against moto: the caller named by STS, a customer gateway found by its IP,
the silences written and read by the real store, the lift audited."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import fake_aws_environment, mocked_aws
from vpn_doctor.aws.silence_store import DynamoDbSilenceStore
from vpn_doctor.silences import Scope, hold_for
from vpn_doctor.vpn import VpnConnectionInfo
from vpn_doctor_tools.cli.history import StoreLocation
from vpn_doctor_tools.cli.silence import run_silence

TABLE = "vpn-doctor-incidents"
NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
VPN = "vpn-0a1b2c3d4e5f60718"


def clients(service: str) -> Any:
    return boto3.client(service)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mocked_aws(TABLE) as dynamodb:
        yield dynamodb


def silence(action: str, *, now: datetime = NOW, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_silence(StoreLocation(table=TABLE), action, out=out, err=err, now=now, client_factory=clients, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_add_stores_a_silence_with_its_audit_and_list_shows_it_until_it_expires(table: Any) -> None:
    caller = boto3.client("sts").get_caller_identity()["Arn"]
    code, out, _ = silence("add", vpn_id=VPN, duration="2h", reason="firewall upgrade", json_output=True)
    assert code == 0
    [added] = json.loads(out)
    assert added["scope"] == "vpn"
    assert added["created_by"] == caller
    assert added["ends_at"] == "2026-12-06T03:00:00Z"
    assert added["reason"] == "firewall upgrade"
    _, listed, _ = silence("list")
    assert f"{added['silence_id']}  active  vpn {VPN}" in listed
    assert f"by {caller}: firewall upgrade" in listed
    _, later, _ = silence("list", now=NOW + timedelta(hours=2))
    assert later == "No silences.\n"
    _, everything, _ = silence("list", now=NOW + timedelta(hours=2), show_all=True)
    assert f"{added['silence_id']}  ended" in everything


def test_a_silence_by_customer_gateway_ip_covers_the_gateways_with_that_ip(table: Any) -> None:
    ec2 = boto3.client("ec2")
    gateway = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="192.0.2.44", BgpAsn=65000)["CustomerGateway"]
    code, out, _ = silence("add", cgw="192.0.2.44", duration="90m", reason="ISP work", json_output=True)
    assert code == 0
    assert json.loads(out)[0]["customer_gateway_ids"] == [gateway["CustomerGatewayId"]]
    stored = DynamoDbSilenceStore(TABLE).silences(ended_after=NOW)
    connection = VpnConnectionInfo(VPN, "available", (), customer_gateway_id=gateway["CustomerGatewayId"])
    assert hold_for(VPN, connection, stored, now=NOW) is not None
    code, _, err = silence("add", cgw="192.0.2.45", duration="90m", reason="ISP work")
    assert code == 2
    assert "no customer gateway has the IP 192.0.2.45" in err


def test_lift_ends_a_silence_now_and_records_who_lifted_it(table: Any) -> None:
    _, out, _ = silence("add", tag="site=paris", duration="1d", reason="move", json_output=True)
    silence_id = json.loads(out)[0]["silence_id"]
    code, lifted, _ = silence("lift", silence_id=silence_id, now=NOW + timedelta(minutes=10), json_output=True)
    assert code == 0
    [record] = json.loads(lifted)
    assert record["lifted_at"] == "2026-12-06T01:10:00Z"
    assert record["lifted_by"] == boto3.client("sts").get_caller_identity()["Arn"]
    assert record["active"] is False
    [stored] = DynamoDbSilenceStore(TABLE).silences()
    assert stored.scope is Scope.TAG
    assert not stored.active(NOW + timedelta(minutes=10))
    code, _, err = silence("lift", silence_id=silence_id, now=NOW + timedelta(minutes=20))
    assert code == 2
    assert "is not active" in err


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"vpn_id": VPN, "tag": "a=b", "duration": "1h", "reason": "x"}, "exactly one of"),
        ({"duration": "1h", "reason": "x"}, "exactly one of"),
        ({"vpn_id": VPN, "duration": "forever", "reason": "x"}, "not like 2h"),
        ({"vpn_id": VPN, "duration": "1h", "reason": ""}, "needs a reason"),
    ],
)
def test_a_bad_add_is_refused_with_the_reason_and_stores_nothing(
    table: Any, kwargs: dict[str, str], error: str
) -> None:
    code, _, err = silence("add", **kwargs)
    assert code == 2
    assert error in err
    assert DynamoDbSilenceStore(TABLE).silences() == []


def test_lifting_an_unknown_silence_says_so(table: Any) -> None:
    code, _, err = silence("lift", silence_id="nope")
    assert code == 2
    assert "no silence 'nope'" in err
