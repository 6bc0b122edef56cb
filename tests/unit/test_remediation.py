"""Remediation policy (pure): actions tied to the diagnosis, every guard, duplicates, dry-run, no secrets.

The store and the modifier are in-memory fakes of the two adapters' protocols; the connection comes
from a real-shaped DescribeVpnConnections item through ``vpn.connection_from_api``, and the diagnosis
from the real ``diagnosis.diagnose``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vpn_doctor.constants import REMEDIATE_TAG
from vpn_doctor.diagnosis import diagnose
from vpn_doctor.models import (
    Diagnosis,
    Incident,
    IncidentStatus,
    IncidentTransition,
    RemediationAction,
    RemediationOutcome,
    RemediationStatus,
    TransitionKind,
    TunnelState,
    dump,
)
from vpn_doctor.remediation import (
    AuditRecord,
    Change,
    Execution,
    Mode,
    RemediationPolicy,
    TunnelHistory,
    effective_mode,
    post_check,
    preview,
    remediate,
)
from vpn_doctor.render.common import remediation_words
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.vpn import VpnConnectionInfo, connection_from_api

VPN = "vpn-0a1b2c3d4e5f60718"
IP1 = "198.51.100.10"
IP2 = "203.0.113.20"
NOW = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
PSK1 = "FAKEpsk_Tunnel1_xJ9q2LmP"
PSK2 = "FAKEpsk_Tunnel2_Rt7vWz3K"
LOG_GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/vpn-doctor/tunnels"


def vpn_item(
    *,
    state: str = "available",
    tunnel1: Mapping[str, Any] | None = None,
    status1: str = "DOWN",
    status2: str = "UP",
    sibling_up_since: datetime = NOW - timedelta(hours=3),
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A DescribeVpnConnections item as EC2 returns it: pre-shared keys and CGW configuration included."""
    first: dict[str, Any] = {
        "OutsideIpAddress": IP1,
        "TunnelInsideCidr": "169.254.10.0/30",
        "PreSharedKey": PSK1,
        "DpdTimeoutSeconds": 30,
        "DpdTimeoutAction": "clear",
        "StartupAction": "add",
        "IkeVersions": [{"Value": "ikev1"}, {"Value": "ikev2"}],
        "LogOptions": {
            "CloudWatchLogOptions": {
                "LogEnabled": True,
                "LogGroupArn": LOG_GROUP,
                "LogOutputFormat": "json",
                "BgpLogEnabled": False,
            }
        },
        "EnableTunnelLifecycleControl": False,
        **(tunnel1 or {}),
    }
    return {
        "CustomerGatewayConfiguration": f"<vpn_connection><pre_shared_key>{PSK1}</pre_shared_key></vpn_connection>",
        "CustomerGatewayId": "cgw-0123456789abcdef0",
        "Category": "VPN",
        "State": state,
        "Type": "ipsec.1",
        "VpnConnectionId": VPN,
        "VpnGatewayId": "vgw-0fedcba9876543210",
        "Options": {
            "StaticRoutesOnly": False,
            "LocalIpv4NetworkCidr": "0.0.0.0/0",
            "RemoteIpv4NetworkCidr": "0.0.0.0/0",
            "TunnelInsideIpVersion": "ipv4",
            "TunnelOptions": [
                first,
                {
                    "OutsideIpAddress": IP2,
                    "TunnelInsideCidr": "169.254.11.0/30",
                    "PreSharedKey": PSK2,
                    "DpdTimeoutSeconds": 30,
                    "DpdTimeoutAction": "clear",
                    "StartupAction": "add",
                    "IkeVersions": [{"Value": "ikev2"}],
                    "LogOptions": {"CloudWatchLogOptions": {"LogEnabled": False, "BgpLogEnabled": False}},
                },
            ],
        },
        "Routes": [],
        "Tags": [{"Key": "Name", "Value": "branch-office"}, *({"Key": k, "Value": v} for k, v in (tags or {}).items())],
        "VgwTelemetry": [
            {
                "AcceptedRouteCount": 0,
                "LastStatusChange": NOW - timedelta(minutes=5),
                "OutsideIpAddress": IP1,
                "Status": status1,
                "StatusMessage": "IPSEC IS DOWN" if status1 == "DOWN" else "IPSEC IS UP",
            },
            {
                "AcceptedRouteCount": 3,
                "LastStatusChange": sibling_up_since,
                "OutsideIpAddress": IP2,
                "Status": status2,
                "StatusMessage": "IPSEC IS UP" if status2 == "UP" else "IPSEC IS DOWN",
            },
        ],
    }


