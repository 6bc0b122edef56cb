"""The ingest path's shortcuts give exactly what the general code gives.

The fast JSON path of ``parse_line`` (the common, well-formed AWS tunnel record, built once with
the stream identity and event id) is compared with the generic mapping parser followed by the
stream stamping; the classifier's per-row indexes (rekey rate, collisions) with a scan of the
tunnel's history. Fixture lines and bench records first, then random records and event streams.
"""

from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import pydantic_core
import pytest
from aws_lambda_powertools.utilities.parser.models import CloudWatchLogsLogEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.conftest import AWS_CASES
from vpn_doctor import parsing
from vpn_doctor.catalogue import Family, row
from vpn_doctor.classify import Classifier, ClassifierSettings
from vpn_doctor.models import Evidence, Finding, PhaseState, Source, TunnelEvent, dump, load
from vpn_doctor.parsing import identity_from_name, parse_line, with_identity
from vpn_doctor.subscription import batch_from_json
from vpn_doctor.taxonomy import Category, Severity

ROOT = Path(__file__).resolve().parents[2]
STREAM = "vpn-0a1b2c3d4e5f60718-203.0.113.5"
REFERENCE = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
PROPERTY = settings(
    max_examples=int(os.environ.get("VPN_DOCTOR_PROPERTY_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _generic(line: str, *, log_stream: str | None, event_id: str | None) -> TunnelEvent:
    """What parse_line gave before the fast path: the general JSON parser, then the stream's identity."""
    stripped = line.strip()
    event = parsing._parse_json(stripped, REFERENCE, parsing._load_json(stripped))
    return replace(with_identity(event, log_stream=log_stream), event_id=event_id)


def _fast(line: str, *, log_stream: str | None, event_id: str | None) -> TunnelEvent:
    identity = identity_from_name(log_stream) if log_stream else (None, None)
    return parse_line(line, reference_time=REFERENCE, stream_identity=identity, event_id=event_id)


def _bench_lines() -> list[str]:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import ingest as bench  # noqa: PLC0415 - the bench script is not a package
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return [json.dumps(record) for record in islice(bench._records(random.Random(7)), 400)]


def _json_fixture_lines() -> list[str]:
    lines = [json.dumps(case["record"]) for case in AWS_CASES["tunnel_cases"]]
    lines += [json.dumps(case["record"]) for case in AWS_CASES["bgp_cases"]]
    for path in sorted((ROOT / "tests" / "fixtures" / "lab").glob("*.aws.log")):
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    for path in sorted((ROOT / "tools" / "vpn_doctor_tools" / "samples").glob("*.log")):
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    return lines


def _edge_lines() -> list[str]:
    """Well-formed records with the values the fast path must treat exactly as the generic one."""
    base = {
        "event_timestamp": 1_764_196_800,
        "details": "AWS tunnel DPD timed out after 3 retransmits",
        "dpd_enabled": True,
        "nat_t_detected": False,
        "ike_phase1_state": "established",
        "ike_phase2_state": "Rekeying",
    }
    variants: list[dict[str, Any]] = [
        {"details": "  AWS tunnel received DELETE for IKE_SA from CGW \t"},
        {"details": "   "},
        {"details": ""},
        {"ike_phase1_state": " DOWN ", "ike_phase2_state": "unknown"},
        {"ike_phase1_state": None, "ike_phase2_state": 3},
        {"dpd_enabled": "enabled", "nat_t_detected": 1},
        {"dpd_enabled": None, "nat_t_detected": "maybe"},
        {"event_timestamp": 1_764_196_800_123},
        {"event_timestamp": 0},
        {"event_timestamp": 10_000_000_000},
        {"event_timestamp": 20_000_000_000},
        {"event_timestamp": 1_764_196_800.5},
        {"event_timestamp": True},
        {"event_timestamp": -1},
    ]
    return [json.dumps(base)] + [json.dumps(base | variant) for variant in variants]


def test_every_json_fixture_and_bench_line_parses_to_the_same_event_as_the_generic_parser() -> None:
    lines = _edge_lines() + _json_fixture_lines() + _bench_lines()
    fast_taken = 0
    for index, line in enumerate(lines):
        for stream in (STREAM, None):
            expected = _generic(line, log_stream=stream, event_id=f"e{index}")
            assert _fast(line, log_stream=stream, event_id=f"e{index}") == expected, line
        stripped = line.strip()
        fast = parsing._fast_tunnel_event(parsing._load_json(stripped), stripped, (None, None), None)
        fast_taken += fast is not None
    assert fast_taken >= len(lines) // 2  # the shortcut is really exercised, not always declined


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=20_000_000_000_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["established", "Established", " DOWN ", "rekeying", "negotiating", "true", "0", "x", ""]),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
)
_TUNNEL_RECORDS = st.fixed_dictionaries(
    {
        "event_timestamp": st.one_of(st.integers(min_value=0, max_value=4_000_000_000), _VALUES),
        "details": st.one_of(st.sampled_from(["AWS tunnel DPD timed out after 3 retransmits", " x ", ""]), _VALUES),
        "dpd_enabled": _VALUES,
        "nat_t_detected": _VALUES,
        "ike_phase1_state": _VALUES,
        "ike_phase2_state": _VALUES,
    },
    optional={
        "timestamp": _VALUES,
        "vpn_connection_id": st.sampled_from(["vpn-0fedcba9876543210", "nope"]),
        "resource_id": st.just("vpn-0fedcba9876543210-198.51.100.9"),
        "type": st.sampled_from(["BGPStatus", "other"]),
    },
)


@PROPERTY
@given(record=_TUNNEL_RECORDS, stream=st.sampled_from([STREAM, None]))
def test_random_tunnel_records_parse_to_the_same_event_on_both_paths(
    record: dict[str, Any], stream: str | None
) -> None:
    line = json.dumps(record)
    assert _fast(line, log_stream=stream, event_id="id-1") == _generic(line, log_stream=stream, event_id="id-1")


_MESSAGES = (
    "AWS tunnel is sending request (id=0x{n:x}) for CREATE_CHILD_SA",
    "AWS tunnel processed response (id=0x{n:x}) for CREATE_CHILD_SA",
    "AWS tunnel (CHILD_SA) redundant SA is being deleted due to detected collision",
    "AWS tunnel received DELETE for IKE_SA from CGW",
    "AWS tunnel DPD timed out after 3 retransmits",
)


def _event(message: str, moment: datetime | None, tunnel: int) -> TunnelEvent:
    return TunnelEvent(Source.AWS_TUNNEL_JSON, message, message, "vpn-0a1b2c3d4e5f60718", f"203.0.113.{tunnel}", moment)


@PROPERTY
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(_MESSAGES) - 1),
            st.one_of(st.none(), st.integers(min_value=-1200, max_value=900)),
            st.integers(min_value=0, max_value=3),
            st.integers(min_value=1, max_value=2),
        ),
        max_size=80,
    ),
    history_size=st.integers(min_value=1, max_value=12),
)
def test_the_per_row_indexes_hold_exactly_the_rows_entries_a_history_scan_finds(
    steps: list[tuple[int, int | None, int, int]], history_size: int
) -> None:
    classifier = Classifier(settings=ClassifierSettings(history_size=history_size))
    clock = REFERENCE
    for kind, step, exchange, tunnel in steps:
        moment = None if step is None else clock + timedelta(seconds=step)
        clock = moment or clock
        event = _event(_MESSAGES[kind].format(n=exchange), moment, tunnel)
        key = event.tunnel_key
        classifier.classify(event)
        state = classifier._tunnels[key]
        history = state.history
        for rule_id in classifier._indexed_rules:
            horizon = clock - classifier._settings.repeat_window
            scanned = [
                seen
                for seen in history
                if seen.rule_id == rule_id and (seen.event.timestamp is None or seen.event.timestamp >= horizon)
            ]
            assert classifier._recent_of_rule(state, rule_id, clock) == scanned


