"""The troubleshooting playbook (domain.md section 5) as data: what to do next, per category and cause.

One source of truth for next steps: the diagnosis adds them to a :class:`~vpn_doctor.models.Diagnosis`
and the alert renderers fall back to :func:`next_steps` when no diagnosis is available.
Vendor hints are short, device-specific pointers appended when the customer gateway's vendor is
known (see :func:`vendor_of`).
"""

from __future__ import annotations

import re
from typing import Final

from vpn_doctor.taxonomy import Category, Cause

# The firewall rule the seed article gets wrong ("port 50 UDP"): ESP is IP protocol 50.
FIREWALL_RULES: Final = (
    "Allow UDP 500 (IKE) between the customer gateway and both AWS tunnel outside IPs; with NAT-T "
    "(behind NAT, or acceleration on) allow UDP 4500; without NAT-T allow IP protocol 50 (ESP) - a "
    "protocol number, not a port."
)

_CATEGORY_STEPS: Final[dict[Category, tuple[str, ...]]] = {
    Category.IKE_PHASE1_FAILURE: (
        "Check whether the tunnel is UP in the VPN console or with DescribeVpnConnections (VgwTelemetry).",
        "Compare the customer gateway's pre-shared key, IKE version, phase 1 encryption, integrity and "
        "DH group, and phase 1 lifetime with the tunnel options AWS shows for this tunnel.",
        FIREWALL_RULES,
    ),
    Category.IPSEC_PHASE2_FAILURE: (
        "Compare the customer gateway's phase 2 (IPsec) encryption, integrity, PFS/DH group and lifetime "
        "with the tunnel options AWS shows for this tunnel.",
        "Make sure PFS is enabled on the customer gateway: AWS uses it by default.",
    ),
    Category.DPD_TIMEOUT: (
        "AWS sends a DPD R-U-THERE every 10 seconds and declares the peer dead after 3 unanswered "
        "messages: check that the customer gateway answers DPD and is reachable from the Internet.",
        "Check that no IPS or firewall between the customer gateway and AWS rate-limits or drops DPD (UDP 500/4500).",
        "Check the stability of the customer gateway's Internet link around the time of the timeout.",
        "If AWS must not act on DPD timeouts, set the tunnel's DPD timeout action to 'none'; to let AWS "
        "re-initiate, set it to 'restart'.",
    ),
    Category.IDLE_TIMEOUT: (
        "Keep traffic flowing in both directions, e.g. a host that pings an instance in the VPC every 5 seconds.",
        "Check the customer gateway's idle timeout for IKE and IPsec SAs and raise or disable it.",
        "Set the tunnel's startup action to 'start' (IKEv2) so AWS re-initiates the tunnel itself.",
    ),
    Category.REKEY_FAILURE: (
        "Make the customer gateway's phase 1 and phase 2 lifetimes match AWS's (defaults 28800 s and 3600 s).",
        "Enable PFS on the customer gateway: AWS uses it by default and rekeys fail without it.",
        "With IKEv2 the peer with the lower lifetime initiates rekeys; best practice is one peer initiating.",
    ),
    Category.POLICY_BASED_VPN: (
        "Make the customer gateway's traffic selectors cover the connection's local and remote IPv4/IPv6 "
        "network CIDRs (default 0.0.0.0/0 on both sides).",
        "AWS supports a single encryption domain (one SA pair): summarise several networks into one "
        "selector, or use a route-based configuration.",
    ),
    Category.STATIC_ROUTING_ASYMMETRY: (
        "Prefer dynamic routing (BGP): it fails over between the tunnels cleanly.",
        "With static routes and both tunnels UP, configure the customer gateway to prefer one tunnel "
        "(or handle asymmetric routing) so return traffic takes the tunnel it came in on.",
    ),
    Category.BGP_SESSION: (
        "Check the BGP configuration on the customer gateway: neighbor inside IP, ASN, hold timer, and "
        "that TCP 179 is allowed inside the tunnel.",
        "Check the BGP logs of the tunnel (BGP logging in the tunnel options) for the notification sent or received.",
    ),
    Category.CGW_NETWORK: (
        FIREWALL_RULES,
        "If the customer gateway is behind NAT (or acceleration is on), enable NAT-T on it.",
        "Check the firewall rules between the on-premises network and AWS in both directions.",
    ),
    Category.ENDPOINT_REPLACEMENT: (
        "AWS replaces tunnel endpoints one tunnel at a time; after a replacement a tunnel comes back by itself "
        "only when AWS initiates it (startup action 'start', which needs IKEv2) or the customer gateway "
        "re-initiates (DPD action restart, or initiation on traffic).",
        "Set the tunnel's startup action to 'start' and allow IKEv2 on both sides before the replacement, or make "
        "sure the customer gateway initiates the tunnel again on its own.",
        "With tunnel endpoint lifecycle control on, apply the pending maintenance yourself (ReplaceVpnTunnel with "
        "ApplyPendingMaintenance) at a time you choose, while someone watches, before AWS applies it.",
    ),
    Category.TUNNEL_CLOSED: (
        "The peer ended the tunnel in order (a DELETE, not a failed negotiation): find out who stopped it "
        "(an operator, a configuration reload, the daemon or the device restarting, AWS maintenance).",
        "If the tunnel does not come back, start it again from the side that closed it, or set the tunnel's "
        "startup action to 'start' (IKEv2) so AWS initiates it.",
    ),
    Category.HEALTHY: (),
    Category.UNKNOWN: (
        "Look at the tunnel's activity log around the time of the event (CloudWatch Logs Insights).",
        "Check the tunnel status and the customer gateway's own logs.",
    ),
}

