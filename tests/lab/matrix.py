"""The lab matrix: every gateway-side scenario in IKEv1 and IKEv2, on strongSwan and libreswan, shipped
the way gateways ship their logs (journald, rsyslog), at the log levels gateways run with.

One run per cell. The customer gateway's daemon logs, at the same time, to charon's file logs at levels
0 (quiet), 1 (the default) and 2 (verbose), and at level 1 into a real systemd-journald, which forwards to
a real rsyslogd (:mod:`tests.lab.shipping`): one run gives every level and every envelope. charon logs
into journald through its own journal logger (lines without ``NN[GRP]``) or its syslog logger (with it),
alternating over the cells; pluto logs through syslog(3), without and with ``plutodebug=base``.

``python -m tests.lab.matrix [cell ...]`` (as root, after ``make lab-deps``) re-captures the matrix
fixtures in tests/fixtures/lab/matrix (level 1 and one shipped envelope per cell), charon's level-0 logs in
tests/fixtures/lab/matrix/level0, and ``tests/fixtures/lab/matrix.json``: what a person would say each log shows.
(tests/fixtures/lab/quiet holds another capture, with its own manifest: gateways that retry for ever.)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.lab.harness import (
    AWS_ESP_PROPOSALS,
    AWS_IKE_PROPOSALS,
    AWS_NET,
    CGW_NET,
    FAKE_PSKS,
    Child,
    Lab,
    Peer,
    PlutoConn,
    Side,
    running_lab,
    wait_for,
)
from tests.lab.scenarios import (
    _AWS_CHILDLESS,
    CGW_ESP,
    CGW_IKE,
    _aws_initiates_ike_sa,
    _ping,
    aws_peer,
    cgw_peer,
    pluto_conn,
)
from tests.lab.shipping import Envelope, Logger
from vpn_doctor.taxonomy import Category, Cause

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lab"
MATRIX = FIXTURES / "matrix"
LEVEL0 = MATRIX / "level0"

Expected = tuple[Category, Cause] | None

_DROP = (
    "table inet lab {{\n  chain input {{ type filter hook input priority 0; policy accept; "
    "udp dport {ports} drop; }}\n}}\n"
)
# An address on the lab's link that nobody holds: ARP for it is never answered.
NOBODY = "198.18.0.3"


def _has(side: Side, text: str) -> Callable[[], bool]:
    return lambda: any(text in line for line in side.log_lines())


def _count(side: Side, text: str) -> int:
    return sum(text in line for line in side.log_lines())


def _up(lab: Lab, child: str = "cgw-net") -> None:
    if not lab.cgw.initiate(child):
        raise AssertionError("the tunnel must first come up")


# --- strongSwan drives (both IKE versions) --------------------------------------------------------


def drive_established(lab: Lab) -> None:
    """Up, traffic through the tunnel, DPD runs."""
    _up(lab)
    if not _ping(lab):
        raise AssertionError("no traffic through the established tunnel")
    if not wait_for(lambda: _has(lab.cgw, "DPD")() or _has(lab.aws, "DPD")(), 8):
        raise AssertionError("DPD never ran")
    time.sleep(0.5)


def drive_dpd(lab: Lab) -> None:
    """Up, then AWS hears nothing any more (inbound IKE dropped): the gateway's DPD gives up."""
    _up(lab)
    lab.aws.nft(_DROP.format(ports="{ 500, 4500 }"))
    if not wait_for(lambda: _has(lab.cgw, "giving up after")() or _has(lab.cgw, "DPD check timed out")(), 20):
        raise AssertionError("DPD never gave up")
    time.sleep(0.3)


def drive_selectors(lab: Lab) -> None:
    """The first encryption domain comes up; the second one is refused by AWS."""
    _up(lab)
    lab.cgw.initiate("cgw-net2", timeout=6)
    time.sleep(0.3)


def drive_idle(lab: Lab) -> None:
    """Up, no traffic: the gateway's ``inactivity`` timer closes the CHILD_SA."""
    _up(lab)
    if not wait_for(_has(lab.cgw, "inactivity"), 12):
        raise AssertionError("the inactivity timer never fired")
    time.sleep(0.5)


def drive_pfs(lab: Lab) -> None:
    """IKEv2: up (IKE_AUTH carries no DH), then a forced CHILD_SA rekey must agree on the DH group.
    IKEv1: Quick Mode carries the DH group from the start, so the first CHILD_SA already fails."""
    if lab.cgw.initiate("cgw-net"):
        lab.cgw.rekey_child("cgw-net")
        wait_for(lambda: _has(lab.cgw, "CREATE_CHILD_SA response")() or _has(lab.cgw, "QUICK_MODE")(), 5)
    time.sleep(0.5)


