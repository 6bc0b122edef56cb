"""The report as one self-contained HTML page: availability timelines and incidents by cause as Plotly charts.

Plotly's JavaScript is inlined once (``include_plotlyjs=True``): the page opens offline and fetches nothing at
view time (no CDN script; the charts used here load no map tiles or topology files). Plotly is a tools-only
dependency (requirements-dev.txt), never in the Lambda asset: the scheduled report sends text.
Every text from the store (connection ids, causes, reasons) is HTML-escaped; Plotly escapes its own labels.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from html import escape
from itertools import pairwise
from typing import Any, Final

import plotly.graph_objects as go

from vpn_doctor.models import iso
from vpn_doctor.report import (
    LONG_DOWN,
    REPEAT_OFFENDER_INCIDENTS,
    Availability,
    ConnectionReport,
    Report,
    duration_words,
    percent_words,
)


class Band(StrEnum):
    """What the timeline shows of a connection at each moment, from its two availabilities."""

    BOTH_UP = "both tunnels up"
    ONE_DOWN = "one tunnel down"
    ONE_UP_OTHER_UNKNOWN = "one tunnel up, the other unknown"
    NONE_UP = "no tunnel up"
    UNKNOWN = "unknown (no data)"


COLOURS: Final = {
    Band.BOTH_UP: "#2e7d32",
    Band.ONE_DOWN: "#f9a825",
    Band.ONE_UP_OTHER_UNKNOWN: "#a5d6a7",
    Band.NONE_UP: "#c62828",
    Band.UNKNOWN: "#9e9e9e",
}
_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #212121; max-width: 72rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 0.3rem 0.8rem; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #616161; font-size: 0.9rem; }
"""


def render_html(report: Report) -> str:
    """The whole page."""
    title = f"vpn-doctor report {iso(report.start)} to {iso(report.end)}"
    sections = [
        f"<h1>{escape(title)}</h1>",
        '<p class="note">Availability counts known time only: before the first record vpn-doctor holds for a '
        "tunnel (or older than its 90-day history) the time is <em>unknown</em>, never up.</p>",
        "<h2>Availability per connection</h2>",
        _availability_table(report),
        _timeline(report).to_html(full_html=False, include_plotlyjs=True, div_id="availability-timeline"),
        "<h2>Incidents by cause</h2>",
        _causes(report).to_html(full_html=False, include_plotlyjs=False, div_id="incidents-by-cause")
        if report.by_cause
        else "<p>No incidents in this window.</p>",
        "<h2>Time to recovery</h2>",
        f"<p>Median {escape(duration_words(report.recovery_median))}, "
        f"p90 {escape(duration_words(report.recovery_p90))} (resolved incidents of the window).</p>",
        f"<h2>Repeat offenders (at least {REPEAT_OFFENDER_INCIDENTS} incidents)</h2>",
        _rows(["Connection", "Incidents"], [[vpn, str(n)] for vpn, n in report.repeat_offenders.items()]),
        "<h2>Flapping tunnels</h2>",
        _rows(["Connection", "Tunnel"], [[vpn, ip] for vpn, ip in report.flapping]),
        f"<h2>Down for more than {LONG_DOWN.days} days</h2>",
        '<p class="note">Still billed: Site-to-Site VPN is charged per connection-hour while the connection is '
        "provisioned, whatever its tunnels' state (https://aws.amazon.com/vpn/pricing/).</p>",
        _rows(
            ["Connection", "No tunnel up for", "Connection-hours billed meanwhile"],
            [
                [vpn, duration_words(down), str(int(down / timedelta(hours=1)))]
                for vpn, down in report.long_down.items()
            ],
        ),
        "<h2>Remediation changes</h2>",
        _rows(
            ["When", "Connection", "Tunnel", "Result", "Action", "Why"],
            [
                [iso(c.decided_at) or "", c.vpn_connection_id, c.tunnel_ip, c.status, c.action or "", c.reason]
                for c in report.changes
            ],
        ),
    ]
    body = "\n".join(sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _availability_table(report: Report) -> str:
    rows = [
        [
            connection.vpn_connection_id,
            percent_words(connection.both_up_ratio),
            percent_words(connection.any_up_ratio),
            duration_words(connection.any_up[Availability.UNKNOWN]),
            str(len(connection.incidents)),
        ]
        for connection in report.connections
    ]
    headers = ["Connection", "Both tunnels up", "At least one tunnel up", "Unknown", "Incidents"]
    return _rows(headers, rows, numbers=range(1, 5))


def bands(connection: ConnectionReport) -> list[tuple[datetime, datetime, Band]]:
    """The connection's timeline as bands: both availabilities ("both tunnels up", "at least one") in one."""
    points = sorted(
        {s.start for s in (*connection.timeline, *connection.both_timeline)} | {connection.timeline[-1].end}
    )
    spans: list[tuple[datetime, datetime, Band]] = []
    for left, right in pairwise(points):
        anyone = next(s.state for s in connection.timeline if s.start <= left < s.end)
        both = next(s.state for s in connection.both_timeline if s.start <= left < s.end)
        band = (
            Band.NONE_UP
            if anyone is Availability.DOWN
            else Band.BOTH_UP
            if both is Availability.UP
            else Band.ONE_DOWN
            if anyone is Availability.UP and both is Availability.DOWN
            else Band.ONE_UP_OTHER_UNKNOWN
            if anyone is Availability.UP
            else Band.UNKNOWN
        )
        if spans and spans[-1][2] is band:
            spans[-1] = (spans[-1][0], right, band)
        else:
            spans.append((left, right, band))
    return spans


def _timeline(report: Report) -> go.Figure:
    """One bar per connection over the window, coloured by band (a legend entry per band)."""
    figure = go.Figure()
    all_bands = {connection.vpn_connection_id: bands(connection) for connection in report.connections}
    for band in Band:
        spans = [
            (vpn, start, end - start) for vpn, found in all_bands.items() for start, end, kind in found if kind is band
        ]
        figure.add_trace(
            go.Bar(
                name=band.value,
                orientation="h",
                y=[vpn for vpn, _, _ in spans],
                base=[_plotly_time(start) for _, start, _ in spans],
                x=[length / timedelta(milliseconds=1) for _, _, length in spans],
                marker={"color": COLOURS[band]},
                customdata=[[duration_words(length)] for _, _, length in spans],
                hovertemplate="%{y}: " + band.value + " for %{customdata[0]}<extra></extra>",
                showlegend=True,
            )
        )
    figure.update_layout(
        barmode="overlay",
        height=120 + 40 * max(len(report.connections), 1),
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        legend={"orientation": "h", "y": 1.15},
        xaxis={"type": "date", "range": [_plotly_time(report.start), _plotly_time(report.end)]},
        # Rows in the report's order (by connection id), top to bottom, whichever state a connection starts with.
        yaxis={
            "autorange": "reversed",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": [connection.vpn_connection_id for connection in report.connections],
        },
    )
    return figure


def _causes(report: Report) -> go.Figure:
    causes = list(report.by_cause)
    figure = go.Figure(
        go.Bar(x=causes, y=[report.by_cause[cause] for cause in causes], marker={"color": "#1565c0"}, name="incidents")
    )
    figure.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 80}, yaxis={"dtick": 1})
    return figure


def _plotly_time(moment: datetime) -> str:
    # Plotly reads date strings without a zone as they are: UTC, written without the offset.
    return (iso(moment) or "").removesuffix("Z")


def _rows(headers: list[str], rows: list[list[str]], numbers: Any = ()) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="number">{escape(cell)}</td>' if index in numbers else f"<td>{escape(cell)}</td>"
            for index, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
