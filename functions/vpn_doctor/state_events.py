"""Normalise EventBridge state events into :class:`~vpn_doctor.models.TunnelStateChange` (pure).

Sources (shapes from the AWS EventBridge events reference):

- ``aws.cloudwatch`` / ``CloudWatch Alarm State Change`` for an alarm on ``AWS/VPN`` ``TunnelState``
  with dimensions ``VpnId`` and ``TunnelIpAddress``. The alarm fires when the tunnel is down
  (threshold below 1; missing data is missing, never breaching): ``ALARM`` is DOWN, ``OK`` is UP,
  ``INSUFFICIENT_DATA`` (no data, e.g. late points) is UNKNOWN, which opens nothing.
- ``aws.networkmanager`` / ``Network Manager Status Update`` with ``changeType``
  ``VPN-CONNECTION-IPSEC-DOWN``/``-UP`` and ``VPN-CONNECTION-BGP-DOWN``/``-ESTABLISH``
  (Transit Gateway VPNs registered in a global network).
- ``aws.health`` / ``AWS Health Event`` for service ``VPN``: tunnel endpoint replacement /
  redundancy-loss notices become ``maintenance`` signals (state UNKNOWN: the DOWN itself comes
  from the alarm or the poller); other VPN notices are kept as UNKNOWN-state information.
- ``vpn-doctor`` / ``VPN Tunnel State Change``: a change we published ourselves (post-check, demo).

Anything else yields a :class:`RejectedEvent` with a reason: never an exception. The sources are
the list :data:`SOURCES`: a new one is a reader function and one entry there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

from pydantic import ValidationError

from vpn_doctor.constants import DETAIL_TYPE_STATE_CHANGE, EVENT_SOURCE
from vpn_doctor.models import StateSource, TunnelState, TunnelStateChange, load
from vpn_doctor.records import VPN_CONNECTION_ID, iso, usable_time
from vpn_doctor.text import excerpt, key_id, valid_unicode

DETAIL_TYPE_ALARM: Final = "CloudWatch Alarm State Change"
DETAIL_TYPE_NETWORK_MANAGER: Final = "Network Manager Status Update"
DETAIL_TYPE_HEALTH: Final = "AWS Health Event"

_ALARM_STATES: Final = {"ALARM": TunnelState.DOWN, "OK": TunnelState.UP, "INSUFFICIENT_DATA": TunnelState.UNKNOWN}
_NETWORK_MANAGER_CHANGES: Final = {
    "VPN-CONNECTION-IPSEC-DOWN": (TunnelState.DOWN, "ipsec"),
    "VPN-CONNECTION-IPSEC-UP": (TunnelState.UP, "ipsec"),
    "VPN-CONNECTION-BGP-DOWN": (TunnelState.DOWN, "bgp"),
    "VPN-CONNECTION-BGP-ESTABLISH": (TunnelState.UP, "bgp"),
}
#: The Network Manager change types the state function reads; the stack's rules forward exactly these.
NETWORK_MANAGER_CHANGE_TYPES: Final = tuple(_NETWORK_MANAGER_CHANGES)
# Health event type codes (or words in them) that announce a tunnel endpoint replacement.
_MAINTENANCE_WORDS: Final = ("REPLACEMENT", "MAINTENANCE", "REDUNDANCY_LOSS")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event that is not a tunnel state signal, or that could not be read: why, and what it was."""

    reason: str
    source: str | None = None
    detail_type: str | None = None
    event_id: str | None = None


def normalise(event: object) -> tuple[TunnelStateChange, ...] | RejectedEvent:
    """The state changes one EventBridge event carries (one per tunnel), or why it was rejected."""
    if not isinstance(event, Mapping):
        return RejectedEvent(f"not an EventBridge event (got {type(event).__name__})")
    source = _text(event.get("source"))
    detail_type = _text(event.get("detail-type"))
    event_id = _text(event.get("id"))
    event_id = None if event_id is None else key_id(event_id)
    detail = event.get("detail")

    def rejected(reason: str) -> RejectedEvent:
        return RejectedEvent(reason, source=source, detail_type=detail_type, event_id=event_id)

    if not isinstance(detail, Mapping):
        return rejected("event has no detail object")
    if not event_id:
        return rejected("event has no id (needed to recognise duplicate deliveries)")
    reader = next((known for known in SOURCES if (known.source, known.detail_type) == (source, detail_type)), None)
    if reader is None:
        return rejected("unsupported source/detail-type")
    try:
        changes = reader.read(event, detail, event_id)
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        return rejected(f"malformed {detail_type or 'event'}: {type(exc).__name__}: {excerpt(str(exc))}")
    if not changes:
        return rejected(reader.unmatched(detail))
    if (unusable := next((c.observed_at for c in changes if not usable_time(c.observed_at)), None)) is not None:
        return rejected(f"state time {iso(unusable)} cannot be used (outside 1970-9000)")
    if any(not _key_part(c.vpn_connection_id) or not _key_part(c.tunnel_ip or "") for c in changes):
        return rejected("connection id or tunnel address unfit for a key (too long, or not Unicode)")
    return tuple(_storable(change) for change in changes)