_CAUSE_STEPS: Final[dict[Cause, str]] = {
    Cause.PSK_MISMATCH: "The pre-shared keys differ: copy the tunnel's key from the AWS console "
    "to the customer gateway.",
    Cause.PROPOSAL_MISMATCH: "The proposals differ: configure at least one encryption/integrity/DH combination "
    "that the tunnel options allow (AWS does not support 3DES).",
    Cause.AUTH_FAILED: "IKE authentication failed: check the pre-shared key (or certificate) and the IKE identities.",
    Cause.CERTIFICATE_FAILED: "Certificate authentication failed (the certificate is expired, not yet valid, "
    "revoked, or not issued by a CA the other side trusts): check the customer gateway's certificate and its CA "
    "chain against the tunnel's AWS Private CA certificate (CertificateArn), and the IKE identities.",
    Cause.CERTIFICATE_EXPIRING: "The customer gateway certificate of this tunnel expires soon: renew it in ACM "
    "(AWS Private CA) and install the renewed certificate on the customer gateway before it expires, or IKE "
    "authentication will fail as with a wrong pre-shared key.",
    Cause.IKE_VERSION_MISMATCH: "The IKE versions differ: allow the customer gateway's IKE version in the tunnel "
    "options, or configure the customer gateway for a version AWS allows.",
    Cause.NO_RESPONSE: "The customer gateway stopped answering during IKE negotiation: suspect UDP 500/4500 being "
    "filtered on the path.",
    Cause.PEER_DELETE: "The customer gateway deleted the SA: check its logs for why (idle timer, rekey, "
    "configuration change).",
    Cause.PFS_MISMATCH: "PFS/DH groups differ in phase 2: enable PFS on the customer gateway with a DH group the "
    "tunnel allows.",
    Cause.PHASE2_DOWN_PHASE1_UP: "Phase 1 is up but phase 2 cannot establish: compare the phase 2 proposals and "
    "traffic selectors.",
    Cause.PEER_NOT_RESPONSIVE: "The customer gateway did not answer dead peer detection.",
    Cause.PEER_DELETE_IDLE: "The customer gateway closed the SA after a quiet period: its idle timer fired.",
    Cause.NO_TRAFFIC: "No data crossed the connection's tunnels: an idle timer (on the customer gateway or on "
    "the path) closes quiet tunnels; keep traffic flowing or have AWS initiate the tunnel (startup action "
    "'start').",
    Cause.LIFETIME_MISMATCH: "Frequent rekeys point at a lifetime mismatch: align the lifetimes on both sides.",
    Cause.REKEY_COLLISION: "Both peers rekeyed at once: let one peer initiate rekeys (lower lifetime on one side).",
    Cause.REKEY_FAILED: "A rekey failed: compare lifetimes and PFS settings on both sides.",
    Cause.TS_UNACCEPTABLE: "AWS rejected the traffic selectors: they must match the connection's network CIDRs.",
    Cause.MULTIPLE_SELECTORS: "Several encryption domains (traffic-selector pairs) were negotiated on one tunnel: "
    "AWS keeps one SA pair per tunnel, so the pairs replace each other and traffic is lost intermittently. "
    "Summarise the networks into one selector pair (0.0.0.0/0 both ways is simplest) or use a route-based "
    "(VTI) configuration.",
    Cause.BOTH_TUNNELS_UP_STATIC: "Both tunnels are UP with static routing: expect asymmetric routing unless the "
    "customer gateway prefers one tunnel.",
    Cause.HOLD_TIMER_EXPIRED: "The BGP hold timer expired: keepalives were lost - check tunnel stability and TCP 179.",
    Cause.ASN_MISMATCH: "The BGP peer's ASN differs from the customer gateway's ASN configured in AWS.",
    Cause.PREFIX_LIMIT_EXCEEDED: "The customer gateway advertised more prefixes than AWS accepts: summarise routes.",
    Cause.PEER_CEASE: "A BGP Cease notification closed the session: check which side sent it and why.",
    Cause.SESSION_DOWN: "The BGP session went down: check the neighbor configuration and the tunnel underneath.",
    Cause.ROUTE_DENIED: "AWS denied a route (own AS in the path, or a non-connected next hop): fix the advertisement.",
    Cause.ROUTES_LOST: "Routes learned from the customer gateway were lost (withdrawn, or AWS accepts far fewer "
    "than before): check what the gateway advertises (its BGP table, route filters and redistribution) and "
    "whether the networks behind it are still reachable.",
    Cause.NAT_T_BLOCKED: "NAT-T traffic (UDP 4500) is blocked: allow it both ways.",
    Cause.ESP_BLOCKED: "ESP (IP protocol 50) is blocked one way: the connection does not use NAT-T, so allow IP "
    "protocol 50 (a protocol number, not a port) and UDP 500 both ways between the customer gateway and both "
    "tunnel outside IPs, or enable NAT-T (UDP 4500).",
    Cause.ONE_WAY_TRAFFIC: "Traffic crosses the tunnel one way only. With NAT-T, ESP rides inside UDP 4500 and "
    "cannot be blocked alone: check on-premises routing back to the VPC's CIDRs, the VPC's security groups and "
    "network ACLs, and the customer gateway's policy (a rule or NAT that drops the return traffic).",
    Cause.SCHEDULED: "AWS announced a tunnel endpoint replacement for this connection.",
    Cause.REPLACEMENT_WILL_NOT_SELF_HEAL: "A tunnel endpoint replacement is pending and this tunnel will not come "
    "back by itself afterwards (IKEv1 only, or startup action 'add' so AWS does not initiate, with a customer "
    "gateway that may not re-initiate): change it before the replacement.",
    Cause.REPLACED: "AWS replaced the tunnel endpoint.",
    Cause.PEER_CLOSED: "The peer closed the tunnel with a DELETE while it was up and no failure was logged: an "
    "orderly shutdown (swanctl --terminate, ipsec down, a daemon or device stop), not a negotiation failure.",
    Cause.UDP500_BLOCKED: "Nothing answers IKE (UDP 500): allow UDP 500 both ways between the customer gateway "
    "and the tunnel's outside IP, and check that the gateway's public address (after any NAT) is the customer "
    "gateway IP configured in AWS for the connection.",
}