def connection(**kwargs: Any) -> VpnConnectionInfo:
    return connection_from_api(vpn_item(**kwargs))


def incident(
    *,
    category: Category = Category.DPD_TIMEOUT,
    cause: Cause | None = Cause.PEER_NOT_RESPONSIVE,
    tunnel_ip: str = IP1,
    findings: int = 3,
    maintenance: bool = False,
) -> Incident:
    return Incident(
        incident_id=f"inc-{tunnel_ip}",
        vpn_connection_id=VPN,
        tunnel_ip=tunnel_ip,
        status=IncidentStatus.OPEN,
        category=category,
        cause=cause,
        severity=Severity.CRITICAL,
        summary="AWS declared the customer gateway dead after 3 unanswered DPD messages",
        opened_at=NOW - timedelta(minutes=5),
        updated_at=NOW - timedelta(minutes=1),
        last_state=TunnelState.DOWN,
        finding_count=findings,
        maintenance=maintenance,
    )


def transition(
    the_incident: Incident | None = None, *, event_id: str = "evt-1", kind: TransitionKind = TransitionKind.OPENED
) -> IncidentTransition:
    return IncidentTransition(kind=kind, incident=the_incident or incident(), at=NOW, event_id=event_id)


def diagnosis_of(the_incident: Incident, conn: VpnConnectionInfo) -> Diagnosis:
    return diagnose(the_incident, conn, traffic=None, now=NOW)


