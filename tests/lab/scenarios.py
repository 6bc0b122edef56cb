"""The lab's scenarios, each from the seed's failure modes, with what vpn-doctor must conclude.

One side plays the AWS endpoint with AWS's tunnel parameters (IKEv2, AES128/AES256, SHA1/SHA2,
DH 2/14-24, 28800 s / 3600 s, DPD 10 s x 3 scaled down to 1 s with short retransmits), the other
the customer gateway. Each scenario changes what the seed says goes wrong, drives the daemons
(initiate, rekey, firewall) and keeps both sides' logs.

``python -m tests.lab.scenarios [key ...]`` (as root) re-captures scenarios into tests/fixtures/lab
(all by default; keys as in scenarios.json, e.g. ``psk_mismatch.libreswan``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.lab.harness import (
    AWS_ESP_PROPOSALS,
    AWS_IKE_PROPOSALS,
    AWS_INSIDE,
    AWS_IP,
    AWS_NET,
    CGW_INSIDE,
    CGW_IP,
    CGW_NET,
    FAKE_PSKS,
    PSK_AWS,
    PSK_WRONG,
    READY,
    Child,
    Lab,
    Peer,
    PlutoConn,
    Timers,
    running_lab,
    wait_for,
)
from vpn_doctor.models import Finding
from vpn_doctor.taxonomy import Category, Cause

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lab"

# What a typical customer gateway offers that AWS accepts.
CGW_IKE = "aes128-sha256-modp2048"
CGW_ESP = "aes128-sha256-modp2048"
# The scaled-down DPD interval (AWS: 10 s, timeout after 3 misses).
DPD = "1s"


_AWS = Peer(
    name="aws",
    local=AWS_IP,
    remote=CGW_IP,
    psk=PSK_AWS,
    proposals=AWS_IKE_PROPOSALS,
    children={"aws-net": Child(AWS_NET, CGW_NET, AWS_ESP_PROPOSALS)},
    dpd_delay=DPD,
)
_CGW = Peer(
    name="cgw",
    local=CGW_IP,
    remote=AWS_IP,
    psk=PSK_AWS,
    proposals=CGW_IKE,
    children={"cgw-net": Child(CGW_NET, AWS_NET, CGW_ESP)},
    dpd_delay=DPD,
)


# libreswan's spelling of the same customer gateway.
_PLUTO = PlutoConn(
    name="cgw",
    local=CGW_IP,
    remote=AWS_IP,
    psk=PSK_AWS,
    ike="aes128-sha2_256-modp2048",
    esp="aes128-sha2_256",
    local_subnet=CGW_NET,
    remote_subnet=AWS_NET,
    dpd_delay=DPD,
)


def pluto_conn(**changes: Any) -> PlutoConn:
    """The customer gateway as a libreswan conn."""
    return replace(_PLUTO, **changes)


def aws_peer(**changes: Any) -> Peer:
    """The AWS endpoint: one CHILD_SA between the VPC and on-premises, AWS's proposals."""
    return replace(_AWS, **changes)


def cgw_peer(**changes: Any) -> Peer:
    """The customer gateway, configured as AWS's generic configuration file says."""
    return replace(_CGW, **changes)


def _log_has(lab: Lab, text: str, *, side: str = "cgw") -> Callable[[], bool]:
    target = lab.cgw if side == "cgw" else lab.aws
    return lambda: any(text in line for line in target.log_lines())


def _ping(lab: Lab) -> bool:
    """One UDP datagram from on-premises to the VPC through the tunnel (userspace ESP over the TUN
    device); whether it arrived. (No ping binary needed: the system Python does both ends.)"""
    listen = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"s.bind(('{AWS_INSIDE}', 5001)); s.settimeout(4); print(s.recvfrom(64)[1][0])"
    )
    send = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"s.bind(('{CGW_INSIDE}', 0)); s.sendto(b'lab', ('{AWS_INSIDE}', 5001))"
    )
    with subprocess.Popen(
        ["ip", "netns", "exec", lab.aws.namespace, "python3", "-c", listen], stdout=subprocess.PIPE, text=True
    ) as receiver:
        time.sleep(0.3)
        for _ in range(3):
            subprocess.run(["ip", "netns", "exec", lab.cgw.namespace, "python3", "-c", send], check=False, timeout=5)
            time.sleep(0.1)
        out, _ = receiver.communicate(timeout=6)
    return out.strip() == CGW_INSIDE