@pytest.mark.parametrize("summary", ["Simultaneous rekey", "Peer {peer} said {reason}"])
def test_a_summary_reads_the_same_whether_or_not_it_has_placeholders(summary: str) -> None:
    rule = row(
        "t", Family.AWS_TUNNEL, r"(?P<peer>\w+) (?P<reason>\w+)?", Category.HEALTHY, None, Severity.INFO, summary
    )
    match = rule.pattern.search("cgw ")
    assert match is not None
    expected = summary.format(**{key: value or "?" for key, value in match.groupdict().items()})
    assert rule.render_summary(match) == expected


def test_models_with_the_slot_filling_init_behave_as_frozen_dataclasses() -> None:
    event = TunnelEvent(Source.AWS_TUNNEL_JSON, "m", "raw", timestamp=REFERENCE, ike_phase1_state=PhaseState.DOWN)
    assert event == TunnelEvent(
        source=Source.AWS_TUNNEL_JSON, message="m", raw="raw", timestamp=REFERENCE, ike_phase1_state=PhaseState.DOWN
    )
    assert event.vpn_connection_id is None
    assert event.event_id is None
    assert event.fields == {}
    assert event.fields is not TunnelEvent(Source.UNPARSED, "", "").fields
    with pytest.raises(FrozenInstanceError):
        event.message = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        TunnelEvent(Source.AWS_TUNNEL_JSON, "m")  # type: ignore[call-arg]
    finding = Finding(Category.DPD_TIMEOUT, None, Severity.WARNING, "s", "r", event, (Evidence.of(event),))
    assert replace(finding, summary="t").summary == "t"
    assert replace(finding, summary="t").event is event
    assert load(Finding, dump(finding)) == finding
    assert hash(Evidence.of(event)) == hash(Evidence.of(replace(event, raw="other")))


