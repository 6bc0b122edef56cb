"""Customer-gateway log messages: strongSwan (charon) and libreswan (pluto).

Checked against real daemons in the customer-gateway lab (tests/lab); the lab's captured logs are
the regression fixtures in tests/fixtures/lab.
"""

from __future__ import annotations

from vpn_doctor.catalogue import Family, row
from vpn_doctor.catalogue import Tag as T
from vpn_doctor.taxonomy import Category as C
from vpn_doctor.taxonomy import Cause as K
from vpn_doctor.taxonomy import Severity as S

SWAN, PLUTO = Family.STRONGSWAN, Family.LIBRESWAN

# fmt: off
STRONGSWAN_RULES = (
    # --- strongSwan (charon) on the customer gateway -------------------------------------
    row("swan.ike_established", SWAN, r"IKE_SA \S+ established between",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IKE SA established", T.IKE_ESTABLISHED),
    # 5.9.8 prints "inbound CHILD_SA x{n} established with SPIs" for a rekeyed CHILD_SA (both
    # sides), so this row must come before the plain "established" one.
    row("swan.child_rekeyed", SWAN, r"rekeying CHILD_SA|CHILD_SA \S+ rekeyed|inbound CHILD_SA \S+ established|detected rekeying of CHILD_SA",
         C.HEALTHY, K.REKEY_OK, S.INFO, "CHILD_SA rekey", T.CHILD_REKEY),
    # IKEv1 keeps the old CHILD_SA after a Quick Mode rekey until it expires (charon's delete_rekeyed is off
    # by default): one "closing expired" line per rekey, where IKEv2 logs "inbound CHILD_SA ... established".
    row("swan.ikev1_child_expired", SWAN, r"closing expired CHILD_SA \S+ with SPIs",
         C.HEALTHY, K.REKEY_OK, S.INFO, "The CHILD_SA a rekey replaced expired (IKEv1)", T.CHILD_REKEY),
    # Both ends rekeyed the same CHILD_SA at once (IKEv2, RFC 7296 2.8.1): one rekey wins, the redundant SA is
    # deleted. Normal once; the collision rule counts the detections and raises when they keep happening.
    row("swan.rekey_collision", SWAN, r"detected CHILD_REKEY collision with CHILD_REKEY",
         C.HEALTHY, K.REKEY_OK, S.INFO, "Simultaneous CHILD_SA rekey (normal unless it repeats)", T.REKEY_COLLISION),
    # The same collision seen again as the peer deletes the SA we were rekeying: counted once, above.
    row("swan.rekey_collision_outcome", SWAN,
         r"CHILD_SA rekey collision (?:won|lost), deleting|detected CHILD_REKEY collision with CHILD_DELETE",
         C.HEALTHY, K.REKEY_OK, S.INFO, "A rekey collision resolved: the redundant CHILD_SA is deleted"),
    # IKEv1 responder: the peer's Quick Mode replaces a CHILD_SA we have (its rekey, not ours).
    # As responder: the peer sent its request again while charon still works on it (seen in a rekey collision).
    row("swan.request_in_progress", SWAN, r"ignoring request with ID \d+, already processing",
         C.HEALTHY, None, S.INFO, "The peer repeated a request charon is still answering"),
    row("swan.ikev1_peer_rekey", SWAN, r"detected rekeying of CHILD_SA \S+",
         C.HEALTHY, K.REKEY_OK, S.INFO, "The peer rekeyed the CHILD_SA (IKEv1 Quick Mode)"),
    row("swan.child_established", SWAN, r"CHILD_SA \S+ established with SPIs",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "CHILD_SA (phase 2) established", T.CHILD_SA_UP),
    row("swan.dpd_request", SWAN, r"sending DPD request|received DPD request",
         C.HEALTHY, K.DPD_EXCHANGE, S.INFO, "Dead peer detection exchange", T.DPD_REQUEST),
    row("swan.psk_mac_mismatch", SWAN, r"tried \d+ shared keys? for .* but MAC mismatched",
         C.IKE_PHASE1_FAILURE, K.PSK_MISMATCH, S.CRITICAL,
         "Pre-shared keys differ: the peer's AUTH payload does not verify with the configured key"),
    row("swan.ikev1_psk_hash", SWAN, r"invalid HASH_V1 payload length, decryption failed",
         C.IKE_PHASE1_FAILURE, K.PSK_MISMATCH, S.CRITICAL,
         "IKEv1 decryption failed: pre-shared keys most likely differ"),
    # Certificate authentication (strongSwan's credential manager, 5.x): the peer's certificate is outside its
    # validity, revoked, or not issued by a trusted CA; charon then finds no trusted public key for the peer.
    row("swan.certificate_invalid", SWAN,
         r"(?:subject |issuer )?certificate invalid \(valid from (?P<start>.+?) to (?P<end>.+?)\)",
         C.IKE_PHASE1_FAILURE, K.CERTIFICATE_FAILED, S.CRITICAL,
         "A certificate is outside its validity (valid from {start} to {end}): expired or not yet valid"),
    row("swan.certificate_revoked", SWAN, r"certificate was revoked on",
         C.IKE_PHASE1_FAILURE, K.CERTIFICATE_FAILED, S.CRITICAL, "The peer's certificate was revoked"),
    row("swan.no_issuer_certificate", SWAN, r"no issuer certificate found for (?P<subject>.+)",
         C.IKE_PHASE1_FAILURE, K.CERTIFICATE_FAILED, S.CRITICAL,
         "The issuer of certificate {subject} is not trusted here (CA certificate missing or different)"),
    row("swan.no_trusted_public_key", SWAN, r"no trusted \S+ public key found for '?(?P<peer>[^']+)'?",
         C.IKE_PHASE1_FAILURE, K.CERTIFICATE_FAILED, S.CRITICAL,
         "Certificate authentication of {peer} failed: no trusted public key (certificate invalid or untrusted)"),
    row("swan.auth_failed_notify", SWAN, r"received AUTHENTICATION_FAILED notify",
         C.IKE_PHASE1_FAILURE, K.AUTH_FAILED, S.CRITICAL,
         "The peer rejected our authentication (AUTHENTICATION_FAILED): check the pre-shared key and IDs"),
    row("swan.ts_unacceptable_notify", SWAN, r"received TS_UNACCEPTABLE notify",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "The peer rejected our traffic selectors (TS_UNACCEPTABLE): encryption domains differ"),
    row("swan.ts_unacceptable_local", SWAN, r"traffic selectors (?P<ts>.+?) (?:are )?(?:unacceptable|inacceptable)",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "Proposed traffic selectors {ts} are not acceptable: encryption domains differ"),
    # IKEv1 (captured in tests/fixtures/lab/quiet): Quick Mode identities (the traffic selectors)
    # refused by the peer, or by us as a responder with no CHILD_SA config for them.
    row("swan.ikev1_invalid_id", SWAN, r"received INVALID_ID_INFORMATION error notify",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "The peer rejected our Quick Mode identities (INVALID_ID_INFORMATION): encryption domains differ"),
    row("swan.no_child_config", SWAN, r"no matching CHILD_SA config found for (?P<ts>.+)",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "No CHILD_SA configuration for the proposed traffic selectors {ts}: encryption domains differ"),
    # As responder: we ask the initiator for the DH group we want, and it retries with it (RFC 7296
    # section 1.3, as in a rekey collision); the initiator's log shows it if it cannot.
    row("swan.dh_group_requested", SWAN, r"DH group (?P<got>\S+) unacceptable, requesting (?P<want>\S+)",
         C.HEALTHY, None, S.INFO, "The peer offered DH group {got}; {want} asked for (it retries with it)"),
    row("swan.invalid_ke", SWAN, r"received INVALID_KE_PAYLOAD notify|DH group \S+ unacceptable|requesting DH group",
         C.IPSEC_PHASE2_FAILURE, K.PFS_MISMATCH, S.WARNING,
         "Diffie-Hellman group / PFS settings differ between the peers", T.PROPOSAL_REFUSED),
    row("swan.no_proposal_notify_child", SWAN, r"received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built",
         C.IPSEC_PHASE2_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Phase 2 proposals differ: the peer answered NO_PROPOSAL_CHOSEN for the CHILD_SA",
         T.PROPOSAL_REFUSED),
    row("swan.no_proposal_notify", SWAN, r"received NO_PROPOSAL_CHOSEN (?:error )?notify",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Proposals differ: the peer answered NO_PROPOSAL_CHOSEN", T.PROPOSAL_REFUSED),
    row("swan.no_acceptable_proposal", SWAN,
         r"no acceptable proposal found|received proposals unacceptable|no proposal chosen|no matching proposal found",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "No proposal in common with the peer (encryption, integrity or DH group)", T.PROPOSAL_REFUSED),
    row("swan.no_ike_config", SWAN, r"no IKE config found for (?P<peers>[^\s,]+)",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL,
         "No IKE configuration matches the peer {peers} (addresses or IKE version)", T.NO_IKE_CONFIG),
    row("swan.child_failed_keep_ike", SWAN, r"failed to establish CHILD_SA, keeping IKE_SA",
         C.IPSEC_PHASE2_FAILURE, K.PHASE2_DOWN_PHASE1_UP, S.CRITICAL,
         "Phase 2 (CHILD_SA) failed while the IKE SA stays up", T.GENERIC_FAILURE),
    row("swan.child_rekey_failed", SWAN, r"CHILD_SA rekeying failed, trying again in (?P<seconds>\d+) seconds",
         C.REKEY_FAILURE, K.REKEY_FAILED, S.WARNING,
         "The CHILD_SA rekey failed (next try in {seconds} s)", T.GENERIC_FAILURE),
    # IKEv1 responder: the initiator's Quick Mode lifetime differs from ours (printed only then).
    row("swan.ikev1_lifetime", SWAN, r"received (?P<got>\d+)s lifetime, configured (?P<conf>\d+)s",
         C.REKEY_FAILURE, K.LIFETIME_MISMATCH, S.WARNING,
         "The peer proposes a {got} s phase 2 lifetime, {conf} s configured: align the lifetimes"),
    # A responder refusing new IKE SAs from a peer that leaves many half-open (never completed).
    row("swan.half_open_limit", SWAN, r"ignoring IKE_SA setup from (?P<peer>\S+), per-IP half-open IKE_SA limit",
         C.IKE_PHASE1_FAILURE, None, S.WARNING,
         "Too many half-open IKE SAs from {peer}: it keeps starting IKE SAs that never complete"),
    # Rekeys crossing (a collision): one is kept, the redundant CHILD_SA dropped. One collision prints
    # several of these lines, so they carry no collision tag (repeated_collision counts lines).
    row("swan.rekey_collision_lost", SWAN,
         r"peer didn't find the CHILD_SA we tried to rekey|unable to rekey, CHILD_SA not found|"
         r"not establishing CHILD_SA \S+ due to existing duplicate|detected CHILD_REKEY collision with|"
         r"CHILD_SA rekey collision (?:won|lost)",
         C.HEALTHY, K.REKEY_OK, S.INFO, "Rekey collision resolved (the redundant CHILD_SA is dropped)"),
    row("swan.socket_write_error", SWAN, r"error writing to socket: (?P<reason>.+)",
         C.CGW_NETWORK, None, S.WARNING,
         "The gateway could not send IKE packets ({reason}): check its firewall and routes"),
    row("swan.retransmit", SWAN, r"retransmit (?P<attempt>\d+) of request (?:with )?message ID (?P<mid>\d+)",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.WARNING,
         "retransmit {attempt} of request {mid}", T.UNANSWERED_REQUEST),
    row("swan.giving_up", SWAN, r"giving up after (?P<attempts>\d+) retransmits",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.CRITICAL,
         "gave up after {attempts} retransmits", T.UNANSWERED_REQUEST),
    row("swan.peer_not_responding", SWAN, r"establishing IKE_SA failed, peer not responding|peer not responding, trying again",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.CRITICAL,
         "establishing the IKE SA failed",
         T.UNANSWERED_REQUEST),
    # IKEv1 (and the inactivity timer), as the lab's IKEv1 matrix logs them (tests/fixtures/lab/matrix).
    row("swan.ikev1_dpd_timeout", SWAN, r"DPD check timed out, enforcing DPD action",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.CRITICAL,
         "The peer stopped answering IKEv1 dead peer detection (DPD check timed out)"),
    row("swan.ikev1_no_proposal_sent", SWAN, r"no matching proposal found, sending NO_PROPOSAL_CHOSEN",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "No proposal in common with the peer: refused with NO_PROPOSAL_CHOSEN", T.PROPOSAL_REFUSED),
    row("swan.ikev1_retransmit", SWAN,
         r"sending retransmit (?P<attempt>\d+) of request message ID (?P<mid>\d+), seq (?P<seq>\d+)",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.WARNING,
         "IKEv1 retransmit {attempt} of request {mid} (seq {seq})", T.UNANSWERED_REQUEST),
    row("swan.inactivity", SWAN, r"deleting (?:CHILD|IKE)_SA after (?P<seconds>\d+) seconds of (?:CHILD_SA )?inactivity",
         C.IDLE_TIMEOUT, K.NO_TRAFFIC, S.WARNING,
         "The gateway closed the tunnel after {seconds} s without traffic (its inactivity timeout): keep traffic "
         "flowing or raise the timeout"),
    row("swan.peer_delete_child", SWAN, r"received DELETE for (?:ESP|AH) CHILD_SA with SPI (?P<spi>\S+)",
         C.IPSEC_PHASE2_FAILURE, K.PEER_DELETE, S.WARNING,
         "The peer deleted the CHILD_SA {spi}", T.PEER_DELETE),
    row("swan.peer_delete_ike", SWAN, r"received DELETE for IKE_SA",
         C.IKE_PHASE1_FAILURE, K.PEER_DELETE, S.WARNING, "The peer deleted the IKE SA", T.PEER_DELETE,
         T.IKE_DELETED),
    row("swan.ike_rekeyed", SWAN, r"rekeying IKE_SA|IKE_SA \S+ rekeyed|reauthenticating IKE_SA",
         C.HEALTHY, K.REKEY_OK, S.INFO, "IKE SA rekey"),
    # As responder: the peer sends its request again, so our response never reached it (was read as a
    # protocol trace; pluto's twin is pluto.duplicate_dpd_request). Which exchange it was is in the
    # history, not in the line: no cause is guessed.
    row("swan.peer_retransmits", SWAN, r"received retransmit of request with ID (?P<mid>\d+), retransmitting response",
         C.CGW_NETWORK, None, S.WARNING,
         "The peer repeats its request {mid}: our responses do not reach it (check the return path to AWS, "
         "UDP 500/4500)"),
    # charon's own encoding of a refusal it sends or receives ("generating IKE_AUTH response 1
    # [ N(AUTH_FAILED) ]"): the line that says why comes just before it, so it takes that line's cause;
    # alone it still says what was refused (was read as a protocol trace).
    row("swan.notify_auth_failed", SWAN, r"^(?:generating|parsed) \S+ (?:request|response) \d+ \[.*\bN\(AUTH_FAILED\)",
         C.IKE_PHASE1_FAILURE, K.AUTH_FAILED, S.WARNING, "IKE authentication refused (AUTHENTICATION_FAILED)",
         T.GENERIC_FAILURE),
    row("swan.notify_ts_unacceptable", SWAN,
         r"^(?:generating|parsed) \S+ (?:request|response) \d+ \[.*\bN\(TS_UNACCEPT\)",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.WARNING, "Traffic selectors refused (TS_UNACCEPTABLE)",
         T.GENERIC_FAILURE),
    row("swan.notify_no_proposal_child", SWAN,
         r"^(?:generating|parsed) (?:IKE_AUTH|CREATE_CHILD_SA) (?:request|response) \d+ \[.*\bN\(NO_PROP\)",
         C.IPSEC_PHASE2_FAILURE, K.PROPOSAL_MISMATCH, S.WARNING, "CHILD_SA proposals refused (NO_PROPOSAL_CHOSEN)",
         T.GENERIC_FAILURE),
    row("swan.notify_no_proposal", SWAN, r"^(?:generating|parsed) \S+ (?:request|response) \d+ \[.*\bN\(NO_PROP\)",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.WARNING, "Proposals refused (NO_PROPOSAL_CHOSEN)",
         T.GENERIC_FAILURE),
    # The start of a negotiation: at charon's log level 0 often the only line a failure leaves, so
    # the context rules count the starts that never came up (rules.never_established).
    row("swan.ike_initiating", SWAN,
         r"^initiating (?:Main Mode |Aggressive Mode )?IKE_SA (?P<sa>\S+) to|"
         r"^(?P<peer>\S+) is initiating an? (?:Main Mode |Aggressive Mode )?IKE_SA",
         C.HEALTHY, None, S.INFO, "IKE SA negotiation started", T.IKE_INITIATING),
    row("swan.child_starting", SWAN, r"^establishing CHILD_SA (?P<child>\S+)",
         C.HEALTHY, None, S.INFO, "CHILD_SA negotiation started", T.CHILD_STARTING),
    row("swan.trace", SWAN,
         r"^(?:received packet|sending packet|generating|parsed|selected proposal|authentication of .* successful|"
         r"scheduling|maximum IKE_SA lifetime|(?:local|remote) host is behind NAT|sending keep ?alive|"
         r"received .*vendor ID|looking for (?:pre-shared key )?peer configs|selected peer config|peer supports MOBIKE|"
         r"sending cert request|"
         r"received cert request|closing CHILD_SA|deleting IKE_SA|IKE_SA deleted|sending DELETE|"
         r"received (?:\S+ )?(?:SUPPORTED|FRAGMENTATION|AUTH_LIFETIME|REDIRECT|MOBIKE|ADDITIONAL)|"
         r"(?:in|out)bound CHILD_SA|received ESP_TFC_PADDING_NOT_SUPPORTED|using (?:DH|PRF)|"
         r"queueing|activating|received proposals:|configured proposals:|"
         r"received packet from|installing|flushing|CHILD_SA closed|restarting CHILD_SA|closing expired CHILD_SA|"
         r"SIGTERM received, shutting down|ignoring request with ID \d+, already processing|"
         r"creating (?:rekey|delete) job|loaded IKE shared key|added vici connection|vici \w+|"
         r"authentication of .* with pre-shared key|flags changed for|sending address list update|"
         r"using (?:trusted (?:intermediate )?(?:ca )?)?certificate|received end entity cert|sending end entity cert|"
         r"\S+ (?:appeared on|disappeared from) \S+$|"
         r"peer didn't accept DH group \S+, it requested|faking NAT situation to enforce UDP encapsulation|"
         r"IKE_SA \S+ state change)",
         C.HEALTHY, None, S.INFO, "IKE protocol trace"),
)

LIBRESWAN_RULES = (
    # --- libreswan (pluto) on the customer gateway ---------------------------------------
    # plutodebug's lines ("| " and the packet dumps) describe internals, payloads included: a notify they
    # print ("|    Notify Message Type: v2N_INVALID_KE_PAYLOAD") is not one that failed, so no failure row
    # may read them (seen on the lab's matrix with plutodebug=base).
    row("pluto.debug", PLUTO, r"^\|", C.HEALTHY, None, S.INFO, "pluto debug output"),
    row("pluto.established", PLUTO, r"IPsec SA established|established (?:IKE|Child|CHILD) SA|ISAKMP SA established|^IKE SA established",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "SA established", T.IKE_ESTABLISHED),
    # pluto 4.10: "send on IFACE from A:500 to B:500 using UDP failed in EVENT_RETRANSMIT: Permission denied
    # (errno 13)" (the lab's unreachable and quiet captures): libreswan's log_errno always appends the error.
    row("pluto.send_failed", PLUTO,
         r"send on \S+ from (?P<src>\S+) to (?P<dst>\S+) using UDP failed(?: in [^:]*)?: (?P<reason>.+)",
         C.CGW_NETWORK, None, S.WARNING,
         "The gateway could not send IKE packets to {dst} ({reason}): check its routes and firewall"),
    row("pluto.dpd_dead", PLUTO, r"DPD:? .*(?:declaring peer dead|No response from peer)",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.CRITICAL, "Dead peer detection declared the peer dead"),
    row("pluto.liveness_dead", PLUTO, r"liveness:? .*(?:peer .* is dead|no response)|liveness action",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.CRITICAL, "Liveness check declared the peer dead"),
    # NSS refused the peer's certificate (libreswan's test suite output: "NSS: ERROR: IPsec certificate <subject>
    # invalid: SEC_ERROR_EXPIRED_CERTIFICATE: Peer's Certificate has expired."; older releases "NSS ERROR: ...").
    row("pluto.nss_certificate", PLUTO,
         r"NSS:? ERROR:? .*?(?P<error>SEC_ERROR_\w+|Peer's Certificate has expired|Peer's Certificate issuer is not "
         r"recognized|Peer's certificate has an invalid signature)",
         C.IKE_PHASE1_FAILURE, K.CERTIFICATE_FAILED, S.CRITICAL,
         "The peer's certificate was refused ({error}): expired, not yet valid or not issued by a trusted CA"),
    row("pluto.auth_failed", PLUTO, r"AUTHENTICATION_FAILED|authentication failed",
         C.IKE_PHASE1_FAILURE, K.AUTH_FAILED, S.CRITICAL,
         "Authentication failed: check the pre-shared key and IDs"),
    # pluto 4.10 when IKE_AUTH is never answered at all. It suspects authentication, but an IKEv2 responder
    # answers a wrong key with AUTHENTICATION_FAILED (pluto.auth_failed): silence after IKE_SA_INIT was
    # answered is the path (UDP 4500 with NAT-T), as the lab's nat_t_blocked shows.
    row("pluto.ike_auth_unanswered", PLUTO,
         r"STATE_V2_PARENT_I2: (?P<seconds>[\d.]+) second timeout exceeded after (?P<count>\d+) retransmits\.\s+"
         r"Possible authentication failure: no acceptable response to our first encrypted message",
         C.CGW_NETWORK, K.NAT_T_BLOCKED, S.CRITICAL,
         "The peer answered IKE_SA_INIT but never IKE_AUTH ({count} retransmissions in {seconds} s): check UDP "
         "4500 (NAT-T) both ways; a wrong pre-shared key would have been refused, not ignored"),
    row("pluto.retransmit_auth", PLUTO, r"(?P<state>STATE_(?:V2_PARENT_I2|PARENT_I2|MAIN_I3)): retransmission",
         C.CGW_NETWORK, K.NAT_T_BLOCKED, S.WARNING,
         "The peer has not answered IKE_AUTH yet ({state}): UDP 4500 (NAT-T) may be blocked", T.GENERIC_FAILURE),
    row("pluto.psk_mismatch", PLUTO, r"(?:pre-?shared key|PSK).*(?:mismatch|failed|invalid)|possible authentication failure",
         C.IKE_PHASE1_FAILURE, K.PSK_MISMATCH, S.CRITICAL, "Pre-shared keys most likely differ"),
    row("pluto.ts_unacceptable", PLUTO, r"TS_UNACCEPTABLE|cannot respond to IPsec SA request because no connection is known",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL, "Traffic selectors rejected: encryption domains differ"),
    # libreswan 4.10 as IKE_SA_INIT responder when the initiator's KE guessed another DH group: it
    # asks for its own and the initiator retries at once; normal negotiation, not a PFS problem.
    row("pluto.dh_guess", PLUTO,
         r"initiator guessed wrong keying material group|"
         r"responding to IKE_SA_INIT message .* with unencrypted notification INVALID_KE_PAYLOAD",
         C.HEALTHY, None, S.INFO, "The initiator retries IKE_SA_INIT with the DH group asked for"),
    row("pluto.invalid_ke", PLUTO, r"INVALID_KE_PAYLOAD",
         C.IPSEC_PHASE2_FAILURE, K.PFS_MISMATCH, S.WARNING, "DH group / PFS settings differ",
         T.PROPOSAL_REFUSED),
    row("pluto.no_proposal", PLUTO, r"NO_PROPOSAL_CHOSEN|no acceptable (?:Oakley|proposal)|no common proposal",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL, "No proposal in common with the peer",
         T.PROPOSAL_REFUSED),
    row("pluto.max_retransmits_init", PLUTO,
         r"max number of retransmissions \((?P<count>\d+)\) reached (?:STATE_PARENT_I1|STATE_MAIN_I1|STATE_V2_PARENT_I1)",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.CRITICAL,
         "The peer never answered the first IKE message ({count} retransmissions): check UDP 500"),
    row("pluto.max_retransmits_auth", PLUTO,
         r"max number of retransmissions \((?P<count>\d+)\) reached (?:STATE_PARENT_I2|STATE_V2_PARENT_I2|STATE_MAIN_I3)",
         C.CGW_NETWORK, K.NAT_T_BLOCKED, S.CRITICAL,
         "The peer answered IKE_SA_INIT but not IKE_AUTH ({count} retransmissions): check UDP 4500 (NAT-T)"),
    # 4.10: "STATE_V2_PARENT_I1: retransmission; will wait 1 seconds for response" and, once
    # retransmit-timeout passes, "... timeout exceeded after 3 retransmits.  No response (or no
    # acceptable response) to our first IKEv2 message". Right after a refusal pluto dropped (it
    # ignores unauthenticated NO_PROPOSAL_CHOSEN) they take the refusal's verdict.
    row("pluto.retransmit_init", PLUTO, r"(?P<state>STATE_(?:V2_PARENT_I1|PARENT_I1|MAIN_I1)): retransmission",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.WARNING,
         "The peer has not answered the first IKE message yet ({state})", T.GENERIC_FAILURE),
    row("pluto.first_message_timeout", PLUTO,
         r"timeout exceeded after (?P<count>\d+) retransmits\.\s+No response \(or no acceptable response\) "
         r"to our first IKEv(?P<version>[12]) message",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.CRITICAL,
         "No (acceptable) answer to the first IKEv{version} message after {count} retransmissions: "
         "check UDP 500 and the proposals", T.GENERIC_FAILURE),
    # As responder: the peer sends its request again, so our response never reached it. For
    # INFORMATIONAL (DPD) requests the peer's dead peer detection is about to give up on us.
    row("pluto.duplicate_dpd_request", PLUTO,
         r"INFORMATIONAL request has duplicate Message ID (?P<mid>\d+); retransmitting response",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.WARNING,
         "The peer repeats its dead peer detection request {mid}: our responses do not reach it"),
    # IKEv1 (Main and Quick Mode), as pluto 4.10 logs them in the lab's matrix (tests/fixtures/lab/matrix).
    # As responder: the peer repeats its R_U_THERE, so our answers do not reach it (pluto.duplicate_dpd_request).
    row("pluto.ikev1_duplicate_dpd", PLUTO,
         r"DPD: received (?:old or duplicate R_U_THERE|less than \d+ duplicate R_U_THERE's)",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.WARNING,
         "The peer repeats its IKEv1 dead peer detection (R_U_THERE): our answers do not reach it"),
    row("pluto.ikev1_invalid_id", PLUTO, r"notification payload: INVALID_ID_INFORMATION",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "The peer refused the Quick Mode IDs (INVALID_ID_INFORMATION): encryption domains differ"),
    row("pluto.ikev1_invalid_hash", PLUTO, r"notification payload: INVALID_HASH_INFORMATION",
         C.IKE_PHASE1_FAILURE, None, S.WARNING,
         "The peer could not verify a message (INVALID_HASH_INFORMATION): pre-shared keys may differ, or it "
         "was a retransmission the peer had already processed"),
    row("pluto.quick_mode_timeout", PLUTO,
         r"STATE_QUICK_I1: (?P<seconds>[\d.]+) second timeout exceeded after (?P<count>\d+) retransmits\.\s+"
         r"No acceptable response to our first Quick Mode message",
         C.IPSEC_PHASE2_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "No acceptable answer to Quick Mode (phase 2) after {count} retransmissions: the phase 2 proposal or "
         "the encryption domains differ", T.GENERIC_FAILURE),
    row("pluto.quick_mode_retransmit", PLUTO, r"STATE_QUICK_I\d: retransmission",
         C.IPSEC_PHASE2_FAILURE, None, S.WARNING, "The peer has not answered Quick Mode (phase 2) yet",
         T.GENERIC_FAILURE),
    # The kernel never had the SA pluto deletes (the lab's kernel has no ESP): cleanup, not a failure.
    row("pluto.netlink_del_missing", PLUTO, r"netlink response for Del SA \S+: No such process",
         C.HEALTHY, None, S.INFO, "pluto removed an SA the kernel did not hold"),
    # As IKE_SA_INIT responder: the initiator repeated its first message before our answer arrived (seen under
    # load in the lab); pluto answers again. Once is normal; a path that loses every answer shows in the
    # initiator's own timeout.
    row("pluto.duplicate_ike_sa_init", PLUTO,
         r"received duplicate IKE_SA_INIT message request \(Message ID 0\); retransmitting response",
         C.HEALTHY, None, S.INFO, "The peer repeated IKE_SA_INIT; pluto answers again"),
    row("pluto.peer_delete", PLUTO, r"received Delete SA payload|received and ignored empty informational|deleting IPsec SA by request",
         C.IPSEC_PHASE2_FAILURE, K.PEER_DELETE, S.WARNING, "The peer deleted an SA", T.PEER_DELETE),
    # pluto's start-up notices of its helper threads, logged while the connection is first tried:
    # whether one lands in a scenario's capture depends on timing (seen in CI under load).
    row("pluto.startup", PLUTO, r"^helper\(\d+\) seccomp security (?:for helper )?not supported",
         C.HEALTHY, None, S.INFO, "Daemon start-up notice"),
    # pluto 4.10's own steps (plutodebug=none), as logged in the lab. "encountered fatal error"
    # and "deleting state" follow the line that says what went wrong.
    row("pluto.trace", PLUTO,
         r"^(?:initiating IKEv[12] (?:Main Mode |Aggressive Mode )?connection|initiating connection '|"
         r"sent (?:IKE_SA_INIT|IKE_AUTH) (?:request|reply)|sent (?:Main|Aggressive) Mode (?:request|[IR]\d)|"
         r"responding to (?:Main|Aggressive) Mode|initiating Quick Mode |sent Quick Mode request|"
         r"Peer ID is |ignoring informational payload \S+, msgid=|"
         r"proposal \d+:\S+ chosen from remote proposals|processing decrypted IKE_AUTH request|"
         r"IKE_AUTH request does not propose a Child SA; creating childless SA|netlink_expire got message|"
         r"deleting state \(|deleting (?:IKE|ISAKMP) SA but connection is supposed to remain up|"
         r"starting keying attempt \d+|encountered fatal error in state)",
         C.HEALTHY, None, S.INFO, "IKE protocol trace"),
)
# fmt: on
