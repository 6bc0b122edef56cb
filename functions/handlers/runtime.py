"""Build a handler's runtime (settings + adapters) once per execution environment, on first use."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Generic, TypeVar

_T = TypeVar("_T")


class LazyRuntime(Generic[_T]):
    """Holds what ``build(os.environ)`` returns, built at the first ``get()`` (never at import, so
    importing a handler reads no environment and creates no client). ``reset()`` forgets it, for
    tests and the demo, which change the environment between runs."""

    def __init__(self, build: Callable[[Mapping[str, str]], _T]) -> None:
        self._build = build
        self._value: _T | None = None

    def get(self) -> _T:
        """The runtime, built from the environment the first time."""
        if self._value is None:
            self._value = self._build(os.environ)
        return self._value

    def reset(self) -> None:
        """Forget the runtime; the next ``get()`` reads the environment again."""
        self._value = None


class SettingsError(ValueError):
    """A required setting is missing or invalid: a deployment error, so the function fails loudly."""


def required(env: Mapping[str, str], name: str) -> str:
    """A setting that must be present and non-empty."""
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set")
    return value


def integer(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """A whole-number setting; ``default`` when unset or empty."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def seconds(env: Mapping[str, str], name: str, default: timedelta, *, minimum: int = 0) -> timedelta:
    """A duration setting given in whole seconds."""
    return timedelta(seconds=integer(env, name, int(default.total_seconds()), minimum=minimum))


def region(env: Mapping[str, str]) -> str | None:
    """The function's AWS region, as Lambda sets it."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
