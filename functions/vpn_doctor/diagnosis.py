"""Configuration-aware diagnosis: what the tunnel's real configuration says about an incident (pure).

:func:`diagnose` reads a :class:`~vpn_doctor.vpn.VpnConnectionInfo` (tunnel options, routing type,
telemetry; never a key: the model cannot hold one) and optionally the tunnel's data metrics
before the incident (:class:`TunnelTraffic`), and returns a :class:`~vpn_doctor.models.Diagnosis`:
checks with pass/warn/fail/info and a plain-language reason, a verdict (will self-heal / needs an
AWS-side change / needs a customer-gateway change) and next steps from the playbook, with
vendor hints when the customer gateway's vendor is known.

Check ids (stable, other tools may filter on them): ``connection``, ``dpd_recovery``,
``startup_action``, ``ike_versions``, ``lifetimes``, ``proposals``, ``tunnel_logging``,
``bgp_logging``, ``routing``, ``encryption_domain``, ``traffic``, ``firewall``, ``sibling``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from vpn_doctor.constants import CERTIFICATE_SCOPE, CONNECTION_SCOPE, REPLACEMENT_SCOPE, VENDOR_TAG
from vpn_doctor.models import (
    CheckStatus,
    Diagnosis,
    DiagnosisCheck,
    Incident,
    IncidentStatus,
    TunnelState,
    Verdict,
)
from vpn_doctor.playbook import FIREWALL_RULES, next_steps, vendor_of
from vpn_doctor.replacement import after_replacement
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.vpn import AWS_DEFAULTS, TunnelConfig, VpnConnectionInfo

# Algorithms that still work but that a configuration review should flag.
_WEAK_INTEGRITY = frozenset({"SHA1"})
_WEAK_DH_GROUPS = frozenset({2, 5})
_ANY_V4 = "0.0.0.0/0"
_ANY_V6 = "::/0"

# strongSwan/libreswan proposal strings ("received proposals: IKE:AES_CBC_128/HMAC_SHA2_256_128/.../MODP_2048, ...").
_PROPOSALS = re.compile(r"(?:received|configured|selected) proposals?:\s*(?P<list>.+)", re.IGNORECASE)
_ONE_PROPOSAL = re.compile(r"\b(?P<protocol>IKE|ESP):(?P<algorithms>[A-Z0-9_/]+)")
_ENCRYPTION = {
    "AES_CBC_128": "AES128",
    "AES_CBC_192": "AES192",
    "AES_CBC_256": "AES256",
    "AES_GCM_16_128": "AES128-GCM-16",
    "AES_GCM_16_256": "AES256-GCM-16",
    "3DES_CBC": "3DES",
    "DES_CBC": "DES",
}
_INTEGRITY = {
    "HMAC_MD5_96": "MD5",
    "HMAC_SHA1_96": "SHA1",
    "HMAC_SHA2_256_128": "SHA2-256",
    "HMAC_SHA2_384_192": "SHA2-384",
    "HMAC_SHA2_512_256": "SHA2-512",
}
_DH_GROUPS = {
    "MODP_768": 1,
    "MODP_1024": 2,
    "MODP_1536": 5,
    "MODP_2048": 14,
    "MODP_3072": 15,
    "MODP_4096": 16,
    "MODP_6144": 17,
    "MODP_8192": 18,
    "ECP_256": 19,
    "ECP_384": 20,
    "ECP_521": 21,
    "MODP_1024_160": 22,
    "MODP_2048_224": 23,
    "MODP_2048_256": 24,
    "CURVE_25519": 31,
}
_NAT_SEEN = re.compile(r"behind (?:a )?NAT|NAT[- ]T|NAT detected|switching to port 4500", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposal seen in a customer-gateway log line, in AWS's algorithm names."""

    phase: int
    encryption: frozenset[str]
    integrity: frozenset[str]
    dh_groups: frozenset[int]

    def text(self) -> str:
        parts = [*sorted(self.encryption), *sorted(self.integrity), *(f"DH {g}" for g in sorted(self.dh_groups))]
        return f"{'IKE' if self.phase == 1 else 'ESP'}:" + "/".join(parts)


