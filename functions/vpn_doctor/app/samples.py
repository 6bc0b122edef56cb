"""Quote AWS's own sample configuration in a diagnosis: the lines that fix the diagnosed cause.

Used by respond (the alert's next steps) and by ``vpn-doctor diagnose``. Nothing is read unless the
diagnosis names something a configuration line fixes (vpn_doctor.sample_config.topics_for) and the
gateway's device type can be told (the ``vpn-doctor:device-type`` tag, or a vendor AWS lists a single
device type for). The sample's text holds the tunnels' pre-shared keys: only quoted, key-free lines
leave this function, and the text is dropped.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Protocol

from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.constants import DEVICE_TYPE_TAG
from vpn_doctor.models import CheckStatus, Diagnosis, DiagnosisCheck, Incident
from vpn_doctor.records import Source
from vpn_doctor.sample_config import DeviceType, choose_device, quote, topics_for
from vpn_doctor.vpn import VpnConnectionInfo

CHECK_ID = "device_sample"
_TITLE = "AWS's sample configuration"

# The vendor a gateway's own log line names (vpn_doctor.vendors), in GetVpnConnectionDeviceTypes' vendor words.
_VENDOR_BY_SOURCE = {
    Source.CISCO_ASA: "cisco",
    Source.CISCO_IOS: "cisco",
    Source.PANOS: "palo alto",
    Source.FORTIGATE: "fortinet",
    Source.JUNOS: "juniper",
    Source.ROUTEROS: "mikrotik",
    # strongSwan and libreswan lines are not used to pick a device: they are also what pfSense, OPNsense and many
    # appliances run inside, whose own sample AWS lists under another vendor (tag those connections instead).
}


class DeviceSamples(Protocol):
    """EC2's device types and sample configurations (``vpn_doctor.aws.ec2.Ec2Reader``)."""

    def device_types(self) -> list[DeviceType]:
        """Every device type with a sample; raises ``AwsCallFailed``."""
        ...

    def sample_configuration(self, vpn_connection_id: str, device_type_id: str, ike_version: str) -> str:
        """The connection's sample for the device; raises ``AwsCallFailed``."""
        ...


def with_sample_quote(
    diagnosis: Diagnosis,
    incident: Incident,
    connection: VpnConnectionInfo | None,
    samples: DeviceSamples | None,
    *,
    known_keys: Collection[str] = (),
) -> Diagnosis:
    """The diagnosis with AWS's sample lines for the cause as a check and a next step (unchanged when
    there is nothing to quote, or no way to tell the device)."""
    if samples is None or connection is None:
        return diagnosis
    topics = topics_for(incident.cause, (check.check_id for check in diagnosis.failed))
    tag = connection.tags.get(DEVICE_TYPE_TAG)
    vendor = _vendor(incident) or diagnosis.vendor
    if not topics or not (tag or vendor):
        return diagnosis
    try:
        choice = choose_device(samples.device_types(), tag=tag, vendor=vendor)
        if choice.device is None:
            return _with(diagnosis, DiagnosisCheck(CHECK_ID, _TITLE, CheckStatus.INFO, f"Not quoted: {choice.why}."))
        tunnel = connection.tunnel(incident.tunnel_ip) if incident.tunnel_ip else None
        ike_version = "ikev2" if tunnel is None or "ikev2" in tunnel.ike_versions else "ikev1"
        text = samples.sample_configuration(connection.vpn_connection_id, choice.device.device_type_id, ike_version)
    except AwsCallFailed as exc:
        return _with(
            diagnosis,
            DiagnosisCheck(
                CHECK_ID, _TITLE, CheckStatus.INFO, f"Not read: EC2 answered {exc.code}.", _permission_hint(exc)
            ),
        )
    number = next((i for i, t in enumerate(connection.tunnels, 1) if t.outside_ip == incident.tunnel_ip), None)
    quoted = quote(
        text, choice.device, topics, tunnel_ip=incident.tunnel_ip, tunnel_number=number, known_keys=known_keys
    )
    del text  # holds the pre-shared keys
    if quoted is None:
        reason = f"The {ike_version} sample for {choice.device.label} has no line about {', '.join(topics)}."
        return _with(diagnosis, DiagnosisCheck(CHECK_ID, _TITLE, CheckStatus.INFO, reason))
    step = quoted.step()
    check = DiagnosisCheck(CHECK_ID, _TITLE, CheckStatus.INFO, f"{choice.why}, {ike_version}: {step}")
    return replace(
        _with(diagnosis, check), next_steps=(*diagnosis.next_steps, f"Compare with the gateway's settings: {step}")
    )


def _with(diagnosis: Diagnosis, check: DiagnosisCheck) -> Diagnosis:
    return replace(diagnosis, checks=(*diagnosis.checks, check))


def _vendor(incident: Incident) -> str | None:
    for item in reversed(incident.evidence):
        vendor = _VENDOR_BY_SOURCE.get(item.source)
        if vendor is not None:
            return vendor
    return None


def _permission_hint(exc: AwsCallFailed) -> str | None:
    if "denied" in exc.code.lower() or "unauthorized" in exc.code.lower():
        return f"Allow ec2:{exc.operation}."
    return None