@dataclass
class FakeStore:
    """In-memory RemediationStore with the same semantics as the DynamoDB one."""

    decisions: dict[str, RemediationOutcome] = field(default_factory=dict)
    audits: list[AuditRecord] = field(default_factory=list)
    modified: list[tuple[str, str, datetime]] = field(default_factory=list)
    lock_owner: str | None = None
    lock_attempts: int = 0

    def outcome_for(self, event_id: str) -> RemediationOutcome | None:
        return self.decisions.get(event_id)

    def history(self, vpn_connection_id: str, now: datetime) -> Mapping[str, TunnelHistory]:
        result: dict[str, TunnelHistory] = {}
        for vpn, ip, at in self.modified:
            if vpn != vpn_connection_id:
                continue
            old = result.get(ip, TunnelHistory())
            today = old.modified_today + (1 if at.date() == now.date() else 0)
            last = max(filter(None, (old.last_modified_at, at)))
            result[ip] = TunnelHistory(last_modified_at=last, modified_today=today)
        return result

    def acquire_lock(self, vpn_connection_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        self.lock_attempts += 1
        if self.lock_owner is not None:
            return False
        self.lock_owner = owner
        return True

    def lock_holder(self, vpn_connection_id: str) -> str | None:
        return self.lock_owner

    def release_lock(self, vpn_connection_id: str, owner: str) -> None:
        if self.lock_owner == owner:
            self.lock_owner = None

    def record_modification(self, vpn_connection_id: str, tunnel_ip: str, now: datetime) -> None:
        self.modified.append((vpn_connection_id, tunnel_ip, now))

    def record_decision(self, record: AuditRecord) -> None:
        self.audits.append(record)
        if record.final:
            self.decisions.setdefault(record.event_id, record.outcome)


@dataclass
class FakeModifier:
    """Records the requests; answers with a fixed execution (APPLIED, or DRY_RUN for DryRun=True)."""

    answer: Execution | None = None
    calls: list[tuple[dict[str, Any], bool]] = field(default_factory=list)

    def modify(self, change: Change, *, dry_run: bool) -> Execution:
        self.calls.append((change.request, dry_run))
        if self.answer is not None:
            return self.answer
        if dry_run:
            return Execution(RemediationStatus.DRY_RUN, "DryRun=True succeeded")
        return Execution(RemediationStatus.APPLIED, "accepted", after={"DPDTimeoutAction": "restart"})


AUTO = RemediationPolicy(mode=Mode.AUTO, log_group_arn=LOG_GROUP)


def run(
    conn: VpnConnectionInfo | None = None,
    the_transition: IncidentTransition | None = None,
    *,
    policy: RemediationPolicy = AUTO,
    store: FakeStore | None = None,
    modifier: FakeModifier | None = None,
    now: datetime = NOW,
) -> tuple[RemediationOutcome, FakeStore, FakeModifier]:
    conn = conn if conn is not None else connection()
    the_transition = the_transition or transition()
    store = store if store is not None else FakeStore()
    modifier = modifier if modifier is not None else FakeModifier()
    decision = remediate(
        the_transition,
        conn,
        diagnosis_of(the_transition.incident, conn),
        policy=policy,
        store=store,
        modifier=modifier,
        now=now,
    )
    return decision.outcome, store, modifier


# --- actions -----------------------------------------------------------------------------------


def test_repeated_dpd_timeouts_with_clear_action_set_the_dpd_timeout_action_to_restart() -> None:
    outcome, store, modifier = run()
    assert outcome.status is RemediationStatus.APPLIED
    assert outcome.action is RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART
    assert modifier.calls == [
        (
            {
                "VpnConnectionId": VPN,
                "VpnTunnelOutsideIpAddress": IP1,
                "TunnelOptions": {"DPDTimeoutAction": "restart"},
            },
            False,
        )
    ]
    assert "3 DPD timeouts" in outcome.reason
    assert [m[1] for m in store.modified] == [IP1]


def test_dpd_policy_none_sets_the_dpd_timeout_action_to_none() -> None:
    policy = replace(AUTO, dpd_timeout_action="none")
    outcome, _, modifier = run(policy=policy)
    assert outcome.action is RemediationAction.SET_DPD_TIMEOUT_ACTION_NONE
    assert modifier.calls[0][0]["TunnelOptions"] == {"DPDTimeoutAction": "none"}
    assert "must not act" in outcome.reason


def test_a_single_dpd_timeout_changes_nothing() -> None:
    outcome, _, modifier = run(the_transition=transition(incident(findings=1)))
    assert outcome.status is RemediationStatus.NOT_NEEDED
    assert "One DPD timeout" in outcome.reason
    assert modifier.calls == []


def test_one_dpd_timeout_in_each_of_two_incidents_is_a_repeat() -> None:
    # A DPD timeout every 20 minutes resolves in between: each incident has one finding only.
    outcome, _, modifier = run(the_transition=transition(replace(incident(findings=1), recurrence=1)))
    assert outcome.action is RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART
    assert modifier.calls[0][0]["TunnelOptions"] == {"DPDTimeoutAction": "restart"}
    assert "2 DPD timeouts" in outcome.reason


def test_dpd_action_already_restart_needs_no_change() -> None:
    conn = connection(tunnel1={"DpdTimeoutAction": "restart"})
    outcome, _, modifier = run(conn)
    assert outcome.status is RemediationStatus.NOT_NEEDED
    assert modifier.calls == []


def test_endpoint_replacement_with_startup_add_sets_startup_action_start() -> None:
    the_incident = incident(category=Category.IKE_PHASE1_FAILURE, cause=Cause.NO_RESPONSE, maintenance=True)
    outcome, _, modifier = run(the_transition=transition(the_incident))
    assert outcome.action is RemediationAction.SET_STARTUP_ACTION_START
    assert modifier.calls[0][0]["TunnelOptions"] == {"StartupAction": "start"}
    assert "endpoint replacement" in outcome.reason


def test_idle_timeout_with_startup_add_sets_startup_action_start() -> None:
    the_incident = incident(category=Category.IDLE_TIMEOUT, cause=Cause.PEER_DELETE_IDLE)
    outcome, _, modifier = run(the_transition=transition(the_incident))
    assert outcome.action is RemediationAction.SET_STARTUP_ACTION_START
    assert modifier.calls[0][0]["TunnelOptions"] == {"StartupAction": "start"}
    assert "idle timeouts" in outcome.reason


def test_startup_action_start_is_never_set_on_an_ikev1_only_tunnel() -> None:
    conn = connection(tunnel1={"IkeVersions": [{"Value": "ikev1"}]})
    the_incident = incident(category=Category.IDLE_TIMEOUT, cause=Cause.PEER_DELETE_IDLE)
    outcome, _, modifier = run(conn, transition(the_incident))
    assert outcome.status is RemediationStatus.NOT_NEEDED
    assert "IKEv1" in outcome.reason
    assert modifier.calls == []


def test_disabled_tunnel_logging_is_enabled_to_the_deployments_log_group() -> None:
    conn = connection(tunnel1={"LogOptions": {"CloudWatchLogOptions": {"LogEnabled": False, "BgpLogEnabled": False}}})
    the_incident = incident(category=Category.IKE_PHASE1_FAILURE, cause=Cause.NO_RESPONSE)
    outcome, _, modifier = run(conn, transition(the_incident))
    assert outcome.action is RemediationAction.ENABLE_TUNNEL_LOGGING
    assert modifier.calls[0][0]["TunnelOptions"] == {
        "LogOptions": {
            "CloudWatchLogOptions": {"LogEnabled": True, "LogGroupArn": LOG_GROUP, "LogOutputFormat": "json"}
        }
    }


def test_enabling_tunnel_logging_keeps_bgp_logging_on() -> None:
    bgp_group = LOG_GROUP + "-bgp"
    options = {"LogEnabled": False, "BgpLogEnabled": True, "BgpLogGroupArn": bgp_group, "BgpLogOutputFormat": "json"}
    conn = connection(tunnel1={"LogOptions": {"CloudWatchLogOptions": options}})
    the_incident = incident(category=Category.IKE_PHASE1_FAILURE, cause=Cause.NO_RESPONSE)
    _, _, modifier = run(conn, transition(the_incident))
    sent = modifier.calls[0][0]["TunnelOptions"]["LogOptions"]["CloudWatchLogOptions"]
    assert sent["BgpLogEnabled"] is True
    assert sent["BgpLogGroupArn"] == bgp_group


@pytest.mark.parametrize(
    ("category", "cause"),
    [
        (Category.REKEY_FAILURE, Cause.LIFETIME_MISMATCH),
        (Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH),
        (Category.IPSEC_PHASE2_FAILURE, Cause.PFS_MISMATCH),
        (Category.STATIC_ROUTING_ASYMMETRY, Cause.BOTH_TUNNELS_UP_STATIC),
    ],
)
def test_lifetime_algorithm_and_routing_problems_are_never_changed(category: Category, cause: Cause) -> None:
    outcome, _, modifier = run(the_transition=transition(incident(category=category, cause=cause)))
    assert outcome.status is RemediationStatus.NOT_NEEDED
    assert "recommendations" in outcome.reason
    assert modifier.calls == []


# --- mode --------------------------------------------------------------------------------------


def test_mode_off_never_calls_ec2() -> None:
    outcome, store, modifier = run(policy=replace(AUTO, mode=Mode.OFF))
    assert outcome.status is RemediationStatus.OFF
    assert modifier.calls == []
    assert store.modified == []


def test_dry_run_sends_nothing_and_reports_what_it_would_change_without_claiming_permissions() -> None:
    outcome, store, modifier = run(policy=replace(AUTO, mode=Mode.DRY_RUN))
    assert outcome.status is RemediationStatus.DRY_RUN
    assert modifier.calls == []  # the dry-run role may not modify: IAM cannot tell DryRun=True apart
    assert "would change" in outcome.reason
    assert "permissions are not verified" in outcome.reason
    assert "permissions verified" not in outcome.reason
    assert outcome.parameters["TunnelOptions"] == {"DPDTimeoutAction": "restart"}
    assert store.modified == []  # a dry run uses no cooldown or budget


def test_default_policy_is_dry_run() -> None:
    assert RemediationPolicy().mode is Mode.DRY_RUN


def test_connection_tag_overrides_the_deployment_mode() -> None:
    policy = replace(AUTO, mode=Mode.DRY_RUN)
    outcome, _, modifier = run(connection(tags={REMEDIATE_TAG: "auto"}), policy=policy)
    assert outcome.status is RemediationStatus.APPLIED
    assert modifier.calls[0][1] is False
    outcome, _, modifier = run(connection(tags={REMEDIATE_TAG: "off"}))
    assert outcome.status is RemediationStatus.OFF
    assert modifier.calls == []


def test_an_unreadable_tag_value_is_never_less_cautious_than_dry_run() -> None:
    assert effective_mode(AUTO, connection(tags={REMEDIATE_TAG: "yes please"})) is Mode.DRY_RUN
    assert effective_mode(replace(AUTO, mode=Mode.OFF), connection(tags={REMEDIATE_TAG: "?"})) is Mode.OFF


@pytest.mark.parametrize("value", ["Auto", "AUTO", " auto", "dry_run", "Dry-Run", "OFF"])
def test_a_tag_value_in_another_spelling_is_not_taken_as_that_mode(value: str) -> None:
    # IAM's StringEquals is case-sensitive: a connection tagged 'Auto' may not be modified, so the code must not
    # try (and then blame something else for the refusal); tests/infra/test_remediate_tag_contract.py holds both
    # sides to the same rule.
    assert effective_mode(AUTO, connection(tags={REMEDIATE_TAG: value})) is Mode.DRY_RUN


def test_a_wrongly_spelt_tag_says_what_was_found_what_is_accepted_and_what_is_done() -> None:
    outcome, store, modifier = run(connection(tags={REMEDIATE_TAG: "Auto"}))
    assert modifier.calls == []
    assert outcome.status is RemediationStatus.DRY_RUN
    assert outcome.reason.startswith(
        f"The connection's tag {REMEDIATE_TAG} is 'Auto', not one of 'off', 'dry-run', 'auto' (exactly, in lower case"
    )
    assert "treats the connection as dry-run." in outcome.reason
    assert "would change" in outcome.reason
    assert store.audits[-1].outcome.reason == outcome.reason  # the audit trail says the same


def test_the_alert_shows_the_note_about_a_wrongly_spelt_tag() -> None:
    outcome, _, _ = run(connection(tags={REMEDIATE_TAG: "dry_run"}))
    words = remediation_words(outcome)
    assert words.startswith("Would set the DPD timeout action")
    assert f"The connection's tag {REMEDIATE_TAG} is 'dry_run', not one of 'off', 'dry-run', 'auto'" in words


def test_a_correctly_spelt_tag_adds_no_note() -> None:
    outcome, _, _ = run(connection(tags={REMEDIATE_TAG: "dry-run"}))
    assert outcome.reason.startswith("Dry run, would change")


# --- guards ------------------------------------------------------------------------------------


def test_connection_not_available_is_try_later_without_a_call() -> None:
    outcome, _, modifier = run(connection(state="modifying"))
    assert outcome.status is RemediationStatus.TRY_LATER
    assert "'modifying'" in outcome.reason
    assert modifier.calls == []


def test_an_up_tunnel_is_not_interrupted_while_its_sibling_is_down() -> None:
    outcome, _, modifier = run(connection(status1="UP", status2="DOWN"))
    assert outcome.status is RemediationStatus.BLOCKED
    assert "the only tunnel carrying traffic" in outcome.reason
    assert modifier.calls == []


def test_an_up_tunnel_is_not_interrupted_until_its_sibling_has_been_up_long_enough() -> None:
    fresh = connection(status1="UP", status2="UP", sibling_up_since=NOW - timedelta(minutes=2))
    outcome, _, modifier = run(fresh)
    assert outcome.status is RemediationStatus.BLOCKED
    assert "less than 10 min" in outcome.reason
    assert modifier.calls == []
    settled = connection(status1="UP", status2="UP", sibling_up_since=NOW - timedelta(minutes=30))
    assert run(settled)[0].status is RemediationStatus.APPLIED


def test_a_tunnel_without_telemetry_is_treated_as_up() -> None:
    item = vpn_item(status2="DOWN")
    item["VgwTelemetry"] = item["VgwTelemetry"][1:]
    outcome, _, modifier = run(connection_from_api(item))
    assert outcome.status is RemediationStatus.BLOCKED
    assert "may be UP (no telemetry)" in outcome.reason
    assert modifier.calls == []


def test_a_down_tunnel_may_be_modified_even_when_its_sibling_is_down() -> None:
    outcome, _, _ = run(connection(status1="DOWN", status2="DOWN"))
    assert outcome.status is RemediationStatus.APPLIED


def test_lock_held_by_another_remediation_blocks_without_a_call() -> None:
    store = FakeStore(lock_owner="evt-other")
    outcome, _, modifier = run(store=store)
    assert outcome.status is RemediationStatus.BLOCKED
    assert "lock held" in outcome.reason
    assert modifier.calls == []
    assert store.lock_owner == "evt-other"  # someone else's lock is not released


def test_a_lock_held_refusal_is_not_final_so_a_redelivery_decides_again() -> None:
    store = FakeStore(lock_owner="evt-other")
    run(store=store)
    store.lock_owner = None
    outcome, _, modifier = run(store=store, now=NOW + timedelta(minutes=1))
    assert outcome.status is RemediationStatus.APPLIED
    assert len(modifier.calls) == 1


def test_a_concurrent_delivery_of_the_same_event_stays_silent() -> None:
    store, modifier = FakeStore(lock_owner="evt-1"), FakeModifier()
    conn = connection()
    the_transition = transition(event_id="evt-1")
    decision = remediate(
        the_transition,
        conn,
        diagnosis_of(the_transition.incident, conn),
        policy=AUTO,
        store=store,
        modifier=modifier,
        now=NOW,
    )
    assert decision.duplicate
    assert modifier.calls == []
    assert store.decisions == {}


def test_the_lock_is_released_after_the_modification() -> None:
    outcome, store, _ = run()
    assert outcome.status is RemediationStatus.APPLIED
    assert store.lock_attempts == 1
    assert store.lock_owner is None


def test_never_both_tunnels_of_one_connection() -> None:
    store = FakeStore()
    both_down = connection(status1="DOWN", status2="DOWN")
    first, _, _ = run(both_down, store=store)
    second, _, modifier = run(
        both_down,
        transition(incident(tunnel_ip=IP2), event_id="evt-2"),
        store=store,
        now=NOW + timedelta(minutes=1),
    )
    assert first.status is RemediationStatus.APPLIED
    assert second.status is RemediationStatus.BLOCKED
    assert "never modifies both tunnels" in second.reason
    assert modifier.calls == []


def test_cooldown_per_tunnel_blocks_a_second_change_within_an_hour() -> None:
    store = FakeStore(modified=[(VPN, IP1, NOW - timedelta(minutes=59))])
    outcome, _, modifier = run(store=store)
    assert outcome.status is RemediationStatus.BLOCKED
    assert "Cooldown" in outcome.reason
    assert modifier.calls == []
    later, _, _ = run(store=FakeStore(modified=[(VPN, IP1, NOW - timedelta(minutes=61))]))
    assert later.status is RemediationStatus.APPLIED


def test_daily_budget_per_tunnel_blocks_the_fourth_change_of_the_day() -> None:
    earlier = [(VPN, IP1, NOW - timedelta(hours=hours)) for hours in (2, 4, 6)]
    outcome, _, modifier = run(store=FakeStore(modified=earlier))
    assert outcome.status is RemediationStatus.BLOCKED
    assert "Daily budget used: 3 of 3" in outcome.reason
    assert modifier.calls == []
    two, _, _ = run(store=FakeStore(modified=earlier[:2]))
    assert two.status is RemediationStatus.APPLIED


def test_a_duplicate_event_returns_the_first_decision_without_a_second_call() -> None:
    store, modifier = FakeStore(), FakeModifier()
    first, _, _ = run(store=store, modifier=modifier)
    conn = connection()
    the_transition = transition()
    again = remediate(
        the_transition,
        conn,
        diagnosis_of(the_transition.incident, conn),
        policy=AUTO,
        store=store,
        modifier=modifier,
        now=NOW + timedelta(hours=2),  # past the cooldown: only the duplicate check stops it
    )
    assert again.duplicate
    assert again.outcome == first
    assert len(modifier.calls) == 1


def test_a_resolved_incident_is_not_remediated() -> None:
    outcome, _, modifier = run(the_transition=transition(kind=TransitionKind.RESOLVED))
    assert outcome.status is RemediationStatus.NOT_NEEDED
    assert modifier.calls == []


# --- errors and audit --------------------------------------------------------------------------


def test_an_ec2_refusal_is_the_outcome_with_the_code_and_uses_no_budget() -> None:
    refusal = Execution(RemediationStatus.FAILED, "Not allowed (UnauthorizedOperation)", "UnauthorizedOperation")
    outcome, store, modifier = run(modifier=FakeModifier(answer=refusal))
    assert outcome.status is RemediationStatus.FAILED
    assert outcome.error_code == "UnauthorizedOperation"
    assert "Not allowed" in outcome.reason
    assert len(modifier.calls) == 1
    assert store.modified == []


def test_every_decision_is_audited_with_before_after_and_without_a_key() -> None:
    outcome, store, _ = run()
    assert len(store.audits) == 1
    record = store.audits[0]
    assert record.before["DPDTimeoutAction"] == "clear"
    assert record.after == {"DPDTimeoutAction": "restart"}
    assert record.mode is Mode.AUTO
    assert record.outcome == outcome
    text = json.dumps([str(record), dump(outcome)], default=str)
    assert PSK1 not in text
    assert PSK2 not in text


def test_preview_reports_the_dry_run_decision_without_any_call() -> None:
    conn = connection()
    the_incident = incident()
    outcome = preview(the_incident, conn, diagnosis_of(the_incident, conn), now=NOW)
    assert outcome is not None
    assert outcome.status is RemediationStatus.DRY_RUN
    assert outcome.action is RemediationAction.SET_DPD_TIMEOUT_ACTION_RESTART


# --- post-check --------------------------------------------------------------------------------


def test_post_check_is_quiet_when_the_tunnel_is_up_again() -> None:
    up = connection(status1="UP")
    assert post_check(up, IP1, action=None, modified_at=NOW, now=NOW + timedelta(minutes=15)) is None


def test_post_check_escalates_a_tunnel_still_down_naming_the_change_and_the_wait() -> None:
    text = post_check(
        connection(status1="DOWN"),
        IP1,
        action=RemediationAction.SET_STARTUP_ACTION_START,
        modified_at=NOW,
        now=NOW + timedelta(minutes=15),
    )
    assert text is not None
    assert f"tunnel {IP1} of {VPN} is still DOWN (IPSEC IS DOWN) 15 min after" in text
    assert "set the startup action to 'start' at 23:00 UTC" in text
    assert "customer gateway" in text


# --- applying a pending endpoint replacement in the window (opt-in) ------------------------------------------


def _scheduled(**tunnel1: Any) -> tuple[VpnConnectionInfo, IncidentTransition]:
    conn = connection(status1="UP", tunnel1={"EnableTunnelLifecycleControl": True, **tunnel1})
    the_incident = replace(
        incident(category=Category.ENDPOINT_REPLACEMENT, cause=Cause.SCHEDULED, findings=1),
        last_state=TunnelState.UP,
    )
    return conn, transition(the_incident)


def test_a_pending_replacement_in_the_window_is_applied_with_replace_vpn_tunnel() -> None:
    conn, the_transition = _scheduled()
    outcome, store, modifier = run(conn, the_transition)
    assert outcome.status is RemediationStatus.APPLIED
    assert outcome.action is RemediationAction.APPLY_PENDING_MAINTENANCE
    assert modifier.calls == [
        ({"VpnConnectionId": VPN, "VpnTunnelOutsideIpAddress": IP1, "ApplyPendingMaintenance": True}, False)
    ]
    assert [m[1] for m in store.modified] == [IP1]  # cooldown and budget count it like any change
    assert [o.action for o in store.decisions.values()] == [RemediationAction.APPLY_PENDING_MAINTENANCE]


def test_a_pending_replacement_is_never_applied_without_lifecycle_control() -> None:
    conn, the_transition = _scheduled(EnableTunnelLifecycleControl=False)
    outcome, _, modifier = run(conn, the_transition)
    assert outcome.action is not RemediationAction.APPLY_PENDING_MAINTENANCE
    assert all("ApplyPendingMaintenance" not in request for request, _ in modifier.calls)


def test_a_pending_replacement_waits_while_the_sibling_is_down_and_in_dry_run_sends_nothing() -> None:
    conn, the_transition = _scheduled()
    down = connection(status1="UP", status2="DOWN", tunnel1={"EnableTunnelLifecycleControl": True})
    outcome, _, modifier = run(down, the_transition)
    assert (outcome.status, modifier.calls) == (RemediationStatus.BLOCKED, [])
    dry, _, modifier = run(conn, the_transition, policy=replace(AUTO, mode=Mode.DRY_RUN))
    assert (dry.status, modifier.calls) == (RemediationStatus.DRY_RUN, [])
    assert dry.parameters["ApplyPendingMaintenance"] is True
