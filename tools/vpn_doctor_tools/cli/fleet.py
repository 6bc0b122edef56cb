"""``vpn-doctor diagnose --all``: every VPN connection in the accounts and regions you can reach, one row each.

Where it looks:

- **Accounts**: the caller's own (default); ``--accounts 111111111111,222222222222``; or ``--organization``
  (Organizations ``ListAccounts``, every page, accounts whose ``State`` (or, where the answer has no
  ``State`` yet, the older ``Status``) is ``ACTIVE``; AWS Organizations API reference, "Account" and
  "ListAccounts": https://docs.aws.amazon.com/organizations/latest/APIReference/API_Account.html). Another
  account is entered with STS ``AssumeRole`` on ``arn:aws:iam::<account>:role/<--role-name>``, session name
  ``vpn-doctor-diagnose`` and ``--external-id`` when given (STS API reference, "AssumeRole":
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html); the caller's own account is read
  with the caller's credentials.
- **Regions**: ``--regions eu-west-1,us-east-1``; ``--all-regions``: EC2 ``DescribeRegions`` in each account
  (without ``AllRegions``, it lists only the regions enabled for that account, so an opt-in region that is
  not enabled is not tried: EC2 API reference, "DescribeRegions"); default: the session's region.

Each connection is reviewed by :func:`vpn_doctor_tools.cli.diagnose.review_connection`, the function that
``diagnose VPN_ID`` runs (same reads, same diagnosis, read-only), at most ``--concurrency`` accounts or
account-regions at a time. An account or region that refuses (access denied, role missing, region not
enabled, no endpoint) is a row with its reason; the others are still diagnosed. No pre-shared key is kept
or printed: the connections' keys are collected only to mask them wherever a log line quotes them.

Exit codes: 0 every account and region was read and every connection is healthy; 1 every account and region
was read and at least one connection is not healthy (a tunnel not UP, or a failure in its recent logs); 3 at
least one account or region could not be read (the others were diagnosed; takes precedence over 1); 2 nothing
could be diagnosed (bad arguments, no credentials, the organization or the caller's identity unreadable).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.models import TunnelState, iso
from vpn_doctor.redact import redact, redact_document
from vpn_doctor.taxonomy import Severity
from vpn_doctor_tools.cli.diagnose import (
    EXIT_USAGE,
    DiagnoseError,
    Report,
    TunnelReport,
    keeping_keys,
    parse_since,
    report_to_dict,
    review_connection,
)

EXIT_HEALTHY: Final = 0
EXIT_UNHEALTHY: Final = 1
EXIT_PARTIAL: Final = 3
SESSION_NAME: Final = "vpn-doctor-diagnose"
DEFAULT_CONCURRENCY: Final = 8
MAX_CONCURRENCY: Final = 64
_ACCOUNT: Final = re.compile(r"^\d{12}$")
# Region names as AWS spells them (us-east-1, ap-southeast-5, us-gov-west-1, eusc-de-east-1).
_REGION: Final = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$")
# STS's patterns for RoleSessionName and ExternalId (botocore's model), and IAM's role name (1-64).
_ROLE_NAME: Final = re.compile(r"^[\w+=,.@-]{1,64}$")
_EXTERNAL_ID: Final = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
# A region that is not enabled for the account answers the caller's credentials with one of these.
_REGION_REFUSED: Final = frozenset(
    {"AuthFailure", "UnrecognizedClientException", "InvalidClientTokenId", "OptInRequired"}
)
_DENIED: Final = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})

SessionFactory = Callable[..., Any]  # boto3.session.Session's keyword arguments -> a session


@dataclass(frozen=True, slots=True)
class Refusal:
    """An account or account-region that could not be read, and why (one line)."""

    account: str
    region: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"account": self.account, "region": self.region, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Row:
    """One connection's line of the table, and its whole review for ``--json``."""

    account: str
    region: str
    report: Report

    @property
    def tunnels_up(self) -> int:
        """Tunnels whose telemetry says UP."""
        return sum(1 for entry in self.report.tunnels if _state(entry) is TunnelState.UP)

    @property
    def tunnels_down(self) -> int:
        """Tunnels not UP (DOWN, or no telemetry)."""
        return len(self.report.tunnels) - self.tunnels_up

    @property
    def worst(self) -> TunnelReport | None:
        """The tunnel to name: the most severe of those not healthy (``None`` when all are)."""
        unhealthy = [entry for entry in self.report.tunnels if not entry.healthy]
        if not unhealthy:
            return None
        return max(unhealthy, key=lambda entry: (_state(entry) is not TunnelState.UP, _rank(entry), -entry.number))

    @property
    def healthy(self) -> bool:
        """Every tunnel UP with nothing wrong in its recent logs."""
        return self.worst is None

    @property
    def verdict(self) -> str:
        """``healthy``, or the worst tunnel's diagnosis verdict."""
        worst = self.worst
        if worst is None:
            return "healthy"
        return worst.diagnosis.verdict.value if worst.diagnosis is not None else "undetermined"

    @property
    def top_cause(self) -> str:
        """The worst tunnel's category/cause, or what its state says when its logs show nothing."""
        worst = self.worst
        if worst is None or worst.incident is None:
            return "-"
        incident = worst.incident
        if not any(finding.is_failure for finding in worst.findings):
            return f"tunnel {worst.number} {_state(worst).value}, no failure in its logs"
        return f"{incident.category.value}/{incident.cause.value}" if incident.cause else incident.category.value

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the table's columns and the connection's whole review."""
        connection = self.report.connection
        return {
            "account": self.account,
            "region": self.region,
            "vpn_connection_id": connection.vpn_connection_id,
            "name": connection.name,
            "tunnels_up": self.tunnels_up,
            "tunnels_down": self.tunnels_down,
            "healthy": self.healthy,
            "verdict": self.verdict,
            "top_cause": self.top_cause,
            "review": report_to_dict(self.report),
        }


@dataclass(slots=True)
class FleetReport:
    """Everything ``diagnose --all`` found."""

    now: datetime
    since: timedelta
    targets: list[tuple[str, str]] = field(default_factory=list)  # (account, region) read
    rows: list[Row] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    known_keys: frozenset[str] = frozenset()

    @property
    def exit_code(self) -> int:
        """See the module docstring."""
        if self.refusals:
            return EXIT_PARTIAL
        return EXIT_HEALTHY if all(row.healthy for row in self.rows) else EXIT_UNHEALTHY


@dataclass(frozen=True, slots=True)
class Scope:
    """Where to look (validated)."""

    accounts: tuple[str, ...] = ()  # empty: the caller's own account
    organization: bool = False
    role_name: str | None = None
    external_id: str | None = None
    regions: tuple[str, ...] = ()  # empty: the session's region, or every enabled one with all_regions
    all_regions: bool = False


def parse_scope(
    *,
    accounts: str | None,
    organization: bool,
    role_name: str | None,
    external_id: str | None,
    regions: str | None,
    all_regions: bool,
) -> Scope:
    """The command's options as a :class:`Scope`; a :class:`DiagnoseError` names what is wrong."""
    account_list = _listed(accounts)
    for account in account_list:
        if not _ACCOUNT.match(account):
            raise DiagnoseError(f"--accounts: {account!r} is not a 12-digit AWS account id")
    if account_list and organization:
        raise DiagnoseError("--accounts and --organization cannot be combined")
    if (account_list or organization) and not role_name:
        raise DiagnoseError("--accounts and --organization need --role-name (the role to assume in each account)")
    if role_name and not (account_list or organization):
        raise DiagnoseError("--role-name needs --accounts or --organization")
    if role_name and not _ROLE_NAME.match(role_name):
        raise DiagnoseError(f"--role-name {role_name!r} is not an IAM role name")
    if external_id is not None and not _EXTERNAL_ID.match(external_id):
        raise DiagnoseError("--external-id must be 2-1224 characters of letters, digits and +=,.@:/-")
    if external_id is not None and not role_name:
        raise DiagnoseError("--external-id needs --role-name")
    region_list = _listed(regions)
    for region in region_list:
        if not _REGION.match(region):
            raise DiagnoseError(f"--regions: {region!r} is not an AWS region name")
    if region_list and all_regions:
        raise DiagnoseError("--regions and --all-regions cannot be combined")
    return Scope(
        accounts=tuple(dict.fromkeys(account_list)),
        organization=organization,
        role_name=role_name,
        external_id=external_id,
        regions=tuple(dict.fromkeys(region_list)),
        all_regions=all_regions,
    )


