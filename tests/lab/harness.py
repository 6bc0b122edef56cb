"""The customer-gateway lab: real strongSwan (charon) and libreswan (pluto) daemons in network namespaces.

One namespace plays the AWS tunnel endpoint (AWS's tunnel parameters), the other the customer
gateway. They are joined by a veth pair on the 198.18.0.0/15 benchmark range, so no packet ever
leaves the namespaces. Each namespace runs its own ``charon-systemd`` with its own
strongswan.conf, swanctl.conf, log file and vici socket, and its own ``/run`` (a tmpfs mounted
inside ``ip netns exec``'s private mount namespace). The kernel here has no ESP, so the
``kernel-libipsec`` plugin does ESP in userspace over a TUN device and CHILD_SAs really establish.

libreswan's pluto can play the customer gateway instead (:class:`PlutoSide`, in the same
namespace as the CGW's charon, never at the same time). Debian's libreswan package conflicts with
strongSwan's, so ``make lab-deps`` only extracts it into ``.lab/libreswan``; pluto runs from there
with ``/usr/libexec`` bind-mounted from it inside its private mount namespace (pluto insists on
``/usr/libexec/ipsec/addconn``), its own rundir, NSS database, secrets file and log file. pluto has
no userspace ESP, and this kernel none at all: every CHILD SA pluto negotiates fails to install, so
pluto's scenarios stop at what the IKE exchange shows (or use an IKE SA without a CHILD SA).

Everything the lab creates is removed again by :meth:`Lab.close` (namespaces, daemons, the
temporary directory), which the pytest fixture calls even on failure or Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.shipping import Envelope, Logger, Mark, Shippers

CHARON = "/usr/sbin/charon-systemd"
SWANCTL = "swanctl"
# libreswan, extracted (not installed) by `make lab-deps`; VPN_DOCTOR_LIBRESWAN points elsewhere.
LIBRESWAN = Path(os.environ.get("VPN_DOCTOR_LIBRESWAN", Path(__file__).resolve().parents[2] / ".lab" / "libreswan"))
PLUTO = LIBRESWAN / "usr/libexec/ipsec/pluto"
WHACK = LIBRESWAN / "usr/libexec/ipsec/whack"
CERTUTIL = "certutil"

# Addresses on the benchmark range (RFC 2544): the AWS tunnel outside IP and the customer gateway.
AWS_IP = "198.18.0.1"
CGW_IP = "198.18.0.2"
PREFIX = 30
# One host inside each side's encryption domain (the "VPC" and the "on-premises network").
AWS_NET, AWS_INSIDE = "10.100.0.0/16", "10.100.0.1"
CGW_NET, CGW_INSIDE = "10.1.0.0/16", "10.1.0.1"
# The VPN connection the lab pretends to be, and the log stream AWS would name after its tunnel.
VPN_ID = "vpn-0a1b2c3d4e5f60718"
LOG_STREAM = f"{VPN_ID}-{AWS_IP}"

# Obviously fake keys: the lab never uses a real secret, and the tests assert neither key appears
# in any captured log.
PSK_AWS = "lab-fake-psk-0000-not-a-secret"
PSK_WRONG = "lab-fake-psk-9999-wrong-on-purpose"
FAKE_PSKS = (PSK_AWS, PSK_WRONG)

# Only the plugins the lab needs (no openssl/curve25519 here: MODP groups via gmp).
_PLUGINS = (
    "random nonce aes md5 sha1 sha2 hmac kdf gmp pem pkcs1 pubkey x509 "
    "kernel-libipsec kernel-netlink socket-default vici updown"
)

# AWS Site-to-Site VPN tunnel defaults: AES128/AES256 (+GCM, not loaded here), SHA1/SHA2,
# DH groups 2, 14-24 (the MODP ones: 2, 14-18, 22-24), IKEv2, 28800 s / 3600 s lifetimes.
AWS_GROUPS = "modp1024-modp2048-modp3072-modp4096-modp6144-modp8192-modp1024s160-modp2048s224-modp2048s256"
AWS_IKE_PROPOSALS = f"aes128-aes256-sha1-sha256-sha384-sha512-{AWS_GROUPS}"
AWS_ESP_PROPOSALS = f"aes128-aes256-sha1-sha256-sha384-sha512-{AWS_GROUPS}"


def unavailable_reason() -> str | None:
    """Why the lab cannot run on this machine (``None`` when it can)."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, mounts, /dev/net/tun)"
    if shutil.which("ip") is None:
        return "no `ip` (iproute2) on PATH"
    if not Path(CHARON).exists():
        return f"no strongSwan daemon at {CHARON} (run `make lab-deps`)"
    if shutil.which(SWANCTL) is None:
        return "no `swanctl` on PATH (run `make lab-deps`)"
    if shutil.which("nft") is None:
        return "no `nft` (nftables) on PATH (run `make lab-deps`)"
    if not Path("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so").exists():
        return "no kernel-libipsec plugin (package libcharon-extra-plugins)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun (kernel-libipsec needs a TUN device)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


