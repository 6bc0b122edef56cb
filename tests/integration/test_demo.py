"""``vpn-doctor demo`` end to end, as a user runs it (a subprocess: the handlers cache their clients)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from vpn_doctor_tools.demo.scenarios import DEMO_STORM_CONNECTIONS, HUB, SCENARIOS, SPOKE
from vpn_doctor_tools.demo.stack import SPOKE_ACCOUNT, SPOKE_REGION
from vpn_doctor_tools.emulator import ACCOUNT_ID as HUB_ACCOUNT
from vpn_doctor_tools.emulator import DEFAULT_REGION as HUB_REGION

pytestmark = pytest.mark.slow


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vpn_doctor_tools.cli.main", "demo", *args]


# The auto run also writes the demo's report (--report): one demo run fewer than a run of its own.
REPORT_FILE = Path(tempfile.gettempdir()) / f"vpn-doctor-demo-report-{os.getpid()}.html"
# The three runs the tests read: text as a user sees it, and JSON in dry-run and auto remediation.
RUNS: dict[str, tuple[str, ...]] = {
    "text": (),
    "dry-run": ("--json", "--remediate", "dry-run"),
    "auto": ("--json", "--remediate", "auto", "--report", str(REPORT_FILE)),
}


@cache
def _runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """The three runs, started together: each is its own process with its own emulator on free loopback ports, so
    they overlap (about a minute each; CI's budget). A storm's failures are grouped by when they happened, so the
    demo's checks hold however slowly a loaded machine tells them."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = {
        name: subprocess.Popen(_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for name, args in RUNS.items()
    }

    def finish(name: str) -> subprocess.CompletedProcess[str]:
        process = processes[name]
        try:
            out, err = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    # Each drained on its own thread: a run blocked on a full pipe would otherwise wait for the one before it.
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        return dict(zip(processes, pool.map(finish, processes), strict=True))


@cache
def _timeline(remediate: str = "dry-run") -> tuple[int, list[dict[str, Any]], str]:
    result = _runs()[remediate]
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    return result.returncode, entries, result.stdout + result.stderr


def _of(entries: list[dict[str, Any]], kind: str, scenario: str | None = None) -> list[dict[str, Any]]:
    return [e for e in entries if e["kind"] == kind and (scenario is None or e["scenario"] == scenario)]


def _wired(entries: list[dict[str, Any]]) -> set[str]:
    return set(_of(entries, "stages")[0]["wired"])


def test_every_scenario_produces_its_expected_category() -> None:
    code, entries, _ = _timeline()
    assert code == 0, [e for e in _of(entries, "check") if e["ok"] is False]
    state_wired = bool({"poller", "state"} & _wired(entries))
    for scenario in SCENARIOS:
        if scenario.expect is None:
            continue
        seen = {f["category"] for f in _of(entries, "finding", scenario.key)} | {
            i["category"] for i in _of(entries, "incident", scenario.key)
        }
        if scenario.key == "static_routing_asymmetry" and not state_wired:
            continue  # only telemetry shows it
        assert scenario.expect.value in seen, scenario.key


def test_scenarios_naming_a_cause_open_an_incident_with_it_and_routes_lost_resolves_when_the_routes_return() -> None:
    _, entries, _ = _timeline()
    expected = {s.key: s.expect_cause.value for s in SCENARIOS if s.expect_cause is not None}
    assert {"routes_lost", "multiple_selectors"} <= set(expected)
    for key, cause in expected.items():
        opened = [i for i in _of(entries, "incident", key) if i["transition"] == "opened"]
        assert [i["cause"] for i in opened] == [cause], key
    # The route loss comes from the telemetry alone: no log line in that scenario, and the tunnel stays UP.
    assert not _of(entries, "finding", "routes_lost")
    kinds = [(i["transition"], i["cause"]) for i in _of(entries, "incident", "routes_lost")]
    assert kinds == [("opened", "routes_lost"), ("resolved", "routes_lost")]
    resolved = _of(entries, "incident", "routes_lost")[-1]
    assert "back to 2 (baseline 2)" in resolved["reason"]


def test_the_malformed_record_is_reported_and_raises_no_incident() -> None:
    _, entries, _ = _timeline()
    bad = _of(entries, "bad_record", "malformed_record")
    assert len(bad) == 1
    assert "malformed JSON" in bad[0]["reason"]
    assert not _of(entries, "incident", "malformed_record")


def test_every_change_of_a_connections_state_gets_exactly_one_slack_and_one_email_message() -> None:
    _, entries, _ = _timeline()
    if "notify" not in _wired(entries) or not _of(entries, "incident"):
        pytest.skip("the notify stage or incidents are not wired yet")
    for scenario in SCENARIOS:
        if scenario.expects_release or scenario.storm:
            continue  # held messages and a storm's: test_a_silence_holds..., test_a_storm_is_one_grouped_message...
        told = [c for c in _of(entries, "connection", scenario.key) if c["sent"]]
        assert len(_of(entries, "slack", scenario.key)) == len(told), scenario.key
        assert len(_of(entries, "email", scenario.key)) == len(told), scenario.key
        if scenario.connection_states:
            assert tuple(c["state"] for c in told) == scenario.connection_states, scenario.key
        # Every tunnel transition reached notify's roll-up; those that changed nothing for people were recorded only.
        decided = _of(entries, "connection", scenario.key)
        assert len(decided) >= len(_of(entries, "incident", scenario.key)), scenario.key
    assert len(_of(entries, "slack")) >= len(SCENARIOS) - 2  # the static-routing and malformed ones alert nobody


def test_both_tunnels_down_is_one_outage_message_and_one_page() -> None:
    _, entries, _ = _timeline()
    key = "both_tunnels_down"
    opened = [i for i in _of(entries, "incident", key) if i["transition"] == "opened"]
    assert len({i["tunnel"] for i in opened}) == 2, "two tunnel incidents beneath"
    decided = [(c["verdict"], c["state"]) for c in _of(entries, "connection", key)]
    assert decided[:2] == [("send", "outage"), ("rolled_up", None)]
    [outage] = [m for m in _of(entries, "slack", key) if "OUTAGE:" in m["text"]]
    assert outage["text"].count("DOWN") >= 2, "both tunnels named"
    pages = _of(entries, "pagerduty", key)
    assert [p["action"] for p in pages] == ["trigger", "resolve"]
    assert len({p["dedup_key"] for p in pages}) == 1


def test_a_silence_holds_every_transition_then_announces_what_is_still_broken_once() -> None:
    # Both tunnels fail during the silence: recorded, held (no message); tunnel 1 recovers inside it (never
    # announced); tunnel 2 is still down when the silence is lifted: one Slack and one e-mail, marked released.
    _, entries, _ = _timeline()
    if not {"notify", "poller"} <= _wired(entries):
        pytest.skip("the poller and notify stages are not wired yet")
    key = next(scenario.key for scenario in SCENARIOS if scenario.expects_release)
    added, lifted = _of(entries, "silence", key)
    assert added["active"]
    assert not lifted["active"]
    assert added["silence_id"] == lifted["silence_id"]
    incidents = _of(entries, "incident", key)
    assert sorted(i["transition"] for i in incidents) == ["opened", "opened", "resolved"]
    held = _of(entries, "held", key)
    assert len(held) == len(incidents)
    assert all("firewall upgrade CHG-1234" in h["reason"] for h in held)
    (recovered,) = {i["tunnel"] for i in incidents if i["transition"] == "resolved"}
    (released,) = _of(entries, "released", key)
    assert released["tunnel"] != recovered
    (slack,), (email,) = _of(entries, "slack", key), _of(entries, "email", key)
    for text in (slack["text"], email["subject"] + "\n" + email["text"]):
        assert f"tunnel {released['tunnel']}" in text
        # The connection's message lists every tunnel: the one that recovered inside the silence as UP, not DOWN.
        assert f"tunnel {recovered} DOWN" not in text
        assert f"tunnel {recovered}: DOWN" not in text
        assert "Held from" in text
        assert "firewall upgrade CHG-1234" in text
    # The released message comes after the lift, and nothing came before it.
    order = [e["kind"] for e in entries if e["scenario"] == key and e["kind"] in ("silence", "slack", "email")]
    assert order == ["silence", "silence", "slack", "email"]


def test_the_recovery_sends_a_resolved_message_with_its_duration() -> None:
    _, entries, _ = _timeline()
    if not {"notify", "poller"} <= _wired(entries) and not {"notify", "state"} <= _wired(entries):
        pytest.skip("the state and notify stages are not wired yet")
    resolved = [i for i in _of(entries, "incident", "dpd_timeout") if i["transition"] == "resolved"]
    assert len(resolved) == 1
    texts = [m["text"] for m in _of(entries, "slack", "dpd_timeout")]
    assert any("resolved" in text.lower() and re.search(r"\d+\s*(s|sec|second|min)", text) for text in texts)


def test_the_duplicate_delivery_produces_no_second_message() -> None:
    _, entries, _ = _timeline()
    checks = [c for c in _of(entries, "check", "dpd_timeout") if "duplicate delivery" in c["text"]]
    assert len(checks) == 1
    if "notify" in _wired(entries):
        assert checks[0]["ok"] is True
        assert "produced 0 extra message(s)" in checks[0]["text"]
    # The redelivered payload is classified again, but the incident store counts its records once.
    deliveries = _of(entries, "delivery", "dpd_timeout")
    assert len(deliveries) == 1
    incidents = _of(entries, "incident", "dpd_timeout")
    delivered_once = len([f for f in _of(entries, "finding", "dpd_timeout") if f["category"] == "dpd_timeout"])
    assert delivered_once == 2
    assert incidents[-1]["finding_count"] == delivered_once


def test_the_output_never_shows_a_pre_shared_key_or_the_webhook_url() -> None:
    _, _, text = _timeline()
    assert "/services/T" not in text  # the webhook URL's path
    assert "Fake" not in text  # the emulator's pre-shared keys all start with "Fake"
    assert "pre_shared_key" not in text.lower()
    assert "presharedkey" not in text.replace('"PreSharedKey": "***"', "").lower()


def test_text_output_shows_progress_per_scenario_and_a_summary() -> None:
    result = _runs()["text"]
    assert result.returncode == 0, result.stdout[-2000:]
    for number, scenario in enumerate(SCENARIOS, start=1):
        assert f"[{number}/{len(SCENARIOS)}] {scenario.key}:" in result.stdout
    assert re.search(r"\d+ scenarios in \d+\.\d s; every check passed", result.stdout)
    assert '"_aws"' not in result.stdout  # the handlers' embedded-metric JSON stays out of the timeline


def test_auto_remediation_shows_the_modify_calls_with_their_parameters() -> None:
    if "respond" not in _wired(_timeline()[1]):
        pytest.skip("the respond stage is not wired yet")
    code, entries, _ = _timeline("auto")
    assert code == 0, [e for e in _of(entries, "check") if e["ok"] is False]
    calls = [c for c in _of(entries, "aws_call") if c["action"] == "ModifyVpnTunnelOptions"]
    assert calls, "auto remediation made no ModifyVpnTunnelOptions call"
    applied = [c for c in calls if not c["dry_run"]]
    assert {tuple(c["parameters"]) for c in applied} >= {("DPDTimeoutAction",), ("StartupAction",)}
    assert all(c["outcome"] == "applied" for c in applied)
    remedies = [r for r in _of(entries, "remediation") if r["status"] == "applied"]
    assert {r["action"] for r in remedies} >= {"set_dpd_timeout_action_restart", "set_startup_action_start"}
    if "post_check" in _wired(entries):
        # The idle tunnel comes back once AWS initiates (startup action 'start'): no escalation.
        assert [p["status"] for p in _of(entries, "post_check", "idle_timeout")] == ["recovered"]
        resolved = [i for i in _of(entries, "incident", "idle_timeout") if i["transition"] == "resolved"]
        assert len(resolved) == 1


def test_the_demo_writes_its_report_with_every_connection_and_the_changes_it_applied() -> None:
    code, entries, _ = _timeline("auto")
    assert code == 0
    (written,) = _of(entries, "report")
    assert written["path"] == str(REPORT_FILE)
    page = REPORT_FILE.read_text(encoding="utf-8")
    # The report reads the hub's tables: its own connections (the spoke's incidents stay in the spoke's table).
    connections = {s["vpn_connection_id"] for s in _of(entries, "scenario") if s["account"] == HUB_ACCOUNT}
    assert all(vpn in page for vpn in connections)
    assert 'id="availability-timeline"' in page
    assert "set_dpd_timeout_action_restart" in page  # the remediation changes table
    REPORT_FILE.unlink()


def test_ctrl_c_stops_the_demo_and_shuts_the_emulator_down() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "vpn_doctor_tools.cli.main", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        endpoint = None
        for line in process.stdout:
            found = re.search(r"AWS emulator \(moto\) on (http://127\.0\.0\.1:\d+)", line)
            endpoint = found.group(1) if found else endpoint
            if line.startswith("[2/"):
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "interrupted; the emulator was shut down" in err
    assert endpoint is not None
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(endpoint, timeout=2)  # noqa: S310 - loopback


def test_every_line_about_a_connection_carries_its_account_and_region_hub_and_spoke() -> None:
    _, entries, _ = _timeline()
    places = {HUB: (HUB_ACCOUNT, HUB_REGION), SPOKE: (SPOKE_ACCOUNT, SPOKE_REGION)}
    assert {s.place for s in SCENARIOS} == {HUB, SPOKE}, "connections in two accounts and two regions"
    expected = {s.key: places[s.place] for s in SCENARIOS}
    about_connections = [e for e in entries if e["scenario"] in expected]
    assert {e["kind"] for e in about_connections} >= {"scenario", "incident", "connection", "slack", "email"}
    for entry in about_connections:
        assert (entry.get("account"), entry.get("region")) == expected[entry["scenario"]], entry
    # The spoke's connections were handled in the spoke, their alerts sent by the hub's channels.
    for scenario in (s for s in SCENARIOS if s.place == SPOKE and s.expects_messages):
        assert _of(entries, "slack", scenario.key), scenario.key
        assert _of(entries, "email", scenario.key), scenario.key


def test_a_storm_is_one_grouped_message_naming_every_connection_then_one_summary() -> None:
    code, entries, _ = _timeline()
    assert code == 0
    [storm] = [s for s in SCENARIOS if s.storm]
    assert storm.storm >= DEMO_STORM_CONNECTIONS
    [started] = _of(entries, "scenario", storm.key)
    members = started["connections"]
    assert len(members) == storm.storm
    decided = _of(entries, "connection", storm.key)
    grouped = [c for c in decided if c["sent"] and c["storm_id"]]
    alone = [c for c in decided if c["sent"] and not c["storm_id"]]
    assert len(grouped) == 1
    assert len(alone) == DEMO_STORM_CONNECTIONS - 1, "the failures before the threshold are told on their own"
    assert all(c["state"] == "outage" for c in alone)
    ended = [c for c in decided if c["storm_id"] and c["change"] is None]
    assert [c["storm_id"] for c in ended] == [grouped[0]["storm_id"]]
    for kind in ("slack", "email"):
        texts = [f"{m.get('subject', '')}\n{m['text']}" for m in _of(entries, kind, storm.key)]
        naming_all = [t for t in texts if all(vpn in t for vpn in members)]
        assert len(naming_all) == 1, kind
        assert f"region {SPOKE_REGION}" in naming_all[0], "the common factor"
        assert len(texts) == len(alone) + 2, f"{kind}: the ones alone, the grouped one, the summary; nothing else"
    # No other scenario made or joined a storm.
    assert {c["scenario"] for c in _of(entries, "connection") if c["storm_id"]} == {storm.key}