# Vendor-specific pointers: (vendor, category) -> hint. Only settings we are sure exist.
_VENDOR_HINTS: Final[dict[tuple[str, Category], str]] = {
    ("cisco", Category.DPD_TIMEOUT): "Cisco: IOS `crypto isakmp keepalive 10 3 periodic`; ASA "
    "`isakmp keepalive threshold 10 retry 2` under the tunnel-group's ipsec-attributes.",
    ("cisco", Category.IDLE_TIMEOUT): "Cisco: check `crypto ipsec security-association idle-time` (IOS) or "
    "`vpn-idle-timeout` in the group-policy (ASA).",
    ("cisco", Category.REKEY_FAILURE): "Cisco: set `lifetime 28800` in the IKE policy and "
    "`set security-association lifetime seconds 3600` in the crypto map/profile, with `set pfs`.",
    (
        "paloalto",
        Category.DPD_TIMEOUT,
    ): "Palo Alto: enable Dead Peer Detection on the IKE gateway (interval 10, retry 3).",
    ("paloalto", Category.IDLE_TIMEOUT): "Palo Alto: enable tunnel monitoring on the IPsec tunnel so traffic keeps "
    "flowing and the tunnel is re-established.",
    ("fortinet", Category.DPD_TIMEOUT): "FortiGate: in the phase1-interface set `dpd on-idle` and "
    "`dpd-retryinterval 10`.",
    ("fortinet", Category.IDLE_TIMEOUT): "FortiGate: in the phase2-interface set `auto-negotiate enable` and "
    "`keepalive enable`.",
    ("juniper", Category.DPD_TIMEOUT): "Juniper SRX: `set security ike gateway <gw> dead-peer-detection interval 10 "
    "threshold 3`.",
    ("juniper", Category.IDLE_TIMEOUT): "Juniper SRX: `set security ipsec vpn <vpn> establish-tunnels immediately` "
    "and `vpn-monitor` to keep traffic flowing.",
    ("strongswan", Category.DPD_TIMEOUT): "strongSwan: set `dpd_delay = 10s` on the connection and "
    "`dpd_action = restart` on the child in swanctl.conf.",
    ("strongswan", Category.IDLE_TIMEOUT): "strongSwan: check the child's `inactivity` timeout in swanctl.conf and "
    "set `start_action = start` / `close_action = start`.",
    ("strongswan", Category.REKEY_FAILURE): "strongSwan: align `rekey_time`/`life_time` with AWS's lifetimes and "
    "include a DH group in the child's `esp_proposals` (PFS).",
}

