"""Small wordings shared by the core: how a long value, a duration and phase states are shown."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from vpn_doctor.records import PhaseState

#: Longest excerpt of a record shown in a report or an alert.
EXCERPT_CHARS = 200


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``value`` as text (JSON unless it is a string, valid Unicode), cut to ``limit`` characters with an ellipsis."""
    if isinstance(value, str):
        text = value[: limit + 1]
    else:
        try:
            text = json.dumps(value, default=str)[: limit + 1]
        except (ValueError, RecursionError):  # nested beyond json's reach, or a circular structure
            text = repr(type(value))
    text = valid_unicode(text)
    return text if len(text) <= limit else text[:limit] + "…"


# A lone surrogate (JSON's "\ud800" escape decodes to one) is not Unicode: UTF-8 cannot encode it,
# so it cannot be printed, stored in DynamoDB or sent.
_SURROGATE = re.compile("[\ud800-\udfff]")

#: Longest id used as it is in a key. DynamoDB allows 2,048 bytes of partition key and 1,024 of sort
#: key (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html, "Partition
#: key and sort key length"), and ids are combined with a tunnel's identity there.
MAX_KEY_ID_BYTES = 512


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it can be encoded as UTF-8."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def key_id(value: str) -> str:
    """An id fit for a key: the id itself when it is valid Unicode of at most
    :data:`MAX_KEY_ID_BYTES` UTF-8 bytes, else ``sha256:`` and its digest (the same for the same id,
    so duplicates are still recognised). Idempotent."""
    encoded = value.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_KEY_ID_BYTES and (value.isascii() or _SURROGATE.search(value) is None):
        return value
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


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
