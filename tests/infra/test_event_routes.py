"""The Network Manager rules route exactly what the state function reads, judged by a real EventBridge matcher.

The matcher is moto's (``moto.events.models.EventPattern``, the code moto routes ``PutEvents`` with), fed the
event patterns as synthesized: the forwarder's in us-west-2 and the state rule's on the vpn-doctor bus. Every
Network Manager fixture (AWS's documented examples) must match exactly when ``state_events.normalise`` accepts it:
VPN IPsec/BGP status updates do, topology and routing events and Connect peers do not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from tests.infra.cfn import resources
from tests.infra.conftest import Synth
from vpn_doctor.state_events import RejectedEvent, normalise

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
NETWORK_MANAGER_EVENTS = sorted(FIXTURES.glob("network-manager-*.json"))


def network_manager_patterns(synth: Synth) -> dict[str, dict[str, Any]]:
    """Where -> the event pattern of each rule that takes Network Manager events."""
    found = {}
    for stack, template in synth.templates.items():
        for key, rule in resources(template, "AWS::Events::Rule").items():
            pattern = rule["Properties"].get("EventPattern") or {}
            if "aws.networkmanager" in pattern.get("source", []):
                found[f"{stack}/{key}"] = pattern
    return found


def test_the_fixtures_hold_events_the_state_function_accepts_and_events_it_rejects() -> None:
    verdicts = {
        path.name: not isinstance(normalise(json.loads(path.read_text())), RejectedEvent)
        for path in NETWORK_MANAGER_EVENTS
    }
    assert sum(verdicts.values()) == 4
    assert not verdicts["network-manager-routing-tgw-route-installed.json"]
    assert not verdicts["network-manager-topology-vpn-attachment-deleted.json"]


@pytest.mark.parametrize("path", NETWORK_MANAGER_EVENTS, ids=lambda path: path.stem)
def test_network_manager_rules_match_exactly_the_events_the_state_function_accepts(
    full_synth: Synth, path: Path
) -> None:
    patterns = network_manager_patterns(full_synth)
    # The forwarder in us-west-2 and the state rule on the vpn-doctor bus.
    assert sorted(where.split("/")[0].startswith("VpnDoctorNetworkManager") for where in patterns) == [False, True]
    event = json.loads(path.read_text(encoding="utf-8"))
    accepted = not isinstance(normalise(event), RejectedEvent)
    assert {
        where: EventPattern.load(json.dumps(pattern)).matches_event(event) for where, pattern in patterns.items()
    } == dict.fromkeys(patterns, accepted)
