"""The demo's timeline: one entry per thing a user should see, printed as text or JSON lines.

Every string goes through :meth:`Timeline.scrub` first, so a pre-shared key or the webhook URL
cannot reach the output even if a stage put one in a message by mistake.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

_REDACTED = "***"
_LABEL = re.compile(r"^\s*\*([^*]{1,40})\*\s*$")
_EMOJI = re.compile(r"^\s*:[a-z0-9_+-]+:\s*")


@dataclass(frozen=True, slots=True)
class Entry:
    """One timeline entry: ``kind`` (scenario, finding, incident, ...) and its data."""

    kind: str
    scenario: str | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (one JSON line)."""
        return {"kind": self.kind, "scenario": self.scenario, **self.data}


class Printer(Protocol):
    def __call__(self, entry: Entry) -> None: ...


@dataclass(slots=True)
class Timeline:
    """Collects entries and hands each to the printer as it happens."""

    printer: Printer
    secrets: set[str] = field(default_factory=set)
    entries: list[Entry] = field(default_factory=list)
    scenario: str | None = None
    # Where each scenario's connections live (account, region): every entry of a scenario carries both.
    places: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add_secrets(self, values: Iterable[str]) -> None:
        """Values that must never be printed (pre-shared keys, the webhook URL)."""
        self.secrets.update(value for value in values if value and len(value) >= 6)

    def emit(self, kind: str, **data: Any) -> Entry:
        """Record and print one entry."""
        place = self.places.get(self.scenario or "")
        if place is not None:
            data = {"account": place[0], "region": place[1], **data}
        entry = Entry(kind=kind, scenario=self.scenario, data=self.scrub(data))
        self.entries.append(entry)
        self.printer(entry)
        return entry

    def emit_as(self, scenario: str | None, kind: str, **data: Any) -> Entry:
        """Record and print one entry that belongs to ``scenario`` (not necessarily the current one)."""
        current, self.scenario = self.scenario, scenario
        if scenario != current:
            data = {**data, "from_scenario": scenario}  # shown in the text output, for the reader
        try:
            return self.emit(kind, **data)
        finally:
            self.scenario = current

    def scrub(self, value: Any) -> Any:
        """The value with every secret replaced by ``***`` (recursively)."""
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, _REDACTED)
            return value
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(item) for item in value]
        return value

    def of_kind(self, kind: str, scenario: str | None = None) -> list[Entry]:
        """Entries of one kind (optionally of one scenario)."""
        return [e for e in self.entries if e.kind == kind and (scenario is None or e.scenario == scenario)]


def json_printer(stream: TextIO) -> Printer:
    """Each entry as one JSON line."""

    def emit(entry: Entry) -> None:
        stream.write(json.dumps(entry.to_dict(), ensure_ascii=False, default=str) + "\n")
        stream.flush()

    return emit


def text_printer(stream: TextIO) -> Printer:
    """Each entry as a few readable lines, flushed immediately (visible progress)."""

    def emit(entry: Entry) -> None:
        text = _render(entry)
        if text:
            stream.write(text + "\n")
            stream.flush()

    return emit