def drive_established(lab: Lab) -> None:
    """Initiate, pass traffic through the tunnel and let DPD run; nothing may fail."""
    if not lab.cgw.initiate("cgw-net"):
        raise AssertionError("the tunnel did not come up in the established scenario")
    if not _ping(lab):
        raise AssertionError("no traffic through the established tunnel")
    dpd_ran = [_log_has(lab, "sending DPD request", side=side) for side in ("aws", "cgw")]
    if not wait_for(lambda: any(check() for check in dpd_ran), 5):
        raise AssertionError("DPD never ran")
    time.sleep(0.3)


def drive_initiate(lab: Lab) -> None:
    """Initiate once; the negotiation is expected to fail."""
    lab.cgw.initiate("cgw-net", timeout=6)


def drive_pfs(lab: Lab) -> None:
    """Come up (IKE_AUTH carries no DH), then rekey the CHILD_SA: now the DH groups must agree."""
    if not lab.cgw.initiate("cgw-net"):
        raise AssertionError("the tunnel must first come up without PFS")
    lab.cgw.rekey_child("cgw-net")
    wait_for(_log_has(lab, "CREATE_CHILD_SA response"), 5)
    time.sleep(0.3)


def drive_selectors(lab: Lab) -> None:
    """The CGW's first encryption domain comes up; the second one is refused by AWS."""
    lab.cgw.initiate("cgw-net")
    lab.cgw.initiate("cgw-net2", timeout=5)
    time.sleep(0.2)


def drive_dpd(lab: Lab) -> None:
    """Come up, then AWS stops hearing anything (inbound IKE dropped): both DPDs must give up."""
    if not lab.cgw.initiate("cgw-net"):
        raise AssertionError("the tunnel must first come up")
    lab.aws.nft(
        "table inet lab {\n"
        "  chain input { type filter hook input priority 0; policy accept; udp dport { 500, 4500 } drop; }\n"
        "}\n"
    )
    if not wait_for(_log_has(lab, "giving up after"), 15):
        raise AssertionError("DPD never gave up")
    time.sleep(0.2)


def drive_nat_t(lab: Lab) -> None:
    """UDP 4500 is dropped in front of AWS: IKE_SA_INIT works on 500, IKE_AUTH never arrives."""
    lab.aws.nft(
        "table inet lab {\n"
        "  chain input { type filter hook input priority 0; policy accept; udp dport 4500 drop; }\n"
        "}\n"
    )
    lab.cgw.initiate("cgw-net", timeout=8)
    wait_for(_log_has(lab, "peer not responding"), 8)


def drive_lifetime(lab: Lab) -> None:
    """A CHILD_SA lifetime of seconds: the CGW rekeys again and again."""
    if not lab.cgw.initiate("cgw-net"):
        raise AssertionError("the tunnel must first come up")
    # 5.9.8 logs one "inbound CHILD_SA ... established" per rekey.
    if not wait_for(lambda: sum("inbound CHILD_SA" in line for line in lab.cgw.log_lines()) >= 5, 20):
        raise AssertionError("the CHILD_SA did not rekey five times")
    time.sleep(0.3)


# --- libreswan (pluto) as the customer gateway --------------------------------------------
# pluto cannot install a CHILD SA here (no ESP in this kernel, no userspace ESP in pluto): an
# IKE SA it initiates with a CHILD SA is torn down again after the kernel refuses the SA. The
# healthy and DPD scenarios therefore let the AWS side initiate an IKE SA without a CHILD SA
# (RFC 6023, `childless = force`), which pluto accepts; the failures stop in the IKE exchange.
_AWS_CHILDLESS = {"childless": "force"}


def _aws_initiates_ike_sa(lab: Lab) -> None:
    if "successfully" not in lab.aws.swanctl("--initiate", "--ike", "aws", "--timeout", "5", check=False):
        raise AssertionError("the IKE SA with pluto did not come up")


