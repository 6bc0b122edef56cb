"""Vendor customer gateways' log messages: Cisco ASA/FTD, Cisco IOS/IOS-XE, Palo Alto PAN-OS, Fortinet
FortiGate, Juniper Junos (SRX), MikroTik RouterOS, as :mod:`vpn_doctor.vendors` reads their lines.

Each row is built from the vendor's own message reference (the source above each table). There are no
such devices here: every row has a fixture line in the format the device sends, with its source and
whether a documented example line backs it (``verified``) or only the documented message format and
public field examples do, in ``tests/fixtures/vendors/vendor_cases.json``. Where a message does not
tell phase 1 from phase 2, or does not say why, the summary says so rather than guess; those rows
carry ``generic_failure``, so a specific line just before them (same tunnel, same exchange) lends
them its cause. The summaries name the device's own command or setting to check.
"""

from __future__ import annotations

from vpn_doctor.catalogue import Family, row
from vpn_doctor.catalogue import Tag as T
from vpn_doctor.taxonomy import Category as C
from vpn_doctor.taxonomy import Cause as K
from vpn_doctor.taxonomy import Severity as S

ASA, IOS, PANOS = Family.CISCO_ASA, Family.CISCO_IOS, Family.PANOS
FORTI, JUNOS, ROS = Family.FORTIGATE, Family.JUNOS, Family.ROUTEROS

_UNSAID = "the message does not say whether phase 1 or phase 2 failed, nor why"