def _key_part(value: str) -> bool:
    return key_id(value) == value


def _storable(change: TunnelStateChange) -> TunnelStateChange:
    """The change with an id fit for a key (:func:`vpn_doctor.text.key_id`: DynamoDB refuses keys over
    2,048 bytes and text that is not Unicode) and valid Unicode in what is stored and sent."""
    return replace(
        change,
        event_id=key_id(change.event_id),
        reason=valid_unicode(change.reason),
        status_message=None if change.status_message is None else valid_unicode(change.status_message),
        details={key: valid_unicode(value) for key, value in change.details.items()},
    )


# --- CloudWatch alarm -------------------------------------------------------------------------


def _alarm(event: Mapping[str, Any], detail: Mapping[str, Any], event_id: str) -> tuple[TunnelStateChange, ...] | None:
    dimensions = _tunnel_state_dimensions(detail)
    if dimensions is None:
        return None
    vpn_id = _text(dimensions.get("VpnId"))
    if not vpn_id:
        return None
    state_block = detail.get("state") or {}
    value = _text(state_block.get("value")) or ""
    state = _ALARM_STATES.get(value.upper(), TunnelState.UNKNOWN)
    observed = _time(state_block.get("timestamp")) or _time(event.get("time"))
    if observed is None:
        raise ValueError("no state timestamp and no event time")
    previous = _text((detail.get("previousState") or {}).get("value"))
    return (
        TunnelStateChange(
            vpn_connection_id=vpn_id,
            tunnel_ip=_text(dimensions.get("TunnelIpAddress")),
            state=state,
            source=StateSource.CLOUDWATCH_ALARM,
            observed_at=observed,
            event_id=event_id,
            reason=_text(state_block.get("reason")) or f"alarm {value}",
            details=_clean(
                {"alarm_name": detail.get("alarmName"), "alarm_state": value, "previous_alarm_state": previous}
            ),
        ),
    )


def _tunnel_state_dimensions(detail: Mapping[str, Any]) -> Mapping[str, Any] | None:
    metrics: Sequence[Any] = (detail.get("configuration") or {}).get("metrics") or ()
    for entry in metrics:
        metric = ((entry or {}).get("metricStat") or {}).get("metric") or {}
        if metric.get("namespace") == "AWS/VPN" and metric.get("name") == "TunnelState":
            dimensions = metric.get("dimensions") or {}
            return dimensions if isinstance(dimensions, Mapping) else None
    return None


# --- Network Manager --------------------------------------------------------------------------


def _network_manager(
    event: Mapping[str, Any], detail: Mapping[str, Any], event_id: str
) -> tuple[TunnelStateChange, ...] | None:
    change_type = _text(detail.get("changeType")) or ""
    mapped = _NETWORK_MANAGER_CHANGES.get(change_type.upper())
    if mapped is None:
        return None
    state, layer = mapped
    vpn_id = _vpn_id(detail.get("vpnConnectionArn")) or next(
        (found for found in map(_vpn_id, event.get("resources") or ()) if found), None
    )
    observed = _time(event.get("time"))
    if vpn_id is None or observed is None:
        raise ValueError("no VPN connection ARN or no event time")
    return (
        TunnelStateChange(
            vpn_connection_id=vpn_id,
            tunnel_ip=_text(detail.get("outsideIpAddress")),
            state=state,
            source=StateSource.NETWORK_MANAGER,
            observed_at=observed,
            event_id=event_id,
            reason=_text(detail.get("changeDescription")) or change_type,
            layer=layer,
            details=_clean(
                {
                    "change_type": change_type,
                    "region": detail.get("region"),
                    "transit_gateway_arn": detail.get("transitGatewayArn"),
                    "peer_asn": detail.get("peerAsn"),
                }
            ),
        ),
    )