def drive_lifetime(lab: Lab) -> None:
    """A CHILD_SA lifetime of seconds: the gateway rekeys again and again."""
    _up(lab)
    # Rekeyed CHILD_SAs: IKEv2 logs "inbound ... established" and "outbound ... established", IKEv1 one line.
    if not wait_for(lambda: _count(lab.cgw, "established with SPIs") - _count(lab.cgw, "outbound CHILD_SA") >= 6, 25):
        raise AssertionError("the CHILD_SA did not rekey five times")
    time.sleep(0.3)


def drive_early_rekeys(lab: Lab) -> None:
    """Two forced CHILD_SA rekeys that succeed: early, but normal."""
    _up(lab)
    for done in (2, 3):
        lab.cgw.rekey_child("cgw-net")
        if not wait_for(lambda done=done: _count(lab.cgw, "established with SPIs") >= done, 8):  # type: ignore[misc]
            raise AssertionError("a forced rekey did not complete")
    time.sleep(0.5)


def drive_failed_ike(lab: Lab) -> None:
    """Initiate; nothing (or only IKE_SA_INIT) comes back, and the gateway gives up."""
    lab.cgw.initiate("cgw-net", timeout=10)
    wait_for(_has(lab.cgw, "giving up after"), 8)
    time.sleep(0.3)


