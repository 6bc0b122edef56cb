"""What every handler module shares to wire itself: typed settings read once, things built once.

Each handler module declares ``Settings``, a pydantic model whose field aliases are the function's
environment variable names (from ``vpn_doctor.constants``), and builds its ports with :class:`Once`:

    class Settings(FunctionSettings):
        event_bus_name: str = Field(alias=ENV_EVENT_BUS_NAME)

    settings = Once(lambda: load_settings(Settings))
    ports = Once(lambda: Ports(bus=EventBus(settings().event_bus_name)))

Nothing is read or built at import (a cold start imports, then the first invocation builds);
:func:`reset` forgets everything that was built, for tests and the demo, which change the
environment between runs. The infra tests compare each module's ``Settings`` with the environment
the stack gives the function: a variable nobody reads, or a required one the stack does not set,
fails them.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from vpn_doctor import constants as names
from vpn_doctor.rollup import RollupPolicy

_T = TypeVar("_T")
_S = TypeVar("_S", bound="FunctionSettings")
_ROLLUP_DEFAULTS = RollupPolicy()


class SettingsError(ValueError):
    """A required setting is missing or invalid: a deployment error, so the function fails loudly."""


class FunctionSettings(BaseModel):
    """Base of every handler's settings: immutable, read by alias (the environment variable name)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    @classmethod
    def variables(cls) -> frozenset[str]:
        """The environment variables this function reads."""
        return frozenset(field.alias or name for name, field in cls.model_fields.items())


def load_settings(model: type[_S], env: Mapping[str, str] | None = None) -> _S:
    """Validate the function's environment into ``model``; :class:`SettingsError` names every bad variable.

    Only the model's own variables are read; an empty variable counts as unset, so a required one
    left empty is an error rather than an empty string."""
    source = os.environ if env is None else env
    wanted = model.variables()
    values = {name: value for name, value in source.items() if name in wanted and value.strip()}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or model.__name__}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"{model.__name__}: {problems}") from None


_BUILT: weakref.WeakSet[Once[object]] = weakref.WeakSet()


class Once(Generic[_T]):
    """A value built by ``build()`` on first call and kept for the execution environment's life."""

    def __init__(self, build: Callable[[], _T]) -> None:
        self._build = build
        self._value: _T | None = None
        self._built = False
        _BUILT.add(self)  # type: ignore[arg-type]

    def __call__(self) -> _T:
        if not self._built:
            self._value = self._build()
            self._built = True
        return self._value  # type: ignore[return-value]

    def reset(self) -> None:
        """Forget the value: the next call builds it again."""
        self._value = None
        self._built = False


def reset() -> None:
    """Forget every setting and port built so far (tests and the demo change the environment)."""
    for once in list(_BUILT):
        once.reset()


def _whole_seconds(value: object) -> object:
    if isinstance(value, str) and value.strip().isdigit():
        return timedelta(seconds=int(value))
    if isinstance(value, int):
        return timedelta(seconds=value)
    return value


#: A duration setting given in whole seconds (``"300"``), as the stacks write them.
Seconds = Annotated[timedelta, BeforeValidator(_whole_seconds)]


class StormSettings(FunctionSettings):
    """Storm control's thresholds (notify decides, the poller ends storms): :class:`vpn_doctor.rollup.RollupPolicy`."""

    storm_connections: int = Field(_ROLLUP_DEFAULTS.storm_connections, alias=names.ENV_STORM_CONNECTIONS, ge=2)
    storm_window: Seconds = Field(_ROLLUP_DEFAULTS.storm_window, alias=names.ENV_STORM_WINDOW_SECONDS, gt=timedelta(0))

    def rollup_policy(self) -> RollupPolicy:
        """The roll-up's policy."""
        return RollupPolicy(storm_connections=self.storm_connections, storm_window=self.storm_window)
