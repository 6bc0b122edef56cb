"""Entry point of the ``vpn-doctor`` command: ``classify``, ``demo``, ``diagnose``, ``onboard``, ``selftest``,
``history``, ``report``, ``silence`` and ``publish-assets``."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from vpn_doctor.constants import Mode

if TYPE_CHECKING:
    from vpn_doctor_tools.cli.history import StoreLocation


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "run", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpn-doctor",
        description="Find out why an AWS Site-to-Site VPN tunnel is down, flapping or idle.",
    )
    commands = parser.add_subparsers(title="commands")

    classify = commands.add_parser(
        "classify",
        help="classify log records: one JSON object per input line",
        description="Read tunnel/BGP log records (JSON or text), CloudWatch Logs subscription payloads or "
        "strongSwan/libreswan log lines, one per line, and print one JSON finding per line.",
    )
    classify.add_argument("file", nargs="?", default="-", help="input file, or - for standard input (default)")
    classify.add_argument(
        "--max-clock-skew",
        type=_seconds,
        default=300,
        metavar="SECONDS",
        help="a record dated more than this ahead of now is dated now, with a clock_skew note (default 300)",
    )
    classify.add_argument(
        "--map",
        metavar="FILE",
        help="connection map (JSON: connections with tunnel_ips, gateway_ip, name; sources) to attribute "
        "gateway lines with, as the ingest function does; failures it cannot attribute say why",
    )
    classify.set_defaults(run=_run_classify)

    demo = commands.add_parser(
        "demo",
        help="run the whole pipeline locally against an embedded AWS emulator",
        description="Start an embedded AWS emulator (moto on 127.0.0.1) and a local Slack receiver, replay "
        "failure scenarios through the real handlers, and print findings, incidents, diagnoses, remediation "
        "decisions and the messages people would receive.",
    )
    demo.add_argument("--json", action="store_true", help="write the timeline as JSON lines instead of text")
    demo.add_argument(
        "--remediate",
        choices=[mode.value for mode in Mode],
        default="dry-run",
        help="remediation mode of the demo deployment (default: dry-run; auto shows the ModifyVpnTunnelOptions calls)",
    )
    demo.add_argument("--report", metavar="FILE", help="also write the report of the demo's incidents as HTML to FILE")
    demo.set_defaults(run=_run_demo)

    diagnose = commands.add_parser(
        "diagnose",
        help="read-only diagnosis of one VPN connection in a real AWS account",
        description="Read a VPN connection's telemetry, configuration and recent tunnel logs with your AWS "
        "credentials (read-only), and say what is wrong and what vpn-doctor would do.",
    )
    diagnose.add_argument("vpn_id", metavar="VPN_ID", help="the VPN connection id (vpn-...)")
    diagnose.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    diagnose.add_argument("--since", default="1h", help="how far back to read tunnel logs: 30m, 1h, 2d (default 1h)")
    diagnose.add_argument("--endpoint-url", help="AWS endpoint URL (e.g. the demo's emulator)")
    diagnose.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    diagnose.set_defaults(run=_run_diagnose)

    onboard = commands.add_parser(
        "onboard",
        help="read-only status of tunnel-logging on-boarding on a deployed stack",
        description="Read the deployed stack's on-boarding settings, the monitored VPN connections and the "
        "stored progress with your AWS credentials (read-only), and print per tunnel whether it logs, where, "
        "what is pending and why.",
    )
    onboard.add_argument("--status", action="store_true", required=True, help="print the status (the only action)")
    onboard.add_argument("--stack", default="VpnDoctor", help="the vpn-doctor stack's name (default VpnDoctor)")
    onboard.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    onboard.add_argument("--endpoint-url", help="AWS endpoint URL (e.g. an emulator)")
    onboard.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    onboard.set_defaults(run=_run_onboard)
    selftest = commands.add_parser(
        "selftest",
        help="check a deployed vpn-doctor stack on your account (read-only, one test alarm)",
        description="Check a deployed stack: each role's permissions (IAM policy simulation), the alarm path to "
        "the alert topic (one alarm set to ALARM and back), confirmed subscriptions, subscription filters and "
        "each watched tunnel's logging.",
    )
    selftest.add_argument("--stack", default="VpnDoctor", help="the stack name (default VpnDoctor)")
    selftest.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    selftest.add_argument("--endpoint-url", help="AWS endpoint URL (e.g. an emulator)")
    selftest.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    selftest.add_argument("--no-publish", action="store_true", help="skip the test alarm (no message is sent)")
    selftest.set_defaults(run=_run_selftest)

    history = commands.add_parser(
        "history",
        help="read-only incident history of a deployed stack: causes, durations, what was changed",
        description="Read the deployed stack's incidents store and remediation audit with your AWS credentials "
        "(read-only) and print, per connection, each incident with its cause, start, end, duration and changes.",
    )
    history.add_argument("--since", default="30d", help="how far back: 12h, 30d (default 30d; at most 365d)")
    history.add_argument("--vpn", metavar="VPN_ID", help="only this VPN connection (vpn-...)")
    _store_arguments(history)
    history.set_defaults(run=_run_history)

    report = commands.add_parser(
        "report",
        help="read-only availability and incident report of a deployed stack (text, JSON, HTML with charts)",
        description="Compute the report the stack sends weekly, over --since: availability per connection "
        "(unknown where the store has no data), incidents by cause, time to recovery, repeat offenders, flapping "
        "tunnels, connections down for more than a week, remediation changes.",
    )
    report.add_argument("--since", default="7d", help="the window, ending now: 24h, 7d, 30d (default 7d)")
    report.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with charts to FILE")
    _store_arguments(report)
    report.set_defaults(run=_run_report)
    _silence_parser(commands)
    _publish_assets_parser(commands)
    return parser


def _publish_assets_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    publish = commands.add_parser(
        "publish-assets",
        help="upload the StackSet spoke's template, code and layers to each region's assets bucket",
        description="After `cdk synth` with deployment 'estate' (docs/estate.md): upload every asset of the "
        "spoke template in cdk.out to the <prefix>-<region> bucket of each region, under its content-hash key.",
    )
    publish.add_argument("--cdk-out", default="cdk.out", help="the synth output directory (default cdk.out)")
    publish.add_argument(
        "--region",
        action="append",
        default=[],
        dest="regions",
        help="a region to publish to (repeatable; default: the regions of the VpnDoctorAssets-<region> stacks)",
    )
    publish.add_argument("--endpoint-url", help="an S3 endpoint (e.g. a local emulator)")
    publish.add_argument("--json", action="store_true", help="print what was uploaded as JSON")
    publish.set_defaults(run=_run_publish_assets)


def _run_publish_assets(args: argparse.Namespace) -> int:
    from vpn_doctor_tools.cli.publish_assets import run_publish_assets

    return run_publish_assets(
        cdk_out=args.cdk_out,
        regions=args.regions,
        endpoint_url=args.endpoint_url,
        json_output=args.json,
        out=sys.stdout,
        err=sys.stderr,
    )


def _silence_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    silence = commands.add_parser(
        "silence",
        help="hold a connection's messages and remediation for a while (incidents are still recorded)",
        description="Silences are stored in the stack's incidents table with who added them, when and why; "
        "when one ends, what is still broken is announced once. Recurring windows: the vpn-doctor:maintenance tag.",
    )
    actions = silence.add_subparsers(title="actions", dest="silence_action", required=True)
    add = actions.add_parser("add", help="silence one connection, every connection with a tag, or a customer gateway")
    add.add_argument("vpn_id", nargs="?", metavar="VPN_ID", help="the VPN connection (vpn-...)")
    add.add_argument("--tag", metavar="KEY=VALUE", help="every connection tagged KEY=VALUE")
    add.add_argument("--cgw", metavar="IP", help="every connection of the customer gateway(s) with this IP")
    add.add_argument("--for", dest="duration", required=True, help="how long: 2h, 90m, 1d, 1h30m (at most 30d)")
    add.add_argument("--reason", required=True, help="why (kept in the audit, shown in the held alerts)")
    listing = actions.add_parser("list", help="the active silences (--all: also those ended, kept 90 days)")
    listing.add_argument("--all", action="store_true", dest="show_all", help="also the silences that have ended")
    lift = actions.add_parser("lift", help="end a silence now (what is still broken is announced once)")
    lift.add_argument("silence_id", metavar="ID")
    for action in (add, listing, lift):
        _store_arguments(action)
    silence.set_defaults(run=_run_silence)


def _store_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--stack", default="VpnDoctor", help="the vpn-doctor stack's name (default VpnDoctor)")
    command.add_argument("--table", help="the incidents table's name (instead of finding it in the stack)")
    command.add_argument("--remediation-table", help="the remediation table's name (with --table)")
    command.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    command.add_argument("--endpoint-url", help="AWS endpoint URL (e.g. an emulator)")
    command.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def _seconds(text: str) -> int:
    if not text.strip().isdigit() or len(text.strip()) > 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds")
    return int(text)


def _run_classify(args: argparse.Namespace) -> int:
    from vpn_doctor.text import valid_unicode
    from vpn_doctor_tools.cli.classify import classify_stream

    now = datetime.now(UTC)
    connection_map = None
    if args.map is not None:
        from vpn_doctor.attribution import MapFormatError, map_from_dict

        try:
            with open(args.map, encoding="utf-8") as file:
                connection_map = map_from_dict(json.load(file))
        except OSError as exc:
            print(f"vpn-doctor classify: cannot read {args.map}: {exc.strerror}", file=sys.stderr)
            return 1
        except (ValueError, MapFormatError) as exc:
            print(f"vpn-doctor classify: {args.map} is not a connection map: {exc}", file=sys.stderr)
            return 1
    try:
        # Lines end at "\n" only (a stray "\r" inside a record must not make two outputs), and
        # undecodable bytes are replaced, not fatal, on stdin as well as in a file.
        stream = (
            io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="\n")
            if args.file == "-"
            else open(args.file, encoding="utf-8", errors="replace", newline="\n")  # noqa: SIM115
        )
    except OSError as exc:
        print(f"vpn-doctor classify: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    with stream:
        try:
            results = classify_stream(
                stream,
                now=now,
                max_clock_skew=timedelta(seconds=args.max_clock_skew),
                connection_map=connection_map,
            )
            for result in results:
                # Valid Unicode only: a lone surrogate cannot be written as UTF-8 (and would end the run).
                print(valid_unicode(json.dumps(result, ensure_ascii=False)), flush=False)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): not an error of ours.
            sys.stderr.close()
            return 0
        except OSError as exc:
            print(f"vpn-doctor classify: read failed: {exc}", file=sys.stderr)
            return 1
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from vpn_doctor_tools.demo import run_demo

    try:
        return run_demo(out=sys.stdout, json_lines=args.json, remediate=args.remediate, report_file=args.report)
    except KeyboardInterrupt:
        print("vpn-doctor demo: interrupted; the emulator was shut down", file=sys.stderr)
        return 130


def _run_diagnose(args: argparse.Namespace) -> int:
    from vpn_doctor_tools.cli.diagnose import run_diagnose

    return run_diagnose(
        args.vpn_id,
        region=args.region,
        since=args.since,
        endpoint_url=args.endpoint_url,
        json_output=args.json,
        out=sys.stdout,
        err=sys.stderr,
    )


def _run_onboard(args: argparse.Namespace) -> int:
    from vpn_doctor_tools.cli.onboard import run_status

    return run_status(
        stack=args.stack,
        region=args.region,
        endpoint_url=args.endpoint_url,
        json_output=args.json,
        out=sys.stdout,
        err=sys.stderr,
    )


def _run_selftest(args: argparse.Namespace) -> int:
    from vpn_doctor_tools.cli.selftest import run

    return run(
        args.stack,
        region=args.region,
        endpoint_url=args.endpoint_url,
        json_output=args.json,
        publish=not args.no_publish,
        out=sys.stdout,
        err=sys.stderr,
    )


def _location(args: argparse.Namespace) -> StoreLocation:
    from vpn_doctor_tools.cli.history import StoreLocation

    return StoreLocation(
        stack=args.stack,
        table=args.table,
        remediation_table=args.remediation_table,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )


def _run_history(args: argparse.Namespace) -> int:
    from vpn_doctor_tools.cli.history import run_history

    return run_history(
        _location(args), since=args.since, vpn_id=args.vpn, json_output=args.json, out=sys.stdout, err=sys.stderr
    )


def _run_report(args: argparse.Namespace) -> int:
    from vpn_doctor_tools.cli.report import run_report

    return run_report(
        _location(args), since=args.since, html_file=args.html, json_output=args.json, out=sys.stdout, err=sys.stderr
    )


def _run_silence(args: argparse.Namespace) -> int:
    from vpn_doctor_tools.cli.silence import run_silence

    return run_silence(
        _location(args),
        args.silence_action,
        vpn_id=getattr(args, "vpn_id", None),
        tag=getattr(args, "tag", None),
        cgw=getattr(args, "cgw", None),
        duration=getattr(args, "duration", None),
        reason=getattr(args, "reason", ""),
        silence_id=getattr(args, "silence_id", None),
        show_all=getattr(args, "show_all", False),
        json_output=args.json,
        out=sys.stdout,
        err=sys.stderr,
    )


if __name__ == "__main__":
    raise SystemExit(main())
