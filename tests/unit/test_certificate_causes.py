"""Certificate-authenticated tunnels: certificate failures in the customer gateway's log are read as an IKE
authentication failure with the certificate as the cause, given the same evidence and advice as a pre-shared key
mismatch, and the diagnosis of a certificate tunnel points at its certificate (tests/fixtures/certificates)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.lab.harness import AWS_IP, LOG_STREAM, VPN_ID
from tests.unit.test_incidents import MemoryStore
from tests.unit.test_lab_fixtures import CAPTURED
from vpn_doctor.classify import Classifier
from vpn_doctor.diagnosis import diagnose
from vpn_doctor.incidents import IncidentService
from vpn_doctor.models import CheckStatus, TunnelState
from vpn_doctor.parsing import parse_line, with_identity
from vpn_doctor.playbook import next_steps
from vpn_doctor.render.common import problem_phrase
from vpn_doctor.taxonomy import Category, Cause
from vpn_doctor.vpn import TunnelConfig, TunnelTelemetry, VpnConnectionInfo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "certificates"
CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

# Per fixture line: the row that reads it (None: routine, healthy or trace).
EXPECTED = {
    "strongswan.log": [
        None,
        None,
        None,
        None,
        "swan.certificate_invalid",
        "swan.no_trusted_public_key",
        "swan.notify_auth_failed",
        None,
        "swan.no_issuer_certificate",
        "swan.no_trusted_public_key",
        "swan.certificate_revoked",
    ],
    "libreswan.log": ["pluto.nss_certificate"] * 3,
}


def _findings(name: str) -> list[tuple[str, Category, Cause | None]]:
    classifier = Classifier()
    found = []
    for line in (FIXTURES / name).read_text().splitlines():
        event = with_identity(parse_line(line, reference_time=CAPTURED), log_stream=LOG_STREAM)
        finding = classifier.classify(event)
        found.append((finding.rule_id, finding.category, finding.cause))
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_certificate_failure_line_is_an_ike_authentication_failure_caused_by_the_certificate(name: str) -> None:
    found = _findings(name)
    failures = [rule for rule, category, _ in found if category.is_failure]
    assert failures == [rule for rule in EXPECTED[name] if rule is not None]
    assert all(
        (category, cause) == (Category.IKE_PHASE1_FAILURE, Cause.CERTIFICATE_FAILED)
        for _, category, cause in found
        if category.is_failure
    )
    assert Category.UNKNOWN not in {category for _, category, _ in found}


def test_a_certificate_failure_gets_the_pre_shared_key_failure_s_checks_plus_the_certificate_s_own() -> None:
    psk = next_steps(Category.IKE_PHASE1_FAILURE, Cause.PSK_MISMATCH)
    certificate = next_steps(Category.IKE_PHASE1_FAILURE, Cause.CERTIFICATE_FAILED)
    assert set(psk[1:]) <= set(certificate)  # the category's checks (tunnel state, parameters, firewall)
    assert "certificate" in certificate[0]
    assert "CA" in certificate[0]
    assert problem_phrase(Category.IKE_PHASE1_FAILURE, Cause.CERTIFICATE_FAILED) != problem_phrase(
        Category.IKE_PHASE1_FAILURE, Cause.PSK_MISMATCH
    )


def test_the_diagnosis_of_an_authentication_failure_on_a_certificate_tunnel_names_its_certificate() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    telemetry = TunnelTelemetry(TunnelState.DOWN, last_status_change=now, certificate_arn=CERT)
    connection = VpnConnectionInfo(VPN_ID, "available", (TunnelConfig(AWS_IP, telemetry=telemetry),))
    classifier = Classifier()
    line = (FIXTURES / "strongswan.log").read_text().splitlines()[5]
    finding = classifier.classify(with_identity(parse_line(line, reference_time=CAPTURED), log_stream=LOG_STREAM))
    service = IncidentService(MemoryStore())
    [opened] = service.on_finding(finding, event_id="cert-1", now=now)
    incident = opened.incident
    checks = {check.check_id: check for check in diagnose(incident, connection, now=now).checks}
    assert incident.tunnel_ip == AWS_IP
    assert checks["certificate"].status is CheckStatus.FAIL
    assert CERT in checks["certificate"].reason