# --- the subscription, JSON and classifier shortcuts ------------------------------------------

_JSON_TEXT = st.one_of(
    st.builds(json.dumps, _TUNNEL_RECORDS),
    st.text(alphabet='{}[]":,0123456789.eE+-truefalsn \\u/dx\t\n\x00\ud800é', max_size=60),
    st.builds(lambda text: '{"details": "' + text + '"}', st.text(max_size=20)),
)


@PROPERTY
@given(text=_JSON_TEXT)
def test_the_fast_json_reader_agrees_with_json_wherever_it_reads_at_all(text: str) -> None:
    try:
        fast = pydantic_core.from_json(text)
    except (ValueError, TypeError):
        return  # refused: read_tunnel_record declines and parse_line reads the line with json
    assert json.dumps(fast, sort_keys=True) == json.dumps(json.loads(text), sort_keys=True)


@PROPERTY
@given(record=_TUNNEL_RECORDS, stream=st.sampled_from([STREAM, None]), padding=st.sampled_from(["", " ", "\n"]))
def test_read_tunnel_record_gives_what_parse_line_gives_or_declines(
    record: dict[str, Any], stream: str | None, padding: str
) -> None:
    line = padding + json.dumps(record) + padding
    identity = identity_from_name(stream) if stream else (None, None)
    fast = parsing.read_tunnel_record(line, stream_identity=identity, event_id="id-1")
    if fast is not None:
        assert fast == _fast(line, log_stream=stream, event_id="id-1")


def test_read_tunnel_record_takes_the_common_record_and_declines_the_rest() -> None:
    identity = identity_from_name(STREAM)
    lines = _bench_lines()
    assert all(parsing.read_tunnel_record(line, stream_identity=identity) is not None for line in lines)
    for declined in ('{"details": "\\ud800"}', "AWS tunnel DPD timed out", '{"a": 1}', lines[0] + " ", "{" * 20_000):
        assert parsing.read_tunnel_record(declined, stream_identity=identity) is None


