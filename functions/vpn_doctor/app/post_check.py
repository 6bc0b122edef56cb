"""Use case of the post-check function: after a modification, is the tunnel UP again? Escalate if not."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from vpn_doctor.app.ports import Connections
from vpn_doctor.app.publishing import EventPublisher, publish_all
from vpn_doctor.constants import DETAIL_TYPE_ALERT
from vpn_doctor.models import Alert, IncidentTransition, RemediationOutcome, TransitionKind, TunnelState, dump
from vpn_doctor.redact import redact_model
from vpn_doctor.remediation import post_check
from vpn_doctor.routing import other_tunnels_down, owner_of


@dataclass(frozen=True, slots=True)
class PostCheckRequest:
    """What respond scheduled: the incident transition, the applied remediation, when it was applied."""

    transition: IncidentTransition
    remediation: RemediationOutcome
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class PostCheckPorts:
    """What a post-check calls out to."""

    connections: Connections
    bus: EventPublisher


def run_post_check(
    request: PostCheckRequest, ports: PostCheckPorts, *, region: str | None, now: datetime
) -> Alert | None:
    """Read the tunnel's telemetry; ``None`` when it is UP, else the escalated alert, published.

    A refused ``DescribeVpnConnections`` raises ``AwsCallFailed`` (an unknown state is not a failed
    change: the retry asks again); a failed publish raises
    :class:`~vpn_doctor.app.publishing.PublishFailed`."""
    incident = request.transition.incident
    connection = ports.connections.connection(incident.vpn_connection_id)
    escalation = post_check(
        connection,
        incident.tunnel_ip,
        action=request.remediation.action,
        modified_at=request.modified_at,
        now=now,
    )
    if escalation is None:
        return None
    tunnel = connection.tunnel(incident.tunnel_ip) if connection is not None else None
    state = tunnel.telemetry.status if tunnel is not None and tunnel.telemetry is not None else TunnelState.UNKNOWN
    escalated = IncidentTransition(
        kind=TransitionKind.ESCALATED,
        incident=replace(incident, escalated=True, last_state=state, updated_at=now),
        at=now,
        event_id=f"post-check:{request.transition.event_id}",
        reason=escalation,
    )
    alert = Alert(
        transition=escalated,
        remediation=request.remediation,
        region=region,
        escalation=escalation,
        owner=owner_of(connection),
        other_tunnels_down=other_tunnels_down(connection, incident.tunnel_ip),
    )
    # The escalation quotes AWS's status message of the tunnel: no key-like text goes on the bus.
    alert, _ = redact_model(alert)
    publish_all(ports.bus, DETAIL_TYPE_ALERT, [dump(alert)])
    return alert
