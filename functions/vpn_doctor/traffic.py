"""Traffic-aware detection (pure): ``AWS/VPN`` TunnelDataIn/TunnelDataOut joined with telemetry and routing.

Three findings, judged over one window (``no_traffic_minutes``, default 30) of 5-minute ``Sum`` datapoints:

- ``static_routing_asymmetry/both_tunnels_up_static``: static routing, two tunnels UP (the diagnosis'
  own test, :func:`~vpn_doctor.diagnosis.static_with_tunnels_up`), bytes leaving AWS on one tunnel
  (``TunnelDataOut``) while the replies arrive on the other (``TunnelDataIn``), none the other way;
- ``idle_timeout/no_traffic``: judged per **connection**, since the data metrics count only what
  crosses a tunnel and a healthy standby tunnel carries nothing: every UP tunnel with zero bytes both
  ways for the whole window;
- ``cgw_network/esp_blocked`` or ``cgw_network/one_way_traffic``: an UP tunnel with bytes one way and
  none back, and no sibling carrying the reverse. Without NAT-T (``nat_t_detected`` false in the
  tunnel's AWS log records) ESP (IP protocol 50) can be blocked alone; with NAT-T it rides in UDP 4500
  and cannot, so the other causes are listed; when no record says, NAT-T is named unknown.

Zero bytes versus no data: AWS's page says each datapoint is the bytes received (sent) since the
previous datapoint, sent to CloudWatch "as it becomes available", and that the data metrics may count
periodic status checks and background BGP and ARP traffic even when a tunnel is down
(https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-cloudwatch-vpn.html). It does not promise a
datapoint for a period in which nothing crossed. So a direction counts as "nothing crossed" only when
CloudWatch returned a datapoint for every period of the window and each is zero; a missing period is
no data, never no traffic, and no verdict is given (the tunnel's traffic is then unknown).

Every finding is connection-level: it is filed under the pseudo tunnel :data:`CONNECTION_SCOPE` of
its connection (the incident store keeps one record per tunnel key), so it opens, repeats and resolves
like any incident without touching the tunnels' own state incidents. The tunnels it is about are named
in its summary and evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from vpn_doctor.constants import CONNECTION_SCOPE
from vpn_doctor.diagnosis import TunnelTraffic, static_with_tunnels_up
from vpn_doctor.models import Finding, Source, TunnelEvent, TunnelState
from vpn_doctor.taxonomy import Category, Cause, Severity
from vpn_doctor.vpn import TunnelConfig, VpnConnectionInfo

#: The period of the datapoints read (``AWS/VPN`` publishes 5-minute data).
PERIOD: Final = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Direction:
    """One direction of one tunnel over the window: bytes, or ``None`` when a period has no datapoint."""

    total: float | None

    @property
    def known(self) -> bool:
        return self.total is not None

    @property
    def zero(self) -> bool:
        """Datapoints for every period, all zero: nothing crossed (not the same as no data)."""
        return self.total == 0

    @property
    def carries(self) -> bool:
        return self.total is not None and self.total > 0


def _direction(values: Sequence[float], periods: int) -> Direction:
    """Bytes over the window; a direction with any period missing has a known total only if it carried bytes
    (bytes seen are bytes crossed; a gap never makes zero)."""
    total = float(sum(values))
    if total > 0:
        return Direction(total)
    return Direction(0.0 if len(values) >= periods else None)


@dataclass(frozen=True, slots=True)
class TunnelFlow:
    """One UP tunnel's bytes in (customer gateway -> AWS) and out (AWS -> customer gateway) over the window."""

    tunnel_ip: str
    into_aws: Direction
    out_of_aws: Direction

    def text(self) -> str:
        def words(direction: Direction) -> str:
            return "no data" if direction.total is None else f"{direction.total:,.0f} B"

        return f"tunnel {self.tunnel_ip}: TunnelDataIn {words(self.into_aws)}, TunnelDataOut {words(self.out_of_aws)}"