def run_fleet(
    scope: Scope,
    *,
    since: str,
    endpoint_url: str | None,
    json_output: bool,
    concurrency: int,
    out: TextIO,
    err: TextIO,
    now: datetime | None = None,
    session_factory: SessionFactory | None = None,
) -> int:
    """Diagnose every connection in ``scope``, print the table (or JSON); returns the exit code."""
    try:
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise DiagnoseError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
        window = parse_since(since)
        report = diagnose_fleet(
            scope,
            since=window,
            now=now or datetime.now(UTC),
            endpoint_url=endpoint_url,
            concurrency=concurrency,
            session_factory=session_factory,
        )
    except DiagnoseError as exc:
        print(f"vpn-doctor diagnose --all: {exc}", file=err)
        return EXIT_USAGE
    for refusal in report.refusals:
        where = refusal.account + (f" {refusal.region}" if refusal.region else "")
        print(f"vpn-doctor diagnose --all: {where} not read: {refusal.reason}", file=err)
    if json_output:
        document, _ = redact_document(fleet_to_dict(report), report.known_keys)
        out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(redact(render_table(report), report.known_keys)[0])
    return report.exit_code


def diagnose_fleet(
    scope: Scope,
    *,
    since: timedelta,
    now: datetime,
    endpoint_url: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    session_factory: SessionFactory | None = None,
) -> FleetReport:
    """Read every reachable account and region and review each connection (read-only)."""
    import boto3

    make_session: SessionFactory = session_factory or boto3.session.Session
    base = _base_session(make_session, scope)
    home = str(base.region_name)
    # Made here, once: a session is not thread-safe; its clients are.
    sts = base.client("sts", endpoint_url=endpoint_url)
    caller = str(_call(sts.get_caller_identity, "sts:GetCallerIdentity")["Account"])
    if scope.organization:
        accounts = _organization_accounts(base.client("organizations", endpoint_url=endpoint_url))
    else:
        accounts = list(scope.accounts) or [caller]
    report = FleetReport(now=now, since=since)
    frozen = base.get_credentials().get_frozen_credentials()
    own = {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key}
    own["aws_session_token"] = frozen.token
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vpn-doctor-fleet") as pool:
        entered = list(
            pool.map(
                lambda account: _enter(account, caller, own, sts, make_session, scope, home, endpoint_url), accounts
            )
        )
        targets: list[tuple[str, dict[str, Any], str]] = []
        for account, outcome in zip(accounts, entered, strict=True):
            if isinstance(outcome, Refusal):
                report.refusals.append(outcome)
                continue
            credentials, regions = outcome
            targets.extend((account, credentials, region) for region in regions)
        results = list(
            pool.map(
                lambda target: _diagnose_target(target, make_session, since, now, endpoint_url),
                targets,
            )
        )
    keys: set[str] = set()
    for (account, _, region), result in zip(targets, results, strict=True):
        if isinstance(result, Refusal):
            report.refusals.append(result)
            continue
        report.targets.append((account, region))
        report.rows.extend(result)
        for row in result:
            keys.update(row.report.known_keys)
    report.known_keys = frozenset(keys)
    report.rows.sort(key=lambda row: (row.account, row.region, row.report.connection.vpn_connection_id))
    report.refusals.sort(key=lambda refusal: (refusal.account, refusal.region or ""))
    return report


