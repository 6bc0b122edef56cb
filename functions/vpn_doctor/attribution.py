"""Attribution of customer-gateway lines to a connection and tunnel (pure).

AWS's own tunnel log records name their tunnel in the log stream (``vpn-id-outside-ip``); a gateway's
own lines (strongSwan, libreswan, vendor syslog) do not: they name the AWS tunnel's outside IP (the
gateway's peer), the gateway's own public IP, a connection or peer name, or nothing but the host
that sent them. :func:`attribute` matches what a line names against a :class:`ConnectionMap`:

- the connections' tunnel outside IPs, customer gateway IPs and names, as the poller last read
  them from EC2 (``DescribeVpnConnections`` / ``DescribeCustomerGateways``: ingest never calls EC2,
  whose ``DescribeVpnConnections`` returns pre-shared keys);
- the configured ``gateway_map`` (stack config): a log group name, an envelope's host or a
  gateway's connection name -> ``vpn-id`` or ``vpn-id/tunnel-outside-ip``, for gateways whose lines
  name no IP.

Nothing is guessed: an IP or name that fits two connections or two tunnels, clues that disagree,
or a connection known without its tunnel leave the line unattributed, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from vpn_doctor.records import Finding, TunnelEvent
    from vpn_doctor.vpn import VpnConnectionInfo

_IPV4: Final = re.compile(r"(?<![\d.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?![\d.])")
_VPN_ID: Final = re.compile(r"^vpn-[0-9a-f]{8,17}$")
# AWS's sample configurations name a connection's two tunnels "Tunnel1" and "Tunnel2" (in AWS's order).
_TUNNEL_NUMBER: Final = re.compile(r"tunnel[-_ ]?([12])(?!\d)", re.IGNORECASE)
#: The evidence field an attributed event carries: what its connection and tunnel were read from.
ATTRIBUTED: Final = "attributed_by"


@dataclass(frozen=True, slots=True)
class MappedConnection:
    """What attribution knows of one connection: its tunnels' outside IPs (AWS's order), its gateway's IP, its name."""

    vpn_connection_id: str
    tunnel_ips: tuple[str, ...]
    gateway_ip: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "vpn_connection_id": self.vpn_connection_id,
            "tunnel_ips": list(self.tunnel_ips),
            "gateway_ip": self.gateway_ip,
            "name": self.name,
        }


@dataclass(frozen=True, slots=True)
class ConnectionMap:
    """The connections lines are attributed to, and the configured sources (name -> ``vpn-id[/ip]``)."""

    connections: tuple[MappedConnection, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the stored item's document, and ``vpn-doctor classify --map``'s file)."""
        return {
            "connections": [connection.to_dict() for connection in self.connections],
            "sources": dict(sorted(self.sources.items())),
        }

    def with_sources(self, sources: Mapping[str, str]) -> ConnectionMap:
        """This map with the configured sources (they win over the stored ones with the same key)."""
        return ConnectionMap(self.connections, {**self.sources, **sources})

    def connection(self, vpn_connection_id: str) -> MappedConnection | None:
        """The mapped connection with this id."""
        return next((c for c in self.connections if c.vpn_connection_id == vpn_connection_id), None)


class MapFormatError(ValueError):
    """A connection map document that cannot be read."""


def map_from_dict(document: object) -> ConnectionMap:
    """Read :meth:`ConnectionMap.to_dict`'s form; raises :class:`MapFormatError` with what is wrong."""
    if not isinstance(document, dict):
        raise MapFormatError("a connection map is a JSON object with 'connections' and/or 'sources'")
    connections = document.get("connections", [])
    sources = document.get("sources", {})
    if not isinstance(connections, list) or not isinstance(sources, dict):
        raise MapFormatError("'connections' must be a list and 'sources' an object")
    read: list[MappedConnection] = []
    for index, item in enumerate(connections):
        vpn_id = item.get("vpn_connection_id") if isinstance(item, dict) else None
        ips = item.get("tunnel_ips", []) if isinstance(item, dict) else None
        if not isinstance(vpn_id, str) or not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
            raise MapFormatError(f"connections[{index}] needs 'vpn_connection_id' and a list 'tunnel_ips'")
        gateway, name = item.get("gateway_ip"), item.get("name")
        read.append(
            MappedConnection(
                vpn_id,
                tuple(ips),
                gateway if isinstance(gateway, str) else None,
                name if isinstance(name, str) else None,
            )
        )
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in sources.items()):
        raise MapFormatError("'sources' maps names to 'vpn-id' or 'vpn-id/tunnel-ip' strings")
    return ConnectionMap(tuple(read), dict(sources))


def map_of(connections: Iterable[VpnConnectionInfo]) -> ConnectionMap:
    """The map of the connections the poller read (sorted: the same estate gives the same map)."""
    mapped = (
        MappedConnection(
            c.vpn_connection_id,
            tuple(t.outside_ip for t in c.tunnels),
            c.customer_gateway_ip,
            c.name,
        )
        for c in connections
    )
    return ConnectionMap(tuple(sorted(mapped, key=lambda c: c.vpn_connection_id)))


@dataclass(frozen=True, slots=True)
class Attribution:
    """A line's connection and tunnel, and what they were read from; or, unattributed, why not."""

    vpn_connection_id: str | None
    tunnel_ip: str | None
    basis: str

    @property
    def attributed(self) -> bool:
        """Both the connection and the tunnel are known."""
        return self.vpn_connection_id is not None and self.tunnel_ip is not None


