"""``vpn-doctor history``: per connection, each incident with cause, start, end, duration and what was changed.

Read-only, with your credentials. The tables are the deployed stack's (``ListStackResources``: the incidents
table, and the remediation table when remediation is on), or named with ``--table`` (``--remediation-table``).
Reading every tunnel is one paginated ``Scan`` of the incidents table (its key cannot answer "all tunnels since
T" with a ``Query``: see ``vpn_doctor/aws/report_reader.py`` for why and what it costs); the changes are one
``Query`` per connection of the remediation audit.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.report_reader import ReportReader
from vpn_doctor.models import iso
from vpn_doctor.report import IncidentLine, duration_words, incident_lines, line_to_dict
from vpn_doctor_tools.cli.diagnose import EXIT_USAGE, ClientFactory, DiagnoseError, parse_since
from vpn_doctor_tools.cli.diagnose import _session_clients as session_clients

DEFAULT_STACK: Final = "VpnDoctor"
# The tables' logical ids start with their construct paths (Incidents/Table, Remediation/Table).
_INCIDENTS_PREFIX: Final = "IncidentsTable"
_REMEDIATION_PREFIX: Final = "RemediationTable"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where the command reads: the stack's or the named tables, and how to call AWS."""

    stack: str = DEFAULT_STACK
    table: str | None = None
    remediation_table: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


def open_reader(location: StoreLocation, client_factory: ClientFactory | None = None) -> ReportReader:
    """The reader of the location's tables (found in the stack unless ``table`` names them)."""
    clients = client_factory or session_clients(location.region, location.endpoint_url)[0]
    return ReportReader(*stack_tables(location, clients), clients("dynamodb"))


def stack_tables(location: StoreLocation, clients: ClientFactory) -> tuple[str, str | None]:
    """The incidents table's and (if any) the remediation table's names: named, or found in the stack."""
    if location.table:
        return location.table, location.remediation_table
    try:
        pages = clients("cloudformation").get_paginator("list_stack_resources").paginate(StackName=location.stack)
        tables = {
            resource["LogicalResourceId"]: resource["PhysicalResourceId"]
            for page in pages
            for resource in page.get("StackResourceSummaries") or ()
            if resource["ResourceType"] == "AWS::DynamoDB::Table"
        }
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DiagnoseError(
            f"cannot read stack {location.stack}: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except BotoCoreError as exc:
        raise DiagnoseError(f"cannot read stack {location.stack}: {exc}") from None
    incidents = [name for logical, name in tables.items() if logical.startswith(_INCIDENTS_PREFIX)]
    if not incidents:
        raise DiagnoseError(f"stack {location.stack} has no incidents table: is it a vpn-doctor stack?")
    remediation = location.remediation_table or next(
        (name for logical, name in tables.items() if logical.startswith(_REMEDIATION_PREFIX)), None
    )
    return incidents[0], remediation


def run_history(
    location: StoreLocation,
    *,
    since: str,
    vpn_id: str | None,
    json_output: bool,
    out: TextIO,
    err: TextIO,
    now: datetime | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """Print the incidents open at some time in the last ``since``; returns the exit code."""
    moment = now or datetime.now(UTC)
    try:
        start = moment - parse_since(since)
        reader = open_reader(location, client_factory)
        histories = reader.tunnels(vpn_id)
        changes = reader.changes(sorted({h.vpn_connection_id for h in histories}), since=start)
    except DiagnoseError as exc:
        print(f"vpn-doctor history: {exc}", file=err)
        return EXIT_USAGE
    except AwsCallFailed as exc:
        print(f"vpn-doctor history: {exc} (the command needs read access: see the README)", file=err)
        return EXIT_USAGE
    if reader.unreadable:
        print(f"vpn-doctor history: {reader.unreadable} unreadable store item(s) left out", file=err)
    lines = [line for line in incident_lines(histories, changes, since=start) if line.incident.opened_at < moment]
    if json_output:
        document = {"since": iso(start), "until": iso(moment), "incidents": [line_to_dict(line) for line in lines]}
        out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(render_history(lines, since=start, until=moment))
    return 0


def render_history(lines: Sequence[IncidentLine], *, since: datetime, until: datetime) -> str:
    """The incidents per connection, oldest first, each with its changes."""
    text = [f"Incidents from {iso(since)} to {iso(until)}"]
    if not lines:
        return text[0] + ": none\n"
    per_connection: dict[str, list[IncidentLine]] = defaultdict(list)
    for line in lines:
        per_connection[line.incident.vpn_connection_id].append(line)
    for vpn, own in sorted(per_connection.items()):
        text += ["", f"{vpn} ({len(own)} incident{'s' if len(own) != 1 else ''})"]
        for line in own:
            incident = line.incident
            end = iso(incident.resolved_at) or "still open"
            lasted = duration_words(incident.duration or until - incident.opened_at)
            text.append(
                f"  {incident.tunnel_ip}  {iso(incident.opened_at)} -> {end}  "
                f"{lasted if incident.duration else lasted + ' so far'}  {line.cause}  {incident.summary}"
            )
            text += [
                f"      change {iso(c.decided_at)}: {c.status}{' ' + c.action if c.action else ''} ({c.reason})"
                for c in line.changes
            ]
    return "\n".join(text) + "\n"
