"""No failure read as healthy: over every fixture of a failure scenario, a line that says something
failed or was refused is never classified ``healthy``, unless it is one of the few listed below that
are part of normal operation (each with the reason).

Failure scenarios: each side of a lab scenario (tests/fixtures/lab) that expects a failure, every
envelope fixture (tests/fixtures/envelopes: an unreachable endpoint), and every vendor fixture line
(tests/fixtures/vendors) whose row is a failure.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.lab.harness import LOG_STREAM
from tests.lab.scenarios import ALL_SCENARIOS, SIDES, fixture_path, primary
from vpn_doctor.classify import Classifier
from vpn_doctor.models import Finding
from vpn_doctor.parsing import parse_line, with_identity
from vpn_doctor.taxonomy import Category

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ARRIVED = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

#: Words of a line that reports a failure or a refusal (strongSwan's notify abbreviations included).
FAILURE_WORDS = re.compile(
    r"fail|error|unacceptab|inacceptab|mismatch|refus|reject|not respond|no response|giving up|gave up|"
    r"retransmi|time ?out|timed out|time up|dead|lost contact|NO[_-]PROPOSAL|AUTHENTICATION_FAILED|"
    r"INVALID_KE|TS_UNACCEPTABLE|no acceptable|no suitable|unable|could not|cannot|denied|\bdown\b|DELETE|"
    r"N\((?:NO_PROP|AUTH_FAILED|TS_UNACCEPT|INVAL_KE|INVAL_SYN|FAIL_CP_REQ|SINGLE_PAIR)",
    re.IGNORECASE,
)

#: Lines with such words that are normal operation, and why. Nothing else may be healthy.
NORMAL = (
    (
        r"^(?:sending DELETE for (?:ESP|AH) CHILD_SA|creating delete job for CHILD_SA)",
        "our own orderly delete of the old CHILD_SA after a rekey",
    ),
    (
        r"^received DELETE for (?:ESP|AH) CHILD_SA",
        "the peer deleting the old CHILD_SA right after a successful rekey (the peer_delete context rule)",
    ),
    (
        r"N\(INVAL_KE\)|guessed wrong keying material group|unencrypted notification INVALID_KE_PAYLOAD|"
        r"DH group \S+ unacceptable, requesting \S+",
        "the responder asking for its DH group, which the initiator then uses (RFC 7296 section 1.3)",
    ),
    (
        r"^encountered fatal error in state",
        "pluto's follow-up to the line that says what went wrong (that line carries the verdict); it also "
        "follows the normal DH-group retry",
    ),
    (r"received a Delete/Notify but must remain up per local policy", "pluto restarting a connection it keeps up"),
    (r"^ike-send-p2-delete: ", "PAN-OS sending its own delete (rekey or shutdown)"),
    (r"netlink response for Del SA \S+: No such process", "pluto removing an SA the kernel never held (cleanup)"),
    (r"^\|", "plutodebug's internals (payload dumps, state machine): pluto's own lines carry the verdict"),
    (r"logid=010103713[45] ", "FortiGate deleting an SA (rekey or shutdown)"),
)


def _lab_failures() -> list[tuple[str, Path]]:
    return [
        (f"{scenario.key}:{side}", fixture_path(scenario.key, side))
        for scenario in ALL_SCENARIOS
        for side in SIDES
        if scenario.expected_for(side) is not None
    ]


def _envelope_failures() -> list[tuple[str, Path]]:
    return [
        (path.name, path) for path in sorted((FIXTURES / "envelopes").iterdir()) if path.suffix in (".log", ".jsonl")
    ]


def _matrix_failures() -> list[tuple[str, Path]]:
    """The lab matrix's level-1 and shipped captures of failure cells (tests/fixtures/lab/matrix.json)."""
    manifest = json.loads((FIXTURES / "lab" / "matrix.json").read_text())
    return [
        (name, FIXTURES / "lab" / name)
        for name, entry in manifest.items()
        if entry["expected"] is not None and entry["level"] == 1
    ]


FAILURE_FILES = _lab_failures() + _envelope_failures() + _matrix_failures()
VENDOR_FAILURES = [
    case
    for case in json.loads((FIXTURES / "vendors" / "vendor_cases.json").read_text())["cases"]
    if case["category"] != "healthy"
]


def _healthy_failure_lines(findings: list[Finding]) -> list[str]:
    return [
        f"{finding.rule_id}: {finding.event.message}"
        for finding in findings
        if finding.category is Category.HEALTHY
        and FAILURE_WORDS.search(finding.event.message)
        and not any(re.search(pattern, finding.event.message) for pattern, _ in NORMAL)
    ]


def _classify_file(path: Path) -> list[Finding]:
    classifier = Classifier()
    return [
        classifier.classify(with_identity(parse_line(line, reference_time=ARRIVED), log_stream=LOG_STREAM))
        for line in path.read_text().splitlines()
    ]


def test_the_failure_fixtures_are_all_there() -> None:
    assert len(_lab_failures()) >= 29
    assert len(_envelope_failures()) == 11
    assert len(VENDOR_FAILURES) >= 35


@pytest.mark.parametrize(("name", "path"), FAILURE_FILES, ids=[name for name, _ in FAILURE_FILES])
def test_no_line_of_a_failure_scenario_that_reports_a_failure_is_read_as_healthy(name: str, path: Path) -> None:
    findings = _classify_file(path)
    assert primary(findings) is not None, f"{name}: no failure found at all"
    assert _healthy_failure_lines(findings) == []


@pytest.mark.parametrize("case", VENDOR_FAILURES, ids=[case["rule"] for case in VENDOR_FAILURES])
def test_no_vendor_failure_line_is_read_as_healthy(case: dict[str, str]) -> None:
    finding = Classifier().classify(parse_line(case["line"], reference_time=ARRIVED))
    assert finding.category is not Category.HEALTHY
    assert finding.is_failure


def test_the_check_catches_a_failure_line_read_as_healthy() -> None:
    # The AWS side's answer to a wrong pre-shared key was read as a protocol trace before the
    # swan.notify_* rows: the check must see such a line.
    line = "2026-11-27T00:10:57.920 12[ENC] <aws|1> generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]"
    finding = Classifier().classify(parse_line(line))
    assert finding.category is Category.IKE_PHASE1_FAILURE
    trace = Classifier().classify(parse_line(line.replace("N(AUTH_FAILED)", "N(AUTH_LIFETIME)")))
    assert trace.category is Category.HEALTHY
    assert _healthy_failure_lines([finding]) == []
    assert _healthy_failure_lines([trace]) == []  # no failure word: a healthy trace may stay healthy
    forged = trace.__class__(
        trace.category, trace.cause, trace.severity, trace.summary, trace.rule_id, finding.event, (), None
    )
    assert _healthy_failure_lines([forged]) == [f"swan.trace: {finding.event.message}"]