_VENDOR_PATTERNS: Final = (
    ("cisco", re.compile(r"cisco|\basa\b|\bios\b|meraki", re.IGNORECASE)),
    ("paloalto", re.compile(r"palo\s*alto|pan-?os", re.IGNORECASE)),
    ("fortinet", re.compile(r"forti", re.IGNORECASE)),
    ("juniper", re.compile(r"juniper|\bsrx\b|junos", re.IGNORECASE)),
    ("strongswan", re.compile(r"strongswan|libreswan", re.IGNORECASE)),
)


def vendor_of(*texts: str | None) -> str | None:
    """The customer gateway's vendor guessed from a device name or tag value (``None`` when unknown)."""
    for text in texts:
        if not text:
            continue
        for vendor, pattern in _VENDOR_PATTERNS:
            if pattern.search(text):
                return vendor
    return None


def next_steps(category: Category | str, cause: Cause | str | None, vendor: str | None = None) -> tuple[str, ...]:
    """What a person should do next for a problem of this category and cause.

    Unknown category or cause values are tolerated (treated as ``unknown`` / no cause), so a renderer
    can pass values read back from an event without validating them first.
    """
    category_value = _category(category)
    cause_value = _cause(cause)
    steps: list[str] = []
    if cause_value is not None and cause_value in _CAUSE_STEPS:
        steps.append(_CAUSE_STEPS[cause_value])
    steps.extend(_CATEGORY_STEPS[category_value])
    if vendor:
        hint = _VENDOR_HINTS.get((vendor.lower(), category_value))
        if hint:
            steps.append(hint)
    return tuple(dict.fromkeys(steps))


def _category(value: object) -> Category:
    try:
        return Category(str(value))
    except ValueError:
        return Category.UNKNOWN


def _cause(value: object) -> Cause | None:
    if value is None:
        return None
    try:
        return Cause(str(value))
    except ValueError:
        return None
