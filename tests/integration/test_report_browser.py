"""The HTML report as a reader sees it: opened in a real headless Chromium (Debian's, driven by Playwright; the
Makefile installs it), charts drawn, names and numbers shown, no console error, nothing fetched from anywhere."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.integration.test_report_handler import IP1, IP2, NOW, VPN_A, VPN_B, make_incident
from vpn_doctor.models import TunnelState
from vpn_doctor.report import TunnelHistory, build_report, percent_words
from vpn_doctor.taxonomy import Cause
from vpn_doctor_tools.report_html import Band, bands, render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (make test installs Debian's)"),
]
# A hostile connection name: must show as text, never become markup.
HOSTILE = "vpn-<script>alert(1)</script>"


def report_page(tmp_path: Path) -> tuple[Path, Any]:
    start = NOW - timedelta(days=7)
    histories = [
        # A: tunnel 2 known from day 4 only, tunnel 1 down for 3 hours on day 5. B: unknown, then no tunnel up.
        TunnelHistory(
            VPN_A,
            IP1,
            (
                make_incident(
                    VPN_A,
                    IP1,
                    start + timedelta(days=5),
                    start + timedelta(days=5, hours=3),
                    Cause.PSK_MISMATCH,
                    incident_id="i1",
                ),
            ),
            TunnelState.UP,
            start - timedelta(days=30),
        ),
        TunnelHistory(VPN_A, IP2, (), TunnelState.UP, start + timedelta(days=4)),
        TunnelHistory(
            VPN_B,
            IP1,
            (make_incident(VPN_B, IP1, start + timedelta(days=2), None, Cause.NO_RESPONSE, incident_id="i2"),),
            TunnelState.DOWN,
            start + timedelta(days=2),
        ),
        TunnelHistory(HOSTILE, IP1, (), TunnelState.UP, start + timedelta(days=5)),
    ]
    report = build_report(histories, [], start=start, end=NOW, horizon=NOW - timedelta(days=90), flap_transitions=4)
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    assert {band for connection in report.connections for *_, band in bands(connection)} == set(Band)
    return path, report


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def test_a_reader_sees_both_charts_the_connections_and_the_availability_numbers(browser: Any, tmp_path: Path) -> None:
    path, report = report_page(tmp_path)
    page = browser.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    def only_the_file(route: Any) -> None:
        requests.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_the_file)
    page.goto(path.as_uri())
    page.wait_for_selector("#availability-timeline .barlayer path", state="attached")
    page.wait_for_selector("#incidents-by-cause .barlayer path", state="attached")

    # Drawn: one bar shape per band of each connection's timeline, one per cause.
    segments = sum(len(bands(connection)) for connection in report.connections)
    assert page.locator("#availability-timeline .barlayer .point path").count() == segments
    assert page.locator("#incidents-by-cause .barlayer .point path").count() == len(report.by_cause)
    # The connections label the timeline's rows; the causes the other chart's bars.
    timeline_labels = page.locator("#availability-timeline .ytick text").all_text_contents()
    assert sorted(timeline_labels) == sorted(c.vpn_connection_id for c in report.connections)
    assert set(page.locator("#incidents-by-cause .xtick text").all_text_contents()) == {"psk_mismatch", "no_response"}
    # The legend names the bands drawn; unknown is shown, not hidden as up.
    legend = page.locator("#availability-timeline .legendtext").all_text_contents()
    assert legend == [band.value for band in Band]
    # The availability table says the numbers, the hostile name as text.
    table = page.locator("table").first.inner_text()
    for connection in report.connections:
        assert connection.vpn_connection_id in table
        assert percent_words(connection.any_up_ratio) in table
    assert page.evaluate("() => window.alertCalled === undefined")
    assert page.locator("script", has_text="alert(1)").count() == 0
    assert problems == []
    assert requests == [path.as_uri()]
    page.close()