def traffic_findings(
    connection: VpnConnectionInfo,
    traffic: Mapping[str, TunnelTraffic],
    *,
    window: timedelta,
    now: datetime,
    nat_t: Callable[[], bool | None],
) -> list[Finding]:
    """The connection's traffic finding over ``window`` (at most one: the three exclude each other).

    ``traffic``: per tunnel outside IP, its datapoints over the window; ``nat_t``: asked only for a
    one-way tunnel, whether the connection's tunnel logs say NAT-T is in use (``None``: unknown)."""
    periods = max(1, int(window / PERIOD))
    flows: list[TunnelFlow] = []
    for tunnel in connection.tunnels:
        up = tunnel.telemetry is not None and tunnel.telemetry.status is TunnelState.UP
        if not up:
            continue
        if not _up_since(tunnel, now - window):
            return []  # came UP within the window (a failover?): its traffic is not a whole window's yet
        observed = traffic.get(tunnel.outside_ip)
        if observed is None:
            return []  # an UP tunnel not read: nothing can be said of the connection
        flows.append(
            TunnelFlow(
                tunnel.outside_ip,
                _direction(observed.bytes_in, periods),
                _direction(observed.bytes_out, periods),
            )
        )
    if not flows:
        return []
    minutes = int(window.total_seconds() // 60)
    evidence = "; ".join(flow.text() for flow in flows) + f" (last {minutes} minutes)"
    if all(flow.into_aws.zero and flow.out_of_aws.zero for flow in flows):
        return [
            _finding(
                connection,
                Category.IDLE_TIMEOUT,
                Cause.NO_TRAFFIC,
                f"Connection UP but no byte crossed any tunnel for {minutes} minutes: at risk of an idle timeout",
                evidence,
                now=now,
            )
        ]
    asymmetric = _asymmetry(connection, flows)
    if asymmetric is not None:
        out_tunnel, in_tunnel = asymmetric
        return [
            _finding(
                connection,
                Category.STATIC_ROUTING_ASYMMETRY,
                Cause.BOTH_TUNNELS_UP_STATIC,
                f"Static routing with both tunnels UP: traffic leaves AWS on tunnel {out_tunnel} and returns on "
                f"tunnel {in_tunnel}",
                evidence,
                now=now,
            )
        ]
    one_way = [flow for flow in flows if _one_way(flow)]
    if not one_way:
        return []
    # A sibling carrying the reverse direction is asymmetry (above, or routing's business with BGP), not loss.
    reverse_elsewhere = any(
        (flow.into_aws.carries and other.out_of_aws.carries) or (flow.out_of_aws.carries and other.into_aws.carries)
        for flow in one_way
        for other in flows
        if other is not flow
    )
    if reverse_elsewhere:
        return []
    flow = one_way[0]
    way = "from AWS to the customer gateway" if flow.out_of_aws.carries else "from the customer gateway to AWS"
    uses_nat_t = nat_t()
    if uses_nat_t is False:
        cause = Cause.ESP_BLOCKED
        nat = "the tunnel logs say NAT-T is not in use, so ESP (IP protocol 50) can be blocked"
    else:
        cause = Cause.ONE_WAY_TRAFFIC
        nat = (
            "NAT-T is in use (ESP rides inside UDP 4500)"
            if uses_nat_t
            else "NAT-T unknown (no tunnel log record says); without NAT-T, blocked ESP (IP protocol 50) is a cause"
        )
    return [
        _finding(
            connection,
            Category.CGW_NETWORK,
            cause,
            f"Tunnel {flow.tunnel_ip} UP but traffic flows one way only ({way}) for {minutes} minutes; {nat}",
            evidence,
            now=now,
        )
    ]


def _up_since(tunnel: TunnelConfig, start: datetime) -> bool:
    """An UP tunnel's status has not changed since ``start`` (or the telemetry does not say when it did)."""
    since = tunnel.telemetry.last_status_change if tunnel.telemetry is not None else None
    return since is None or since <= start


def _one_way(flow: TunnelFlow) -> bool:
    return (flow.into_aws.carries and flow.out_of_aws.zero) or (flow.out_of_aws.carries and flow.into_aws.zero)


def _asymmetry(connection: VpnConnectionInfo, flows: Sequence[TunnelFlow]) -> tuple[str, str] | None:
    """(tunnel traffic leaves AWS on, tunnel the replies come back on), when static routing splits them."""
    if not static_with_tunnels_up(connection):
        return None
    for leaving in flows:
        if not (leaving.out_of_aws.carries and leaving.into_aws.zero):
            continue
        for returning in flows:
            if returning is not leaving and returning.into_aws.carries and returning.out_of_aws.zero:
                return leaving.tunnel_ip, returning.tunnel_ip
    return None


def _finding(
    connection: VpnConnectionInfo, category: Category, cause: Cause, summary: str, evidence: str, *, now: datetime
) -> Finding:
    event = TunnelEvent(
        source=Source.AWS_METRICS,
        message=f"AWS/VPN metrics: {evidence}",
        raw="",
        vpn_connection_id=connection.vpn_connection_id,
        tunnel_ip=CONNECTION_SCOPE,
        timestamp=now,
    )
    return Finding(category, cause, Severity.WARNING, summary, f"traffic.{cause.value}", event)