_LOG_EVENTS = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "id": st.one_of(st.text(max_size=5), st.integers(), st.none()),
                "timestamp": st.one_of(
                    st.integers(min_value=-(10**15), max_value=10**15),
                    st.floats(allow_nan=False, min_value=-1e14, max_value=1e14),
                    st.sampled_from(["1764196800000", "2026-11-26T23:00:00Z", "2026-11-26T23:00:00", "x", True]),
                ),
                "message": st.one_of(st.text(max_size=8), st.none(), st.integers()),
            },
            optional={"extra": st.integers()},
        ),
        st.integers(),
        st.text(max_size=3),
    ),
    max_size=6,
)


@PROPERTY
@given(raw_events=_LOG_EVENTS)
def test_log_events_read_as_powertools_model_reads_them(raw_events: list[Any]) -> None:
    batch = batch_from_json(
        {
            "messageType": "DATA_MESSAGE",
            "owner": "1",
            "logGroup": "g",
            "logStream": STREAM,
            "subscriptionFilters": [],
            "logEvents": raw_events,
        }
    )
    expected: list[tuple[str, datetime, str]] = []
    bad: list[int] = []
    for index, raw in enumerate(raw_events):
        try:
            model = CloudWatchLogsLogEvent.model_validate(raw)
        except ValidationError:
            bad.append(index)
            continue
        assert isinstance(model.message, str)
        moment = model.timestamp if model.timestamp.tzinfo else model.timestamp.replace(tzinfo=UTC)
        expected.append((model.id, moment.replace(microsecond=moment.microsecond // 1000 * 1000), model.message))
    assert [(event.event_id, event.timestamp, event.message) for event in batch.events] == expected
    assert [item.index for item in batch.bad_events] == bad


_TUNNEL_STEPS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=len(_MESSAGES) - 1),
        st.integers(min_value=-300, max_value=900),
        st.integers(min_value=0, max_value=3),
        st.sampled_from(
            [("vpn-0a1b2c3d4e5f60718", "203.0.113.1"), ("vpn-0a1b2c3d4e5f60718", "203.0.113.2"), (None, None)]
        ),
        st.sampled_from([Source.AWS_TUNNEL_JSON, Source.LIBRESWAN, Source.STRONGSWAN]),
        st.sampled_from(["east", "west"]),
        st.booleans(),
    ),
    max_size=60,
)


@PROPERTY
@given(steps=_TUNNEL_STEPS)
def test_classifying_a_batch_in_one_loop_gives_what_classifying_each_record_gives(
    steps: list[tuple[int, int, int, tuple[str | None, str | None], Source, str, bool]],
) -> None:
    clock = REFERENCE
    events: list[TunnelEvent] = []
    for kind, step, exchange, (vpn_id, tunnel_ip), source, conn, copied in steps:
        clock += timedelta(seconds=step)
        message = _MESSAGES[kind].format(n=exchange)
        # Equal identities as distinct string objects too: the loop's shortcut compares identity.
        vpn = "".join(vpn_id) if copied and vpn_id else vpn_id
        # Customer-gateway lines without an address key by their connection name (or IKE SA).
        fields = {"conn": conn, "sa": conn} if source is not Source.AWS_TUNNEL_JSON else {}
        events.append(TunnelEvent(source, message, message, vpn, tunnel_ip, clock, fields=fields))
    one_by_one = Classifier()
    assert Classifier().classify_all(events) == [one_by_one.classify(event) for event in events]


def test_a_record_after_a_strongswan_line_goes_to_its_own_tunnels_history() -> None:
    vpn_id, tunnel_ip = "vpn-0a1b2c3d4e5f60718", "203.0.113.1"
    charon = TunnelEvent(Source.STRONGSWAN, _MESSAGES[3], "raw", vpn_id, tunnel_ip, REFERENCE, fields={"sa": "7"})
    aws = TunnelEvent(Source.AWS_TUNNEL_JSON, _MESSAGES[0].format(n=1), "raw", vpn_id, tunnel_ip, REFERENCE)
    classifier = Classifier()
    charon_finding, aws_finding = classifier.classify_all([charon, aws])
    assert list(classifier._tunnels[f"{vpn_id}#sa:7"].history) == [charon_finding]
    assert list(classifier._tunnels[f"{vpn_id}#{tunnel_ip}"].history) == [aws_finding]


