"""``vpn-doctor report``: the report of the last ``--since`` (default 7d) from the deployed stack's store.

The same computation as the scheduled report (:func:`vpn_doctor.app.report.compute_report`), printed as text,
JSON (``--json``), and optionally written as a self-contained HTML page with charts (``--html FILE``).
Read-only, with your credentials; tables as for ``vpn-doctor history``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from vpn_doctor.app.report import ReportSource, compute_report
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.report_reader import HISTORY_RETENTION
from vpn_doctor.incidents import IncidentPolicy
from vpn_doctor.report import Report, render_text, report_to_dict
from vpn_doctor_tools.cli.diagnose import EXIT_USAGE, ClientFactory, DiagnoseError, parse_since
from vpn_doctor_tools.cli.history import StoreLocation, open_reader


def run_report(
    location: StoreLocation,
    *,
    since: str,
    html_file: str | None,
    json_output: bool,
    out: TextIO,
    err: TextIO,
    now: datetime | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """Print the report (and write its HTML page); returns the exit code."""
    moment = now or datetime.now(UTC)
    try:
        reader = open_reader(location, client_factory)
        report = report_from(reader, now=moment, period=parse_since(since))
    except DiagnoseError as exc:
        print(f"vpn-doctor report: {exc}", file=err)
        return EXIT_USAGE
    except AwsCallFailed as exc:
        print(f"vpn-doctor report: {exc} (the command needs read access: see the README)", file=err)
        return EXIT_USAGE
    if reader.unreadable:
        print(f"vpn-doctor report: {reader.unreadable} unreadable store item(s) left out", file=err)
    if html_file is not None:
        try:
            write_html(report, Path(html_file))
        except OSError as exc:
            print(f"vpn-doctor report: cannot write {html_file}: {exc.strerror}", file=err)
            return 1
    if json_output:
        out.write(json.dumps(report_to_dict(report), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(render_text(report))
        if html_file is not None:
            out.write(f"HTML report written to {html_file}\n")
    return 0


def report_from(source: ReportSource, *, now: datetime, period: timedelta) -> Report:
    """The report of the ``period`` before ``now`` (to the second), with the incident rules' flap threshold."""
    return compute_report(
        source,
        now=now.replace(microsecond=0),
        period=period,
        retention=HISTORY_RETENTION,
        flap_transitions=IncidentPolicy().flap_transitions,
    )


def write_html(report: Report, path: Path) -> None:
    """Write the report's HTML page (Plotly is imported only here: text and JSON do not need it)."""
    from vpn_doctor_tools.report_html import render_html

    path.write_text(render_html(report), encoding="utf-8")
