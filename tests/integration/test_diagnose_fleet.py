"""``vpn-doctor diagnose --all`` against moto: an organization's accounts (entered by assuming a role: moto
puts each assumed role's calls in its account), two regions, the emulator's VPN model; a refusing
account-region is reported and the rest still diagnosed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import fake_aws_environment, mocked_aws
from vpn_doctor_tools.cli.fleet import (
    EXIT_PARTIAL,
    EXIT_UNHEALTHY,
    SESSION_NAME,
    Refusal,
    Scope,
    _enter,
    diagnose_fleet,
    render_table,
)
from vpn_doctor_tools.cli.main import main
from vpn_doctor_tools.emulator import VpnEmulation

ROLE = "VpnDoctorRead"
REGIONS = ("eu-west-1", "us-east-1")


@pytest.fixture(scope="module")
def estate() -> Iterator[dict[str, Any]]:
    """An organization with two member accounts; account one has a connection in each region (one with a
    tunnel DOWN), account two one connection in eu-west-1; the management account none. Built once for the
    module (moto makes an EC2 model per account and region: seconds each); every test only reads it."""
    emulation = VpnEmulation()
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_aws_environment(monkeypatch, region="eu-west-1")
        # moto fills each account-region's EC2 model with thousands of public AMIs (seconds each): none needed here.
        monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        with mocked_aws(), emulation.installed():
            yield _build(emulation)


def _build(emulation: VpnEmulation) -> dict[str, Any]:
    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    members = [
        organizations.create_account(AccountName=f"net{n}", Email=f"net{n}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for n in (1, 2)
    ]
    since = datetime.now(UTC) - timedelta(hours=2)
    made: dict[tuple[str, str], list[str]] = {}
    for account, regions in ((members[0], REGIONS), (members[1], REGIONS[:1])):
        issued = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup")[
            "Credentials"
        ]
        for region in regions:
            ec2 = boto3.session.Session(
                aws_access_key_id=issued["AccessKeyId"],
                aws_secret_access_key=issued["SecretAccessKey"],
                aws_session_token=issued["SessionToken"],
                region_name=region,
            ).client("ec2")
            cgw = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="192.0.2.10", BgpAsn=65000)
            vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
            vpn = ec2.create_vpn_connection(
                Type="ipsec.1",
                CustomerGatewayId=cgw["CustomerGateway"]["CustomerGatewayId"],
                VpnGatewayId=vgw,
                TagSpecifications=[
                    {"ResourceType": "vpn-connection", "Tags": [{"Key": "Name", "Value": f"site-{region}"}]}
                ],
            )["VpnConnection"]["VpnConnectionId"]
            for index, ip in enumerate(emulation.tunnel_ips(vpn)):
                down = account == members[0] and region == "us-east-1" and index == 1
                emulation.set_tunnel_status(vpn, ip, "DOWN" if down else "UP", at=since)
            made[(account, region)] = [vpn]
    return {"members": members, "made": made, "management": "123456789012"}


def test_the_organization_is_read_account_by_account_and_region_by_region(
    estate: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["diagnose", "--all", "--organization", "--role-name", ROLE, "--external-id", "ext-1"]
    code = main([*argv, "--regions", ",".join(REGIONS), "--concurrency", "4", "--json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    rows = {(row["account"], row["region"]): row for row in document["connections"]}
    assert set(rows) == set(estate["made"])
    assert {(row["vpn_connection_id"]) for row in rows.values()} == {v[0] for v in estate["made"].values()}
    down = rows[(estate["members"][0], "us-east-1")]
    assert (down["tunnels_up"], down["tunnels_down"], down["healthy"]) == (1, 1, False)
    assert down["verdict"] != "healthy"
    assert "tunnel 2 DOWN" in down["top_cause"]
    assert down["review"]["tunnels"][1]["telemetry"]["status"] == "DOWN"  # the single diagnose's document
    assert all(row["healthy"] for key, row in rows.items() if key != (estate["members"][0], "us-east-1"))
    # Every account of the organization (the management account with the caller's own credentials), both regions.
    read = {(item["account"], item["region"]) for item in document["accounts_regions_read"]}
    assert read == {(a, r) for a in [*estate["members"], estate["management"]] for r in REGIONS}
    assert (code, document["exit_code"], document["refused"], captured.err) == (EXIT_UNHEALTHY, 1, [], "")
    assert "Fake" not in captured.out  # the emulator's pre-shared keys start with Fake


def test_a_refusing_account_region_is_a_row_with_its_reason_and_the_rest_is_diagnosed(
    estate: dict[str, Any],
) -> None:
    member_one, member_two = estate["members"]
    sessions: list[Any] = []

    def session_factory(**kwargs: Any) -> Any:
        """boto3's sessions; the one for member two in us-east-1 answers as an opt-in region not enabled
        (moto does not model opt-in regions: the error is injected before the call is sent)."""
        session = boto3.session.Session(**kwargs)
        key = kwargs.get("aws_access_key_id")
        if key and kwargs.get("region_name") == "us-east-1" and _account_of(key) == member_two:

            def refuse(model: Any, **_: Any) -> None:
                raise ClientError(
                    {"Error": {"Code": "AuthFailure", "Message": "AWS was not able to validate the credentials."}},
                    model.name,
                )

            session.events.register("before-call.ec2", refuse)
        sessions.append(session)
        return session

    scope = Scope(accounts=(member_one, member_two), role_name=ROLE, regions=REGIONS)
    report = diagnose_fleet(scope, since=timedelta(hours=1), now=datetime.now(UTC), session_factory=session_factory)
    assert [(r.account, r.region) for r in report.refusals] == [(member_two, "us-east-1")]
    assert "region not enabled" in report.refusals[0].reason
    assert "AuthFailure" in report.refusals[0].reason
    assert {(row.account, row.region) for row in report.rows} == set(estate["made"])
    assert report.exit_code == EXIT_PARTIAL
    lines = render_table(report).splitlines()
    assert lines[0].split() == ["account", "region", "vpn", "id", "name", "up/down", "verdict", "top", "cause"]
    assert any(line.startswith(f"{member_one}  us-east-1") and " 1/1 " in line for line in lines)
    assert f"{member_two} us-east-1: not read: region not enabled" in lines[-2]
    assert lines[-1] == "3 connection(s) in 3 account-region(s): 2 healthy, 1 not; 1 not read"


def _account_of(access_key: str) -> str:
    caller = boto3.client("sts", aws_access_key_id=access_key, aws_secret_access_key="x")
    return str(caller.get_caller_identity()["Account"])


def test_the_role_is_assumed_with_the_session_name_and_the_external_id(estate: dict[str, Any]) -> None:
    member = estate["members"][1]
    requests: list[dict[str, Any]] = []
    original = boto3.session.Session

    def session_factory(**kwargs: Any) -> Any:
        session = original(**kwargs)
        session.events.register(
            "provide-client-params.sts.AssumeRole", lambda params, **_: requests.append(dict(params))
        )
        return session

    scope = Scope(accounts=(member,), role_name=ROLE, external_id="ext-1", regions=REGIONS[:1])
    report = diagnose_fleet(scope, since=timedelta(hours=1), now=datetime.now(UTC), session_factory=session_factory)
    assert requests == [
        {"RoleArn": f"arn:aws:iam::{member}:role/{ROLE}", "RoleSessionName": SESSION_NAME, "ExternalId": "ext-1"}
    ]
    assert [row.account for row in report.rows] == [member]


def test_all_regions_asks_each_account_for_its_enabled_regions(estate: dict[str, Any]) -> None:
    scope = Scope(accounts=(estate["members"][0],), role_name=ROLE, all_regions=True)
    answered: list[dict[str, Any]] = []

    def session_factory(**kwargs: Any) -> Any:
        session = boto3.session.Session(**kwargs)
        session.events.register("after-call.ec2.DescribeRegions", lambda parsed, **_: answered.append(parsed))
        return session

    base = session_factory()
    frozen = base.get_credentials().get_frozen_credentials()
    own = {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key}
    entered = _enter(
        estate["members"][0], "123456789012", own, base.client("sts"), session_factory, scope, "eu-west-1", None
    )
    assert not isinstance(entered, Refusal)
    _, regions = entered
    assert regions == sorted(region["RegionName"] for region in answered[0]["Regions"])
    assert set(REGIONS) <= set(regions)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--all", "--accounts", "123"], "12-digit"),
        (["--all", "--accounts", "111111111111"], "need --role-name"),
        (["--all", "--role-name", "R"], "needs --accounts or --organization"),
        (["--all", "--regions", "eu-west-1", "--all-regions"], "cannot be combined"),
        (["--all", "--regions", "Mars"], "not an AWS region"),
        (["vpn-1", "--all"], "not both"),
        ([], "give one VPN_ID, or --all"),
        (["--all", "--concurrency", "0"], "--concurrency"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws_environment(monkeypatch, region="eu-west-1")
    assert main(["diagnose", *argv]) == 2  # before any AWS call
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert len(captured.err.splitlines()) == 1