def test_a_record_delivered_again_gets_its_finding_again_and_is_counted_once() -> None:
    collision = "AWS tunnel (CHILD_SA) redundant SA is being deleted due to detected collision"
    first = TunnelEvent(Source.AWS_TUNNEL_JSON, collision, "raw-1", "vpn-0a1b2c3d4e5f60718", "203.0.113.1", REFERENCE)
    second = replace(first, raw="raw-2", timestamp=REFERENCE + timedelta(seconds=60))
    delivery = [replace(first, event_id="e1"), replace(second, event_id="e2")]
    classifier = Classifier()
    findings = classifier.classify_all(delivery)
    again = classifier.classify_all(delivery)  # CloudWatch Logs delivers at least once
    assert [a is b for a, b in zip(again, findings, strict=True)] == [True, True]
    assert len(classifier._tunnels["vpn-0a1b2c3d4e5f60718#203.0.113.1"].history) == 2
    third = replace(first, raw="raw-3", timestamp=REFERENCE + timedelta(seconds=120), event_id="e3")
    # Three collisions, not five: the redelivered two were not counted again.
    assert classifier.classify(third).category is Category.REKEY_FAILURE
    # Lines of one log event (syslog shipped together) share its id and are all kept.
    lines = [replace(first, raw=f"line {n}", event_id="e9") for n in range(3)]
    assert len({id(finding) for finding in Classifier().classify_all(lines)}) == 3


def test_a_long_lived_classifier_forgets_the_least_recently_heard_tunnel() -> None:
    classifier = Classifier(settings=ClassifierSettings(max_tunnels=2))
    for tunnel in (1, 2, 1, 3):
        classifier.classify(_event(_MESSAGES[0].format(n=tunnel), REFERENCE, tunnel))
    assert sorted(classifier._tunnels) == ["vpn-0a1b2c3d4e5f60718#203.0.113.1", "vpn-0a1b2c3d4e5f60718#203.0.113.3"]


def test_a_line_read_back_from_the_log_group_is_the_delivered_line_whatever_its_id() -> None:
    collision = "AWS tunnel (CHILD_SA) redundant SA is being deleted due to detected collision"
    one = TunnelEvent(Source.AWS_TUNNEL_JSON, collision, "raw-1", "vpn-0a1b2c3d4e5f60718", "203.0.113.1", REFERENCE)
    two = replace(one, raw="raw-2", timestamp=REFERENCE + timedelta(seconds=60))
    classifier = Classifier()
    classifier.classify(replace(one, event_id="delivered-1"))
    classifier.classify_all([replace(one, event_id="read-back-1"), replace(two, event_id="read-back-2")])
    # Two collisions in all, not three: the first was delivered and read back.
    assert classifier.classify(replace(two, event_id="delivered-2")).category is Category.HEALTHY


def test_the_literal_prefilter_of_reads_earlier_deliveries_never_changes_its_answer() -> None:
    from vpn_doctor import classify  # noqa: PLC0415 - its private row lookup is the reference

    classifier = Classifier()
    lines = _json_fixture_lines() + _bench_lines()
    for path in sorted((ROOT / "tests" / "fixtures" / "lab").glob("*.log")):
        lines += path.read_text(encoding="utf-8").splitlines()
    events = [parse_line(line, reference_time=REFERENCE) for line in lines]
    answers = [classifier.reads_earlier_deliveries(event) for event in events]
    for event, answer in zip(events, answers, strict=True):
        rule, _ = classify._first_row(classifier._rules[event.source], event.message)
        assert answer == (rule is not None and rule.context in classify._READS_EARLIER_DELIVERIES), event.message
    assert any(answers)
    assert not all(answers)
