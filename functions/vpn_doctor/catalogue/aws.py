"""AWS Site-to-Site VPN log messages: tunnel activity (IKEv1, IKEv2) and BGP.

Message strings from the AWS "Site-to-Site VPN logs" documentation (see ../shared/docs/domain.md).
"""

from __future__ import annotations

from vpn_doctor.catalogue import Family, row
from vpn_doctor.catalogue import Tag as T
from vpn_doctor.taxonomy import Category as C
from vpn_doctor.taxonomy import Cause as K
from vpn_doctor.taxonomy import Severity as S

AWS, BGP = Family.AWS_TUNNEL, Family.AWS_BGP

# fmt: off
AWS_RULES = (
    # --- routine chatter first: most records of a healthy log group are rekey exchanges, and no
    # other row can match these lines (the rows are disjoint), so the order costs nothing else.
    row("aws.create_child_sa", AWS,
         r"(?:processed|is sending) (?:request|response)(?: \(id=\S+\))? for CREATE_CHILD_SA",
         C.HEALTHY, K.REKEY_OK, S.INFO, "Normal CHILD_SA / rekey exchange", T.CHILD_REKEY),
    # --- AWS tunnel activity logs: IKEv1 -------------------------------------------------
    row("aws.dpd_peer_dead", AWS, r"Peer is not responsive - Declaring peer dead",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.CRITICAL,
         "Customer gateway stopped answering dead peer detection; AWS declared the peer dead"),
    row("aws.psk_decryption_failed", AWS,
         r"payload decryption was unsuccessful due to invalid Pre-?shared Key",
         C.IKE_PHASE1_FAILURE, K.PSK_MISMATCH, S.CRITICAL,
         "Pre-shared keys differ between AWS and the customer gateway (IKE payload decryption failed)"),
    row("aws.no_proposal_chosen", AWS, r"No Proposal Match Found\.? Notifying with \"?No proposal chosen",
         C.IPSEC_PHASE2_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Proposals differ: AWS answered NO_PROPOSAL_CHOSEN to the customer gateway's offer",
         T.PROPOSAL_REFUSED),
    row("aws.no_proposal_match", AWS, r"No Proposal Match Found by AWS",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "The customer gateway offered algorithms AWS does not support (encryption, integrity or DH group)",
         T.PROPOSAL_REFUSED),
    row("aws.peer_delete_phase2", AWS, r"received DELETE for Phase 2 SA with SPI:?\s*(?P<spi>\S+)?",
         C.IPSEC_PHASE2_FAILURE, K.PEER_DELETE, S.WARNING,
         "The customer gateway deleted the phase 2 (IPsec) SA {spi}", T.PEER_DELETE),
    row("aws.peer_delete_ike", AWS, r"received DELETE for IKE_SA from CGW",
         C.IKE_PHASE1_FAILURE, K.PEER_DELETE, S.WARNING,
         "The customer gateway deleted the IKE (phase 1) SA", T.PEER_DELETE, T.IKE_DELETED),
    # --- AWS tunnel activity logs: IKEv2 -------------------------------------------------
    row("aws.dpd_timed_out", AWS, r"DPD timed out after (?P<retries>\d+) retransmits",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.CRITICAL,
         "Customer gateway did not answer dead peer detection ({retries} retransmits)"),
    row("aws.child_rekey_collision_delete", AWS, r"detected a \(?CHILD_REKEY\)? collision as CHILD_DELETE",
         C.REKEY_FAILURE, K.REKEY_COLLISION, S.WARNING,
         "The customer gateway deleted the CHILD_SA AWS was rekeying (rekey collision)"),
    row("aws.redundant_sa_collision", AWS, r"redundant SA is being deleted due to detected collision",
         C.HEALTHY, K.REKEY_OK, S.INFO,
         "Simultaneous rekey; AWS closed the redundant SA (normal unless it repeats)", T.REKEY_COLLISION),
    row("aws.phase2_failed_keep_phase1", AWS, r"Phase 2 was unable to establish while keeping Phase 1",
         C.IPSEC_PHASE2_FAILURE, K.PHASE2_DOWN_PHASE1_UP, S.CRITICAL,
         "Phase 2 (CHILD_SA) negotiation failed while phase 1 stays up"),
    row("aws.ts_unacceptable", AWS, r"Traffic Selector:?\s*TS_UNACCEPTABLE",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "Traffic selectors rejected (TS_UNACCEPTABLE): the encryption domains do not match"),
    row("aws.auth_failed", AWS, r"sending AUTHENTICATION_FAILED",
         C.IKE_PHASE1_FAILURE, K.AUTH_FAILED, S.CRITICAL,
         "AWS could not verify the customer gateway's IKE_AUTH (AUTHENTICATION_FAILED)"),
    row("aws.psk_mismatch", AWS, r"detected a pre-?shared key mismatch with cgw:?\s*(?P<cgw>\S+)?",
         C.IKE_PHASE1_FAILURE, K.PSK_MISMATCH, S.CRITICAL,
         "Pre-shared keys differ between AWS and the customer gateway {cgw}"),
    row("aws.half_open_ike_timeout", AWS,
         r"Timeout: deleting un-?established Phase 1 IKE_SA with cgw:?\s*(?P<cgw>\S+)?",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.CRITICAL,
         "Customer gateway {cgw} stopped negotiating phase 1 (half-open IKE SA); check UDP 500/4500 filtering",
         T.HALF_OPEN_IKE),
)

