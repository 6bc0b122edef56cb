"""Every state source becomes one TunnelStateChange schema; anything else is a clear rejection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vpn_doctor.models import StateSource, TunnelState, TunnelStateChange, dump
from vpn_doctor.state_events import RejectedEvent, normalise

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
VPN = "vpn-0a1b2c3d4e5f60718"


def _event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def _one(name: str) -> TunnelStateChange:
    result = normalise(_event(name))
    assert isinstance(result, tuple), result
    assert len(result) == 1
    return result[0]


def test_tunnel_state_alarm_in_alarm_means_the_tunnel_is_down() -> None:
    change = _one("cloudwatch-alarm-tunnel-down.json")
    assert (change.vpn_connection_id, change.tunnel_ip, change.state) == (VPN, "198.51.100.10", TunnelState.DOWN)
    assert change.source is StateSource.CLOUDWATCH_ALARM
    assert change.observed_at == datetime(2026, 11, 26, 22, 58, 40, 985000, tzinfo=UTC)
    assert change.event_id == "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92"
    assert "less than the threshold" in change.reason
    assert change.details["previous_alarm_state"] == "OK"


def test_tunnel_state_alarm_back_to_ok_means_up() -> None:
    assert _one("cloudwatch-alarm-tunnel-ok.json").state is TunnelState.UP


def test_insufficient_data_is_unknown_not_down() -> None:
    event = _event("cloudwatch-alarm-tunnel-down.json")
    event["detail"]["state"]["value"] = "INSUFFICIENT_DATA"
    result = normalise(event)
    assert isinstance(result, tuple)
    assert result[0].state is TunnelState.UNKNOWN


def test_alarm_on_another_metric_is_rejected_with_a_reason() -> None:
    result = normalise(_event("cloudwatch-alarm-ec2-cpu.json"))
    assert isinstance(result, RejectedEvent)
    assert "AWS/VPN TunnelState" in result.reason
    assert result.source == "aws.cloudwatch"


@pytest.mark.parametrize(
    ("name", "state", "layer", "tunnel_ip"),
    [
        ("network-manager-ipsec-down.json", TunnelState.DOWN, "ipsec", "198.51.100.10"),
        ("network-manager-ipsec-up.json", TunnelState.UP, "ipsec", "198.51.100.10"),
        ("network-manager-bgp-down.json", TunnelState.DOWN, "bgp", "203.0.113.20"),
        ("network-manager-bgp-establish.json", TunnelState.UP, "bgp", "203.0.113.20"),
    ],
)
def test_network_manager_vpn_changes_are_tunnel_state_changes(
    name: str, state: TunnelState, layer: str, tunnel_ip: str
) -> None:
    change = _one(name)
    assert (change.vpn_connection_id, change.tunnel_ip, change.state, change.layer) == (VPN, tunnel_ip, state, layer)
    assert change.source is StateSource.NETWORK_MANAGER
    assert change.observed_at.tzinfo is not None


def test_network_manager_connect_peer_event_is_rejected() -> None:
    result = normalise(_event("network-manager-connect-peer-bgp-down.json"))
    assert isinstance(result, RejectedEvent)
    assert "CONNECT_PEER_BGP_DOWN" in result.reason


def test_health_redundancy_loss_is_a_maintenance_notice_for_the_named_tunnel() -> None:
    change = _one("health-vpn-redundancy-loss.json")
    assert change.maintenance
    assert change.state is TunnelState.UNKNOWN
    assert (change.vpn_connection_id, change.tunnel_ip) == (VPN, "198.51.100.10")
    assert change.observed_at == datetime(2026, 11, 26, 22, 50, 2, tzinfo=UTC)
    assert change.details["event_type_code"] == "AWS_VPN_REDUNDANCY_LOSS"


def test_health_scheduled_endpoint_replacement_is_a_connection_wide_maintenance_notice() -> None:
    change = _one("health-vpn-tunnel-endpoint-maintenance.json")
    assert change.maintenance
    assert change.tunnel_ip is None


def test_health_single_tunnel_notice_is_information_not_maintenance() -> None:
    change = _one("health-vpn-single-tunnel.json")
    assert not change.maintenance
    assert change.state is TunnelState.UNKNOWN
    assert "only one tunnel UP" in change.reason


def test_health_event_for_another_service_is_rejected() -> None:
    assert isinstance(normalise(_event("health-ec2-maintenance.json")), RejectedEvent)


def test_our_own_state_change_events_round_trip() -> None:
    original = _one("network-manager-ipsec-down.json")
    event = {"id": "x-1", "source": "vpn-doctor", "detail-type": "VPN Tunnel State Change", "detail": dump(original)}
    assert normalise(event) == (original,)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (None, "not an EventBridge event"),
        ("text", "not an EventBridge event"),
        (
            {"id": "1", "source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}},
            "unsupported",
        ),
        ({"id": "1", "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change"}, "no detail"),
        ({"source": "aws.networkmanager", "detail-type": "Network Manager Status Update", "detail": {}}, "no id"),
        (
            {
                "id": "1",
                "source": "aws.networkmanager",
                "detail-type": "Network Manager Status Update",
                "detail": {"changeType": "VPN-CONNECTION-IPSEC-DOWN"},
            },
            "malformed",
        ),
        (
            {"id": "1", "source": "vpn-doctor", "detail-type": "VPN Tunnel State Change", "detail": {"state": "??"}},
            "malformed",
        ),
    ],
)
def test_unexpected_events_are_rejected_never_raised(event: object, reason: str) -> None:
    result = normalise(event)
    assert isinstance(result, RejectedEvent)
    assert reason in result.reason


def test_alarm_without_timestamps_is_rejected() -> None:
    event = _event("cloudwatch-alarm-tunnel-down.json")
    del event["detail"]["state"]["timestamp"]
    del event["time"]
    result = normalise(event)
    assert isinstance(result, RejectedEvent)
    assert "malformed" in result.reason