def proposals_in(messages: Iterable[str]) -> list[Proposal]:
    """The IKE/ESP proposals named in log lines (strongSwan's "received/configured proposals:" format)."""
    found: list[Proposal] = []
    for message in messages:
        listed = _PROPOSALS.search(message)
        if listed is None:
            continue
        for proposal in _ONE_PROPOSAL.finditer(listed.group("list")):
            tokens = proposal.group("algorithms").split("/")
            found.append(
                Proposal(
                    phase=1 if proposal.group("protocol") == "IKE" else 2,
                    encryption=frozenset(_ENCRYPTION[t] for t in tokens if t in _ENCRYPTION),
                    integrity=frozenset(_INTEGRITY[t] for t in tokens if t in _INTEGRITY),
                    dh_groups=frozenset(_DH_GROUPS[t] for t in tokens if t in _DH_GROUPS),
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class TunnelTraffic:
    """``AWS/VPN`` TunnelDataIn / TunnelDataOut datapoints (bytes) for the period before an incident."""

    bytes_in: Sequence[float] = ()
    bytes_out: Sequence[float] = ()
    period_seconds: int = 300
    start: datetime | None = None
    end: datetime | None = None

    @property
    def has_datapoints(self) -> bool:
        """False when CloudWatch returned nothing at all (no data is not the same as zero bytes)."""
        return bool(self.bytes_in) or bool(self.bytes_out)

    @property
    def idle(self) -> bool:
        """True when datapoints exist and no byte crossed the tunnel in either direction."""
        return self.has_datapoints and sum(self.bytes_in) == 0 and sum(self.bytes_out) == 0

    @property
    def one_way(self) -> bool:
        """Traffic in one direction only (e.g. probes that are never answered)."""
        return self.has_datapoints and (sum(self.bytes_in) == 0) != (sum(self.bytes_out) == 0)

    @property
    def minutes(self) -> int:
        """Length of the observed window, in minutes."""
        if self.start is not None and self.end is not None:
            return max(1, int((self.end - self.start).total_seconds() // 60))
        return max(1, len(self.bytes_in) * self.period_seconds // 60)


def diagnose(
    incident: Incident,
    connection: VpnConnectionInfo | None,
    *,
    traffic: TunnelTraffic | None = None,
    now: datetime,
) -> Diagnosis:
    """Check the tunnel's configuration against the incident and decide whether it will self-heal."""
    if connection is None:
        return Diagnosis(
            vpn_connection_id=incident.vpn_connection_id,
            tunnel_ip=incident.tunnel_ip,
            verdict=Verdict.UNDETERMINED,
            verdict_reason="The VPN connection's configuration could not be read, so only the logs speak.",
            checks=(
                DiagnosisCheck(
                    "connection",
                    "Connection configuration",
                    CheckStatus.INFO,
                    "DescribeVpnConnections returned nothing for this connection (deleted, other region, or "
                    "no permission).",
                    "Check the connection exists and that vpn-doctor may call ec2:DescribeVpnConnections.",
                ),
            ),
            next_steps=next_steps(incident.category, incident.cause),
            diagnosed_at=now,
        )
    tunnel = connection.tunnel(incident.tunnel_ip)
    vendor = vendor_of(
        connection.tags.get(VENDOR_TAG), connection.customer_gateway_device_name, connection.tags.get("Name")
    )
    checks: list[DiagnosisCheck] = [_connection_check(connection, tunnel, incident)]
    if tunnel is not None:
        checks.extend(
            (
                _dpd_recovery(tunnel, incident),
                _startup_action(tunnel, incident),
                _ike_versions(tunnel, incident),
                *_certificate(tunnel, incident),
                _lifetimes(tunnel, incident),
                _proposals(tunnel, incident),
                _tunnel_logging(tunnel),
            )
        )
        if not connection.static_routes_only:
            checks.append(_bgp_logging(tunnel))
    checks.append(_routing(connection, incident))
    checks.append(_encryption_domain(connection, incident))
    if traffic is not None:
        checks.append(_traffic(traffic, incident))
    checks.append(_firewall(connection, incident))
    if tunnel is not None:
        checks.append(_sibling(connection, incident))
    verdict, reason = _verdict(incident, connection, tunnel)
    return Diagnosis(
        vpn_connection_id=connection.vpn_connection_id,
        tunnel_ip=incident.tunnel_ip,
        verdict=verdict,
        verdict_reason=reason,
        checks=tuple(checks),
        next_steps=_steps(incident, tunnel, vendor),
        connection_name=connection.name,
        vendor=vendor,
        diagnosed_at=now,
    )


def review_incident(connection: VpnConnectionInfo, tunnel_ip: str, *, now: datetime) -> Incident:
    """A neutral incident for a configuration review of one tunnel when no incident is open
    (``vpn-doctor diagnose``): category ``unknown``, the tunnel's state from its telemetry."""
    tunnel = connection.tunnel(tunnel_ip)
    telemetry = tunnel.telemetry if tunnel is not None else None
    state = telemetry.status if telemetry is not None else TunnelState.UNKNOWN
    since = telemetry.last_status_change if telemetry is not None else None
    return Incident(
        incident_id=f"review-{connection.vpn_connection_id}-{tunnel_ip}",
        vpn_connection_id=connection.vpn_connection_id,
        tunnel_ip=tunnel_ip,
        status=IncidentStatus.OPEN,
        category=Category.UNKNOWN,
        cause=None,
        severity=Severity.CRITICAL if state is TunnelState.DOWN else Severity.INFO,
        summary=f"Configuration review (tunnel {state.value})",
        opened_at=since or now,
        updated_at=now,
        last_state=state,
        state_since=since,
    )


# --- checks -----------------------------------------------------------------------------------


_SCOPE_WORDS: Final = {
    CONNECTION_SCOPE: "its tunnels' traffic",
    REPLACEMENT_SCOPE: "an AWS endpoint replacement ahead",
    CERTIFICATE_SCOPE: "a tunnel certificate about to expire",
}


def _connection_check(connection: VpnConnectionInfo, tunnel: TunnelConfig | None, incident: Incident) -> DiagnosisCheck:
    title = "Connection state"
    if tunnel is None and incident.tunnel_ip in _SCOPE_WORDS:
        return DiagnosisCheck(
            "connection",
            title,
            CheckStatus.PASS if connection.state == "available" else CheckStatus.WARN,
            f"A connection-level incident ({_SCOPE_WORDS[incident.tunnel_ip]}); the connection is "
            f"'{connection.state}'.",
        )
    if tunnel is None:
        return DiagnosisCheck(
            "connection",
            title,
            CheckStatus.WARN,
            f"The connection has no tunnel with outside IP {incident.tunnel_ip} (replaced, or a different connection).",
            "Check the tunnel outside IPs in the VPN console.",
        )
    if connection.state != "available":
        return DiagnosisCheck(
            "connection",
            title,
            CheckStatus.WARN,
            f"The connection is '{connection.state}', not 'available': a change may be in progress.",
            "Wait for the connection to become available before changing anything.",
        )
    return DiagnosisCheck("connection", title, CheckStatus.PASS, "The connection is available.")


def _dpd_recovery(tunnel: TunnelConfig, incident: Incident) -> DiagnosisCheck:
    title = "Recovery after a DPD timeout"
    action = tunnel.dpd_timeout_action
    seconds = tunnel.dpd_timeout_seconds
    relevant = incident.category in (Category.DPD_TIMEOUT, Category.IDLE_TIMEOUT) or incident.maintenance
    if action == "restart":
        return DiagnosisCheck(
            "dpd_recovery",
            title,
            CheckStatus.PASS,
            f"DPD timeout action is 'restart': after {seconds} s without DPD answers AWS restarts IKE "
            "negotiation itself.",
        )
    if action == "none":
        return DiagnosisCheck(
            "dpd_recovery",
            title,
            CheckStatus.WARN if relevant else CheckStatus.INFO,
            "DPD timeout action is 'none': AWS keeps the SAs after a DPD timeout and relies on the customer "
            "gateway to detect the failure and renegotiate.",
            "Keep 'none' only if policy says AWS must not act; otherwise consider 'restart'.",
        )
    waits = tunnel.startup_action != "start"
    reason = f"DPD timeout action is '{action}'" + (" (default)" if "dpd_timeout_action" not in tunnel.explicit else "")
    if waits:
        reason += (
            f" and startup action is '{tunnel.startup_action}': after a DPD timeout AWS clears the SAs and waits "
            "for the customer gateway to initiate, so the tunnel stays down until the customer gateway does."
        )
    else:
        reason += ": AWS clears the SAs after a DPD timeout, and startup action 'start' makes AWS re-initiate."
    return DiagnosisCheck(
        "dpd_recovery",
        title,
        (CheckStatus.FAIL if relevant else CheckStatus.WARN) if waits else CheckStatus.PASS,
        reason,
        "Set the DPD timeout action to 'restart' (or the startup action to 'start', IKEv2) so AWS re-initiates "
        "the tunnel, and make sure the customer gateway re-initiates too."
        if waits
        else None,
    )


def _startup_action(tunnel: TunnelConfig, incident: Incident) -> DiagnosisCheck:
    title = "Recovery after an endpoint replacement"
    ikev2 = "ikev2" in tunnel.ike_versions
    if tunnel.startup_action == "start":
        if not ikev2:
            return DiagnosisCheck(
                "startup_action",
                title,
                CheckStatus.WARN,
                "Startup action is 'start' but the tunnel allows only IKEv1: AWS can initiate with IKEv2 only.",
                "Allow IKEv2 on the tunnel and the customer gateway.",
            )
        return DiagnosisCheck(
            "startup_action",
            title,
            CheckStatus.PASS,
            "Startup action is 'start': AWS initiates IKE negotiation after an endpoint replacement or a reset.",
        )
    relevant = incident.maintenance or incident.category is Category.IDLE_TIMEOUT
    return DiagnosisCheck(
        "startup_action",
        title,
        CheckStatus.FAIL if relevant else CheckStatus.WARN,
        f"Startup action is '{tunnel.startup_action}': after an AWS endpoint replacement the tunnel stays down "
        "until the customer gateway initiates IKE negotiation.",
        "Set the startup action to 'start' (requires IKEv2) so AWS brings the tunnel up itself."
        if ikev2
        else "The tunnel allows only IKEv1: the customer gateway must initiate; allow IKEv2 to let AWS start it.",
    )


_AUTHENTICATION_CAUSES: Final = frozenset({Cause.PSK_MISMATCH, Cause.AUTH_FAILED, Cause.CERTIFICATE_FAILED})


def _certificate(tunnel: TunnelConfig, incident: Incident) -> tuple[DiagnosisCheck, ...]:
    """A certificate-authenticated tunnel (``CertificateArn`` in its telemetry) failing authentication: the
    certificate, not a pre-shared key, is what to check (no check for a tunnel with a pre-shared key)."""
    arn = tunnel.telemetry.certificate_arn if tunnel.telemetry is not None else None
    if arn is None:
        return ()
    failing = incident.cause in _AUTHENTICATION_CAUSES
    return (
        DiagnosisCheck(
            "certificate",
            "Certificate authentication",
            CheckStatus.FAIL if failing else CheckStatus.INFO,
            f"The tunnel authenticates with the customer gateway certificate {arn}, not a pre-shared key."
            + (" IKE authentication failed: the certificate or its chain is the first suspect." if failing else ""),
            "Check on the customer gateway that the certificate is the one issued for this tunnel, is within its "
            "validity (ACM DescribeCertificate NotAfter), and that its CA chain (AWS Private CA) is installed and "
            "trusted on both sides."
            if failing
            else None,
        ),
    )


def _ike_versions(tunnel: TunnelConfig, incident: Incident) -> DiagnosisCheck:
    title = "IKE versions"
    versions = ", ".join(tunnel.ike_versions) or "none"
    if incident.cause is Cause.IKE_VERSION_MISMATCH:
        return DiagnosisCheck(
            "ike_versions",
            title,
            CheckStatus.FAIL,
            f"The tunnel allows {versions} and the logs show the customer gateway used another version.",
            f"Configure the customer gateway for one of: {versions}, or allow its version in the tunnel options.",
        )
    if tunnel.ike_versions == ("ikev1",):
        return DiagnosisCheck(
            "ike_versions",
            title,
            CheckStatus.WARN,
            "Only IKEv1 is allowed: AWS cannot initiate the tunnel (startup action 'start' needs IKEv2).",
            "Prefer IKEv2 where the customer gateway supports it.",
        )
    return DiagnosisCheck("ike_versions", title, CheckStatus.PASS, f"Allowed IKE versions: {versions}.")


def _lifetimes(tunnel: TunnelConfig, incident: Incident) -> DiagnosisCheck:
    title = "Phase 1/2 lifetimes and rekey margin"
    p1, p2, margin = tunnel.phase1_lifetime_seconds, tunnel.phase2_lifetime_seconds, tunnel.rekey_margin_time_seconds
    facts = f"phase 1 {p1} s, phase 2 {p2} s, rekey margin {margin} s"
    problems: list[str] = []
    low1, high1 = AWS_DEFAULTS.phase1_lifetime_range
    low2, high2 = AWS_DEFAULTS.phase2_lifetime_range
    if not low1 <= p1 <= high1:
        problems.append(f"phase 1 lifetime outside {low1}-{high1} s")
    if not low2 <= p2 <= high2:
        problems.append(f"phase 2 lifetime outside {low2}-{high2} s")
    if margin >= p2 // 2:
        problems.append("rekey margin is at least half the phase 2 lifetime, so rekeys start very early")
    non_default = p1 != AWS_DEFAULTS.phase1_lifetime_seconds or p2 != AWS_DEFAULTS.phase2_lifetime_seconds
    if incident.category is Category.REKEY_FAILURE and incident.cause in (Cause.LIFETIME_MISMATCH, Cause.REKEY_FAILED):
        return DiagnosisCheck(
            "lifetimes",
            title,
            CheckStatus.FAIL,
            f"The logs show rekey trouble; AWS's side uses {facts}.",
            f"Set the customer gateway's lifetimes to phase 1 {p1} s and phase 2 {p2} s, with PFS enabled.",
        )
    if problems:
        return DiagnosisCheck(
            "lifetimes", title, CheckStatus.WARN, f"{facts}: " + "; ".join(problems) + ".", "Review the lifetimes."
        )
    if non_default:
        return DiagnosisCheck(
            "lifetimes",
            title,
            CheckStatus.INFO,
            f"Non-default lifetimes ({facts}): the customer gateway must use the same values.",
        )
    return DiagnosisCheck("lifetimes", title, CheckStatus.PASS, f"AWS default lifetimes ({facts}).")


def _proposals(tunnel: TunnelConfig, incident: Incident) -> DiagnosisCheck:
    title = "Encryption, integrity and DH groups (PFS)"
    allowed = (
        f"phase 1: {'/'.join(tunnel.phase1_encryption)}, {'/'.join(tunnel.phase1_integrity)}, DH "
        f"{_groups(tunnel.phase1_dh_groups)}; phase 2: {'/'.join(tunnel.phase2_encryption)}, "
        f"{'/'.join(tunnel.phase2_integrity)}, DH {_groups(tunnel.phase2_dh_groups)}"
    )
    seen = _proposal_verdict(tunnel, incident)
    if seen is not None:
        return seen
    if incident.cause in (Cause.PROPOSAL_MISMATCH, Cause.PFS_MISMATCH):
        phase = "phase 2" if incident.category is Category.IPSEC_PHASE2_FAILURE else "phase 1"
        pfs = (
            " PFS must be enabled on the customer gateway with one of the phase 2 DH groups."
            if (incident.cause is Cause.PFS_MISMATCH)
            else ""
        )
        return DiagnosisCheck(
            "proposals",
            title,
            CheckStatus.FAIL,
            f"The logs show a {phase} proposal mismatch. AWS allows {allowed}.{pfs}",
            "Configure the customer gateway with a combination from these lists (AWS does not support 3DES).",
        )
    weak = sorted(
        {*(_WEAK_INTEGRITY & {*tunnel.phase1_integrity, *tunnel.phase2_integrity})}
        | {f"DH {g}" for g in _WEAK_DH_GROUPS & {*tunnel.phase1_dh_groups, *tunnel.phase2_dh_groups}}
    )
    if weak:
        return DiagnosisCheck(
            "proposals",
            title,
            CheckStatus.INFO,
            f"AWS allows {allowed}; weaker choices still allowed: {', '.join(weak)}.",
            "Restrict the tunnel options to strong algorithms once the customer gateway uses them.",
        )
    return DiagnosisCheck("proposals", title, CheckStatus.PASS, f"AWS allows {allowed}.")


def _proposal_verdict(tunnel: TunnelConfig, incident: Incident) -> DiagnosisCheck | None:
    """Compare the proposals the logs show with what the tunnel allows (None when the logs show none)."""
    seen = proposals_in(line.message for line in incident.evidence)
    if not seen:
        return None
    allowed = {
        1: (set(tunnel.phase1_encryption), set(tunnel.phase1_integrity), set(tunnel.phase1_dh_groups)),
        2: (set(tunnel.phase2_encryption), set(tunnel.phase2_integrity), set(tunnel.phase2_dh_groups)),
    }
    rejected: dict[str, list[str]] = {}
    for proposal in seen:
        encryption, integrity, groups = allowed[proposal.phase]
        problems = [
            *sorted(proposal.encryption - encryption),
            *sorted(proposal.integrity - integrity),
            *(f"DH {group}" for group in sorted(proposal.dh_groups - groups)),
        ]
        if problems:
            rejected[proposal.text()] = problems
    title = "Encryption, integrity and DH groups (PFS)"
    if len(rejected) == len(seen):
        listed = "; ".join(f"{text} ({', '.join(problems)} not allowed)" for text, problems in rejected.items())
        return DiagnosisCheck(
            "proposals",
            title,
            CheckStatus.FAIL,
            f"No proposal seen in the logs is allowed by the tunnel options: {listed}.",
            "Add a proposal to the customer gateway built only from the tunnel's allowed algorithms and DH groups "
            "(or allow the proposed ones in the tunnel options, if they are supported by AWS).",
        )
    if rejected:
        listed = "; ".join(rejected)
        return DiagnosisCheck(
            "proposals",
            title,
            CheckStatus.INFO,
            f"Some proposals seen in the logs are not allowed ({listed}), but at least one is.",
        )
    return DiagnosisCheck(
        "proposals", title, CheckStatus.PASS, "Every proposal seen in the logs is allowed by the tunnel options."
    )


def _tunnel_logging(tunnel: TunnelConfig) -> DiagnosisCheck:
    title = "Tunnel activity logging"
    logging = tunnel.logging
    if logging.enabled:
        where = logging.log_group_arn or "a CloudWatch Logs group"
        return DiagnosisCheck(
            "tunnel_logging",
            title,
            CheckStatus.PASS,
            f"Tunnel logs go to {where} ({logging.output_format or 'json'} format).",
        )
    return DiagnosisCheck(
        "tunnel_logging",
        title,
        CheckStatus.WARN,
        "Tunnel activity logging is off: the cause of a failure cannot be read from AWS's side.",
        "Enable tunnel logging (LogOptions.CloudWatchLogOptions) to a /aws/vendedlogs/ log group.",
    )


def _bgp_logging(tunnel: TunnelConfig) -> DiagnosisCheck:
    title = "BGP logging"
    if tunnel.logging.bgp_enabled:
        return DiagnosisCheck(
            "bgp_logging",
            title,
            CheckStatus.PASS,
            f"BGP logs go to {tunnel.logging.bgp_log_group_arn or 'a CloudWatch Logs group'}.",
        )
    return DiagnosisCheck(
        "bgp_logging",
        title,
        CheckStatus.INFO,
        "BGP logging is off: BGP session changes and route decisions are not visible.",
        "Enable BGP logging (BgpLogEnabled) in the tunnel's log options.",
    )


def static_with_tunnels_up(connection: VpnConnectionInfo) -> bool:
    """Static routing with two or more tunnels UP: AWS may send return traffic over either tunnel.

    The one test of the asymmetry risk: the routing check below and the live traffic detection
    (:mod:`vpn_doctor.traffic`) both ask it."""
    up = [t for t in connection.tunnels if t.telemetry is not None and t.telemetry.status is TunnelState.UP]
    return connection.static_routes_only and len(up) >= 2


def _routing(connection: VpnConnectionInfo, incident: Incident) -> DiagnosisCheck:
    title = "Routing"
    if not connection.static_routes_only:
        return DiagnosisCheck("routing", title, CheckStatus.PASS, "Dynamic routing (BGP): failover between tunnels.")
    if incident.category is Category.STATIC_ROUTING_ASYMMETRY or static_with_tunnels_up(connection):
        return DiagnosisCheck(
            "routing",
            title,
            CheckStatus.FAIL if incident.category is Category.STATIC_ROUTING_ASYMMETRY else CheckStatus.WARN,
            "Static routing with both tunnels UP: AWS may send return traffic over either tunnel, so expect "
            "asymmetric routing unless the customer gateway handles it.",
            "Use BGP, or configure the customer gateway to prefer one tunnel and accept traffic on both.",
        )
    return DiagnosisCheck(
        "routing",
        title,
        CheckStatus.INFO,
        "Static routing: failover between tunnels depends on the customer gateway.",
        "Prefer dynamic routing (BGP) where the customer gateway supports it.",
    )


def _encryption_domain(connection: VpnConnectionInfo, incident: Incident) -> DiagnosisCheck:
    title = "Encryption domain (traffic selectors)"
    local4 = connection.local_ipv4_cidr or _ANY_V4
    remote4 = connection.remote_ipv4_cidr or _ANY_V4
    domain = f"local {local4}, remote {remote4}"
    if connection.local_ipv6_cidr or connection.remote_ipv6_cidr:
        domain += (
            f" (IPv6 local {connection.local_ipv6_cidr or _ANY_V6}, remote {connection.remote_ipv6_cidr or _ANY_V6})"
        )
    if incident.category is Category.POLICY_BASED_VPN:
        return DiagnosisCheck(
            "encryption_domain",
            title,
            CheckStatus.FAIL,
            f"AWS rejected the customer gateway's traffic selectors. The connection's domain is {domain}, and "
            "AWS accepts a single encryption domain (one SA pair).",
            f"Make the customer gateway propose exactly {local4} <-> {remote4}, summarising several networks into one.",
        )
    status = CheckStatus.PASS if (local4, remote4) == (_ANY_V4, _ANY_V4) else CheckStatus.INFO
    return DiagnosisCheck(
        "encryption_domain",
        title,
        status,
        f"Connection network CIDRs: {domain}; a policy-based customer gateway must propose this one domain.",
    )


def _traffic(traffic: TunnelTraffic, incident: Incident) -> DiagnosisCheck:
    title = "Traffic before the incident"
    if not traffic.has_datapoints:
        return DiagnosisCheck(
            "traffic", title, CheckStatus.INFO, "No TunnelDataIn/TunnelDataOut datapoints for the period."
        )
    minutes = traffic.minutes
    if traffic.idle:
        down = incident.last_state is TunnelState.DOWN or incident.category is Category.IDLE_TIMEOUT
        return DiagnosisCheck(
            "traffic",
            title,
            CheckStatus.FAIL if down else CheckStatus.WARN,
            f"No data in either direction for the {minutes} minutes before the incident: an idle timeout on the "
            "customer gateway is the likely cause.",
            "Keep traffic flowing (e.g. a host pinging an instance in the VPC every 5 seconds) and check the "
            "customer gateway's idle timeout.",
        )
    if traffic.one_way:
        direction = "into AWS" if sum(traffic.bytes_in) > 0 else "out of AWS"
        return DiagnosisCheck(
            "traffic",
            title,
            CheckStatus.WARN,
            f"Data flowed only {direction} in the {minutes} minutes before the incident.",
            "Check routing and security groups/firewalls for the return path.",
        )
    return DiagnosisCheck(
        "traffic",
        title,
        CheckStatus.PASS,
        f"Data flowed both ways in the {minutes} minutes before the incident "
        f"({int(sum(traffic.bytes_in))} bytes in, {int(sum(traffic.bytes_out))} bytes out).",
    )


def _firewall(connection: VpnConnectionInfo, incident: Incident) -> DiagnosisCheck:
    title = "Firewall and NAT traversal"
    nat_seen = any(_NAT_SEEN.search(line.message) for line in incident.evidence)
    if connection.enable_acceleration:
        reason = "Acceleration is on, so NAT-T is required: UDP 500 and UDP 4500 must be open both ways."
    elif nat_seen:
        # NAT detection alone is never a failure: it only says which ports must be open.
        reason = (
            "The logs show NAT traversal (NAT-T) in use: UDP 500 and UDP 4500 must be open both ways; ESP travels "
            "inside UDP 4500."
        )
    else:
        reason = FIREWALL_RULES
    if incident.category is Category.CGW_NETWORK:
        blocked = {
            Cause.NAT_T_BLOCKED: "UDP 4500 (NAT-T)",
            Cause.ESP_BLOCKED: "IP protocol 50 (ESP)",
            Cause.UDP500_BLOCKED: "UDP 500 (IKE)",
        }.get(incident.cause or Cause.UDP500_BLOCKED, "IKE/IPsec traffic")
        return DiagnosisCheck(
            "firewall",
            title,
            CheckStatus.FAIL,
            f"The logs show {blocked} not getting through. {reason}",
            f"Open {blocked} between the customer gateway and the tunnel outside IP {incident.tunnel_ip}.",
        )
    if incident.cause is Cause.NO_RESPONSE:
        return DiagnosisCheck(
            "firewall",
            title,
            CheckStatus.WARN,
            f"The customer gateway stopped answering IKE: UDP 500/4500 may be filtered. {reason}",
            "Check firewalls and NAT devices on the path for UDP 500 and 4500.",
        )
    return DiagnosisCheck("firewall", title, CheckStatus.INFO, reason)


def _sibling(connection: VpnConnectionInfo, incident: Incident) -> DiagnosisCheck:
    title = "Other tunnel"
    sibling = connection.sibling(incident.tunnel_ip)
    if sibling is None:
        return DiagnosisCheck("sibling", title, CheckStatus.WARN, "The connection has a single tunnel: no redundancy.")
    status = sibling.telemetry.status if sibling.telemetry else TunnelState.UNKNOWN
    if status is TunnelState.UP:
        return DiagnosisCheck(
            "sibling", title, CheckStatus.PASS, f"The other tunnel ({sibling.outside_ip}) is UP and can carry traffic."
        )
    if status is TunnelState.DOWN:
        return DiagnosisCheck(
            "sibling",
            title,
            CheckStatus.FAIL,
            f"The other tunnel ({sibling.outside_ip}) is DOWN too: the connection carries no traffic.",
            "Treat as an outage: fix the customer gateway side first (both tunnels share it).",
        )
    return DiagnosisCheck(
        "sibling", title, CheckStatus.INFO, f"The other tunnel's ({sibling.outside_ip}) state is unknown."
    )


# --- verdict ----------------------------------------------------------------------------------

_CGW_CONFIG_CATEGORIES = frozenset(
    {
        Category.IKE_PHASE1_FAILURE,
        Category.IPSEC_PHASE2_FAILURE,
        Category.POLICY_BASED_VPN,
        Category.STATIC_ROUTING_ASYMMETRY,
        Category.CGW_NETWORK,
    }
)
_CGW_BGP_CAUSES = frozenset({Cause.ASN_MISMATCH, Cause.PREFIX_LIMIT_EXCEEDED, Cause.ROUTE_DENIED})


def _verdict(incident: Incident, connection: VpnConnectionInfo, tunnel: TunnelConfig | None) -> tuple[Verdict, str]:
    if tunnel is None and incident.tunnel_ip == REPLACEMENT_SCOPE:
        return _replacement_verdict(connection)
    if tunnel is None:
        return Verdict.UNDETERMINED, "The tunnel is not part of the connection's current configuration."
    ikev2 = "ikev2" in tunnel.ike_versions
    aws_starts = tunnel.startup_action == "start" and ikev2
    category = incident.category
    if incident.maintenance:
        return after_replacement(tunnel)
    if category is Category.DPD_TIMEOUT:
        if tunnel.dpd_timeout_action == "restart" or aws_starts:
            return Verdict.WILL_SELF_HEAL, "AWS re-initiates IKE negotiation after a DPD timeout."
        if tunnel.dpd_timeout_action == "none":
            return Verdict.NEEDS_CGW_CHANGE, (
                "DPD timeout action 'none': AWS keeps the SAs, so the customer gateway must detect the failure and "
                "renegotiate."
            )
        return Verdict.NEEDS_AWS_CHANGE, (
            "DPD timeout action 'clear' with startup action 'add': AWS waits for the customer gateway; set the DPD "
            "timeout action to 'restart' so AWS re-initiates, and find out why DPD went unanswered."
        )
    if category is Category.IDLE_TIMEOUT:
        if aws_starts:
            return Verdict.WILL_SELF_HEAL, "AWS re-initiates the tunnel (startup 'start'); keep traffic flowing."
        if ikev2:
            return Verdict.NEEDS_AWS_CHANGE, (
                "The customer gateway closed the idle tunnel and AWS waits for it: set the startup action to "
                "'start' and keep traffic flowing."
            )
        return Verdict.NEEDS_CGW_CHANGE, "IKEv1 only: the customer gateway must keep traffic flowing and re-initiate."
    if category is Category.REKEY_FAILURE:
        if incident.cause is Cause.REKEY_COLLISION:
            return Verdict.WILL_SELF_HEAL, "Rekey collisions resolve themselves; let one peer initiate rekeys."
        return Verdict.NEEDS_CGW_CHANGE, "Align the customer gateway's lifetimes and PFS with the tunnel options."
    if category in _CGW_CONFIG_CATEGORIES:
        return Verdict.NEEDS_CGW_CHANGE, (
            f"{_article(category.label)} {category.label} does not fix itself: the customer gateway's configuration "
            "or network path must change."
        )
    if category is Category.BGP_SESSION:
        if incident.cause in _CGW_BGP_CAUSES:
            return Verdict.NEEDS_CGW_CHANGE, "The BGP configuration on the customer gateway must change."
        if incident.cause is Cause.ROUTES_LOST:
            return Verdict.UNDETERMINED, (
                "The BGP session is up but AWS accepts fewer routes from the customer gateway: check what the gateway "
                "advertises (route filters, redistribution, the networks behind it); routes withdrawn on purpose "
                "become the tunnel's new baseline after routes_relearn_hours."
            )
        return Verdict.UNDETERMINED, "BGP sessions usually re-establish once the tunnel is stable; watch the BGP logs."
    if incident.last_state is TunnelState.DOWN:
        if tunnel.dpd_timeout_action == "restart" or aws_starts:
            return Verdict.WILL_SELF_HEAL, "The tunnel options let AWS re-initiate the tunnel."
        return Verdict.UNDETERMINED, "The tunnel is down for an unknown reason and AWS waits for the customer gateway."
    return Verdict.UNDETERMINED, "Not enough evidence to say whether the tunnel recovers by itself."


def _replacement_verdict(connection: VpnConnectionInfo) -> tuple[Verdict, str]:
    """The connection's tunnels after an endpoint replacement: the first that will not come back by itself decides."""
    verdicts = [(tunnel.outside_ip, *after_replacement(tunnel)) for tunnel in connection.tunnels]
    stuck = [(ip, verdict, why) for ip, verdict, why in verdicts if verdict is not Verdict.WILL_SELF_HEAL]
    if not stuck:
        return Verdict.WILL_SELF_HEAL, "Every tunnel of the connection lets AWS initiate it after a replacement."
    return stuck[0][1], " ".join(f"Tunnel {ip}: {why}" for ip, _, why in stuck)


def _steps(incident: Incident, tunnel: TunnelConfig | None, vendor: str | None) -> tuple[str, ...]:
    steps = list(next_steps(incident.category, incident.cause, vendor))
    if incident.maintenance:
        steps.insert(
            0,
            "AWS replaced this tunnel's endpoint (maintenance): the customer gateway must re-initiate IKE unless the "
            "startup action is 'start'.",
        )
    if tunnel is not None and not tunnel.logging.enabled:
        steps.append("Enable tunnel activity logging so the next failure explains itself.")
    return tuple(dict.fromkeys(steps))


def _groups(groups: Sequence[int]) -> str:
    return ",".join(str(group) for group in groups) or "none"


def _article(noun_phrase: str) -> str:
    """ "An" before a vowel sound (an IKE ..., an IPsec ...), else "A"."""
    return "An" if noun_phrase[:1].lower() in "aeiou" else "A"