def drive_pluto_established(lab: Lab) -> None:
    """AWS brings up the IKE SA; pluto answers DPD; nothing may fail."""
    _aws_initiates_ike_sa(lab)
    if not wait_for(lambda: sum("sending DPD request" in line for line in lab.aws.log_lines()) >= 2, 5):
        raise AssertionError("DPD never ran")
    time.sleep(0.3)


def drive_pluto_initiate(lab: Lab) -> None:
    """pluto initiates once (whack returns when it fails or gives up, after retransmit-timeout)."""
    lab.pluto.initiate("cgw", timeout=8)
    time.sleep(0.3)


def drive_pluto_dpd(lab: Lab) -> None:
    """Up, then AWS stops hearing anything (inbound IKE dropped): its DPD gives up."""
    _aws_initiates_ike_sa(lab)
    lab.aws.nft(
        "table inet lab {\n"
        "  chain input { type filter hook input priority 0; policy accept; udp dport { 500, 4500 } drop; }\n"
        "}\n"
    )
    if not wait_for(_log_has(lab, "giving up after", side="aws"), 15):
        raise AssertionError("DPD never gave up")
    time.sleep(0.2)


@dataclass(frozen=True)
class Scenario:
    """One lab run: both configurations, how to drive them, and the expected verdict."""

    name: str
    seed: str
    aws: Peer
    cgw: Peer | PlutoConn
    drive: Callable[[Lab], None]
    # (category, cause) of the incident vpn-doctor opens; None: healthy, no failure at all.
    expected: tuple[Category, Cause] | None
    timers: Timers = field(default_factory=Timers)
    # What one side's own log can tell, where it differs from ``expected`` (e.g. the CGW only
    # learns that AWS rejected its authentication, not why).
    sees: Mapping[str, tuple[Category, Cause] | None] = field(default_factory=dict)

    def expected_for(self, side: str) -> tuple[Category, Cause] | None:
        """The worst failure one side's log must produce (``None``: no failure at all)."""
        return self.sees.get(side, self.expected)

    @property
    def gateway(self) -> str:
        """Which daemon plays the customer gateway: ``strongswan`` or ``libreswan``."""
        return "libreswan" if isinstance(self.cgw, PlutoConn) else "strongswan"

    @property
    def key(self) -> str:
        """The scenario's name in fixtures and scenarios.json (the name, and the gateway unless strongSwan)."""
        return self.name if self.gateway == "strongswan" else f"{self.name}.{self.gateway}"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "established",
        "Both sides agree: IKE and CHILD_SA come up and traffic flows.",
        aws_peer(),
        cgw_peer(),
        drive_established,
        None,
    ),
    Scenario(
        "psk_mismatch",
        "The customer gateway has a different pre-shared key.",
        aws_peer(),
        cgw_peer(psk=PSK_WRONG),
        drive_initiate,
        (Category.IKE_PHASE1_FAILURE, Cause.PSK_MISMATCH),
        sees={"cgw": (Category.IKE_PHASE1_FAILURE, Cause.AUTH_FAILED)},
    ),
    Scenario(
        "phase1_proposal_mismatch",
        "The CGW offers DH group 5 (modp1536) for IKE, which AWS does not allow.",
        aws_peer(),
        cgw_peer(proposals="aes256-sha256-modp1536"),
        drive_initiate,
        (Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH),
    ),
    Scenario(
        "ike_version_mismatch",
        "The CGW speaks IKEv1 while the AWS tunnel allows IKEv2 only.",
        aws_peer(),
        cgw_peer(version=1),
        drive_initiate,
        (Category.IKE_PHASE1_FAILURE, Cause.IKE_VERSION_MISMATCH),
        sees={"cgw": (Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH)},
    ),
    Scenario(
        "phase2_proposal_mismatch",
        "The CGW's phase 2 uses HMAC-MD5 integrity, which AWS does not allow.",
        aws_peer(),
        cgw_peer(children={"cgw-net": Child(CGW_NET, AWS_NET, "aes128-md5-modp2048")}),
        drive_initiate,
        (Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH),
    ),
    Scenario(
        "pfs_mismatch",
        "PFS uses DH group 5 on the CGW: the first CHILD_SA comes up, its rekey fails.",
        aws_peer(),
        cgw_peer(children={"cgw-net": Child(CGW_NET, AWS_NET, "aes128-sha256-modp1536")}),
        drive_pfs,
        (Category.IPSEC_PHASE2_FAILURE, Cause.PFS_MISMATCH),
    ),
    Scenario(
        "traffic_selector_mismatch",
        "Policy-based CGW with two encryption domains; the AWS side accepts one pair only.",
        aws_peer(),
        cgw_peer(
            children={
                "cgw-net": Child(CGW_NET, AWS_NET, CGW_ESP),
                "cgw-net2": Child("10.2.0.0/16", AWS_NET, CGW_ESP),
            }
        ),
        drive_selectors,
        (Category.POLICY_BASED_VPN, Cause.TS_UNACCEPTABLE),
    ),
    Scenario(
        "dpd_timeout",
        "The path to AWS starts dropping everything after establishment.",
        aws_peer(),
        cgw_peer(),
        drive_dpd,
        (Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE),
    ),
    Scenario(
        "nat_t_blocked",
        "NAT-T forced on the CGW (encap=yes) and UDP 4500 dropped in front of AWS.",
        aws_peer(),
        cgw_peer(encap=True),
        drive_nat_t,
        (Category.CGW_NETWORK, Cause.NAT_T_BLOCKED),
        sees={"aws": None},  # IKE_AUTH never reaches AWS: its log shows a normal IKE_SA_INIT only
    ),
    Scenario(
        "phase2_lifetime_too_short",
        "The CGW's phase 2 lifetime is seconds, not AWS's 3600 s: it rekeys constantly.",
        aws_peer(),
        cgw_peer(children={"cgw-net": Child(CGW_NET, AWS_NET, CGW_ESP, rekey_time="2s", life_time="3s")}),
        drive_lifetime,
        (Category.REKEY_FAILURE, Cause.LIFETIME_MISMATCH),
    ),
)

SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}

# The same seeds with libreswan 4.10 (pluto) as the customer gateway, as far as pluto gets here.
# Left out: pfs_mismatch (needs a CHILD SA up to rekey), nat_t_blocked and
# phase2_lifetime_too_short (CHILD SAs again).
LIBRESWAN_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "established",
        "AWS brings up an IKE SA (without a CHILD SA, which pluto cannot install here); DPD runs.",
        aws_peer(extra=_AWS_CHILDLESS),
        pluto_conn(),
        drive_pluto_established,
        None,
    ),
    Scenario(
        "psk_mismatch",
        "The libreswan customer gateway has a different pre-shared key.",
        aws_peer(),
        pluto_conn(psk=PSK_WRONG),
        drive_pluto_initiate,
        (Category.IKE_PHASE1_FAILURE, Cause.PSK_MISMATCH),
        sees={"cgw": (Category.IKE_PHASE1_FAILURE, Cause.AUTH_FAILED)},
    ),
    Scenario(
        "phase1_proposal_mismatch",
        "pluto offers DH group 5 (modp1536) for IKE, which AWS does not allow.",
        aws_peer(),
        pluto_conn(ike="aes256-sha2_256-modp1536"),
        drive_pluto_initiate,
        (Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH),
    ),
    Scenario(
        "ike_version_mismatch",
        "pluto speaks IKEv1 (Main Mode) while the AWS tunnel allows IKEv2 only.",
        aws_peer(),
        pluto_conn(ikev2=False),
        drive_pluto_initiate,
        (Category.IKE_PHASE1_FAILURE, Cause.IKE_VERSION_MISMATCH),
        sees={"cgw": (Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH)},
    ),
    Scenario(
        "phase2_proposal_mismatch",
        "pluto's phase 2 uses HMAC-MD5 integrity, which AWS does not allow.",
        aws_peer(),
        pluto_conn(esp="aes128-md5"),
        drive_pluto_initiate,
        (Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH),
    ),
    Scenario(
        "traffic_selector_mismatch",
        "pluto proposes an encryption domain (10.2.0.0/16) the AWS side does not have.",
        aws_peer(),
        pluto_conn(local_subnet="10.2.0.0/16"),
        drive_pluto_initiate,
        (Category.POLICY_BASED_VPN, Cause.TS_UNACCEPTABLE),
    ),
    Scenario(
        "dpd_timeout",
        "The path from pluto to AWS starts dropping everything after establishment.",
        aws_peer(extra=_AWS_CHILDLESS),
        pluto_conn(),
        drive_pluto_dpd,
        (Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE),
    ),
)
ALL_SCENARIOS = SCENARIOS + LIBRESWAN_SCENARIOS
SCENARIOS_BY_KEY = {scenario.key: scenario for scenario in ALL_SCENARIOS}


