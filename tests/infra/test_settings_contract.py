"""The environment the stack gives each function is accepted by that function's own settings reader."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from handlers import incident_runtime, notify, post_check, respond
from handlers.wiring import load_settings
from tests.infra.cfn import function
from tests.infra.conftest import Synth

READERS: dict[str, Callable[[Mapping[str, str]], Any]] = {
    "ingest": incident_runtime.IncidentSettings.from_env,
    "state": incident_runtime.IncidentSettings.from_env,
    "poller": incident_runtime.IncidentSettings.from_env,
    "respond": respond.RespondSettings.from_env,
    "notify": lambda env: load_settings(notify.Settings, env),
    "post_check": post_check.PostCheckSettings.from_env,
}


def deployed_environment(variables: Mapping[str, Any]) -> dict[str, str]:
    """The function's environment as Lambda would see it: references become (placeholder) strings."""
    return {
        name: value if isinstance(value, str) else f"arn:aws:placeholder:eu-west-1:111122223333:{name.lower()}"
        for name, value in variables.items()
    }


@pytest.mark.parametrize("module", sorted(READERS))
def test_function_settings_accept_the_stack_environment_in_every_configuration(
    all_synths: tuple[Synth, ...], module: str
) -> None:
    checked = 0
    for synth in all_synths:
        template = synth.templates["VpnDoctor"]
        if module == "post_check" and synth.config_name == "off":
            continue  # no post-check without remediation
        _, props = function(template, module)
        READERS[module](deployed_environment(props["Environment"]["Variables"]))
        checked += 1
    assert checked >= 2
