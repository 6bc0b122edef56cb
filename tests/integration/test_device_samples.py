"""AWS's sample configuration quoted in the alert and in ``diagnose``: read through a real EC2 client whose
``GetVpnConnectionDeviceTypes`` / ``GetVpnConnectionDeviceSampleConfiguration`` answers are stubbed with botocore's
Stubber (moto implements neither), which checks every request and answer against EC2's API model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.unit.test_app import AUTO, Connections, Respond
from tests.unit.test_remediation import IP1, IP2, NOW, PSK1, PSK2, VPN, connection, incident, transition
from tests.unit.test_sample_config import PLANTED, sample
from vpn_doctor.app.respond import respond_to_transition
from vpn_doctor.app.samples import CHECK_ID, with_sample_quote
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.constants import DEVICE_TYPE_TAG, VENDOR_TAG
from vpn_doctor.diagnosis import diagnose
from vpn_doctor.models import CheckStatus, TransitionKind, dump
from vpn_doctor.taxonomy import Category, Cause

TYPES = [
    {
        "VpnConnectionDeviceTypeId": "9005b6c1",
        "Vendor": "Cisco Systems, Inc.",
        "Platform": "ASA 5500 Series",
        "Software": "ASA 9.7+ VTI",
    },
    {
        "VpnConnectionDeviceTypeId": "1a2b3c4d",
        "Vendor": "Cisco Systems, Inc.",
        "Platform": "ASA 5500 Series",
        "Software": "ASA 8.2+",
    },
    {
        "VpnConnectionDeviceTypeId": "c0ffee01",
        "Vendor": "Fortinet",
        "Platform": "Fortigate 40+ Series",
        "Software": "FortiOS 6.4.4+ (GUI)",
    },
]


def served(name: str) -> str:
    """The fixture as EC2 would generate it for this connection: its tunnels' addresses and keys."""
    text = sample(name).replace("203.0.113.10", IP1)
    return text.replace(PLANTED[0], PSK1).replace(PLANTED[1], PSK2)


@pytest.fixture
def ec2() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def stub_types(stubber: Stubber) -> None:
    # Two pages: the reader follows NextToken.
    stubber.add_response(
        "get_vpn_connection_device_types",
        {"VpnConnectionDeviceTypes": TYPES[:2], "NextToken": "p2"},
        {"MaxResults": 200},
    )
    stubber.add_response(
        "get_vpn_connection_device_types",
        {"VpnConnectionDeviceTypes": TYPES[2:]},
        {"MaxResults": 200, "NextToken": "p2"},
    )


def stub_sample(stubber: Stubber, name: str, device: str, ike: str = "ikev2") -> None:
    stubber.add_response(
        "get_vpn_connection_device_sample_configuration",
        {"VpnConnectionDeviceSampleConfiguration": served(name)},
        {"VpnConnectionId": VPN, "VpnConnectionDeviceTypeId": device, "InternetKeyExchangeVersion": ike},
    )


def test_the_alert_of_a_dpd_timeout_quotes_the_tunnels_keepalive_line_and_never_a_key(ec2: tuple[Any, Stubber]) -> None:
    client, stubber = ec2
    stub_types(stubber)
    stub_sample(stubber, "cisco-asa-vti", "9005b6c1")
    fakes = Respond()
    tagged = connection(tags={DEVICE_TYPE_TAG: "Cisco ASA 9.7"})
    ports = replace(fakes.ports(), connections=Connections([tagged]), samples=Ec2Reader(client))

    response = respond_to_transition(transition(), ports, config=AUTO, now=NOW, known_keys={PSK1, PSK2})

    (alert,) = fakes.alerts()
    steps = alert["diagnosis"]["next_steps"]
    assert any(
        "`isakmp keepalive threshold 10 retry 10` (under `tunnel-group 198.51.100.10 ipsec-attributes`)" in s
        for s in steps
    )
    assert any(
        "AWS's sample configuration for Cisco Systems, Inc. ASA 5500 Series ASA 9.7+ VTI for tunnel #1" in s
        for s in steps
    )
    (check,) = [c for c in alert["diagnosis"]["checks"] if c["check_id"] == CHECK_ID]
    assert check["status"] == CheckStatus.INFO.value
    assert "matches the tag 'Cisco ASA 9.7'" in check["reason"]
    published = json.dumps(fakes.bus.events) + json.dumps(dump(response.alert))
    assert PSK1 not in published
    assert PSK2 not in published