@dataclass(frozen=True)
class Capture:
    """Both sides' logs of one scenario run."""

    scenario: str
    aws: list[str]
    cgw: list[str]


def run(lab: Lab, scenario: Scenario) -> Capture:
    """Run one scenario from fresh daemons and return both logs (daemons stopped afterwards)."""
    lab.start(scenario.aws, scenario.cgw, scenario.timers)
    try:
        scenario.drive(lab)
        cgw = lab.gateway(scenario.cgw).log_lines()
        return Capture(
            scenario.key,
            _keep(lab.aws.log_lines()),
            _keep_pluto(cgw) if scenario.gateway == "libreswan" else _keep(cgw),
        )
    finally:
        lab.stop_daemons()


def _keep(lines: list[str]) -> list[str]:
    """The log without daemon start-up chatter (plugin list, thread pool, TUN device)."""
    return [line for line in lines if "[LIB]" not in line and "[JOB]" not in line]


def _keep_pluto(lines: list[str]) -> list[str]:
    """pluto's log after its start-up (banner, algorithm tables, self-tests, interfaces)."""
    ready = next((index for index, line in enumerate(lines) if READY in line), -1)
    return lines[ready + 1 :]


SIDES = ("aws", "cgw")


def primary(findings: Iterable[Finding]) -> Finding | None:
    """The finding a person should read first: the most severe failure, the earliest of those."""
    failures = [finding for finding in findings if finding.is_failure]
    if not failures:
        return None
    worst = max(finding.severity.rank for finding in failures)
    return next(finding for finding in failures if finding.severity.rank == worst)


def fixture_path(key: str, side: str) -> Path:
    """Where the captured log of one side of a scenario is kept (by :attr:`Scenario.key`): pluto's
    log as ``<name>.libreswan.log``, the AWS side opposite it as ``<name>.libreswan.aws.log``."""
    if key.endswith(".libreswan") and side == "cgw":
        return FIXTURES / f"{key}.log"
    return FIXTURES / f"{key}.{side}.log"


def save(capture: Capture) -> None:
    """Write a capture as fixtures, refusing anything that contains a lab key."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for side, lines in (("aws", capture.aws), ("cgw", capture.cgw)):
        text = "\n".join(lines) + "\n"
        if any(psk in text for psk in FAKE_PSKS):
            raise RuntimeError(f"{capture.scenario}/{side}: a pre-shared key reached the log; not saving it")
        fixture_path(capture.scenario, side).write_text(text)


def main(argv: list[str]) -> int:
    """Re-capture the named scenarios (all by default) into tests/fixtures/lab."""
    wanted = argv or [scenario.key for scenario in ALL_SCENARIOS]
    with running_lab() as lab:
        for name in wanted:
            started = time.monotonic()
            capture = run(lab, SCENARIOS_BY_KEY[name])
            save(capture)
            print(f"{name}: {len(capture.aws)} + {len(capture.cgw)} lines in {time.monotonic() - started:.1f}s")
    index = {
        s.key: {
            "seed": s.seed,
            "gateway": s.gateway,
            "incident": _pair(s.expected),
            **{side: _pair(s.expected_for(side)) for side in SIDES},
        }
        for s in ALL_SCENARIOS
    }
    (FIXTURES / "scenarios.json").write_text(json.dumps(index, indent=2) + "\n")
    return 0


def _pair(expected: tuple[Category, Cause] | None) -> dict[str, str] | None:
    if expected is None:
        return None
    category, cause = expected
    return {"category": category.value, "cause": cause.value}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
