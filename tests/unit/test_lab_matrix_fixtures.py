"""The lab matrix's captured gateway logs, classified without daemons.

``python -m tests.lab.matrix`` (the lab, as root) keeps, per cell (scenario x IKE version x daemon), the
gateway's level-1 file log and one of the envelopes a real journald/rsyslogd wrote (tests/fixtures/lab/matrix),
and charon's level-0 log (tests/fixtures/lab/matrix/level0). ``tests/fixtures/lab/matrix.json`` says what each file
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
from tests.lab.shipping import _aligned, _names
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
        for folder in ("matrix", "matrix/level0")
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


def test_the_shippers_outputs_are_cut_where_the_scenario_s_first_record_is() -> None:
    # rsyslog's file may hold start-up lines the mark did not count yet; the cut starts at the line carrying
    # the first journal record after the mark, and the next lines must carry the next records.
    lines = [
        "2026-12-02T13:02:00.317285+00:00 vm charon-systemd[17073]: created TUN device: ipsec0",
        "2026-12-02T13:02:08.412143+00:00 vm charon-systemd[17350]: vici initiate CHILD_SA 'cgw-net'",
        "2026-12-02T13:02:08.414826+00:00 vm charon-systemd[17350]: initiating IKE_SA cgw[1] to 198.18.0.1",
    ]
    messages = ["vici initiate CHILD_SA 'cgw-net'", "initiating IKE_SA cgw[1] to 198.18.0.1"]
    assert _aligned(lines, messages, near=0) == lines[1:]
    # A start whose next line carries another message is no start; one at the end waits for more lines.
    assert _aligned(lines, ["vici initiate CHILD_SA 'cgw-net'", "deleting IKE_SA cgw[1]"], near=0) == []
    assert _aligned(lines, ["initiating IKE_SA cgw[1] to 198.18.0.1", "sending packet"], near=0) == lines[2:]
    # rsyslog's JSON escapes "/" and keeps syslog's leading space in "msg".
    record = '{"timestamp":"2026-12-02T13:02:08+00:00", "ident":"pluto", "message":" \\/run\\/pluto ready"}'
    assert _aligned([record], ["/run/pluto ready"], near=0) == [record]


def test_only_the_daemon_s_own_lines_are_taken_from_rsyslog_s_files() -> None:
    assert _names("2026-12-02T13:02:23.750835+00:00 vm charon: 12[CFG] vici initiate", "charon")
    assert _names("<30>1 2026-12-02T13:02:23.750835+00:00 vm charon - - -  12[CFG] x", "charon")
    assert _names('{"ident":"pluto", "message":" x"}', "pluto")
    assert not _names("2026-12-02T13:02:23+00:00 vm charon-systemd[1]: x", "charon")
    assert not _names('2026-12-02T13:02:00+00:00 vm rsyslogd: [origin software="rsyslogd"] start', "charon")
