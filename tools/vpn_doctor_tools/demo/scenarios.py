"""The demo's scenarios: what happens to which tunnel, as data (no AWS, no clock).

Each scenario runs on its own VPN connection (so each gets its own incident), which starts with
both tunnels UP, and is a list of steps: log records arriving through the subscription path,
tunnel telemetry changing, a telemetry poll, the read-only configuration review, a redelivery of
the previous payload, time passing. Record timestamps are offsets in seconds from the step; the
runner turns them into real times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vpn_doctor.taxonomy import Category, Cause

# The team owning the DPD scenario's connection (tag vpn-doctor:owner): the demo's routing sends its alerts
# to Teams too and pages PagerDuty for its critical ones; every other connection follows the default route.
DEMO_OWNER = "network-emea"


class LogKind(StrEnum):
    """Which log group a record goes to."""

    TUNNEL = "tunnel"  # AWS tunnel activity logs (JSON format)
    BGP = "bgp"  # AWS BGP logs
    CGW = "cgw"  # customer gateway syslog (strongSwan)


@dataclass(frozen=True, slots=True)
class Logs:
    """Records written to a tunnel's log stream, then delivered as one subscription payload.

    A record is a dict (a JSON record, ``{at}`` offsets filled by the runner), or a string
    written as is (customer-gateway syslog with ``{ts}``, or a deliberately broken record).
    """

    tunnel: int
    records: tuple[Any, ...]
    kind: LogKind = LogKind.TUNNEL
    offsets: tuple[float, ...] = ()  # seconds from now for each record; default: one second apart

    def offset(self, index: int) -> float:
        """When record ``index`` happened, in seconds from the step (negative: in the past)."""
        if self.offsets:
            return self.offsets[index]
        return float(index - len(self.records) + 1)


@dataclass(frozen=True, slots=True)
class Telemetry:
    """A tunnel's ``VgwTelemetry`` changes in the emulator (as AWS would report it)."""

    tunnel: int
    status: str  # UP or DOWN
    message: str | None = None
    # Also fire the CloudWatch alarm on AWS/VPN TunnelState (delivered to the state stage).
    alarm: bool = False
    ago: float = 0.0  # the change happened this many seconds before the step


@dataclass(frozen=True, slots=True)
class Routes:
    """A tunnel's ``VgwTelemetry.AcceptedRouteCount`` changes in the emulator, its status unchanged (the routes AWS
    accepts from the customer gateway over BGP; every scenario's tunnels start with 2)."""

    tunnel: int
    count: int


@dataclass(frozen=True, slots=True)
class Traffic:
    """``AWS/VPN`` TunnelDataIn / TunnelDataOut of each tunnel in the emulator's CloudWatch: bytes per 5-minute
    period over the last 45 minutes (what the poller's traffic read finds). Index = tunnel."""

    bytes_in: tuple[float, float]
    bytes_out: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Poll:
    """The scheduled telemetry poll runs (the poller Lambda), or state events are sent."""


@dataclass(frozen=True, slots=True)
class Diagnose:
    """``vpn-doctor diagnose`` runs on the scenario's connection (the read-only configuration review)."""