def libreswan_unavailable_reason() -> str | None:
    """Why pluto cannot play the customer gateway here (``None`` when it can)."""
    if (reason := unavailable_reason()) is not None:
        return reason
    if not PLUTO.exists():
        return f"no libreswan pluto at {PLUTO} (run `make lab-deps`)"
    if shutil.which(CERTUTIL) is None:
        return "no `certutil` on PATH for pluto's NSS database (package libnss3-tools; `make lab-deps`)"
    probe = subprocess.run([str(PLUTO), "--version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"pluto does not run here (`make lab-deps` installs its libraries): {probe.stderr.strip()[-300:]}"
    return None


@dataclass(frozen=True)
class Child:
    """One CHILD_SA (phase 2) of a swanctl connection."""

    local_ts: str
    remote_ts: str
    esp_proposals: str
    rekey_time: str = "3240s"  # AWS: 3600 s lifetime, rekey 270-540 s before expiry
    life_time: str = "3600s"
    rand_time: str = "0s"
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Peer:
    """One side's swanctl connection."""

    name: str
    local: str
    remote: str
    psk: str
    proposals: str
    children: Mapping[str, Child]
    version: int = 2
    encap: bool = False
    dpd_delay: str = "0s"
    rekey_time: str = "28800s"
    extra: Mapping[str, str] = field(default_factory=dict)

    def swanctl_conf(self) -> str:
        """The swanctl.conf text for this side."""
        lines = [
            "connections {",
            f"  {self.name} {{",
            f"    version = {self.version}",
            f"    local_addrs = {self.local}",
            f"    remote_addrs = {self.remote}",
            f"    proposals = {self.proposals}",
            f"    encap = {'yes' if self.encap else 'no'}",
            f"    dpd_delay = {self.dpd_delay}",
            f"    rekey_time = {self.rekey_time}",
            "    over_time = 0s",
            "    rand_time = 0s",
            *(f"    {key} = {value}" for key, value in self.extra.items()),
            f"    local {{ auth = psk\n      id = {self.local}\n    }}",
            f"    remote {{ auth = psk\n      id = {self.remote}\n    }}",
            "    children {",
        ]
        for name, child in self.children.items():
            lines += [
                f"      {name} {{",
                f"        local_ts = {child.local_ts}",
                f"        remote_ts = {child.remote_ts}",
                f"        esp_proposals = {child.esp_proposals}",
                f"        rekey_time = {child.rekey_time}",
                f"        life_time = {child.life_time}",
                f"        rand_time = {child.rand_time}",
                *(f"        {key} = {value}" for key, value in child.extra.items()),
                "      }",
            ]
        lines += [
            "    }",
            "  }",
            "}",
            "secrets {",
            "  ike-lab {",
            f"    id-a = {self.local}",
            f"    id-b = {self.remote}",
            f'    secret = "{self.psk}"',
            "  }",
            "}",
        ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Timers:
    """Daemon-wide timers, shortened so failures show within seconds."""

    retransmit_tries: int = 2
    retransmit_timeout: float = 0.5
    retransmit_base: float = 1.4


@dataclass(frozen=True)
class PlutoConn:
    """The customer gateway as one libreswan ``conn`` (ipsec.conf syntax, PSK authentication)."""

    name: str
    local: str
    remote: str
    psk: str
    ike: str
    esp: str
    local_subnet: str
    remote_subnet: str
    ikev2: bool = True
    dpd_delay: str = "0"
    retransmit_timeout: str = "3s"
    extra: Mapping[str, str] = field(default_factory=dict)
    # pluto's own log file (``logfile=``); without it pluto logs to syslog (/dev/log), as by default.
    logfile: bool = True
    # ``plutodebug=base`` (the debug most people turn on) instead of none.
    debug: bool = False

    def ipsec_conf(self, directory: Path) -> str:
        """The ipsec.conf text: daemon settings keep everything inside ``directory``."""
        options = {
            "ikev2": "insist" if self.ikev2 else "no",
            "authby": "secret",
            "left": self.local,
            "leftid": self.local,
            "leftsubnet": self.local_subnet,
            "right": self.remote,
            "rightid": self.remote,
            "rightsubnet": self.remote_subnet,
            "ike": self.ike,
            "esp": self.esp,
            "ikelifetime": "28800s",
            "salifetime": "3600s",
            "dpddelay": self.dpd_delay,
            "retransmit-timeout": self.retransmit_timeout,
            "leftupdown": "%disabled",
            "auto": "add",
            **self.extra,
        }
        return (
            "config setup\n"
            + (f"\tlogfile={directory}/pluto.log\n\tlogtime=yes\n\tlogappend=no\n" if self.logfile else "")
            + f"\tplutodebug={'base' if self.debug else 'none'}\n"
            + f"\tdumpdir={directory}/run\n"
            # 4.10 refuses IKEv1 connections unless told otherwise.
            "\tikev1-policy=accept\n"
            + f"\nconn {self.name}\n"
            + "".join(f"\t{key}={value}\n" for key, value in options.items())
        )

    def secrets(self) -> str:
        """The ipsec.secrets line for this pair of IDs."""
        return f'{self.local} {self.remote} : PSK "{self.psk}"\n'


# charon's log levels as gateways run them: -1 silent, 0 quiet, 1 the default, 2 verbose.
LEVELS = (0, 1, 2)


def level_log(directory: Path, level: int) -> Path:
    """charon's file log at ``level`` (level 1 is the lab's own ``charon.log``)."""
    return directory / ("charon.log" if level == 1 else f"charon-level{level}.log")


def _extra_loggers(directory: Path, levels: bool) -> str:
    """The file logs at levels 0 and 2 next to level 1."""
    text = ""
    if levels:
        for level in (0, 2):
            text += (
                f"    level{level} {{\n      path = {level_log(directory, level)}\n"
                "      time_format = %Y-%m-%dT%H:%M:%S\n"
                f"      time_add_ms = yes\n      ike_name = yes\n      append = no\n      default = {level}\n"
                "      flush_line = yes\n    }\n"
            )
    return text


def strongswan_conf(directory: Path, timers: Timers, *, levels: bool = False, logger: str | None = None) -> str:
    """A strongswan.conf that keeps everything of this daemon inside ``directory``: a file log at level 1
    (and at levels 0 and 2 with ``levels``), and charon-systemd's journal logger (``logger="journal"``)
    or its syslog logger (``logger="syslog"``, identifier ``charon``) at level 1."""
    journal = 1 if logger == "journal" else -1
    syslog = (
        "  syslog {\n    identifier = charon\n    daemon {\n      default = 1\n      ike_name = yes\n    }\n  }\n"
        if logger == "syslog"
        else ""
    )
    return f"""charon-systemd {{
  load = {_PLUGINS}
  install_routes = no
  retransmit_tries = {timers.retransmit_tries}
  retransmit_timeout = {timers.retransmit_timeout}
  retransmit_base = {timers.retransmit_base}
  retransmit_jitter = 0
  make_before_break = yes
  journal {{
    default = {journal}
  }}
{syslog}  filelog {{
    lab {{
      path = {directory}/charon.log
      time_format = %Y-%m-%dT%H:%M:%S
      time_add_ms = yes
      ike_name = yes
      append = no
      default = 1
      flush_line = yes
    }}
{_extra_loggers(directory, levels)}  }}
  plugins {{
    vici {{
      socket = unix://{directory}/charon.vici
    }}
    kernel-libipsec {{
      allow_peer_ts = yes
    }}
  }}
}}
"""


class LabError(RuntimeError):
    """The lab could not be built or driven (not a classification failure)."""


def _run(*args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=timeout)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its parent does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Side:
    """One namespace with its charon daemon."""

    def __init__(self, role: str, namespace: str, directory: Path) -> None:
        self.role = role
        self.namespace = namespace
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.peer: Peer | None = None
        self.started_pids: list[int] = []
        self.shippers: Shippers | None = None
        self.marks: dict[int, int] = {}
        self.ship_mark: Mark | None = None

    @property
    def uri(self) -> str:
        """The vici socket swanctl talks to."""
        return f"unix://{self.directory}/charon.vici"

    @property
    def log_path(self) -> Path:
        """charon's file log."""
        return self.directory / "charon.log"

    def start(self, peer: Peer, timers: Timers, *, levels: bool = False, logger: Logger | None = None) -> None:
        """Start a fresh daemon with ``peer``'s configuration loaded; with ``levels`` it also writes file
        logs at levels 0 and 2, with ``logger`` it logs to a journald (and rsyslogd) of its own."""
        self.stop()
        self.peer = peer
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in ("charon.log", "charon-level0.log", "charon-level2.log", "charon.vici", "swanctl.conf"):
            (self.directory / stale).unlink(missing_ok=True)
        conf = self.directory / "strongswan.conf"
        conf.write_text(strongswan_conf(self.directory, timers, levels=levels, logger=logger))
        identifier = "charon-systemd" if logger == Logger.JOURNAL else "charon"
        self.shippers = None if logger is None else Shippers(self.directory, identifier)
        preamble = ""
        if self.shippers is not None:
            self.shippers.prepare()
            preamble = self.shippers.preamble()
        swanctl_conf = self.directory / "swanctl.conf"
        swanctl_conf.write_text(peer.swanctl_conf())
        swanctl_conf.chmod(0o600)
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "STRONGSWAN_CONF": str(conf)}
        # `ip netns exec` runs the command in a private mount namespace: the tmpfs on /run is
        # this daemon's alone, so two daemons never share pid files or sockets there.
        with (self.directory / "daemon.out").open("wb") as out:
            self.process = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.namespace,
                    "sh",
                    "-c",
                    f"{preamble or 'mount -t tmpfs lab-run /run && '}exec {CHARON}",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches pytest, which then cleans up
            )
        self.started_pids.append(self.process.pid)
        deadline = time.monotonic() + 10
        while not (self.directory / "charon.vici").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = (self.directory / "daemon.out").read_text(errors="replace")[-500:]
                raise LabError(f"{self.role}: charon did not start: {output}")
            time.sleep(0.05)
        self.swanctl("--load-all", "--file", str(swanctl_conf))
        self.mark()

    def mark(self) -> None:
        """From here on the logs are the scenario's (start-up chatter before is left out)."""
        self.marks = {level: len(self.level_lines(level)) for level in LEVELS}
        self.ship_mark = None if self.shippers is None else self.shippers.mark()

    def level_lines(self, level: int) -> list[str]:
        """The whole file log at ``level`` so far."""
        path = level_log(self.directory, level)
        if not path.exists():
            return []
        return [line for line in path.read_text(errors="replace").splitlines() if line.strip()]

    def scenario_lines(self, level: int = 1) -> list[str]:
        """The file log at ``level`` since :meth:`mark`."""
        return self.level_lines(level)[self.marks.get(level, 0) :]

    def shipped(self) -> dict[Envelope, list[str]]:
        """What the shippers wrote of the daemon's lines since :meth:`mark`."""
        if self.shippers is None or self.ship_mark is None:
            raise LabError(f"{self.role}: started without shippers")
        return self.shippers.collect(self.ship_mark)

    def swanctl(self, *args: str, check: bool = True, timeout: float = 20) -> str:
        """Run swanctl against this daemon; its output (never the secrets) is returned."""
        done = _run(SWANCTL, *args, "--uri", self.uri, check=check, timeout=timeout)
        return done.stdout

    def initiate(self, child: str, *, timeout: int = 8) -> bool:
        """Initiate a CHILD_SA (and its IKE SA if needed); whether it came up."""
        done = _run(
            SWANCTL, "--initiate", "--child", child, "--timeout", str(timeout), "--uri", self.uri,
            check=False, timeout=timeout + 5,
        )  # fmt: skip
        return done.returncode == 0

    def rekey_child(self, child: str) -> None:
        """Ask for a CHILD_SA rekey now."""
        self.swanctl("--rekey", "--child", child, check=False)

    def nft(self, ruleset: str) -> None:
        """Apply an nftables ruleset inside this namespace."""
        path = self.directory / "rules.nft"
        path.write_text(ruleset)
        _run("ip", "netns", "exec", self.namespace, "nft", "-f", str(path))

    def flush_nft(self) -> None:
        """Remove every nftables rule of this namespace."""
        _run("ip", "netns", "exec", self.namespace, "nft", "flush", "ruleset", check=False)

    def log_lines(self) -> list[str]:
        """The daemon's log so far."""
        if not self.log_path.exists():
            return []
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]

    def stop(self) -> None:
        """Stop the daemon (SIGTERM, then SIGKILL) and forget it, then its shippers."""
        self._stop_daemon()
        if self.shippers is not None:
            for pid in self.shippers.pids():
                self.started_pids.append(pid)
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while any(_alive(pid) for pid in self.shippers.pids()) and time.monotonic() < deadline:
                time.sleep(0.02)
            for pid in self.shippers.pids():
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _stop_daemon(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


class PlutoSide(Side):
    """libreswan's pluto as the customer gateway, in the CGW's namespace (instead of its charon)."""

    conn: PlutoConn | None = None

    @property
    def log_path(self) -> Path:
        """pluto's log file."""
        return self.directory / "pluto.log"

    def log_lines(self) -> list[str]:
        """pluto's log so far: its log file, or (logging to syslog) the messages journald got."""
        if self.conn is not None and not self.conn.logfile and self.shippers is not None:
            done = _run(
                "journalctl", "-D", str(self.shippers.journal), "--no-pager", "-t", "pluto", "-o", "cat", check=False
            )
            return [line for line in done.stdout.splitlines() if line.strip()]
        return super().log_lines()

    def start_pluto(self, conn: PlutoConn, *, logger: Logger | None = None) -> None:
        """Start a fresh pluto with ``conn`` added (not initiated); with ``logger`` next to a journald
        and rsyslogd of its own (pluto logs there through /dev/log unless ``conn`` has a log file)."""
        self.stop()
        self.conn = conn
        shutil.rmtree(self.directory, ignore_errors=True)
        (self.directory / "run").mkdir(parents=True)
        self.shippers = None if logger is None else Shippers(self.directory, "pluto")
        preamble = ""
        if self.shippers is not None:
            self.shippers.prepare()
            preamble = self.shippers.preamble()
        (self.directory / "nss").mkdir()
        _run(CERTUTIL, "-N", "-d", f"sql:{self.directory / 'nss'}", "--empty-password")
        conf = self.directory / "ipsec.conf"
        conf.write_text(conn.ipsec_conf(self.directory))
        secrets = self.directory / "ipsec.secrets"
        secrets.write_text(conn.secrets())
        secrets.chmod(0o600)
        libexec = LIBRESWAN / "usr" / "libexec"
        command = (
            f"{preamble}mount --bind {libexec} /usr/libexec && exec {PLUTO} --nofork --config {conf} "
            f"--rundir {self.directory / 'run'} --nssdir {self.directory / 'nss'} --secretsfile {secrets} "
            f"--ipsecdir {self.directory}"
        )
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        with (self.directory / "daemon.out").open("wb") as out:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, "sh", "-c", command],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_pids.append(self.process.pid)
        # The conn is added and the secrets are loaded once pluto listens: the last start-up line.
        if not wait_for(lambda: any(READY in line for line in self.log_lines()), 10, 0.05):
            output = (self.directory / "daemon.out").read_text(errors="replace")[-500:]
            raise LabError(f"{self.role}: pluto did not start: {output} {self.log_lines()[-5:]}")
        self.ship_mark = None if self.shippers is None else self.shippers.mark()

    def whack(self, *args: str, check: bool = True, timeout: float = 20) -> str:
        """Run whack against this pluto."""
        command = ("ip", "netns", "exec", self.namespace, str(WHACK), "--rundir", str(self.directory / "run"))
        return _run(*command, *args, check=check, timeout=timeout).stdout

    def initiate(self, child: str, *, timeout: int = 8) -> bool:
        """Initiate the conn named ``child``; whether whack reported it up in time."""
        try:
            output = self.whack("--initiate", "--name", child, check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return "established Child SA" in output or "IPsec SA established" in output


# pluto's last start-up line: everything before it is its banner, algorithm tables and self-tests.
READY = "loading secrets from"


class Lab:
    """Two namespaces joined by a veth pair, a charon in each."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.directory = Path(tempfile.mkdtemp(prefix="vpn-doctor-lab-"))
        self.aws = Side("aws", f"vpnlab-aws-{tag}", self.directory / "aws")
        self.cgw = Side("cgw", f"vpnlab-cgw-{tag}", self.directory / "cgw")
        self.pluto = PlutoSide("cgw", self.cgw.namespace, self.directory / "pluto")
        self._veth = f"vlab{tag}"
        self.last_start: tuple[Peer, Peer | PlutoConn, Timers | None, bool, Logger | None] | None = None
        self._built = False

    def build(self) -> None:
        """Create the namespaces and the link between them."""
        for side in (self.aws, self.cgw):
            _run("ip", "netns", "add", side.namespace)
        self._built = True
        aws_if, cgw_if = f"{self._veth}a", f"{self._veth}c"
        _run("ip", "link", "add", aws_if, "netns", self.aws.namespace, "type", "veth", "peer", "name", cgw_if,
             "netns", self.cgw.namespace)  # fmt: skip
        for side, ifname, address in ((self.aws, aws_if, AWS_IP), (self.cgw, cgw_if, CGW_IP)):
            _run("ip", "-n", side.namespace, "addr", "add", f"{address}/{PREFIX}", "dev", ifname)
            _run("ip", "-n", side.namespace, "link", "set", ifname, "up")
            _run("ip", "-n", side.namespace, "link", "set", "lo", "up")
        # An address inside each side's encryption domain, so routes via the TUN device have a
        # source and a ping through the tunnel can really flow.
        _run("ip", "-n", self.aws.namespace, "addr", "add", f"{AWS_INSIDE}/32", "dev", "lo")
        _run("ip", "-n", self.cgw.namespace, "addr", "add", f"{CGW_INSIDE}/32", "dev", "lo")

    def start(
        self,
        aws: Peer,
        cgw: Peer | PlutoConn,
        timers: Timers | None = None,
        *,
        levels: bool = False,
        logger: Logger | None = None,
    ) -> None:
        """(Re)start both daemons with these configurations, with no firewall rules: charon or
        pluto on the customer gateway, as its configuration says; ``levels`` and ``logger`` as in
        :meth:`Side.start`, for the customer gateway only."""
        self.last_start = (aws, cgw, timers, levels, logger)
        self.stop_daemons()
        for side in (self.aws, self.cgw):
            side.flush_nft()
        self.aws.start(aws, timers or Timers())
        if isinstance(cgw, PlutoConn):
            self.pluto.start_pluto(cgw, logger=logger)
        else:
            self.cgw.start(cgw, timers or Timers(), levels=levels, logger=logger)

    def restart(self) -> None:
        """Start both daemons afresh as the last :meth:`start` did."""
        if self.last_start is None:
            raise LabError("nothing to restart")
        aws, cgw, timers, levels, logger = self.last_start
        self.start(aws, cgw, timers, levels=levels, logger=logger)

    def gateway(self, cgw: Peer | PlutoConn) -> Side:
        """The side that runs this customer-gateway configuration."""
        return self.pluto if isinstance(cgw, PlutoConn) else self.cgw

    @property
    def daemon_pids(self) -> list[str]:
        """Every daemon process id this lab started (to check none is left)."""
        return [str(pid) for side in (self.aws, self.cgw, self.pluto) for pid in side.started_pids]

    def stop_daemons(self) -> None:
        """Stop every daemon."""
        for side in (self.aws, self.cgw, self.pluto):
            side.stop()

    def close(self) -> None:
        """Remove everything the lab created. Safe to call more than once."""
        self.stop_daemons()
        if self._built:
            for side in (self.aws, self.cgw):
                _run("ip", "netns", "del", side.namespace, check=False)
            self._built = False
        shutil.rmtree(self.directory, ignore_errors=True)


def remove_stale_labs() -> None:
    """Remove namespaces (and the daemons in them) that an earlier lab run killed hard left behind."""
    listed = _run("ip", "netns", "list", check=False).stdout.split()
    for name in listed:
        if not name.startswith(("vpnlab-aws-", "vpnlab-cgw-")):
            continue
        owner = name.rsplit("-", 1)[-1]
        if owner.isdigit() and Path(f"/proc/{owner}").exists() and int(owner) != os.getpid() % 100000:
            continue  # another lab run that is still alive
        for pid in _run("ip", "netns", "pids", name, check=False).stdout.split():
            with suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _run("ip", "netns", "del", name, check=False)


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def running_lab() -> Iterator[Lab]:
    """A built lab, torn down on exit whatever happens (exceptions, Ctrl-C, SIGTERM)."""
    remove_stale_labs()
    lab = Lab()
    previous = signal.getsignal(signal.SIGTERM)
    with suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        lab.build()
        yield lab
    finally:
        lab.close()
        with suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
