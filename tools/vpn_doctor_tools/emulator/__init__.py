"""An embedded AWS for the demo and the integration tests: moto's server plus what moto lacks.

``with emulate() as emulator:`` starts moto's HTTP server on a free loopback port with the VPN
extension (:mod:`.ec2_vpn`) installed, a local Slack webhook receiver (:mod:`.slack`), and local
PagerDuty Events API v2 and Teams Workflows webhook receivers (:mod:`.receivers`).
Clients reach it through ``emulator.environment()`` (``AWS_ENDPOINT_URL``, region, fake
credentials) or ``emulator.client(service)``. Everything is torn down on exit, also on Ctrl-C,
SIGTERM or an exception.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, Final

import boto3
from moto.server import ThreadedMotoServer

from vpn_doctor_tools.emulator.ec2_vpn import RecordedCall, VpnEmulation
from vpn_doctor_tools.emulator.receivers import PagerDutyReceiver, TeamsReceiver
from vpn_doctor_tools.emulator.slack import SlackPost, SlackReceiver

__all__ = [
    "Emulator",
    "PagerDutyReceiver",
    "RecordedCall",
    "SlackPost",
    "SlackReceiver",
    "TeamsReceiver",
    "VpnEmulation",
    "emulate",
    "patched_environment",
]

DEFAULT_REGION: Final = "eu-west-1"
ACCOUNT_ID: Final = "123456789012"  # moto's default account
# Fake credentials: moto accepts any; these make sure no real credentials are ever used.
_FAKE_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
# Variables that could point clients at a real account or a proxy while the emulator runs.
_CLEARED: Final = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


@dataclass(slots=True)
class Emulator:
    """A running emulator: endpoint, region, the VPN extension and the Slack receiver."""

    endpoint_url: str
    region: str
    vpn: VpnEmulation
    slack: SlackReceiver
    pagerduty: PagerDutyReceiver
    teams: TeamsReceiver
    account_id: str = ACCOUNT_ID
    # The credentials clients sign with: moto files every call under the account they belong to (its default
    # account for the fake ones; an assumed role's account for :meth:`in_account`'s).
    credentials: Mapping[str, str] = field(default_factory=lambda: dict(_FAKE_CREDENTIALS))
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def environment(self) -> dict[str, str]:
        """Environment variables that point boto3 (and the handlers) at the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **self.credentials,
        }

    def in_account(self, account_id: str, region: str) -> Emulator:
        """The same emulator seen from another account and region: credentials of a role assumed in ``account_id``
        (STS ``AssumeRole``; moto files every call signed with them under that account), the same receivers."""
        role = f"arn:aws:iam::{account_id}:role/vpn-doctor-demo"
        issued = self.client("sts").assume_role(RoleArn=role, RoleSessionName="vpn-doctor-demo")["Credentials"]
        credentials = {
            "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
            "AWS_SESSION_TOKEN": issued["SessionToken"],
            "AWS_SECURITY_TOKEN": issued["SessionToken"],
        }
        return replace(self, region=region, account_id=account_id, credentials=credentials, _clients={})

    def client(self, service: str) -> Any:
        """A boto3 client for the emulator (explicit endpoint, region and fake credentials), reused."""
        if service in self._clients:
            return self._clients[service]
        client = self._clients[service] = boto3.session.Session(
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.credentials["AWS_SESSION_TOKEN"],
            region_name=self.region,
        ).client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
        return client

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL built above
            pass


@contextmanager
def emulate(*, region: str = DEFAULT_REGION, modifying_seconds: float = 2.0) -> Iterator[Emulator]:
    """Run the emulator for the duration of a ``with`` block; tear everything down afterwards."""
    vpn = VpnEmulation(modifying_seconds=modifying_seconds)
    slack, pagerduty, teams = SlackReceiver(), PagerDutyReceiver(), TeamsReceiver()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with _terminate_as_interrupt(), _quiet_request_log(), vpn.installed():
        server.start()
        try:
            for receiver in (slack, pagerduty, teams):
                receiver.start()
            host, port = server.get_host_and_port()
            emulator = Emulator(
                endpoint_url=f"http://{host}:{port}",
                region=region,
                vpn=vpn,
                slack=slack,
                pagerduty=pagerduty,
                teams=teams,
            )
            # moto's state is process-wide: start clean, and leave nothing behind.
            emulator.reset()
            try:
                yield emulator
            finally:
                emulator.reset()
        finally:
            for receiver in (slack, pagerduty, teams):
                receiver.stop()
            server.stop()


@contextmanager
def patched_environment(values: Mapping[str, str], *, clear: tuple[str, ...] = _CLEARED) -> Iterator[None]:
    """Set environment variables for a ``with`` block and restore the previous values afterwards."""
    saved = {name: os.environ.get(name) for name in (*values, *clear)}
    try:
        for name in clear:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _quiet_request_log() -> Iterator[None]:
    """moto's server logs every request through werkzeug: the demo prints what matters instead."""
    werkzeug = logging.getLogger("werkzeug")
    previous = werkzeug.level
    werkzeug.setLevel(logging.ERROR)
    try:
        yield
    finally:
        werkzeug.setLevel(previous)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the ``finally`` blocks tear the emulator down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
