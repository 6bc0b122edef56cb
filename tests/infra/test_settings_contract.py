"""The environment the stack gives each function matches that function's ``handlers.<module>.Settings``:
the settings accept it (every required variable is set, every value valid), and the stack sets nothing
the settings do not read (a variable nobody reads is configuration that silently does nothing)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import pytest

from handlers.wiring import FunctionSettings, load_settings
from tests.infra.cfn import has_function, resources
from tests.infra.conftest import Synth

# Read by the Powertools library itself (service name, metrics namespace), not by our settings.
LIBRARY_VARIABLES = frozenset({"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"})


def deployed_environment(variables: Mapping[str, Any]) -> dict[str, str]:
    """The function's environment as Lambda would see it: references become (placeholder) strings."""
    return {
        name: value if isinstance(value, str) else f"arn:aws:placeholder:eu-west-1:111122223333:{name.lower()}"
        for name, value in variables.items()
    }


def functions(synth: Synth) -> dict[str, dict[str, str]]:
    """Handler module -> its deployed environment, for every function of the template."""
    found: dict[str, dict[str, str]] = {}
    for function in resources(synth.templates["VpnDoctor"], "AWS::Lambda::Function").values():
        properties = function["Properties"]
        handler = str(properties.get("Handler", ""))
        if handler.startswith("handlers.") and handler.endswith(".handler"):
            variables = properties.get("Environment", {}).get("Variables", {})
            found[handler.removeprefix("handlers.").removesuffix(".handler")] = deployed_environment(variables)
    return found


def settings_of(module: str) -> type[FunctionSettings]:
    """The ``Settings`` class of ``handlers.<module>``."""
    settings = getattr(importlib.import_module(f"handlers.{module}"), "Settings", None)
    assert isinstance(settings, type), f"handlers.{module} has no Settings class"
    assert issubclass(settings, FunctionSettings), f"handlers.{module}.Settings is not a FunctionSettings"
    return settings


def test_every_function_of_the_stack_has_a_handler_with_settings(all_synths: tuple[Synth, ...]) -> None:
    for synth in all_synths:
        modules = functions(synth)
        assert {"ingest", "state", "poller", "respond", "notify"} <= set(modules)
        assert has_function(synth.templates["VpnDoctor"], "post_check") == (synth.config_name != "off")
        for module in modules:
            settings_of(module)


@pytest.mark.parametrize("module", ["ingest", "state", "poller", "respond", "notify", "post_check", "onboard"])
def test_function_settings_accept_the_stack_environment_and_read_every_variable_it_sets(
    all_synths: tuple[Synth, ...], module: str
) -> None:
    checked = 0
    for synth in all_synths:
        environment = functions(synth).get(module)
        if environment is None:
            continue  # post_check exists only where remediation is on
        settings = settings_of(module)
        load_settings(settings, environment)
        unread = set(environment) - settings.variables() - LIBRARY_VARIABLES
        assert not unread, f"{synth.config_name}: {module} is given {sorted(unread)}, which its Settings never read"
        checked += 1
    assert checked >= 2