def test_diagnose_lists_device_types_once_for_both_tunnels(ec2: tuple[Any, Stubber]) -> None:
    client, stubber = ec2
    stub_types(stubber)
    stub_sample(stubber, "fortigate", "c0ffee01")
    stub_sample(stubber, "fortigate", "c0ffee01")
    reader = Ec2Reader(client)
    conn = connection(tags={VENDOR_TAG: "FortiGate 60F"})
    for tunnel_ip, expected in ((IP1, "edit vpn-0a1b2c3d4e5f60718-0"), (IP2, "edit vpn-0a1b2c3d4e5f60718-1")):
        lifetime = incident(category=Category.REKEY_FAILURE, cause=Cause.LIFETIME_MISMATCH, tunnel_ip=tunnel_ip)
        quoted = with_sample_quote(diagnose(lifetime, conn, now=NOW), lifetime, conn, reader, known_keys={PSK1, PSK2})
        step = quoted.next_steps[-1]
        assert "`set keylife 28800`" in step
        assert expected in step
        assert "the only device type AWS lists for vendor" in quoted.checks[-1].reason


def test_a_refused_read_is_a_check_with_the_missing_permission_and_the_alert_still_goes(
    ec2: tuple[Any, Stubber],
) -> None:
    client, stubber = ec2
    stubber.add_client_error("get_vpn_connection_device_types", "UnauthorizedOperation", "You are not authorized", 403)
    fakes = Respond()
    ports = replace(
        fakes.ports(),
        connections=Connections([connection(tags={DEVICE_TYPE_TAG: "9005b6c1"})]),
        samples=Ec2Reader(client),
    )

    assert respond_to_transition(transition(), ports, config=AUTO, now=NOW).status == "published"

    (alert,) = fakes.alerts()
    (check,) = [c for c in alert["diagnosis"]["checks"] if c["check_id"] == CHECK_ID]
    assert check["reason"] == "Not read: EC2 answered UnauthorizedOperation."
    assert check["recommendation"] == "Allow ec2:GetVpnConnectionDeviceTypes."


def test_nothing_is_read_without_a_device_a_cause_to_quote_or_for_a_recovery(ec2: tuple[Any, Stubber]) -> None:
    client, _ = ec2  # no stubbed answer: any call fails the test
    reader = Ec2Reader(client)
    dpd = incident()
    untagged = connection()
    assert with_sample_quote(diagnose(dpd, untagged, now=NOW), dpd, untagged, reader) == diagnose(
        dpd, untagged, now=NOW
    )
    tagged = connection(tags={DEVICE_TYPE_TAG: "9005b6c1"}, status1="UP")
    quiet = incident(category=Category.BGP_SESSION, cause=Cause.HOLD_TIMER_EXPIRED)
    # A cause no configuration line fixes, and no failed check that one does: nothing to read.
    diagnosed = diagnose(quiet, tagged, now=NOW)
    plain = replace(diagnosed, checks=tuple(c for c in diagnosed.checks if c.status is CheckStatus.PASS))
    assert with_sample_quote(plain, quiet, tagged, reader) == plain
    fakes = Respond()
    ports = replace(
        fakes.ports(), connections=Connections([connection(tags={DEVICE_TYPE_TAG: "9005b6c1"})]), samples=reader
    )
    respond_to_transition(transition(kind=TransitionKind.RESOLVED), ports, config=AUTO, now=NOW)


def test_an_ambiguous_vendor_quotes_nothing_and_says_which_tag_to_set(ec2: tuple[Any, Stubber]) -> None:
    client, stubber = ec2
    stub_types(stubber)
    conn = connection(tags={VENDOR_TAG: "Cisco ASA"})
    dpd = incident()
    quoted = with_sample_quote(diagnose(dpd, conn, now=NOW), dpd, conn, Ec2Reader(client))
    assert quoted.checks[-1].reason.startswith("Not quoted: 2 device types match vendor cisco")
    assert quoted.next_steps == diagnose(dpd, conn, now=NOW).next_steps
