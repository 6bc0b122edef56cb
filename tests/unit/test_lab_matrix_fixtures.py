"""The lab matrix's captured gateway logs, classified without daemons.

``python -m tests.lab.matrix`` (the lab, as root) keeps, per cell (scenario x IKE version x daemon), the
gateway's level-1 file log and one of the envelopes a real journald/rsyslogd wrote (tests/fixtures/lab/matrix),
and charon's level-0 log (tests/fixtures/lab/quiet). ``tests/fixtures/lab/matrix.json`` says what each file
must be classified as: ``expected`` is what a person reading the log would say it shows (``null``: healthy).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.lab.harness import FAKE_PSKS, LOG_STREAM, PlutoConn
from tests.lab.matrix import CELLS, CELLS_BY_KEY, FIXTURES, QUIET_GAPS, gap, manifest
from tests.lab.scenarios import primary
from vpn_doctor.classify import Classifier
from vpn_doctor.models import Finding
from vpn_doctor.parsing import parse_line, with_identity
from vpn_doctor.taxonomy import Category

MANIFEST: dict[str, Any] = (
    json.loads((FIXTURES / "matrix.json").read_text()) if (FIXTURES / "matrix.json").exists() else {}
)
# Captured 2026-12-02; lines without a year (pluto, RFC 3164) take it from the delivery time.
CAPTURED = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)


def _findings(path: Path) -> list[Finding]:
    classifier = Classifier()
    return [
        classifier.classify(with_identity(parse_line(line, reference_time=CAPTURED), log_stream=LOG_STREAM))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def _pair(finding: Finding | None) -> dict[str, str] | None:
    if finding is None:
        return None
    return {"category": finding.category.value, "cause": finding.cause.value if finding.cause else ""}


def _output(name: str, entry: dict[str, Any]) -> str:
    """The output a fixture file holds, as the live test names it: an envelope or ``charon-level1``."""
    return "charon-level1" if name.endswith(".level1.log") else str(entry["envelope"])


def _params() -> list[Any]:
    params = []
    for name, entry in MANIFEST.items():
        marks = []
        if entry["level"] == 0 and entry["cell"] in QUIET_GAPS:
            marks.append(pytest.mark.xfail(strict=True, reason="quiet log: the failure shows only as an absence"))
        elif entry["level"] == 1 and (reason := gap(entry["cell"], _output(name, entry))) is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        params.append(pytest.param(name, entry, id=name, marks=marks))
    return params


def test_the_manifest_lists_every_cell_s_fixtures_and_every_fixture_is_listed() -> None:
    assert manifest() == MANIFEST
    on_disk = {
        str(path.relative_to(FIXTURES))
        for folder in ("matrix", "quiet")
        for path in (FIXTURES / folder).iterdir()
        if path.is_file()
    }
    assert on_disk == set(MANIFEST)
    assert {entry["cell"] for entry in MANIFEST.values()} == {cell.key for cell in CELLS}


def _debug(cell: str) -> bool:
    """Whether the cell's pluto ran with plutodebug (its internals are no catalogue matter)."""
    gateway = CELLS_BY_KEY[cell].cgw
    return isinstance(gateway, PlutoConn) and gateway.debug


@pytest.mark.parametrize(("name", "entry"), _params())
def test_each_captured_matrix_log_is_classified_as_a_person_would_read_it(name: str, entry: dict[str, Any]) -> None:
    path = FIXTURES / name
    text = path.read_text()
    assert not any(psk in text for psk in FAKE_PSKS)
    findings = _findings(path)
    assert findings, name
    assert all(finding.event.timestamp is not None for finding in findings)
    if entry["level"] == 1 and not _debug(entry["cell"]):
        assert [f.event.message for f in findings if f.category is Category.UNKNOWN] == []
    assert _pair(primary(findings)) == entry["expected"]
