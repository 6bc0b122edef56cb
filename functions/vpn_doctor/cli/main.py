"""Entry point of the ``vpn-doctor`` command: ``classify``, ``demo`` and ``diagnose``."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources


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
    classify.set_defaults(run=_run_classify)

    demo = commands.add_parser("demo", help="run the pipeline locally over bundled sample logs")
    demo.set_defaults(run=_run_demo)
    return parser


def _run_classify(args: argparse.Namespace) -> int:
    from vpn_doctor.cli.classify import classify_stream

    now = datetime.now(UTC)
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
            for result in classify_stream(stream, now=now):
                print(json.dumps(result, ensure_ascii=False), flush=False)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): not an error of ours.
            sys.stderr.close()
            return 0
        except OSError as exc:
            print(f"vpn-doctor classify: read failed: {exc}", file=sys.stderr)
            return 1
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from vpn_doctor.cli.classify import classify_stream

    now = datetime.now(UTC)
    samples = resources.files("vpn_doctor.samples")
    for sample in sorted(samples.iterdir(), key=lambda item: item.name):
        if not sample.name.endswith(".log"):
            continue
        print(f"== {sample.name}")
        lines = sample.read_text(encoding="utf-8").splitlines()
        for result in classify_stream(lines, now=now):
            cause = result.get("cause") or "-"
            print(f"  {result['severity']:<8} {result['category']:<24} {cause:<22} {result['summary']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
