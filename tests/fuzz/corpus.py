"""A hostile corpus, generated deterministically from a seed (never committed as a file).

Every kind of input issue 14 lists: extreme and invalid timestamps, future dates, lone surrogates,
deep nesting, huge lines, binary garbage, truncated JSON, wrong types for every field, gzip bombs
(as subscription payload lines) and subscription payloads with oversized or surrogate-bearing event
ids, mixed with real-format lines so the classifier's history is exercised too.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
from collections.abc import Callable
from typing import Any

from tests.conftest import AWS_CASES, STREAM, subscription_document

#: The corpus the suite runs: at least the 20,000 lines the issue asks for.
CORPUS_LINES = 20_160
SEED = 14

TUNNEL_KEYS = ("event_timestamp", "details", "dpd_enabled", "nat_t_detected", "ike_phase1_state", "ike_phase2_state")
BGP_KEYS = ("resource_id", "event_timestamp", "type", "status", "details", "timestamp", "bgp_status")
WRONG_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    2**80,
    [],
    [1, "a"],
    {},
    {"a": {"b": 1}},
    "",
    "x" * 3000,
    "\ud800",
    "nan",
    "Infinity",
)
EXTREME_TIMES: tuple[Any, ...] = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-12:00",
    "1970-01-01T00:00:00Z",
    "2025-02-30T00:00:00Z",
    "2025-13-01T00:00:00Z",
    "not a time",
    0,
    1,
    -62135596800,
    253402300799,
    253402300800,
    253402300799999,
    10**19,
    1e300,
    float("inf"),
    "1e400",
    "-0",
)
FUTURE_TIMES = ("2031-01-01T00:00:00Z", "2099-06-01T12:00:00Z", "2400-01-01T00:00:00Z", 4_102_444_800)


TUNNEL_RECORDS = [json.dumps(case["record"]) for case in AWS_CASES["tunnel_cases"]]
BGP_RECORDS = [json.dumps(case["record"]) for case in AWS_CASES["bgp_cases"]]
REAL_LINES = [
    *TUNNEL_RECORDS,
    *(variant["line"] for case in AWS_CASES["tunnel_cases"] for variant in case["text"]),
    *BGP_RECORDS,
]


def _record(rng: random.Random) -> dict[str, Any]:
    return dict(json.loads(rng.choice(TUNNEL_RECORDS)))


def extreme_time(rng: random.Random) -> str:
    record = _record(rng)
    record[rng.choice(("event_timestamp", "timestamp"))] = rng.choice(EXTREME_TIMES)
    return json.dumps(record)


def future_time(rng: random.Random) -> str:
    record = _record(rng)
    record["event_timestamp"] = rng.choice(FUTURE_TIMES)
    return json.dumps(record)


def surrogate(rng: random.Random) -> str:
    record = _record(rng)
    key = rng.choice((*TUNNEL_KEYS, "resource_id"))
    record[key] = rng.choice(("\ud800", "a\udfffb", "\udc00" * 5, "tunnel \ud83d down"))
    # json.dumps escapes them (\ud800): valid JSON text that decodes to a lone surrogate.
    return json.dumps(record)


def deep_nesting(rng: random.Random) -> str:
    depth = rng.choice((100, 1_000, 5_000, 50_000))
    shape = rng.randrange(3)
    if shape == 0:
        return "[" * depth + "]" * depth
    if shape == 1:
        return '{"details": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    return '{"awslogs": ' + "[" * depth + "]" * depth + "}"


def huge_line(rng: random.Random) -> str:
    size = rng.choice((20_000, 200_000, 1_100_000))
    record = _record(rng)
    record["details"] = "AWS tunnel DPD timeout " + "A" * size
    return json.dumps(record)


def binary_garbage(rng: random.Random) -> str:
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    return data.replace(b"\n", b"\x00").decode("latin-1")


def truncated_json(rng: random.Random) -> str:
    line = rng.choice(REAL_LINES)
    return line[: rng.randrange(1, max(2, len(line)))]


def wrong_type(rng: random.Random) -> str:
    bgp = rng.random() < 0.3
    record = dict(json.loads(rng.choice(BGP_RECORDS))) if bgp else _record(rng)
    for key in rng.sample(BGP_KEYS if bgp else TUNNEL_KEYS, rng.randrange(1, 4)):
        record[key] = rng.choice(WRONG_VALUES)
    if rng.random() < 0.1:
        return json.dumps(rng.choice(WRONG_VALUES))  # not an object at all
    return json.dumps(record)


def gzip_bomb(rng: random.Random) -> str:
    """A subscription payload line whose JSON expands far beyond what CloudWatch Logs sends."""
    size = rng.choice((8_000_000, 64_000_000))
    head = json.dumps(subscription_document(["x"]))[:-2]
    body = head + ', "padding": "' + " " * size + '"}'
    return base64.b64encode(gzip.compress(body.encode(), compresslevel=9)).decode("ascii")


def hostile_payload(rng: random.Random) -> str:
    """A subscription payload (as the Lambda event) with hostile event ids, times and messages."""
    events: list[Any] = []
    for index in range(rng.randrange(1, 6)):
        event_id = rng.choice((f"3{index:055d}", "i" * 3000, f"id-\ud800-{index}", "", "\udfff" * 700))
        timestamp = rng.choice((1_764_196_800_000, -62135596800000, 253402300799999, 10**18, "soon"))
        message = rng.choice((*REAL_LINES, extreme_time(rng), surrogate(rng)))
        events.append({"id": event_id, "timestamp": timestamp, "message": message})
    document = subscription_document(events, log_stream=rng.choice((STREAM, "x" * 5000, "\ud800")))
    return json.dumps({"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()}})


KINDS: dict[str, tuple[Callable[[random.Random], str], float]] = {
    "real": (lambda rng: rng.choice(REAL_LINES), 20),
    "extreme_time": (extreme_time, 15),
    "future_time": (future_time, 6),
    "surrogate": (surrogate, 10),
    "deep_nesting": (deep_nesting, 1.5),
    "huge_line": (huge_line, 0.15),
    "binary_garbage": (binary_garbage, 10),
    "truncated_json": (truncated_json, 12),
    "wrong_type": (wrong_type, 20),
    "gzip_bomb": (gzip_bomb, 0.02),
    "hostile_payload": (hostile_payload, 2),
}


def hostile_corpus(count: int = CORPUS_LINES, seed: int = SEED) -> list[tuple[str, str]]:
    """``count`` (kind, line) pairs, the same for the same seed; no line holds a newline."""
    rng = random.Random(seed)
    names = list(KINDS)
    weights = [KINDS[name][1] for name in names]
    corpus: list[tuple[str, str]] = []
    for kind in names:  # every kind at least once, whatever the weights
        corpus.append((kind, KINDS[kind][0](rng)))
    while len(corpus) < count:
        kind = rng.choices(names, weights)[0]
        corpus.append((kind, KINDS[kind][0](rng)))
    return [(kind, line.replace("\n", " ").replace("\r", " ")) for kind, line in corpus]