def attribute(event: TunnelEvent, connection_map: ConnectionMap, *, log_group: str | None = None) -> Attribution:
    """The connection and tunnel ``event`` belongs to, from what it names (see the module's docstring).

    An event that already names both (AWS's records) keeps them. Clues, most specific first: a
    tunnel outside IP named anywhere in the line; else the connections the line's other clues
    allow (its connection id, the gateway IP it names, its connection name as a connection's Name
    tag, a configured source for its connection name, host or log group), which must agree on one;
    then the tunnel from a configured ``vpn-id/ip``, or a ``TunnelN`` connection name."""
    if event.vpn_connection_id and event.tunnel_ip:
        return Attribution(event.vpn_connection_id, event.tunnel_ip, "named by the record")
    named = _named_ips(event)
    tunnels = {(c.vpn_connection_id, ip) for ip in named for c in connection_map.connections if ip in c.tunnel_ips}
    if event.vpn_connection_id:
        tunnels = {tunnel for tunnel in tunnels if tunnel[0] == event.vpn_connection_id}
    if len(tunnels) == 1:
        (vpn_id, ip), *_ = tunnels
        return Attribution(vpn_id, ip, f"tunnel outside IP {ip}")
    if tunnels:
        return Attribution(None, None, f"ambiguous: the line names several tunnels ({_listed(tunnels)}); not guessed")
    clues, tunnel_hint = _connection_clues(event, named, connection_map, log_group)
    allowed: set[str] | None = None
    for _, ids in clues:
        allowed = set(ids) if allowed is None else allowed & ids
        if not allowed:
            return Attribution(None, None, f"clues disagree ({'; '.join(w for w, _ in clues)}); not guessed")
    if allowed is None:
        return Attribution(None, None, "the line names no tunnel IP, gateway IP or connection known to the map")
    if len(allowed) > 1:
        return Attribution(None, None, f"ambiguous: {_clue_text(clues)} fit {', '.join(sorted(allowed))}; not guessed")
    vpn_id = allowed.pop()
    basis = _clue_text(clues)
    if tunnel_hint is not None:
        return Attribution(vpn_id, tunnel_hint, f"{basis}, tunnel {tunnel_hint} (configured)")
    connection = connection_map.connection(vpn_id)
    number = _TUNNEL_NUMBER.search(event.fields.get("conn", ""))
    if connection is not None and number is not None and int(number.group(1)) <= len(connection.tunnel_ips):
        ip = connection.tunnel_ips[int(number.group(1)) - 1]
        return Attribution(vpn_id, ip, f"{basis}, tunnel {number.group(1)} by its name")
    return Attribution(vpn_id, None, f"{basis} names connection {vpn_id} but not which tunnel; not guessed")


def attributed_finding(
    finding: Finding, connection_map: ConnectionMap, *, log_group: str | None = None
) -> tuple[Finding, Attribution]:
    """The finding with the connection and tunnel :func:`attribute` found (and, in its event's fields,
    :data:`ATTRIBUTED`: what they were read from), and the attribution; unchanged when not attributed."""
    found = attribute(finding.event, connection_map, log_group=log_group)
    event = finding.event
    if not found.attributed or (event.vpn_connection_id, event.tunnel_ip) == (found.vpn_connection_id, found.tunnel_ip):
        return finding, found
    fields = {**event.fields, ATTRIBUTED: found.basis}
    event = replace(event, vpn_connection_id=found.vpn_connection_id, tunnel_ip=found.tunnel_ip, fields=fields)
    return replace(finding, event=event), found


def _named_ips(event: TunnelEvent) -> list[str]:
    """Every IPv4 address the record names, its own tunnel IP first."""
    found = [event.tunnel_ip] if event.tunnel_ip else []
    for text in (event.fields.get("conn", ""), event.message, event.raw):
        found.extend(_IPV4.findall(text))
    return list(dict.fromkeys(found))


def _connection_clues(
    event: TunnelEvent, named: Sequence[str], connection_map: ConnectionMap, log_group: str | None
) -> tuple[list[tuple[str, set[str]]], str | None]:
    """The line's clues to its connection (what, the connection ids it allows) and a configured tunnel IP."""
    clues: list[tuple[str, set[str]]] = []
    if event.vpn_connection_id:
        clues.append((f"connection id {event.vpn_connection_id}", {event.vpn_connection_id}))
    for ip in named:
        ids = {c.vpn_connection_id for c in connection_map.connections if c.gateway_ip == ip}
        if ids:
            clues.append((f"customer gateway IP {ip}", ids))
    conn = event.fields.get("conn")
    if conn:
        ids = {c.vpn_connection_id for c in connection_map.connections if c.name == conn}
        if ids:
            clues.append((f"connection name {conn!r}", ids))
    tunnel_hint: str | None = None
    for what, key in (("connection name", conn), ("host", event.fields.get("host")), ("log group", log_group)):
        target = connection_map.sources.get(key) if key else None
        if target is None:
            continue
        vpn_id, _, ip = target.partition("/")
        clues.append((f"{what} {key!r} (configured)", {vpn_id}))
        if ip and _IPV4.fullmatch(ip) and tunnel_hint is None:
            tunnel_hint = ip
        break  # the most specific configured source decides
    return clues, tunnel_hint


def _clue_text(clues: Sequence[tuple[str, set[str]]]) -> str:
    return " and ".join(what for what, _ in clues)


def _listed(tunnels: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{vpn_id} {ip}" for vpn_id, ip in sorted(tunnels))


def valid_source_target(target: str) -> bool:
    """A configured source's target is ``vpn-id`` or ``vpn-id/tunnel-outside-ip``."""
    vpn_id, slash, ip = target.partition("/")
    return bool(_VPN_ID.match(vpn_id)) and (not slash or bool(_IPV4.fullmatch(ip)))
