"""Small wordings shared by the core: how a long value, a duration and phase states are shown."""

from __future__ import annotations

import json
from datetime import timedelta

from vpn_doctor.records import PhaseState

#: Longest excerpt of a record shown in a report or an alert.
EXCERPT_CHARS = 200


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``value`` as text (JSON unless it is a string), cut to ``limit`` characters with an ellipsis."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def minutes(duration: timedelta) -> int:
    """Whole minutes of a duration (rounded down), as messages state windows and delays."""
    return int(duration.total_seconds() // 60)


def phase_states(phase1: PhaseState | None, phase2: PhaseState | None) -> str:
    """``"phase 1 Established, phase 2 Down"``: the phase states a record logged ("" for none)."""
    parts = []
    if phase1 is not None:
        parts.append(f"phase 1 {phase1.value}")
    if phase2 is not None:
        parts.append(f"phase 2 {phase2.value}")
    return ", ".join(parts)