# --- reading ----------------------------------------------------------------------------------


def _base_session(make_session: SessionFactory, scope: Scope) -> Any:
    """The caller's session; its region is the session's, else the first of ``--regions``."""
    try:
        session = make_session()
        if not session.region_name and scope.regions:
            session = make_session(region_name=scope.regions[0])
    except BotoCoreError as exc:  # e.g. a profile that does not exist
        raise DiagnoseError(str(exc)) from exc
    if not session.region_name:
        raise DiagnoseError("no AWS region: pass --regions or set AWS_REGION / a region in your AWS config")
    if session.get_credentials() is None:
        raise DiagnoseError(
            "no AWS credentials found: configure a profile (aws configure / AWS_PROFILE) or set AWS_ACCESS_KEY_ID"
        )
    return session


def _organization_accounts(client: Any) -> list[str]:
    """The organization's active accounts (every page of ``ListAccounts``); a refusal ends the command."""
    accounts: list[str] = []

    def read() -> None:
        for page in client.get_paginator("list_accounts").paginate():
            for account in page.get("Accounts") or ():
                # State replaces the deprecated Status; either says ACTIVE for an account that can be entered.
                if (account.get("State") or account.get("Status")) == "ACTIVE":
                    accounts.append(str(account["Id"]))

    _call(read, "organizations:ListAccounts (run it from the management or a delegated administrator account)")
    return sorted(set(accounts))


def _enter(  # noqa: PLR0917 - one worker's arguments
    account: str,
    caller: str,
    own: dict[str, Any],
    sts: Any,
    make_session: SessionFactory,
    scope: Scope,
    home: str,
    endpoint_url: str | None,
) -> tuple[dict[str, Any], list[str]] | Refusal:
    """The account's credentials (the caller's own, or an assumed role's) and the regions to read there."""
    if account == caller or not scope.role_name:
        credentials = own
    else:
        role_arn = f"arn:aws:iam::{account}:role/{scope.role_name}"
        request: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": SESSION_NAME}
        if scope.external_id is not None:
            request["ExternalId"] = scope.external_id
        try:
            answer = sts.assume_role(**request)
        except (ClientError, BotoCoreError) as exc:
            return Refusal(account, None, f"cannot assume {role_arn}: {_reason(exc)}")
        issued = answer["Credentials"]
        credentials = {
            "aws_access_key_id": issued["AccessKeyId"],
            "aws_secret_access_key": issued["SecretAccessKey"],
            "aws_session_token": issued["SessionToken"],
        }
    if not scope.all_regions:
        return credentials, list(scope.regions) or [home]
    try:
        ec2 = make_session(region_name=home, **credentials).client("ec2", endpoint_url=endpoint_url)
        regions = sorted(str(region["RegionName"]) for region in ec2.describe_regions().get("Regions") or ())
    except (ClientError, BotoCoreError) as exc:
        return Refusal(account, None, f"cannot list its regions (ec2:DescribeRegions): {_reason(exc)}")
    return credentials, regions


