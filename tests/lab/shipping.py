"""Log shippers for the lab's customer gateway: a real systemd-journald and a real rsyslogd next to the daemon.

A gateway's log reaches CloudWatch Logs through a syslog daemon or journald, not as the daemon's own file.
Here the customer gateway's daemon runs, in its namespace and its own mount namespace, next to:

- ``systemd-journald`` (systemd 252, run on its own: no systemd as PID 1). It needs a cgroup2 file
  system (``ip netns exec`` mounts a fresh ``/sys`` without one) and its own ``/run``: the side's
  ``run`` directory is bind-mounted there, so the journal files (``run/log/journal``) and the sockets
  stay inside the lab directory and are read from outside with ``journalctl -D``. A drop-in in
  ``/run/systemd/journald.conf.d`` (read by journald; nothing in ``/etc`` changes) keeps the journal
  volatile, forwards every record to syslog (Debian's journald -> rsyslog chain) and turns rate limits
  and the kernel log off.
- ``rsyslogd`` 8.2302 (Debian 12's package, extracted by ``make lab-deps`` into ``.lab/rsyslog`` with its
  two libraries; run with ``LD_LIBRARY_PATH`` and ``-M``, not installed). Its ``imuxsock`` listens on
  ``/run/systemd/journal/syslog``, where journald forwards, and writes every record in the templates
  gateways really ship: ``RSYSLOG_FileFormat`` (ISO 8601 high precision), ``RSYSLOG_TraditionalFileFormat``
  (RFC 3164 style), ``RSYSLOG_SyslogProtocol23Format`` (RFC 5424), ``RSYSLOG_TraditionalForwardFormat``
  (RFC 3164 with its ``<PRI>``, as rsyslog forwards it over UDP; one record a line) and a JSON record
  whose ``message`` field holds the line, as shippers wrap it.

The daemon logs into journald in one of two ways (``Logger``): charon-systemd's own journal logger
(native protocol; lines without charon's ``NN[GRP]`` prefix, the connection in ``IKE_SA_NAME``), or
syslog(3) to ``/dev/log`` (charon's syslog logger, with its prefix; libreswan's pluto without a log
file). ``/dev/log`` does not exist on this machine and must not be created there: the side's mount
namespace gets a small ``/dev`` of its own (a tmpfs with ``null``, ``zero``, ``random``, ``urandom``,
``net/tun`` bind-mounted from the real one and ``log`` pointing at journald's socket).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

JOURNALD = "/usr/lib/systemd/systemd-journald"
JOURNALCTL = "journalctl"
RSYSLOG = Path(os.environ.get("VPN_DOCTOR_RSYSLOG", Path(__file__).resolve().parents[2] / ".lab" / "rsyslog"))
RSYSLOGD = RSYSLOG / "usr/sbin/rsyslogd"
_RSYSLOG_LIBS = RSYSLOG / "usr/lib/x86_64-linux-gnu"


class Logger(StrEnum):
    """How the daemon hands its lines to journald."""

    JOURNAL = "journal"  # charon-systemd's native journal logger (no NN[GRP] prefix)
    SYSLOG = "syslog"  # syslog(3) to /dev/log (charon's syslog logger; pluto without logfile=)


class Envelope(StrEnum):
    """What comes out of the shippers, one file (or journalctl output) each."""

    JOURNAL_SHORT_ISO = "journald-short-iso"
    JOURNAL_JSON = "journald-json"
    RSYSLOG_FILE = "rsyslog-file"  # RSYSLOG_FileFormat: ISO 8601 high precision
    RSYSLOG_TRADITIONAL = "rsyslog-traditional"  # RSYSLOG_TraditionalFileFormat: RFC 3164 style
    RFC5424 = "rfc5424"  # RSYSLOG_SyslogProtocol23Format
    RFC3164 = "rfc3164"  # RSYSLOG_TraditionalForwardFormat: what rsyslog sends on the wire (RFC 3164)
    JSON_MESSAGE = "json-message"  # a shipper's JSON record with the line in "message"


RSYSLOG_TEMPLATES = {
    Envelope.RSYSLOG_FILE: "RSYSLOG_FileFormat",
    Envelope.RSYSLOG_TRADITIONAL: "RSYSLOG_TraditionalFileFormat",
    Envelope.RFC5424: "RSYSLOG_SyslogProtocol23Format",
    Envelope.RFC3164: "lab_3164",
    Envelope.JSON_MESSAGE: "lab_json",
}


def unavailable_reason() -> str | None:
    """Why the shippers cannot run here (``None`` when they can)."""
    if not Path(JOURNALD).exists():
        return f"no systemd-journald at {JOURNALD}"
    if shutil.which(JOURNALCTL) is None:
        return "no journalctl on PATH"
    if not RSYSLOGD.exists():
        return f"no rsyslogd at {RSYSLOGD} (run `make lab-deps`)"
    probe = subprocess.run(
        [str(RSYSLOGD), "-v"], capture_output=True, text=True, check=False, env=_rsyslog_env(), timeout=10
    )
    if probe.returncode != 0:
        return f"rsyslogd does not run here: {probe.stderr.strip()[-300:]}"
    return None


def _rsyslog_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LD_LIBRARY_PATH": str(_RSYSLOG_LIBS)}


_JOURNALD_CONF = """[Journal]
Storage=volatile
ForwardToSyslog=yes
ForwardToWall=no
ReadKMsg=no
RateLimitIntervalSec=0
RateLimitBurst=0
"""


def _rsyslog_conf(directory: Path) -> str:
    actions = "".join(
        f'*.* action(type="omfile" file="{directory / envelope.value}.log" template="{template}")\n'
        for envelope, template in RSYSLOG_TEMPLATES.items()
    )
    return (
        f'global(workDirectory="{directory}")\n'
        'module(load="imuxsock" SysSock.Name="/run/systemd/journal/syslog" SysSock.RateLimit.Interval="0")\n'
        # The record a shipper (Fluent Bit, the CloudWatch agent with a JSON parser) sends: the line in "message".
        'template(name="lab_json" type="list" option.jsonf="on") {\n'
        '  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")\n'
        '  property(outname="host" name="hostname" format="jsonf")\n'
        '  property(outname="ident" name="programname" format="jsonf")\n'
        '  property(outname="pid" name="procid" format="jsonf")\n'
        '  property(outname="message" name="msg" format="jsonf")\n'
        "}\n"
        # RSYSLOG_TraditionalForwardFormat (rsyslog's built-in RFC 3164 forwarding template), one record a line.
        'template(name="lab_3164" type="string" '
        'string="<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%\\n")\n' + actions
    )


@dataclass
class Shippers:
    """journald and rsyslogd for one side: the shell that starts them, and what they wrote."""

    directory: Path  # the side's directory; the shippers' files live in ``directory / "ship"``
    identifier: str  # the daemon's syslog identifier: charon-systemd, charon or pluto

    @property
    def ship(self) -> Path:
        """The shippers' own directory."""
        return self.directory / "ship"

    @property
    def journal(self) -> Path:
        """Where journald keeps its (volatile) journal, seen from outside the namespace."""
        return self.ship / "run" / "log" / "journal"

    def prepare(self) -> None:
        """Fresh configuration files for both shippers."""
        shutil.rmtree(self.ship, ignore_errors=True)
        (self.ship / "run" / "systemd" / "journald.conf.d").mkdir(parents=True)
        (self.ship / "run" / "systemd" / "journal").mkdir()
        (self.ship / "run" / "systemd" / "journald.conf.d" / "lab.conf").write_text(_JOURNALD_CONF)
        (self.ship / "rsyslog.conf").write_text(_rsyslog_conf(self.ship))
        (self.ship / "dev").mkdir()

    def preamble(self) -> str:
        """Shell run in the daemon's mount namespace before it: mounts, journald, rsyslogd (pids kept)."""
        ship, dev = self.ship, self.ship / "dev"
        devices = " ".join(f"{name}" for name in ("null", "zero", "random", "urandom"))
        return (
            # journald drops what it forwards when rsyslog's socket queue is full (a plutodebug burst): the
            # queue length is per network namespace, so this raises the lab namespace's only.
            "sysctl -q -w net.unix.max_dgram_qlen=16384 && "
            f"mount --bind {ship / 'run'} /run && mount -t cgroup2 lab-cgroup /sys/fs/cgroup && "
            f"for d in {devices}; do touch {dev}/$d && mount --bind /dev/$d {dev}/$d; done && "
            f"mkdir -p {dev}/net && touch {dev}/net/tun && mount --bind /dev/net/tun {dev}/net/tun && "
            f"ln -s /run/systemd/journal/dev-log {dev}/log && mount --rbind {dev} /dev && "
            f"{{ {JOURNALD} >{ship / 'journald.out'} 2>&1 & echo $! >{ship / 'journald.pid'}; }} && "
            "while [ ! -S /run/systemd/journal/socket ] || [ ! -S /run/systemd/journal/dev-log ]; "
            "do sleep 0.02; done && "
            f"{{ LD_LIBRARY_PATH={_RSYSLOG_LIBS} {RSYSLOGD} -n -f {ship / 'rsyslog.conf'} -i {ship / 'rsyslogd.pid'} "
            f"-M {_RSYSLOG_LIBS / 'rsyslog'} >{ship / 'rsyslogd.out'} 2>&1 & }} && "
            f"while [ ! -S /run/systemd/journal/syslog ]; do sleep 0.02; done && "
        )

    def pids(self) -> list[int]:
        """The shippers' process ids (as they wrote them)."""
        found = []
        for name in ("journald.pid", "rsyslogd.pid"):
            path = self.ship / name
            if path.exists() and path.read_text().strip().isdigit():
                found.append(int(path.read_text().strip()))
        return found

    def mark(self) -> Mark:
        """Where the shippers' outputs stand now: what comes later is the scenario's. journald forwards to
        rsyslog a moment later, so this waits until rsyslog has written every record journald holds."""
        cursor = self._cursor()
        held = len(self._records(None, cursor))
        deadline = time.monotonic() + 10
        while True:
            counts = {envelope: len(self._file(envelope)) for envelope in RSYSLOG_TEMPLATES}
            if all(count >= held for count in counts.values()) or time.monotonic() > deadline:
                return Mark(cursor=cursor, counts=counts)
            time.sleep(0.05)

    def _file(self, envelope: Envelope) -> list[str]:
        """The identifier's lines of one rsyslog output file."""
        return [line for line in _file_lines(self.ship / f"{envelope.value}.log") if _names(line, self.identifier)]

    def _records(self, after: str | None, until: str | None = None) -> list[dict[str, Any]]:
        """The identifier's journal records after cursor ``after`` (and up to cursor ``until``)."""
        args = ("--after-cursor", after) if after else ()
        records = [
            json.loads(line)
            for line in self._journalctl(*args, "-t", self.identifier, "-o", "json").splitlines()
            if line.strip()
        ]
        if until is not None:
            cursors = [record["__CURSOR"] for record in records]
            if until in cursors:
                records = records[: cursors.index(until) + 1]
        return records

    def _journalctl(self, *args: str) -> str:
        done = subprocess.run(
            [JOURNALCTL, "-D", str(self.journal), "--no-pager", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=20,
        )
        return done.stdout

    def _cursor(self) -> str | None:
        last = self._journalctl("-n", "1", "-o", "json").strip().splitlines()
        return json.loads(last[-1])["__CURSOR"] if last else None

    def collect(self, since: Mark) -> dict[Envelope, list[str]]:
        """Every envelope's lines of the daemon after ``since``; waits until rsyslog has written what
        journald holds. The daemon keeps logging while the outputs are read: each output holds the same
        records in the same order, so each is cut to the records read first (rsyslog's files from the
        line that carries the first of them)."""
        after = ("--after-cursor", since.cursor) if since.cursor else ()
        records = self._records(since.cursor)
        messages = [str(record.get("MESSAGE", "")) for record in records]
        wanted = len(records)
        deadline = time.monotonic() + 5 + wanted / 100  # rsyslog writes a debug log of thousands of lines late
        files: dict[Envelope, list[str]] = {}
        while True:
            files = {
                envelope: _aligned(self._file(envelope), messages, since.counts[envelope])
                for envelope in RSYSLOG_TEMPLATES
            }
            if all(len(lines) >= wanted for lines in files.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        selector = ("-t", self.identifier)
        out: dict[Envelope, list[str]] = {
            Envelope.JOURNAL_SHORT_ISO: self._journalctl(*after, *selector, "-o", "short-iso").splitlines(),
            Envelope.JOURNAL_JSON: self._journalctl(*after, *selector, "-o", "json").splitlines(),
            **files,
        }
        for envelope, lines in out.items():
            if len(lines) < wanted:
                raise RuntimeError(f"{envelope}: {len(lines)} lines for {wanted} journal records")
            out[envelope] = lines[:wanted]
        return out


def _carries(line: str, message: str) -> bool:
    """Whether an rsyslog output line holds this journal MESSAGE."""
    if line.startswith("{"):
        return str(json.loads(line).get("message", "")).strip() == message.strip()
    return line.rstrip().endswith(message.strip())


def _aligned(lines: list[str], messages: list[str], near: int) -> list[str]:
    """``lines`` from the one that carries ``messages[0]`` (searched from a little before ``near``, where the
    mark left rsyslog's output), as long as what follows carries the next messages; empty until it does."""
    if not messages:
        return []
    for start in range(max(0, near - 50), len(lines)):
        window = lines[start : start + len(messages)]
        if all(_carries(line, message) for line, message in zip(window, messages, strict=False)):
            return lines[start:]
    return []


@dataclass(frozen=True)
class Mark:
    """A point in the shippers' outputs."""

    cursor: str | None
    counts: dict[Envelope, int]


def _file_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(errors="replace").splitlines() if line.strip()]


def _names(line: str, identifier: str) -> bool:
    """Whether an rsyslog output line is one of ``identifier``'s (journald's own notices are not)."""
    return any(f" {identifier}{end}" in line for end in ("[", " ", ":")) or f'"ident":"{identifier}"' in line