def drive_collision(lab: Lab) -> None:
    """Both ends rekey the CHILD_SA at the same moment. Not every try collides: each try starts from fresh
    daemons (the kept log is the last try's), so the tries do not add up to a rekey rate of their own."""
    aws_child = next(iter(lab.aws.peer.children)) if lab.aws.peer else "aws-net"
    for attempt in range(8):
        if attempt:
            lab.restart()
        _up(lab)
        before = _count(lab.cgw, "established with SPIs")
        threads = [
            threading.Thread(target=lab.cgw.rekey_child, args=("cgw-net",)),
            threading.Thread(target=lab.aws.rekey_child, args=(aws_child,)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(lambda before=before: _count(lab.cgw, "established with SPIs") > before, 6)  # type: ignore[misc]
        time.sleep(0.5)
        if any("collision" in line or "detected rekeying" in line for line in lab.cgw.scenario_lines()):
            break
    time.sleep(0.5)


# --- libreswan drives -----------------------------------------------------------------------------


def drive_pluto_established(lab: Lab) -> None:
    """AWS brings up an IKE SA without a CHILD SA; DPD runs over it."""
    _aws_initiates_ike_sa(lab)
    if not wait_for(lambda: _count(lab.aws, "sending DPD request") >= 2, 6):
        raise AssertionError("DPD never ran")
    time.sleep(0.5)


def drive_pluto_dpd(lab: Lab) -> None:
    """Up (IKE SA only), then AWS hears nothing any more: AWS's DPD gives up."""
    _aws_initiates_ike_sa(lab)
    lab.aws.nft(_DROP.format(ports="{ 500, 4500 }"))
    if not wait_for(lambda: _has(lab.aws, "giving up after")() or _has(lab.aws, "DPD check timed out")(), 20):
        raise AssertionError("DPD never gave up")
    time.sleep(0.3)


def drive_pluto_initiate(lab: Lab) -> None:
    """pluto initiates once; whack returns when it fails or gives up."""
    lab.pluto.initiate("cgw", timeout=12)
    time.sleep(0.3)


# --- the cells ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One scenario, in one IKE version, on one gateway daemon, shipped one way."""

    scenario: str
    ike: int
    daemon: str  # "strongswan" | "libreswan"
    logger: Logger
    aws: Peer
    cgw: Peer | PlutoConn
    drive: Callable[[Lab], None]
    # What the gateway's log shows, at level 1 and 2 and through every shipper (None: healthy).
    expected: Expected
    # What a person reading the quiet (level 0) log would say it shows; the same unless stated.
    quiet: Expected | str = "same"
    ci: bool = False  # part of `make test`'s subset

    @property
    def key(self) -> str:
        """``<scenario>-ikev<N>`` for strongSwan, ``<scenario>-ikev<N>.libreswan`` for pluto."""
        return f"{self.scenario}-ikev{self.ike}" + ("" if self.daemon == "strongswan" else ".libreswan")

    @property
    def quiet_expected(self) -> Expected:
        """What the level-0 log should be classified as."""
        return self.expected if self.quiet == "same" else self.quiet  # type: ignore[return-value]

    @property
    def envelope(self) -> Envelope:
        """The shipped envelope kept as this cell's fixture (rotating over the matrix)."""
        envelopes = list(Envelope)
        return envelopes[sum(map(ord, self.key)) % len(envelopes)]


_V1_TIMERS = {"dpd_timeout": "3s"}  # IKEv1 DPD is not retransmitted: its own timeout (AWS: 30 s)
# As IKEv1 initiator charon sends one DH group per proposal (the first): AWS's long list would offer MODP1024
# only, which the gateways here refuse. The lab's AWS side offers the gateway's suite first, then AWS's list.
_V1_AWS = {"proposals": f"{CGW_IKE},{AWS_IKE_PROPOSALS}", "esp": f"{CGW_ESP},{AWS_ESP_PROPOSALS}"}


def _aws(version: int, extra: dict[str, str] | None = None) -> Peer:
    """The AWS endpoint in IKEv1 or IKEv2."""
    if version == 2:
        return aws_peer(extra=extra or {})
    return aws_peer(
        version=1,
        proposals=_V1_AWS["proposals"],
        children={"aws-net": Child(AWS_NET, CGW_NET, _V1_AWS["esp"])},
        extra={**_V1_TIMERS, **(extra or {})},
    )


def _pair(version: int, *, cgw: dict[str, Any] | None = None) -> tuple[Peer, Peer]:
    extra = _V1_TIMERS if version == 1 else {}
    c = cgw or {}
    return _aws(version), cgw_peer(version=version, extra={**extra, **c.pop("extra", {})}, **c)


def _child(**changes: Any) -> dict[str, Child]:
    return {"cgw-net": replace(Child(CGW_NET, AWS_NET, CGW_ESP), **changes)}


def _strongswan(version: int, index: int) -> list[Cell]:
    logger = Logger.JOURNAL if (index + version) % 2 else Logger.SYSLOG
    cgw_network = (Category.CGW_NETWORK, Cause.UDP500_BLOCKED)
    # IKEv1 has no CHILD_SA rekey of its own kind to fail on PFS: Quick Mode carries the DH group from the
    # first CHILD_SA, and the refusal (NO_PROPOSAL_CHOSEN) does not say which transform it was.
    pfs = (Category.IPSEC_PHASE2_FAILURE, Cause.PFS_MISMATCH if version == 2 else Cause.PROPOSAL_MISMATCH)
    rows: list[tuple[str, dict[str, Any], Callable[[Lab], None], Expected, bool]] = [
        ("established", {}, drive_established, None, version == 1),
        ("dpd_timeout", {}, drive_dpd, (Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE), version == 1),
        (
            "traffic_selector_mismatch",
            {
                "children": {
                    "cgw-net": Child(CGW_NET, AWS_NET, CGW_ESP),
                    "cgw-net2": Child("10.2.0.0/16", AWS_NET, CGW_ESP),
                }
            },
            drive_selectors,
            (Category.POLICY_BASED_VPN, Cause.TS_UNACCEPTABLE),
            version == 1,
        ),
        (
            "idle_timeout",
            {"children": _child(extra={"inactivity": "3s"})},
            drive_idle,
            (Category.IDLE_TIMEOUT, Cause.NO_TRAFFIC),
            version == 2,
        ),
        (
            "pfs_mismatch",
            {"children": _child(esp_proposals="aes128-sha256-modp1536")},
            drive_pfs,
            pfs,
            version == 2,
        ),
        (
            "lifetime_mismatch",
            {"children": _child(rekey_time="2s", life_time="3s")},
            drive_lifetime,
            (Category.REKEY_FAILURE, Cause.LIFETIME_MISMATCH),
            False,
        ),
        ("early_rekeys", {}, drive_early_rekeys, None, version == 1),
        (
            "nat_t_blocked",
            {"encap": True},
            lambda lab: (lab.aws.nft(_DROP.format(ports="4500")), drive_failed_ike(lab))[-1],
            (Category.CGW_NETWORK, Cause.NAT_T_BLOCKED),
            False,
        ),
        (
            "udp500_blocked",
            {},
            lambda lab: (lab.aws.nft(_DROP.format(ports="500")), drive_failed_ike(lab))[-1],
            cgw_network,
            version == 2,
        ),
        ("unreachable", {"remote": NOBODY}, drive_failed_ike, cgw_network, False),
        ("rekey_collision", {}, drive_collision, None, False),  # racy: how many tries, how many collisions
    ]
    cells = []
    for name, cgw, drive, expected, ci in rows:
        aws_conf, cgw_conf = _pair(version, cgw=dict(cgw))
        cells.append(Cell(name, version, "strongswan", logger, aws_conf, cgw_conf, drive, expected, ci=ci))
        logger = Logger.SYSLOG if logger is Logger.JOURNAL else Logger.JOURNAL
    return cells


def _libreswan(version: int) -> list[Cell]:
    aws = _aws(version)
    childless = _aws(version, _AWS_CHILDLESS)
    base = pluto_conn(ikev2=version == 2, logfile=False, retransmit_timeout="4s")
    # pluto logs neither what it sends nor what it receives (without debug): "No response (or no acceptable
    # response) to our first IKE message" cannot tell a blocked UDP 500 from a peer that refused.
    no_response = (Category.IKE_PHASE1_FAILURE, Cause.NO_RESPONSE)
    rows: list[tuple[str, Peer, PlutoConn, Callable[[Lab], None], Expected]] = [
        ("established", childless, base, drive_pluto_established, None),
        ("dpd_timeout", childless, base, drive_pluto_dpd, (Category.DPD_TIMEOUT, Cause.PEER_NOT_RESPONSIVE)),
        (
            "traffic_selector_mismatch",
            aws,
            replace(base, local_subnet="10.2.0.0/16"),
            drive_pluto_initiate,
            (Category.POLICY_BASED_VPN, Cause.TS_UNACCEPTABLE),
        ),
        (
            "nat_t_blocked",
            aws,
            replace(base, extra={"encapsulation": "yes"}),
            lambda lab: (lab.aws.nft(_DROP.format(ports="4500")), drive_pluto_initiate(lab))[-1],
            (Category.CGW_NETWORK, Cause.NAT_T_BLOCKED),
        ),
        (
            "udp500_blocked",
            aws,
            base,
            lambda lab: (lab.aws.nft(_DROP.format(ports="500")), drive_pluto_initiate(lab))[-1],
            no_response,
        ),
        ("unreachable", aws, replace(base, remote=NOBODY), drive_pluto_initiate, no_response),
    ]
    ci = {(2, "nat_t_blocked"), (1, "traffic_selector_mismatch")}
    return [
        # pluto with and without debug, alternating
        Cell(
            name,
            version,
            "libreswan",
            Logger.SYSLOG,
            a,
            replace(c, debug=(i + version) % 2 == 0),
            drive,
            exp,
            ci=(version, name) in ci,
        )
        for i, (name, a, c, drive, exp) in enumerate(rows)
    ]


# strongSwan: every scenario in both versions. libreswan: what needs no CHILD SA installed (pluto has no
# userspace ESP and this kernel no ESP): idle timeout, PFS, lifetime, early rekeys and collisions cannot run.
CELLS: tuple[Cell, ...] = (
    *_strongswan(2, 0),
    *_strongswan(1, 1),
    *_libreswan(2),
    *_libreswan(1),
)
CELLS_BY_KEY = {cell.key: cell for cell in CELLS}

# What comes out of the matrix that the classifier does not yet read as a person would: per cell, the outputs
# concerned (None: all of them) and why. The live test and the fixture test both require these to still
# fail (strict), so each entry goes when it is fixed. The quiet (level 0) gaps are QUIET_GAPS.
_SYSLOG_OUTPUTS = frozenset(
    e.value for e in Envelope if e not in (Envelope.JOURNAL_JSON,)
)  # charon-systemd's lines outside journald's own JSON: no IKE_SA_NAME
_NO_SA_NAME = (
    "charon-systemd's journal lines reach syslog without IKE_SA_NAME/IKE_SA_UNIQUE_ID, so no IKE SA ties them "
    "together: the 'sending packet' lines name the unreachable address and are kept apart from the stream's "
    "tunnel, and the unanswered first request is read as 'no response' instead of UDP 500 blocked (journald's "
    "JSON keeps the fields)"
)
_LEVEL2_HISTORY = (
    "at level 2 charon prints hundreds of lines (its jobs, sockets, payload parsing) between a request and the "
    "answer that fails it: the classifier's history (64 lines) no longer holds the request, so the failure loses "
    "its context (a PFS refusal reads as a plain proposal mismatch, an unanswered DPD as NAT-T blocked)"
)
GAPS: dict[str, tuple[frozenset[str] | None, str]] = {
    "unreachable-ikev1": (_SYSLOG_OUTPUTS, _NO_SA_NAME),
    "unreachable-ikev2": (_SYSLOG_OUTPUTS, _NO_SA_NAME),
    "nat_t_blocked-ikev1.libreswan": (
        None,
        "pluto 4.10's IKEv1 Main Mode I3 timeout says 'Possible authentication failure' (pluto.psk_mismatch); in "
        "IKEv1 a wrong key and a blocked UDP 4500 both leave message 5 unanswered, so the row guesses",
    ),
}
# Level-0 logs that show a failure only by what they lack: charon prints at level 0 no line that says it
# (an IKE SA initiated and never established, a CHILD_SA that never comes, a rekey never completed). The
# classifier infers such a failure from the connection's next starts (rules.never_established: 3 starts within
# 30 minutes; an IKE SA without a CHILD_SA is concluded at the next start), which tests/fixtures/lab/quiet's
# captures of gateways that retry for ever show. A matrix cell runs one attempt and stops the daemons, so its
# level-0 log ends at the first start: nothing in it proves the failure yet. Strict xfails: they stay gaps
# of the one-attempt capture, not of the classifier.
QUIET_GAPS = frozenset(
    cell.key
    for cell in CELLS
    if cell.daemon == "strongswan" and cell.quiet_expected is not None and cell.scenario != "lifetime_mismatch"
)


# Only through the ingest handler (the live lab), not through the classifier alone (the fixture test): the
# same lines give UDP 500 / NAT-T blocked there and "no response" here. Found in the merge: the live test ships
# each output as its own stream, whose tunnel IP (198.18.10x.1) is not the peer address charon's lines name
# (198.18.0.1); without an IKE SA name (charon-systemd's lines through syslog) the "sending packet" and
# "received packet" lines, which name that address, are kept in another history than the retransmits, so the
# unanswered request loses the ports. The fixture test's stream names the peer's address, as a gateway's
# stream named after the AWS tunnel IP does.
_STREAM_NOT_PEER = (
    "through the ingest handler, charon-systemd's lines shipped by syslog (no IKE SA name or number) under a "
    "stream whose tunnel IP is not the peer address the lines name: the packet lines are kept apart from the "
    "retransmits, so the unanswered request reads 'no response'; the classifier alone, with the stream named "
    "after the peer, reads NAT-T blocked (tests/unit/test_lab_matrix_fixtures.py)"
)
LIVE_GAPS: dict[str, tuple[frozenset[str] | None, str]] = {
    "nat_t_blocked-ikev2": (_SYSLOG_OUTPUTS, _STREAM_NOT_PEER),
    "nat_t_blocked-ikev1": (_SYSLOG_OUTPUTS, _STREAM_NOT_PEER),
}
# Level 2: which answers a verbose log may give instead of the expected one, and why (see _LEVEL2_HISTORY). How
# far the request is pushed out of the history depends on how much charon printed in between, so these are
# allowed, not required; any other answer fails. Healthy cells are listed where a DELETE ending a rekey loses
# the rekey it ends and reads as the peer closing the tunnel.
LEVEL2_TOLERATED: dict[str, frozenset[tuple[Category, Cause]]] = {
    "pfs_mismatch-ikev2": frozenset({(Category.IPSEC_PHASE2_FAILURE, Cause.PROPOSAL_MISMATCH)}),
    "pfs_mismatch-ikev1": frozenset({(Category.IKE_PHASE1_FAILURE, Cause.PROPOSAL_MISMATCH)}),
    "dpd_timeout-ikev2": frozenset({(Category.CGW_NETWORK, Cause.NAT_T_BLOCKED)}),
    "dpd_timeout-ikev1": frozenset({(Category.CGW_NETWORK, Cause.NAT_T_BLOCKED)}),
    # The request and the peer's answers on UDP 500 pushed out: an unanswered Main Mode reads as no response.
    "nat_t_blocked-ikev1": frozenset({(Category.IKE_PHASE1_FAILURE, Cause.NO_RESPONSE)}),
    # A DELETE that ends a rekey, with the rekey pushed out of the history, reads as the peer closing in order
    # (rules.peer_delete gives a gateway's context-less DELETE tunnel_closed/peer_closed since the quiet-log
    # change; before it, the row's own ipsec_phase2_failure/peer_delete).
    **{
        f"{name}-ikev{version}": frozenset({(Category.TUNNEL_CLOSED, Cause.PEER_CLOSED)})
        for name in ("early_rekeys", "rekey_collision", "established", "idle_timeout", "lifetime_mismatch")
        for version in (1, 2)
    },
}


def gap(cell: str, output: str, *, live: bool = False) -> str | None:
    """Why ``output`` of ``cell`` is not classified as expected yet (``None``: it must be); ``live``: through
    the ingest handler."""
    for table in (GAPS, LIVE_GAPS) if live else (GAPS,):
        outputs, reason = table.get(cell, (frozenset(), ""))
        if outputs is None or output in outputs:
            return reason
    return None


@dataclass
class Run:
    """What one cell's run produced on the customer gateway."""

    cell: Cell
    levels: dict[int, list[str]]  # charon's file logs since the mark (strongSwan only)
    shipped: dict[Envelope, list[str]]
    seconds: float


def run_cell(lab: Lab, cell: Cell) -> Run:
    """Run one cell from fresh daemons; the gateway's outputs (daemons stopped afterwards)."""
    started = time.monotonic()
    lab.start(cell.aws, cell.cgw, levels=True, logger=cell.logger)
    try:
        cell.drive(lab)
        side = lab.gateway(cell.cgw)
        levels = {} if cell.daemon == "libreswan" else {level: side.scenario_lines(level) for level in (0, 1, 2)}
        shipped = side.shipped()
    finally:
        lab.stop_daemons()
    for lines in (*levels.values(), *shipped.values()):
        if any(psk in line for psk in FAKE_PSKS for line in lines):
            raise AssertionError(f"{cell.key}: a pre-shared key reached the log")
    return Run(cell, levels, shipped, time.monotonic() - started)


def _pair_json(expected: Expected) -> dict[str, str] | None:
    return None if expected is None else {"category": expected[0].value, "cause": expected[1].value}


def save(run: Run) -> None:
    """Keep a run as fixtures: level 1 and one shipped envelope in matrix/, level 0 in matrix/level0/."""
    MATRIX.mkdir(parents=True, exist_ok=True)
    LEVEL0.mkdir(parents=True, exist_ok=True)
    cell = run.cell
    envelope = cell.envelope
    ext = "jsonl" if envelope in (Envelope.JOURNAL_JSON, Envelope.JSON_MESSAGE) else "log"
    (MATRIX / f"{cell.key}.{envelope.value}.{ext}").write_text("".join(f"{line}\n" for line in run.shipped[envelope]))
    if 1 in run.levels:
        (MATRIX / f"{cell.key}.level1.log").write_text("".join(f"{line}\n" for line in run.levels[1]))
    if 0 in run.levels:
        (LEVEL0 / f"{cell.key}.log").write_text("".join(f"{line}\n" for line in run.levels[0]))


def manifest() -> dict[str, Any]:
    """Every matrix fixture and what it must be classified as."""
    files: dict[str, Any] = {}
    for cell in CELLS:
        ext = "jsonl" if cell.envelope in (Envelope.JOURNAL_JSON, Envelope.JSON_MESSAGE) else "log"
        files[f"matrix/{cell.key}.{cell.envelope.value}.{ext}"] = {
            "cell": cell.key, "envelope": cell.envelope.value, "level": 1, "expected": _pair_json(cell.expected),
        }  # fmt: skip
        if cell.daemon == "strongswan":
            files[f"matrix/{cell.key}.level1.log"] = {
                "cell": cell.key, "envelope": "charon-filelog", "level": 1, "expected": _pair_json(cell.expected),
            }  # fmt: skip
            files[f"matrix/level0/{cell.key}.log"] = {
                "cell": cell.key, "envelope": "charon-filelog", "level": 0,
                "expected": _pair_json(cell.quiet_expected),
            }  # fmt: skip
    return files


def main(argv: list[str]) -> int:
    """Re-capture the named cells (all by default) and the manifest."""
    wanted = argv or [cell.key for cell in CELLS]
    with running_lab() as lab:
        for key in wanted:
            run = run_cell(lab, CELLS_BY_KEY[key])
            save(run)
            sizes = {str(k): len(v) for k, v in run.levels.items()}
            print(f"{key}: {run.seconds:.1f}s levels={sizes} shipped={len(run.shipped[Envelope.RSYSLOG_FILE])}")
    (FIXTURES / "matrix.json").write_text(json.dumps(manifest(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