def _diagnose_target(
    target: tuple[str, dict[str, Any], str],
    make_session: SessionFactory,
    since: timedelta,
    now: datetime,
    endpoint_url: str | None,
) -> list[Row] | Refusal:
    """Every live connection of one account-region, each reviewed as ``diagnose VPN_ID`` would."""
    account, credentials, region = target
    session = make_session(region_name=region, **credentials)  # one per worker: sessions are not shared
    cache: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service, endpoint_url=endpoint_url)
        return cache[service]

    keys: set[str] = set()
    try:
        with keeping_keys(clients("ec2"), keys):
            connections = Ec2Reader(clients("ec2")).connections()
    except AwsCallFailed as exc:
        return Refusal(account, region, _reason(exc))
    known = frozenset(keys)
    return [
        Row(account, region, review_connection(connection, clients, region=region, since=since, now=now, known=known))
        for connection in sorted(connections, key=lambda connection: connection.vpn_connection_id)
    ]


def _call(function: Callable[[], Any], permission: str) -> Any:
    try:
        return function()
    except (ClientError, BotoCoreError) as exc:
        raise DiagnoseError(f"{permission}: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """One line: what AWS said, by its error code."""
    if isinstance(exc, AwsCallFailed):
        code, message = exc.code, str(exc)
    elif isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "Unknown")), str(error.get("Message") or exc)
    else:
        code, message = type(exc).__name__, str(exc)
    if code in _REGION_REFUSED:
        return f"region not enabled for the account, or the credentials are not valid there ({code})"
    if code in _DENIED:
        return f"access denied ({code}): {message}"
    return f"{message} ({code})" if code not in message else message


def _listed(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _state(entry: TunnelReport) -> TunnelState:
    telemetry = entry.tunnel.telemetry
    return telemetry.status if telemetry is not None else TunnelState.UNKNOWN


def _rank(entry: TunnelReport) -> int:
    return entry.incident.severity.rank if entry.incident is not None else Severity.INFO.rank


# --- output -----------------------------------------------------------------------------------

_COLUMNS: Final = ("account", "region", "vpn id", "name", "up/down", "verdict", "top cause")


def fleet_to_dict(report: FleetReport) -> dict[str, Any]:
    """The JSON document ``--all --json`` prints."""
    return {
        "checked_at": iso(report.now),
        "since": f"{int(report.since.total_seconds())}s",
        "accounts_regions_read": [{"account": account, "region": region} for account, region in report.targets],
        "connections": [row.to_dict() for row in report.rows],
        "refused": [refusal.to_dict() for refusal in report.refusals],
        "summary": {
            "connections": len(report.rows),
            "healthy": sum(1 for row in report.rows if row.healthy),
            "not_healthy": sum(1 for row in report.rows if not row.healthy),
            "refused": len(report.refusals),
        },
        "exit_code": report.exit_code,
    }


def render_table(report: FleetReport) -> str:
    """One line per connection, then one per account or region not read."""
    cells = [
        (
            row.account,
            row.region,
            row.report.connection.vpn_connection_id,
            row.report.connection.name or "-",
            f"{row.tunnels_up}/{row.tunnels_down}",
            row.verdict,
            row.top_cause,
        )
        for row in report.rows
    ]
    lines = list(_aligned([_COLUMNS, *cells]))
    if not report.rows:
        lines.append("(no VPN connection in the accounts and regions read)")
    for refusal in report.refusals:
        lines.append(f"{refusal.account} {refusal.region or '*'}: not read: {refusal.reason}")
    unhealthy = sum(1 for row in report.rows if not row.healthy)
    lines.append(
        f"{len(report.rows)} connection(s) in {len(report.targets)} account-region(s): "
        f"{len(report.rows) - unhealthy} healthy, {unhealthy} not; {len(report.refusals)} not read"
    )
    return "\n".join(lines) + "\n"


def _aligned(rows: Sequence[Sequence[str]]) -> Iterator[str]:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    for row in rows:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