@dataclass(frozen=True, slots=True)
class Redeliver:
    """The previous subscription payload is delivered again (at-least-once delivery)."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Wall-clock time passes (hysteresis, clear delay)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Maintenance:
    """AWS announces an endpoint replacement of a tunnel: ``GetVpnTunnelReplacementStatus`` reports it pending,
    auto-applied after ``days`` from now (what the poller's check ahead reads)."""

    tunnel: int
    days: float


@dataclass(frozen=True, slots=True)
class SilenceAdd:
    """``vpn-doctor silence add VPN_ID --for DURATION --reason REASON`` on the scenario's connection."""

    duration: str
    reason: str


@dataclass(frozen=True, slots=True)
class SilenceLift:
    """``vpn-doctor silence lift ID`` of the silence the scenario added: the planned work is over."""


@dataclass(frozen=True, slots=True)
class HubPoll:
    """The hub's scheduled poll runs: it ends a storm that had no new failure for a whole window (its summary)."""


Step = (
    Logs
    | Telemetry
    | Traffic
    | Poll
    | Diagnose
    | Redeliver
    | Pause
    | Maintenance
    | Routes
    | SilenceAdd
    | SilenceLift
    | HubPoll
)

# Where a scenario's connections live: the hub (the monitoring account and region, which also has connections of
# its own) or the spoke (a member account in another region, whose alerts its forwarding rule sends to the hub).
HUB = "hub"
SPOKE = "spoke"
# The demo's storm: this many connections failing within the window (deploy keys storm_connections,
# storm_window_seconds; deployed: 5 in 120 s). A window of seconds, so the demo's stories (one connection each, a
# second or two apart, kept apart by the runner) never add up to one, and the storm ends within the demo. The storm's
# connections fail at one moment, and failures are grouped by when they happened (vpn_doctor.rollup), so however
# slowly a loaded machine tells them, they are one storm.
DEMO_STORM_CONNECTIONS = 8
DEMO_STORM_WINDOW_SECONDS = 3


@dataclass(frozen=True, slots=True)
class Scenario:
    """One story the demo tells."""

    key: str
    title: str
    steps: tuple[Step, ...]
    expect: Category | None = None  # the category the findings/incident should show
    expect_cause: Cause | None = None  # ... and the cause, where the category alone would not tell the story
    static_routes: bool = False
    tunnel_options: tuple[dict[str, Any], ...] = ({}, {})
    owner: str | None = None  # the connection's vpn-doctor:owner tag
    # The demo's checks: exactly one message per change of the connection's state per channel (vpn_doctor.rollup),
    # or none at all; ``connection_states``: the states the connection's messages tell, in order (empty: not checked).
    expects_messages: bool = True
    connection_states: tuple[str, ...] = ()
    expects_page: bool = False  # an owned connection's outage pages PagerDuty (critical only), then resolves
    expects_resolved: bool = False
    expects_flapping: bool = False
    expects_bad_record: bool = False
    # A silence holds the messages of every transition while it lasts; when it is lifted, the one incident still
    # open is announced exactly once, marked released (the other messages checks do not apply).
    expects_release: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    place: str = HUB  # HUB or SPOKE
    # A storm: the steps happen to this many connections at once (0: the scenario's one connection); the demo
    # checks one grouped message naming them all (the first ``storm_connections - 1`` told on their own before it)
    # and the storm's end summary.
    storm: int = 0


def _record(details: str, phase1: str = "down", phase2: str = "down", *, nat_t: bool = False) -> dict[str, Any]:
    # The AWS tunnel activity log JSON format; event_timestamp is filled in when written.
    return {
        "event_timestamp": None,
        "details": details,
        "dpd_enabled": True,
        "nat_t_detected": nat_t,
        "ike_phase1_state": phase1,
        "ike_phase2_state": phase2,
    }


def _bgp(details: str, status: str = "DOWN") -> dict[str, Any]:
    return {
        "resource_id": None,
        "event_timestamp": None,
        "type": "BGPStatus",
        "status": status,
        "message": {"details": details},
    }


_CHILD_SA = "AWS tunnel processed request (id=0x2c) for CREATE_CHILD_SA"
_CONN = "<aws-{vpn}-t1|1>"

# strongSwan 5.9 on the customer gateway: IKE_SA_INIT answered, IKE_AUTH over UDP 4500 lost.
_NAT_T_BLOCKED = (
    "{ts} cgw charon: 09[IKE] " + _CONN + " initiating IKE_SA aws-{vpn}-t1[1] to {ip}",
    "{ts} cgw charon: 09[ENC] " + _CONN + " generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]",
    "{ts} cgw charon: 09[NET] " + _CONN + " sending packet: from {cgw}[500] to {ip}[500] (464 bytes)",
    "{ts} cgw charon: 10[NET] " + _CONN + " received packet: from {ip}[500] to {cgw}[500] (440 bytes)",
    "{ts} cgw charon: 10[IKE] " + _CONN + " local host is behind NAT, sending keep alives",
    "{ts} cgw charon: 10[ENC] " + _CONN + " generating IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr ]",
    "{ts} cgw charon: 10[NET] " + _CONN + " sending packet: from {cgw}[4500] to {ip}[4500] (380 bytes)",
    "{ts} cgw charon: 11[IKE] " + _CONN + " retransmit 1 of request with message ID 1",
    "{ts} cgw charon: 12[IKE] " + _CONN + " retransmit 2 of request with message ID 1",
    "{ts} cgw charon: 13[IKE] " + _CONN + " giving up after 2 retransmits",
)

# strongSwan 5.9 on a policy-based gateway with two local networks: one CHILD_SA each, on the same IKE SA, then their
# rekeys (the layout of tests/fixtures/lab/phase2_lifetime_too_short.cgw.log).
_SELECTOR_PAIRS = (
    "{ts} cgw charon: 15[IKE] " + _CONN + " CHILD_SA net-a{{1}} established with SPIs 43ddb87c_i 81a91808_o "
    "and TS 10.1.0.0/16 === 10.100.0.0/16",
    "{ts} cgw charon: 15[IKE] " + _CONN + " CHILD_SA net-b{{2}} established with SPIs 5a0c2e71_i 9b33d0c4_o "
    "and TS 10.2.0.0/16 === 10.100.0.0/16",
    "{ts} cgw charon: 14[IKE] " + _CONN + " inbound CHILD_SA net-a{{3}} established with SPIs c26dbb9e_i 25541bf1_o "
    "and TS 10.1.0.0/16 === 10.100.0.0/16",
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        key="ike_phase1_failure",
        title="Pre-shared key mismatch after a key rotation on the customer gateway",
        expect=Category.IKE_PHASE1_FAILURE,
        steps=(
            Telemetry(0, "DOWN"),
            Logs(0, (_record("AWS tunnel detected a pre-shared key mismatch with cgw: {cgw}", "negotiating"),)),
            Poll(),
        ),
    ),
    Scenario(
        key="ipsec_phase2_failure",
        title="Phase 2 proposals differ: IKE stays up, no IPsec SA",
        expect=Category.IPSEC_PHASE2_FAILURE,
        steps=(
            Telemetry(0, "DOWN"),
            Logs(0, (_record("AWS tunnel Phase 2 was unable to establish while keeping Phase 1", "established"),)),
            Poll(),
        ),
    ),
    Scenario(
        key="dpd_timeout",
        title="Customer gateway stops answering dead peer detection, then comes back",
        expect=Category.DPD_TIMEOUT,
        expects_resolved=True,
        owner=DEMO_OWNER,
        steps=(
            Telemetry(0, "DOWN", ago=170),
            Logs(
                0,
                (
                    _record(_CHILD_SA, "established", "established"),
                    _record("AWS tunnel DPD timed out after 3 retransmits"),
                    _record("AWS tunnel DPD timed out after 3 retransmits"),
                ),
                offsets=(-420.0, -300.0, -180.0),
            ),
            Poll(),
            Redeliver(),
            Telemetry(0, "UP"),
            Logs(0, (_record(_CHILD_SA, "established", "established"),)),
            Poll(),
            Pause(1.5),
            Poll(),
        ),
        notes=(
            "the same payload is delivered twice: the second delivery must not alert again",
            "one tunnel DOWN is 'redundancy lost' (warning): Teams, but no page (the owner pages critical only)",
        ),
        # The repeated DPD timeout is news in the same state: an update of the connection's incident.
        connection_states=("redundancy_lost", "redundancy_lost", "ok"),
    ),
    Scenario(
        key="both_tunnels_down",
        title="The customer gateway's uplink fails: both tunnels go DOWN, then come back",
        expect=Category.DPD_TIMEOUT,
        expects_resolved=True,
        expects_page=True,
        owner=DEMO_OWNER,
        steps=(
            Telemetry(0, "DOWN", ago=150),
            Telemetry(1, "DOWN", ago=140),
            Logs(0, (_record("AWS tunnel DPD timed out after 3 retransmits"),), offsets=(-150.0,)),
            Poll(),
            Telemetry(0, "UP"),
            Telemetry(1, "UP"),
            Poll(),
            Pause(2.5),
            Poll(),
        ),
        notes=(
            "two tunnel incidents, one connection: one OUTAGE message (both tunnels' evidence), one page",
            "the second tunnel's own incident adds no message; the recovery steps down, then resolves the page",
        ),
        connection_states=("outage", "redundancy_lost", "ok"),
    ),
    Scenario(
        key="idle_timeout",
        place=SPOKE,
        title="No traffic for 15 minutes: the customer gateway deletes the IKE SA",
        expect=Category.IDLE_TIMEOUT,
        steps=(
            Telemetry(0, "DOWN"),
            # Two deliveries, as CloudWatch Logs makes them: the tunnel's last line 15 minutes ago,
            # then the DELETE alone, read together with that line from the log group.
            Logs(0, (_record(_CHILD_SA, "established", "established"),), offsets=(-900.0,)),
            Logs(0, (_record("AWS tunnel received DELETE for IKE_SA from CGW", "established", "established"),)),
            Poll(),
            # Longer than the clear delay even when the recovery lands in the same second as the drop.
            Pause(2.5),
            Poll(),
        ),
    ),
    Scenario(
        key="rekey_failure",
        title="Both peers rekey at once and the customer gateway deletes the SA being rekeyed",
        expect=Category.REKEY_FAILURE,
        steps=(
            Logs(
                0,
                (_record("AWS tunnel detected a (CHILD_REKEY) collision as CHILD_DELETE", "established", "rekeying"),),
            ),
        ),
    ),
    Scenario(
        key="policy_based_vpn",
        title="Policy-based customer gateway offers several encryption domains",
        expect=Category.POLICY_BASED_VPN,
        steps=(
            Telemetry(0, "DOWN"),
            Logs(0, (_record("AWS: Traffic Selector: TS_UNACCEPTABLE: received from responder", "established"),)),
            Poll(),
        ),
    ),
    Scenario(
        key="static_routing_asymmetry",
        title="Static routes with both tunnels up: traffic may leave on one tunnel and return on the other",
        expect=Category.STATIC_ROUTING_ASYMMETRY,
        static_routes=True,
        steps=(
            Telemetry(0, "UP", ago=3600),
            Telemetry(1, "UP", ago=3600),
            Traffic(bytes_in=(0.0, 7_000.0), bytes_out=(5_000.0, 0.0)),
            Poll(),
            Diagnose(),
        ),
        notes=("no log line says it: the traffic metrics (poller) and the configuration review do",),
    ),
    Scenario(
        key="no_traffic",
        title="Both tunnels UP and nothing crosses them for 30 minutes: an idle timer will close them",
        expect=Category.IDLE_TIMEOUT,
        steps=(
            Telemetry(0, "UP", ago=3600),
            Telemetry(1, "UP", ago=3600),
            Traffic(bytes_in=(0.0, 0.0), bytes_out=(0.0, 0.0)),
            Poll(),
        ),
    ),
    Scenario(
        key="one_way_traffic",
        title="Traffic leaves AWS on the active tunnel and nothing comes back",
        expect=Category.CGW_NETWORK,
        steps=(
            Telemetry(0, "UP", ago=3600),
            Telemetry(1, "UP", ago=3600),  # the standby: nothing either way
            Traffic(bytes_in=(0.0, 0.0), bytes_out=(5_000.0, 0.0)),
            Poll(),
        ),
    ),
    Scenario(
        key="bgp_session",
        place=SPOKE,
        title="BGP hold timer expires: the customer gateway stopped sending keepalives",
        expect=Category.BGP_SESSION,
        steps=(
            Logs(
                0,
                (_bgp("AWS-side peer sent a Hold Timer Expired notification to neighbor {neighbor}"),),
                kind=LogKind.BGP,
            ),
        ),
    ),
    Scenario(
        key="cgw_network",
        title="A firewall in front of the customer gateway drops UDP 4500 (NAT-T)",
        expect=Category.CGW_NETWORK,
        steps=(Telemetry(0, "DOWN"), Logs(0, _NAT_T_BLOCKED, kind=LogKind.CGW), Poll()),
    ),
    Scenario(
        key="flapping",
        title="An unstable Internet link: the tunnel goes down and up again and again",
        expects_flapping=True,
        steps=(
            Telemetry(0, "DOWN", alarm=True),
            Telemetry(0, "UP", alarm=True),
            Telemetry(0, "DOWN", alarm=True),
            Telemetry(0, "UP", alarm=True),
            Telemetry(0, "DOWN", alarm=True),
        ),
        notes=("many transitions roll up into one flapping incident, not one message each",),
    ),
    Scenario(
        key="endpoint_replacement",
        title="AWS will replace a tunnel endpoint next week, and the tunnel will wait for the customer gateway",
        expect=Category.ENDPOINT_REPLACEMENT,
        # Lifecycle control on (the owner chooses when), startup action 'add' (AWS's default): after the
        # replacement AWS waits for the customer gateway to initiate.
        tunnel_options=({"EnableTunnelLifecycleControl": True}, {}),
        steps=(Maintenance(0, days=7), Poll(), Poll()),
        notes=(
            "the poller reads GetVpnTunnelReplacementStatus; the second poll finds the same pending maintenance and "
            "does not alert again",
        ),
    ),
    Scenario(
        key="malformed_record",
        title="A record cut short in transit",
        expects_messages=False,
        expects_bad_record=True,
        steps=(Logs(0, ('{"event_timestamp": 1764197400, "details": "AWS tunnel is sending AUTHENTICATION_FAI',)),),
    ),
    # s4-bgp (issue 16): the accepted BGP routes the poller watches, and several encryption domains on one tunnel.
    Scenario(
        key="routes_lost",
        place=SPOKE,
        title="BGP stays up but the customer gateway stops advertising its networks: AWS accepts no routes",
        expect=Category.BGP_SESSION,
        expect_cause=Cause.ROUTES_LOST,
        expects_resolved=True,
        steps=(
            Routes(0, 0),
            Poll(),
            Pause(1.5),  # longer than the demo's hold (1 s; deployed: routes_lost_hold_seconds, 5 minutes)
            Poll(),
            Routes(0, 2),
            Poll(),
        ),
        notes=("no log line says it: the telemetry's AcceptedRouteCount does, held low for the hold",),
    ),
    Scenario(
        key="multiple_selectors",
        title="A policy-based customer gateway brings up one CHILD_SA per local network on one tunnel",
        expect=Category.POLICY_BASED_VPN,
        expect_cause=Cause.MULTIPLE_SELECTORS,
        steps=(Logs(0, _SELECTOR_PAIRS, kind=LogKind.CGW),),
        notes=("each pair's SA replaces the other's at AWS: intermittent loss, not a lifetime mismatch",),
    ),
    Scenario(
        key="silence",
        title="A planned firewall upgrade: a silence holds the messages; one tunnel is still down afterwards",
        expects_messages=False,
        expects_release=True,
        steps=(
            SilenceAdd("2h", "firewall upgrade CHG-1234"),
            Telemetry(0, "DOWN"),
            Telemetry(1, "DOWN"),
            Poll(),
            Telemetry(0, "UP"),
            Poll(),
            Pause(1.5),  # longer than the clear delay: tunnel 1's incident resolves, inside the silence
            Poll(),
            SilenceLift(),
            Poll(),  # the poller announces the incident still open, once
            Poll(),  # and not again
        ),
        notes=("held messages are never sent; only what is still broken when the silence ends is announced",),
    ),
    Scenario(
        key="storm",
        title="A region's internet path fails: every connection of the spoke's site goes DOWN at once",
        place=SPOKE,
        storm=DEMO_STORM_CONNECTIONS,
        expects_messages=False,  # the storm checks apply instead
        steps=(
            Telemetry(0, "DOWN"),
            Telemetry(1, "DOWN"),
            Poll(),
            Telemetry(0, "UP"),
            Telemetry(1, "UP"),
            Poll(),
            Pause(1.5),  # longer than the clear delay: the incidents resolve, inside the storm (held)
            Poll(),
            Pause(DEMO_STORM_WINDOW_SECONDS + 0.5),  # a whole window without a new failure
            HubPoll(),
        ),
        notes=(
            "the first storm_connections - 1 outages are told on their own; the one crossing the threshold is one "
            "grouped message naming them all and what they share; the rest is held until the storm's summary",
        ),
    ),
)