# fmt: off
# Cisco Secure Firewall ASA Series Syslog Messages (also FTD):
# https://www.cisco.com/c/en/us/td/docs/security/asa/syslog/asa-syslog.html (713xxx: IKE, 750xxx: IKEv2,
# 113019: session disconnected).
CISCO_ASA_RULES = (
    row("asa.phase1_completed", ASA, r"%(?:ASA|FTD)-\d-713119: .*PHASE 1 COMPLETED",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IKE phase 1 completed", T.IKE_ESTABLISHED),
    row("asa.phase2_completed", ASA, r"%(?:ASA|FTD)-\d-713120: .*PHASE 2 COMPLETED",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IPsec phase 2 completed"),
    row("asa.l2l_established", ASA, r"%(?:ASA|FTD)-\d-713049: .*Security negotiation complete for LAN-to-LAN",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "LAN-to-LAN security negotiation complete"),
    row("asa.ikev2_sa_up", ASA, r"%(?:ASA|FTD)-\d-750006: .*SA UP",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IKEv2 SA up", T.IKE_ESTABLISHED),
    row("asa.dpd_lost_contact", ASA,
         r"%(?:ASA|FTD)-\d-713123: .*IKE lost contact with remote peer, deleting connection \(keepalive type: (?P<kind>[^)]+)\)",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.CRITICAL,
         "The ASA lost contact with the AWS endpoint ({kind} keepalives unanswered): check "
         "`isakmp keepalive threshold 10 retry 10` in the tunnel-group and that UDP 500/4500 reach AWS"),
    row("asa.phase1_mismatched_attribute", ASA,
         r"%(?:ASA|FTD)-\d-713257: Phase 1 failure: Mismatched attribute types for class (?P<cls>[^:]+)",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Phase 1 proposals differ ({cls}): compare the ASA's `crypto ikev1 policy` with AWS's proposals"),
    row("asa.phase2_mismatched_attribute", ASA,
         r"%(?:ASA|FTD)-\d-713257: Phase 2 failure: Mismatched attribute types for class (?P<cls>[^:]+)",
         C.IPSEC_PHASE2_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Phase 2 proposals differ ({cls}): compare the ASA's `crypto ipsec ikev1 transform-set` and PFS "
         "group with AWS's"),
    row("asa.ipsec_proposals_unacceptable", ASA, r"%(?:ASA|FTD)-\d-7139\d\d: .*All IPSec SA proposals found unacceptable",
         C.IPSEC_PHASE2_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Phase 2 proposals differ: compare the ASA's `crypto ipsec ikev2 ipsec-proposal` (or ikev1 "
         "transform-set) and PFS group with AWS's"),
    row("asa.no_crypto_map_entry", ASA,
         r"%(?:ASA|FTD)-\d-7139\d\d: .*Rejecting IPSec tunnel: no matching crypto map entry for remote proxy",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "No crypto map entry matches the peer's proxy identities: the crypto ACL (encryption domain) "
         "differs from the selectors AWS proposes"),
    row("asa.ikev2_no_ts_policy", ASA,
         r"%(?:ASA|FTD)-\d-750003: .*Negotiation aborted due to ERROR: There was no IPSEC policy found for received TS",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "No IPsec policy matches the traffic selectors AWS sent: align the crypto map ACL with the "
         "connection's local and remote network CIDRs"),
    row("asa.ikev2_no_matching_policy", ASA,
         r"%(?:ASA|FTD)-\d-750003: .*Negotiation aborted due to ERROR: Failed to find a matching policy",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "No `crypto ikev2 policy` on the ASA matches AWS's IKE proposals (encryption, integrity, DH group)",
         T.PROPOSAL_REFUSED),
    row("asa.ikev2_auth_timer", ASA,
         r"%(?:ASA|FTD)-\d-750003: .*Negotiation aborted due to ERROR: Failed to receive the AUTH msg before the timer expired",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL,
         "The peer's IKE_AUTH never arrived: UDP 4500 (NAT-T) blocked on the way, or the peer gave up on "
         "authentication; the message does not say which"),
    row("asa.ikev2_aborted", ASA, r"%(?:ASA|FTD)-\d-750003: .*Negotiation aborted due to ERROR: (?P<error>.+)",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL,
         "IKEv2 negotiation aborted ({error}); " + _UNSAID, T.GENERIC_FAILURE),
    row("asa.session_idle_timeout", ASA,
         r"%(?:ASA|FTD)-\d-113019: .*Session disconnected\..*Reason: Idle Timeout",
         C.IDLE_TIMEOUT, K.NO_TRAFFIC, S.WARNING,
         "The ASA closed the tunnel after its idle timeout: set `vpn-idle-timeout none` in the "
         "group-policy or keep traffic flowing"),
    row("asa.session_disconnected", ASA, r"%(?:ASA|FTD)-\d-113019: .*Session disconnected\..*Reason: (?P<reason>.+)",
         C.IKE_PHASE1_FAILURE, None, S.WARNING,
         "The ASA disconnected the tunnel's session (reason: {reason}); " + _UNSAID, T.GENERIC_FAILURE),
    row("asa.peer_table_entry", ASA, r"%(?:ASA|FTD)-\d-7139\d\d: .*Error: Unable to remove PeerTblEntry",
         C.IKE_PHASE1_FAILURE, None, S.WARNING,
         "The ASA tore down a failed IKE negotiation; the message itself does not say why",
         T.GENERIC_FAILURE),
)

# Cisco IOS / IOS XE system messages, CRYPTO facility (Cisco IOS System Message Guide, "CRYPTO Messages"):
# https://www.cisco.com/c/en/us/td/docs/ios/system/messages/guide/consol_smg/sm_cnovr.html
CISCO_IOS_RULES = (
    row("ios.tunnel_up", IOS, r"%CRYPTO-\d-(?:IKEV2_)?SESSION_STATUS: Crypto tunnel (?:v2 )?is UP",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "Crypto tunnel up", T.IKE_ESTABLISHED),
    row("ios.tunnel_down", IOS, r"%CRYPTO-\d-(?:IKEV2_)?SESSION_STATUS: Crypto tunnel (?:v2 )?is DOWN",
         C.IKE_PHASE1_FAILURE, None, S.WARNING,
         "The router reports the crypto tunnel down; " + _UNSAID + " (`show crypto session detail`)",
         T.GENERIC_FAILURE),
    row("ios.not_encrypted", IOS, r"%CRYPTO-\d-IKMP_NOT_ENCRYPTED: IKE packet from (?P<peer>\S+) was not encrypted",
         C.IKE_PHASE1_FAILURE, K.PSK_MISMATCH, S.CRITICAL,
         "IKE packet from {peer} could not be read as encrypted: the pre-shared keys most likely differ "
         "(`crypto isakmp key` / the keyring)"),
    row("ios.proxy_identities", IOS, r"proxy identities not supported",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "Proxy identities not supported: the crypto map ACL differs from the selectors AWS proposes"),
    row("ios.main_mode_failure", IOS,
         r"%CRYPTO-\d-IKMP_MODE_FAILURE: Processing of (?:Main|Aggressive) [Mm]ode failed with peer",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL,
         "IKE phase 1 (Main Mode) failed; the message does not say why (`debug crypto isakmp`)", T.GENERIC_FAILURE),
    row("ios.quick_mode_failure", IOS, r"%CRYPTO-\d-IKMP_MODE_FAILURE: Processing of Quick [Mm]ode failed with peer",
         C.IPSEC_PHASE2_FAILURE, None, S.CRITICAL,
         "IPsec phase 2 (Quick Mode) failed; the message does not say why (`debug crypto ipsec`)", T.GENERIC_FAILURE),
    row("ios.no_sa", IOS, r"%CRYPTO-\d-IKMP_NO_SA: IKE message from (?P<peer>\S+) has no SA",
         C.IKE_PHASE1_FAILURE, None, S.WARNING,
         "IKE message from {peer} for an SA the router no longer has (one side restarted or timed it "
         "out); " + _UNSAID),
)

# PAN-OS system log (syslog CSV; "System Log Fields" and the VPN system log event IDs ike-nego-*):
# https://docs.paloaltonetworks.com/pan-os/11-1/pan-os-admin/monitoring/use-syslog-for-monitoring/syslog-field-descriptions/system-log-fields
PANOS_RULES = (
    row("panos.p1_succeeded", PANOS, r"^ike-nego-p1-succ: ",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IKE phase 1 negotiation succeeded", T.IKE_ESTABLISHED),
    row("panos.p2_succeeded", PANOS, r"^ike-nego-p2-succ: ",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IKE phase 2 negotiation succeeded"),
    row("panos.p1_timeout", PANOS, r"^ike-nego-p1-fail: .*Due to timeout",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.CRITICAL,
         "AWS never answered IKE phase 1: check the IKE gateway's peer address and that UDP 500/4500 leave "
         "the firewall (`show vpn ike-sa`)"),
    row("panos.p1_no_proposal", PANOS, r"^ike-nego-p1-fail: .*NO[-_ ]PROPOSAL[-_ ]CHOSEN",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "IKE phase 1 proposals differ: compare the IKE crypto profile with AWS's proposals"),
    row("panos.p1_auth", PANOS, r"^ike-nego-p1-fail: .*(?:AUTHENTICATION[-_ ]FAILED|authentication fail)",
         C.IKE_PHASE1_FAILURE, K.AUTH_FAILED, S.CRITICAL,
         "IKE phase 1 authentication failed: check the IKE gateway's pre-shared key and local/peer IDs"),
    row("panos.p1_failed", PANOS, r"^ike-nego-p1-fail: (?P<description>.+)",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL, "IKE phase 1 negotiation failed ({description}); the event does not say why in words vpn-doctor knows",
         T.GENERIC_FAILURE),
    row("panos.p2_no_proposal", PANOS, r"^ike-nego-p2-fail: .*NO[-_ ]PROPOSAL[-_ ]CHOSEN",
         C.IPSEC_PHASE2_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "IKE phase 2 proposals differ: compare the IPsec crypto profile (and its DH group, PFS) with AWS's"),
    row("panos.p2_selectors", PANOS, r"^ike-nego-p2-fail: .*(?:TS[-_ ]UNACCEPTABLE|proxy[-_ ]?ID)",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "Phase 2 selectors refused: the tunnel's proxy IDs differ from the connection's network CIDRs"),
    row("panos.p2_failed", PANOS, r"^ike-nego-p2-fail: (?P<description>.+)",
         C.IPSEC_PHASE2_FAILURE, None, S.CRITICAL, "IKE phase 2 negotiation failed ({description}); the event does not say why in words vpn-doctor knows",
         T.GENERIC_FAILURE),
    row("panos.p2_delete_received", PANOS, r"^ike-recv-p2-delete: ",
         C.IPSEC_PHASE2_FAILURE, K.PEER_DELETE, S.WARNING, "AWS deleted an IPsec SA"),
    row("panos.own_delete_or_start", PANOS, r"^ike-(?:send-p[12]-delete|nego-p[12]-start|generic-event): ",
         C.HEALTHY, None, S.INFO, "IKE protocol trace"),
)

# FortiOS Log Message Reference, event logs of subtype vpn (log IDs 0101037xxx):
# https://docs.fortinet.com/document/fortigate/7.4.3/fortios-log-message-reference/37124 (and 37121-37141)
FORTIGATE_RULES = (
    row("forti.tunnel_up", FORTI, r"logid=0101037138 .*action=tunnel-up",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IPsec tunnel up", T.IKE_ESTABLISHED),
    row("forti.phase2_up", FORTI, r"logid=0101037139 .*action=phase2-up",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IPsec phase 2 up"),
    row("forti.dpd_failure", FORTI, r"logid=0101037136\b",
         C.DPD_TIMEOUT, K.PEER_NOT_RESPONSIVE, S.CRITICAL,
         "Dead peer detection failed: AWS stopped answering; check `dpd on-idle` and `dpd-retryinterval 10` "
         "in the phase1-interface and the path to AWS"),
    row("forti.p1_proposal", FORTI, r"logid=01010371(?:21|24|28) .*peer SA proposal not match local policy",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Phase 1 proposals differ: set the phase1-interface `proposal` and `dhgrp` to ones AWS allows"),
    row("forti.p1_no_gateway", FORTI, r"logid=01010371(?:21|24|28) .*no matching gateway for new request",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL,
         "No phase1-interface matches the peer (its address, IKE version or mode): check `remote-gw` and "
         "`ike-version 2`"),
    row("forti.p1_error", FORTI, r"logid=01010371(?:21|24|28)\b",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL,
         "IPsec phase 1 error; the log does not say why (`diagnose debug application ike -1` does)",
         T.GENERIC_FAILURE),
    row("forti.p2_error", FORTI, r"logid=0101037130\b",
         C.IPSEC_PHASE2_FAILURE, None, S.CRITICAL,
         "IPsec phase 2 error; the log does not say why: compare the phase2-interface proposal, PFS group and "
         "selectors with AWS's",
         T.GENERIC_FAILURE),
    row("forti.tunnel_down", FORTI, r"logid=0101037138 .*action=tunnel-down",
         C.IKE_PHASE1_FAILURE, None, S.WARNING, "IPsec tunnel down; " + _UNSAID, T.GENERIC_FAILURE),
    row("forti.connection_failure", FORTI, r"logid=0101037137\b",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL, "IPsec connection failed; " + _UNSAID, T.GENERIC_FAILURE),
    row("forti.sa_deleted", FORTI, r"logid=010103713[45]\b",
         C.HEALTHY, None, S.INFO, "IPsec SA deleted (rekey or shutdown)"),
)

# Junos OS System Log Messages reference, KMD (key management daemon) messages:
# https://www.juniper.net/documentation/us/en/software/junos/syslog-messages/index.html (KMD_*)
JUNOS_RULES = (
    row("junos.sa_established", JUNOS, r"^KMD_PM_SA_ESTABLISHED: ",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "IPsec SA established", T.IKE_ESTABLISHED),
    row("junos.vpn_up", JUNOS, r"^KMD_VPN_UP_ALARM_USER: ",
         C.HEALTHY, K.ESTABLISHED, S.INFO, "VPN up"),
    # rsyslog's file formats drop RFC 5424's MSGID, and with it the KMD_ tag of structured-data lines.
    row("junos.ts_mismatch", JUNOS, r"^KMD_VPN_TS_MISMATCH: |^Traffic-selector mismatch",
         C.POLICY_BASED_VPN, K.TS_UNACCEPTABLE, S.CRITICAL,
         "Traffic selectors differ: align the VPN's `traffic-selector` / proxy-identity with the "
         "connection's network CIDRs"),
    row("junos.vpn_down", JUNOS, r"^KMD_VPN_DOWN_ALARM_USER: ",
         C.IKE_PHASE1_FAILURE, None, S.WARNING,
         "The SRX reports the VPN down; " + _UNSAID + " (`show security ike security-associations`)",
         T.GENERIC_FAILURE),
    row("junos.no_proposal", JUNOS, r"IKE negotiation failed with error: No proposal chosen",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Proposals differ (the message does not say for which phase): compare the IKE and IPsec "
         "proposals with AWS's", T.PROPOSAL_REFUSED),
    row("junos.auth_failed", JUNOS, r"IKE negotiation failed with error: Authentication failed",
         C.IKE_PHASE1_FAILURE, K.AUTH_FAILED, S.CRITICAL,
         "IKE authentication failed: check the gateway's `pre-shared-key` and local/remote identities"),
    row("junos.timed_out", JUNOS, r"IKE negotiation failed with error: Timed out",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.CRITICAL,
         "AWS never answered the IKE negotiation: check the path to AWS (UDP 500/4500) and the gateway address"),
    row("junos.negotiation_failed", JUNOS, r"IKE negotiation failed with error: (?P<error>[^.]+)",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL, "IKE negotiation failed ({error}); the message does not say for which phase",
         T.GENERIC_FAILURE),
)

# MikroTik RouterOS IPsec manual, "Troubleshooting/FAQ":
# https://help.mikrotik.com/docs/spaces/ROS/pages/11993097/IPsec
ROUTEROS_RULES = (
    row("ros.time_up", ROS, r"phase1 negotiation failed due to time up",
         C.IKE_PHASE1_FAILURE, K.NO_RESPONSE, S.CRITICAL,
         "AWS never answered IKE phase 1: check the peer address, `local-address`, and that UDP 500 and "
         "4500 are not blocked or NATed away"),
    row("ros.no_suitable_proposal", ROS, r"no suitable proposal found|failed to get valid proposal",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "Phase 1 proposals differ: align the IPsec profile's hash, encryption and DH group with AWS's"),
    row("ros.no_proposal_notify", ROS, r"fatal NO-PROPOSAL-CHOSEN notify",
         C.IKE_PHASE1_FAILURE, K.PROPOSAL_MISMATCH, S.CRITICAL,
         "AWS refused the proposals (the notify does not say for which phase): compare the IPsec profile "
         "and proposal with AWS's", T.PROPOSAL_REFUSED),
    row("ros.identity_not_found", ROS, r"identity not found for|can't find identity for peer",
         C.IKE_PHASE1_FAILURE, K.AUTH_FAILED, S.CRITICAL,
         "No IPsec identity matches the peer: check the identity's peer, `my-id` and `remote-id`"),
    row("ros.phase1_failed", ROS, r"phase1 negotiation failed|failed to pre-process ph1 packet",
         C.IKE_PHASE1_FAILURE, None, S.CRITICAL, "IKE phase 1 negotiation failed; the line does not say why",
         T.GENERIC_FAILURE),
)
# fmt: on

VENDOR_RULES = (
    *CISCO_ASA_RULES,
    *CISCO_IOS_RULES,
    *PANOS_RULES,
    *FORTIGATE_RULES,
    *JUNOS_RULES,
    *ROUTEROS_RULES,
)
