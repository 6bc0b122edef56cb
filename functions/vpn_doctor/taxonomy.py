"""The failure taxonomy: stable ids other tools depend on (architecture.md, "Failure taxonomy")."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """What kind of problem a record or incident shows. The values are a public contract."""

    IKE_PHASE1_FAILURE = "ike_phase1_failure"
    IPSEC_PHASE2_FAILURE = "ipsec_phase2_failure"
    DPD_TIMEOUT = "dpd_timeout"
    IDLE_TIMEOUT = "idle_timeout"
    REKEY_FAILURE = "rekey_failure"
    POLICY_BASED_VPN = "policy_based_vpn"
    STATIC_ROUTING_ASYMMETRY = "static_routing_asymmetry"
    BGP_SESSION = "bgp_session"
    CGW_NETWORK = "cgw_network"
    ENDPOINT_REPLACEMENT = "endpoint_replacement"
    TUNNEL_CLOSED = "tunnel_closed"
    HEALTHY = "healthy"
    UNKNOWN = "unknown"

    @property
    def is_failure(self) -> bool:
        """True for categories that describe a problem (not ``healthy`` or ``unknown``)."""
        return self not in _NOT_FAILURES  # asked of every finding of a batch: one set look-up

    @property
    def label(self) -> str:
        """The category in words, for people."""
        return CATEGORY_TITLES[self]


_NOT_FAILURES = frozenset({Category.HEALTHY, Category.UNKNOWN})

CATEGORY_TITLES: dict[Category, str] = {
    Category.IKE_PHASE1_FAILURE: "IKE phase 1 failure",
    Category.IPSEC_PHASE2_FAILURE: "IPsec phase 2 failure",
    Category.DPD_TIMEOUT: "dead peer detection timeout",
    Category.IDLE_TIMEOUT: "idle timeout",
    Category.REKEY_FAILURE: "rekey failure",
    Category.POLICY_BASED_VPN: "policy-based VPN / encryption domain problem",
    Category.STATIC_ROUTING_ASYMMETRY: "asymmetric routing with static routes",
    Category.BGP_SESSION: "BGP session problem",
    Category.CGW_NETWORK: "customer gateway network path problem",
    Category.ENDPOINT_REPLACEMENT: "AWS tunnel endpoint replacement",
    Category.TUNNEL_CLOSED: "tunnel closed by its peer",
    Category.HEALTHY: "healthy",
    Category.UNKNOWN: "unrecognised record",
}


class Cause(StrEnum):
    """The finer cause within a category, where known. The values are a public contract."""

    # ike_phase1_failure
    PSK_MISMATCH = "psk_mismatch"
    PROPOSAL_MISMATCH = "proposal_mismatch"
    AUTH_FAILED = "auth_failed"
    # certificate-authenticated tunnels (CertificateArn): a certificate the peer refused, or one about to expire
    CERTIFICATE_FAILED = "certificate_failed"
    CERTIFICATE_EXPIRING = "certificate_expiring"
    IKE_VERSION_MISMATCH = "ike_version_mismatch"
    NO_RESPONSE = "no_response"
    PEER_DELETE = "peer_delete"
    # ipsec_phase2_failure
    PFS_MISMATCH = "pfs_mismatch"
    PHASE2_DOWN_PHASE1_UP = "phase2_down_phase1_up"
    # dpd_timeout
    PEER_NOT_RESPONSIVE = "peer_not_responsive"
    # idle_timeout
    PEER_DELETE_IDLE = "peer_delete_idle"
    NO_TRAFFIC = "no_traffic"
    # rekey_failure
    LIFETIME_MISMATCH = "lifetime_mismatch"
    REKEY_COLLISION = "rekey_collision"
    REKEY_FAILED = "rekey_failed"
    # policy_based_vpn
    TS_UNACCEPTABLE = "ts_unacceptable"
    MULTIPLE_SELECTORS = "multiple_selectors"
    # static_routing_asymmetry
    BOTH_TUNNELS_UP_STATIC = "both_tunnels_up_static"
    # bgp_session
    HOLD_TIMER_EXPIRED = "hold_timer_expired"
    ASN_MISMATCH = "asn_mismatch"
    PREFIX_LIMIT_EXCEEDED = "prefix_limit_exceeded"
    PEER_CEASE = "peer_cease"
    SESSION_DOWN = "session_down"
    ROUTE_DENIED = "route_denied"
    ROUTES_LOST = "routes_lost"
    # cgw_network
    NAT_T_BLOCKED = "nat_t_blocked"
    ESP_BLOCKED = "esp_blocked"
    UDP500_BLOCKED = "udp500_blocked"
    ONE_WAY_TRAFFIC = "one_way_traffic"
    # endpoint_replacement (AWS-side maintenance: Health notices, replacement status, lifecycle control)
    SCHEDULED = "scheduled"
    REPLACEMENT_WILL_NOT_SELF_HEAL = "replacement_will_not_self_heal"
    REPLACED = "replaced"
    # tunnel_closed
    PEER_CLOSED = "peer_closed"
    # healthy
    ESTABLISHED = "established"
    DPD_EXCHANGE = "dpd_exchange"
    REKEY_OK = "rekey_ok"


# Which causes belong to which category; checked by the tests so the catalogue cannot drift.
CAUSES_BY_CATEGORY: dict[Category, frozenset[Cause]] = {
    Category.IKE_PHASE1_FAILURE: frozenset(
        {
            Cause.PSK_MISMATCH,
            Cause.PROPOSAL_MISMATCH,
            Cause.AUTH_FAILED,
            Cause.CERTIFICATE_FAILED,
            Cause.CERTIFICATE_EXPIRING,
            Cause.IKE_VERSION_MISMATCH,
            Cause.NO_RESPONSE,
            Cause.PEER_DELETE,
        }
    ),
    Category.IPSEC_PHASE2_FAILURE: frozenset(
        {Cause.PROPOSAL_MISMATCH, Cause.PFS_MISMATCH, Cause.PHASE2_DOWN_PHASE1_UP, Cause.PEER_DELETE}
    ),
    Category.DPD_TIMEOUT: frozenset({Cause.PEER_NOT_RESPONSIVE}),
    Category.IDLE_TIMEOUT: frozenset({Cause.PEER_DELETE_IDLE, Cause.NO_TRAFFIC}),
    Category.REKEY_FAILURE: frozenset({Cause.LIFETIME_MISMATCH, Cause.REKEY_COLLISION, Cause.REKEY_FAILED}),
    Category.POLICY_BASED_VPN: frozenset({Cause.TS_UNACCEPTABLE, Cause.MULTIPLE_SELECTORS}),
    Category.STATIC_ROUTING_ASYMMETRY: frozenset({Cause.BOTH_TUNNELS_UP_STATIC}),
    Category.BGP_SESSION: frozenset(
        {
            Cause.HOLD_TIMER_EXPIRED,
            Cause.ASN_MISMATCH,
            Cause.PREFIX_LIMIT_EXCEEDED,
            Cause.PEER_CEASE,
            Cause.SESSION_DOWN,
            Cause.ROUTE_DENIED,
            Cause.ROUTES_LOST,
        }
    ),
    Category.CGW_NETWORK: frozenset(
        {Cause.NAT_T_BLOCKED, Cause.ESP_BLOCKED, Cause.UDP500_BLOCKED, Cause.ONE_WAY_TRAFFIC}
    ),
    Category.ENDPOINT_REPLACEMENT: frozenset({Cause.SCHEDULED, Cause.REPLACEMENT_WILL_NOT_SELF_HEAL, Cause.REPLACED}),
    Category.TUNNEL_CLOSED: frozenset({Cause.PEER_CLOSED}),
    Category.HEALTHY: frozenset({Cause.ESTABLISHED, Cause.DPD_EXCHANGE, Cause.REKEY_OK}),
    Category.UNKNOWN: frozenset(),
}


class Severity(StrEnum):
    """How urgently a person should look. Ordered: ``info`` < ``warning`` < ``critical``."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Numeric order, for comparisons and "worst of" roll-ups."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