BGP_RULES = (
    # --- AWS BGP logs --------------------------------------------------------------------
    row("bgp.state_change", BGP,
         r"BGP session state has changed from (?P<old>\w+) to (?P<new>\w+)(?: with neighbor (?P<neighbor>\S+))?",
         C.BGP_SESSION, K.SESSION_DOWN, S.WARNING,
         "BGP session with {neighbor} changed from {old} to {new}", T.BGP_STATE_CHANGE),
    row("bgp.hold_timer_expired", BGP, r"Hold Timer Expired(?: notification)?(?: to neighbor (?P<neighbor>\S+))?",
         C.BGP_SESSION, K.HOLD_TIMER_EXPIRED, S.CRITICAL,
         "BGP hold timer expired with {neighbor}: no keepalives from the customer gateway"),
    row("bgp.bad_open_asn", BGP,
         r"bad OPEN message from neighbor (?P<neighbor>\S+) - remote AS is (?P<remote>\d+), expected (?P<expected>\d+)",
         C.BGP_SESSION, K.ASN_MISMATCH, S.CRITICAL,
         "BGP ASN mismatch with {neighbor}: it uses AS {remote}, AWS expects AS {expected}"),
    row("bgp.prefix_limit_exceeded", BGP, r"maximum prefix limit was exceeded",
         C.BGP_SESSION, K.PREFIX_LIMIT_EXCEEDED, S.CRITICAL,
         "The customer gateway advertised more prefixes than the AWS limit; the session is reset"),
    row("bgp.prefix_limit_warning", BGP, r"maximum prefix limit warning",
         C.BGP_SESSION, K.PREFIX_LIMIT_EXCEEDED, S.WARNING,
         "The customer gateway is close to the AWS maximum prefix limit"),
    row("bgp.cease", BGP, r"\bCease\b(?:.*?(?P<subcode>6/\d))?",
         C.BGP_SESSION, K.PEER_CEASE, S.CRITICAL, "BGP Cease notification ({subcode}): the session was closed"),
    row("bgp.route_denied", BGP, r"DENIED due to:?\s*(?P<reason>.+)",
         C.BGP_SESSION, K.ROUTE_DENIED, S.WARNING, "A route from the customer gateway was denied: {reason}"),
    # A RouteStatus record with status WITHDRAWN (a denied route is also reported as WITHDRAWN, so
    # bgp.route_denied comes first). One withdrawal is routine; a burst is a route loss (rules.py).
    row("bgp.route_withdrawn", BGP, r"(?:Route (?P<prefix>\S+) )?\bWITHDRAWN\b",
         C.HEALTHY, None, S.INFO, "Route {prefix} withdrawn by the customer gateway", T.ROUTE_WITHDRAWN),
    row("bgp.informational", BGP,
         r"\bOPEN\b|End-of-RIB|\bUPDATE\b|connect attempt|KEEPALIVE|ADVERTISED|\bUPDATED\b|WITHDRAWN|prefix",
         C.HEALTHY, None, S.INFO, "BGP informational record"),
)
# fmt: on
