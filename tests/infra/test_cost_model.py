"""The cost model's count of deployed alarms is the synthesized stack's (every option on, per-tunnel alarms aside)."""

from __future__ import annotations

from bench.cost import DEPLOYED
from tests.infra.conftest import Synth
from vpn_doctor.constants import TUNNEL_ALARM_PREFIX


def test_the_cost_model_prices_every_alarm_the_stack_deploys(full_synth: Synth) -> None:
    alarms = [
        resource
        for template in full_synth.templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        # The opt-in per-tunnel TunnelState alarms are the alternative the model prices separately.
        and not str(resource["Properties"].get("AlarmName", "")).startswith(TUNNEL_ALARM_PREFIX)
    ]
    # Teams, PagerDuty and Opsgenie (on in the full configuration) each add a dead-letter alarm, priced per extra
    # channel.
    extra_channels = [
        name
        for name in ("Teams", "PagerDuty", "Opsgenie")
        if any(f"Operations{name}DeadLetterAlarm" in key for key in _ids(full_synth))
    ]
    assert len(extra_channels) == 3
    assert len(alarms) == DEPLOYED.alarms + DEPLOYED.alarms_per_extra_channel * len(extra_channels)


def _ids(synth: Synth) -> list[str]:
    return [key for template in synth.templates.values() for key in template["Resources"]]