def _render(entry: Entry) -> str:
    data = entry.data
    kind = entry.kind
    if kind == "banner":
        return f"\n{data['text']}\n{'=' * len(data['text'])}"
    if kind == "setup":
        return f"  setup    {data['text']}"
    if kind == "stages":
        wired = ", ".join(data["wired"]) or "none"
        lines = [f"  stages   wired: {wired}"]
        if data["missing"]:
            lines.append(f"  stages   not wired yet: {', '.join(data['missing'])} (skipped, shown as such below)")
        return "\n".join(lines)
    if kind == "scenario":
        title = f"[{data['number']}/{data['total']}] {data['key']}: {data['title']}"
        where = f" in account {data['account']}, {data['region']}" if data.get("account") else ""
        many = data.get("connections") or ()
        more = f" and {len(many) - 1} more connections" if len(many) > 1 else ""
        return (
            f"\n{title}\n  on {data['vpn_connection_id']} ({data['name']}){more}{where}, "
            f"tunnel 1 {data['tunnel_ips'][0]}"
        )
    if kind == "step":
        return f"  ..       {data['text']}"
    if kind == "finding":
        cause = data.get("cause") or "-"
        return f"  finding  {data['severity']:<8} {data['category']}/{cause}: {data['summary']}"
    if kind == "bad_record":
        return f"  bad      record reported, not dropped: {data['reason']} ({data['excerpt'][:60]})"
    if kind == "delivery":
        return f"  delivery {data['text']}"
    if kind == "incident":
        earlier = f" (scenario {data['from_scenario']})" if data.get("from_scenario") else ""
        return (
            f"  incident {data['transition']:<9} {data['category']}/{data.get('cause') or '-'} "
            f"[{data['status']}]{earlier} {data.get('reason') or ''}".rstrip()
        )
    if kind == "diagnosis":
        if data.get("unchanged"):
            return f"  verdict  {data['verdict']} (as above)"
        lines = [f"  verdict  {data['verdict']}: {data['reason']}"]
        lines.extend(f"           {check['status']:<4} {check['title']}: {check['reason']}" for check in data["checks"])
        return "\n".join(lines)
    if kind == "remediation":
        params = f" {json.dumps(data['parameters'])}" if data.get("parameters") else ""
        action = f" {data['action']}" if data.get("action") else ""
        return f"  remedy   {data['status']}{action}: {data['reason']}{params}"
    if kind == "aws_call":
        mode = " (DryRun)" if data["dry_run"] else ""
        return (
            f"  aws      {data['action']}{mode} {data['vpn_connection_id']} {data['tunnel_ip']} "
            f"{json.dumps(data['parameters'])} -> {data['outcome']}"
        )
    if kind in ("slack", "email"):
        lines = _message_lines(data.get("subject") or "", data["text"])
        head, rest = (lines[0], lines[1:]) if lines else ("(empty message)", [])
        body = textwrap.indent("\n".join(rest), " " * 11)
        return f"  {kind:<8} {head}" + (f"\n{body}" if body else "")
    if kind == "teams":
        lines = _message_lines(data["title"], data["text"])
        head, rest = (lines[0], lines[1:]) if lines else ("(empty card)", [])
        body = textwrap.indent("\n".join(rest), " " * 11)
        return f"  teams    [{data['owner']}] {head}" + (f"\n{body}" if body else "")
    if kind == "pagerduty":
        what = f" {data['severity']}: {data['summary']}" if data.get("summary") else ""
        return (
            f"  pager    {data['action']} {data['dedup_key']}{what} "
            f"({data['pages']} page(s), {data['open_pages']} open)"
        )
    if kind == "silence":
        return f"  silence  {data['text']}"
    if kind == "held":
        return f"  held     {data['tunnel']}: no message ({data['reason']}, until {data['until']})"
    if kind == "released":
        return f"  released {data['tunnel']}: the hold ended and it is still down: announced once"
    if kind == "post_check":
        return f"  check    post-check: {data.get('status') or 'no answer'}"
    if kind == "error":
        return f"  ERROR    {data['text']}"
    if kind == "skipped":
        return f"  skipped  {data['text']}"
    if kind == "check":
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[data["ok"]]
        return f"  {mark}     {data['text']}"
    if kind == "report":
        return f"  report   {data['text']}"
    if kind == "summary":
        return f"\n{data['text']}"
    return f"  {kind:<8} {json.dumps(data, default=str)}"


def _merge_labels(lines: list[str]) -> list[str]:
    """Slack fields arrive as "*Label*" then the value: show them as "Label: value"."""
    merged: list[str] = []
    pending: str | None = None
    for line in lines:
        label = _LABEL.match(line)
        if label:
            if pending is not None:
                merged.append(pending)
            pending = label.group(1)
        elif pending is not None and line.strip():
            merged.append(f"{pending}: {line.strip()}")
            pending = None
        else:
            merged.append(line)
    if pending is not None:
        merged.append(pending)
    return merged


def _message_lines(subject: str, text: str, limit: int = 5) -> list[str]:
    """A message as received, trimmed for the terminal: blank and repeated lines dropped."""
    kept: list[str] = []
    seen: set[str] = set()
    for line in _merge_labels([subject, *text.splitlines()]):
        key = _EMOJI.sub("", line).strip().strip(":*_` ").lower()
        if not key or key in seen:
            continue
        seen.add(key)
        kept.append(line.rstrip())
    if len(kept) > limit:
        kept = [*kept[:limit], f"… ({len(kept) - limit} more lines)"]
    return kept
