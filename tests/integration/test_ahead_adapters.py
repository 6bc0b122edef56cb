"""The adapters of the warnings ahead of time: GetVpnTunnelReplacementStatus (moto lacks it: a Stubber checks the
request and the answer against botocore's EC2 model) and ACM DescribeCertificate (moto)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from tests.conftest import mocked_aws
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.ahead import CertificateExpiry, ReplacementStatusReader

VPN = "vpn-0a1b2c3d4e5f60718"
TUNNEL = "198.51.100.10"
DUE = datetime(2026, 12, 20, 4, 0, tzinfo=UTC)


@pytest.mark.usefixtures("fake_aws")
def test_the_replacement_status_is_read_for_one_tunnel_and_only_its_maintenance_details_kept() -> None:
    ec2 = boto3.client("ec2")
    request = {"VpnConnectionId": VPN, "VpnTunnelOutsideIpAddress": TUNNEL}
    answer = {
        "VpnConnectionId": VPN,
        "VpnGatewayId": "vgw-0123456789abcdef0",
        "CustomerGatewayId": "cgw-0123456789abcdef0",
        "VpnTunnelOutsideIpAddress": TUNNEL,
        "MaintenanceDetails": {
            "PendingMaintenance": "Pending",
            "MaintenanceAutoAppliedAfter": DUE,
            "LastMaintenanceApplied": datetime(2026, 6, 1, tzinfo=UTC),
        },
    }
    with Stubber(ec2) as stub:  # validates request and answer against the EC2 model
        stub.add_response("get_vpn_tunnel_replacement_status", answer, request)
        stub.add_client_error(
            "get_vpn_tunnel_replacement_status", "UnauthorizedOperation", "not allowed", 403, expected_params=request
        )
        status = ReplacementStatusReader(ec2).status(VPN, TUNNEL)
        with pytest.raises(AwsCallFailed) as refused:
            ReplacementStatusReader(ec2).status(VPN, TUNNEL)
    assert status.pending
    assert status.auto_applied_after == DUE
    assert refused.value.code == "UnauthorizedOperation"


@pytest.mark.usefixtures("fake_aws")
def test_a_tunnel_without_maintenance_details_has_nothing_pending() -> None:
    ec2 = boto3.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_response("get_vpn_tunnel_replacement_status", {"VpnConnectionId": VPN})
        status = ReplacementStatusReader(ec2).status(VPN, TUNNEL)
    assert not status.pending
    assert status.auto_applied_after is None


@pytest.mark.usefixtures("fake_aws")
def test_a_certificate_expiry_is_read_from_acm_and_an_unknown_certificate_is_acms_error() -> None:
    with mocked_aws():
        acm = boto3.client("acm")
        arn = acm.request_certificate(DomainName="cgw.example.com")["CertificateArn"]
        expected = acm.describe_certificate(CertificateArn=arn)["Certificate"]["NotAfter"]
        reader = CertificateExpiry(acm)
        assert reader.not_after(arn) == expected
        with pytest.raises(AwsCallFailed) as missing:
            reader.not_after(arn[:-4] + "ffff")
    assert missing.value.code == "ResourceNotFoundException"
