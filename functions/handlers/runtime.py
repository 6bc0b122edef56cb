"""Build a handler's runtime (settings + adapters) once per execution environment, on first use."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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
