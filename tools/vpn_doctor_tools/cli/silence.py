"""``vpn-doctor silence add|list|lift``: hold a connection's messages (and its remediation) for a while.

With your credentials: the caller is named in the silence's audit by its ARN (STS ``GetCallerIdentity``); a
silence by customer gateway IP is resolved to the customer gateways carrying that IP (EC2
``DescribeCustomerGateways``, filter ``ip-address``); the silences are items of the stack's incidents table
(found with CloudFormation ``ListStackResources`` unless ``--table`` names it). See :mod:`vpn_doctor.silences`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import AwsCallFailed, translate
from vpn_doctor.aws.silence_store import DynamoDbSilenceStore
from vpn_doctor.models import dump, iso
from vpn_doctor.silences import Scope, Silence, new_silence, parse_duration
from vpn_doctor_tools.cli.diagnose import EXIT_USAGE, ClientFactory, DiagnoseError
from vpn_doctor_tools.cli.diagnose import _session_clients as session_clients
from vpn_doctor_tools.cli.history import StoreLocation, stack_tables


def _open(location: StoreLocation, client_factory: ClientFactory | None) -> tuple[DynamoDbSilenceStore, ClientFactory]:
    clients = client_factory or session_clients(location.region, location.endpoint_url)[0]
    return DynamoDbSilenceStore(stack_tables(location, clients)[0], clients("dynamodb")), clients


def _caller(clients: ClientFactory) -> str:
    try:
        return str(clients("sts").get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError) as exc:
        raise translate("GetCallerIdentity", exc) from exc


def _gateways(clients: ClientFactory, ip: str) -> list[str]:
    try:
        found = clients("ec2").describe_customer_gateways(Filters=[{"Name": "ip-address", "Values": [ip]}])
    except (ClientError, BotoCoreError) as exc:
        raise translate("DescribeCustomerGateways", exc) from exc
    return [g["CustomerGatewayId"] for g in found.get("CustomerGateways") or () if g.get("State") != "deleted"]


def _target(vpn_id: str | None, tag: str | None, cgw: str | None) -> tuple[Scope, str]:
    given = [(scope, value) for scope, value in ((Scope.VPN, vpn_id), (Scope.TAG, tag), (Scope.CGW, cgw)) if value]
    if len(given) != 1:
        raise ValueError("name exactly one of VPN_ID, --tag KEY=VALUE or --cgw IP")
    return given[0]


def run_silence(
    location: StoreLocation,
    action: str,
    *,
    out: TextIO,
    err: TextIO,
    vpn_id: str | None = None,
    tag: str | None = None,
    cgw: str | None = None,
    duration: str | None = None,
    reason: str = "",
    silence_id: str | None = None,
    show_all: bool = False,
    json_output: bool = False,
    now: datetime | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """``add``, ``list`` or ``lift`` a silence; the exit code (2 with a message on bad input or AWS refusals)."""
    moment = now or datetime.now(UTC)
    try:
        store, clients = _open(location, client_factory)
        if action == "add":
            scope, value = _target(vpn_id, tag, cgw)
            silence = new_silence(
                scope,
                value,
                duration=parse_duration(duration or ""),
                reason=reason,
                created_by=_caller(clients),
                now=moment,
                customer_gateway_ids=_gateways(clients, value) if scope is Scope.CGW else (),
            )
            store.put(silence)
            _print(out, [silence], json_output=json_output, now=moment)
        elif action == "lift":
            found = store.silence(silence_id or "")
            if found is None:
                raise ValueError(f"no silence {silence_id!r}")
            if not found.active(moment):
                raise ValueError(f"silence {found.silence_id} is not active (ended {iso(found.ended_at)})")
            lifted = found.lifted(by=_caller(clients), at=moment)
            store.put(lifted)
            _print(out, [lifted], json_output=json_output, now=moment)
        else:
            silences = store.silences(ended_after=None if show_all else moment)
            _print(out, sorted(silences, key=lambda s: s.starts_at), json_output=json_output, now=moment)
    except (ValueError, DiagnoseError) as exc:
        print(f"vpn-doctor silence {action}: {exc}", file=err)
        return EXIT_USAGE
    except AwsCallFailed as exc:
        print(f"vpn-doctor silence {action}: {exc}", file=err)
        return EXIT_USAGE
    return 0


def _print(out: TextIO, silences: Sequence[Silence], *, json_output: bool, now: datetime) -> None:
    if json_output:
        out.write(json.dumps([dump(s) | {"active": s.active(now)} for s in silences], indent=2) + "\n")
        return
    if not silences:
        out.write("No silences.\n")
    for s in silences:
        state = "active" if s.active(now) else "ended"
        gateways = f" ({', '.join(s.customer_gateway_ids)})" if s.customer_gateway_ids else ""
        span = f"{iso(s.starts_at)} -> {iso(s.ended_at)}"
        out.write(f"{s.silence_id}  {state}  {s.scope.value} {s.value}{gateways}  {span}\n")
        out.write(f"    by {s.created_by}: {s.reason}\n")
        if s.lifted_at is not None:
            out.write(f"    lifted {iso(s.lifted_at)} by {s.lifted_by}\n")