# --- AWS Health -------------------------------------------------------------------------------


def _health(event: Mapping[str, Any], detail: Mapping[str, Any], event_id: str) -> tuple[TunnelStateChange, ...] | None:
    if str(detail.get("service", "")).upper() != "VPN":
        return None
    code = _text(detail.get("eventTypeCode")) or ""
    category = _text(detail.get("eventTypeCategory")) or ""
    description = _description(detail.get("eventDescription"))
    entities = [_text(entity.get("entityValue")) for entity in detail.get("affectedEntities") or () if entity]
    vpn_ids = list(
        dict.fromkeys(found for found in map(_vpn_id, [*entities, *(event.get("resources") or ())]) if found)
    )
    if not vpn_ids:
        return None
    observed = _time(detail.get("startTime")) or _time(event.get("time"))
    if observed is None:
        raise ValueError("no start time and no event time")
    maintenance = category == "scheduledChange" or any(word in code.upper() for word in _MAINTENANCE_WORDS)
    # Health notices name connections; the tunnel's outside IP appears in some descriptions only.
    ips = list(dict.fromkeys(_IPV4.findall(description))) or [None]
    reason = description.strip().splitlines()[0][:300] if description.strip() else code
    return tuple(
        TunnelStateChange(
            vpn_connection_id=vpn_id,
            tunnel_ip=ip,
            state=TunnelState.UNKNOWN,
            source=StateSource.AWS_HEALTH,
            observed_at=observed,
            event_id=event_id,
            reason=reason,
            maintenance=maintenance,
            details=_clean(
                {
                    "event_type_code": code,
                    "event_type_category": category,
                    "event_arn": detail.get("eventArn"),
                    "status_code": detail.get("statusCode"),
                }
            ),
        )
        for vpn_id in vpn_ids
        for ip in ips
    )


def _description(value: object) -> str:
    if isinstance(value, Mapping):
        return str(value.get("latestDescription") or "")
    if isinstance(value, Sequence) and not isinstance(value, str):
        english = [item for item in value if isinstance(item, Mapping) and item.get("language") == "en_US"]
        chosen = english or [item for item in value if isinstance(item, Mapping)]
        return str(chosen[0].get("latestDescription") or "") if chosen else ""
    return ""


# --- our own ----------------------------------------------------------------------------------


def _ours(event: Mapping[str, Any], detail: Mapping[str, Any], event_id: str) -> tuple[TunnelStateChange, ...]:
    return (load(TunnelStateChange, detail),)


# --- the sources ------------------------------------------------------------------------------

Reader = Callable[[Mapping[str, Any], Mapping[str, Any], str], tuple[TunnelStateChange, ...] | None]


@dataclass(frozen=True, slots=True)
class Source:
    """One kind of EventBridge state event: ``read`` turns it into changes (``None``: it carries no
    tunnel state, ``unmatched`` says why; a malformed one raises)."""

    source: str
    detail_type: str
    read: Reader
    unmatched: Callable[[Mapping[str, Any]], str]


#: Every state source the state function reads (the stack routes exactly these to it).
SOURCES: Final = (
    Source("aws.cloudwatch", DETAIL_TYPE_ALARM, _alarm, lambda _: "alarm is not on AWS/VPN TunnelState for a VPN"),
    Source(
        "aws.networkmanager",
        DETAIL_TYPE_NETWORK_MANAGER,
        _network_manager,
        lambda detail: f"Network Manager change type {detail.get('changeType')!r} is not a VPN tunnel status change",
    ),
    Source(
        "aws.health",
        DETAIL_TYPE_HEALTH,
        _health,
        lambda detail: f"Health event for service {detail.get('service')!r} names no VPN connection",
    ),
    Source(EVENT_SOURCE, DETAIL_TYPE_STATE_CHANGE, _ours, lambda _: "not a state change"),
)


# --- helpers ----------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _vpn_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    match = VPN_CONNECTION_ID.search(value)
    return match.group(0) if match else None


def _clean(values: Mapping[str, object]) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


def _time(value: object) -> datetime | None:
    """ISO 8601 (``2019-10-02T17:04:40.985+0000`` too) or RFC 1123 (Health's ``Tue, 10 May 2022 06:00:54 GMT``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
