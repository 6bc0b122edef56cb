"""``ModifyVpnTunnelOptions`` / ``ReplaceVpnTunnel`` executor: sends one :class:`~vpn_doctor.remediation.Change`,
translates the answer (``ReplaceVpnTunnel`` for the action ``apply_pending_maintenance``, with
``ApplyPendingMaintenance``: EC2 API reference, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ReplaceVpnTunnel.html).

- Dry-run mode sends ``DryRun=True``: EC2 answers ``DryRunOperation`` when the call would have
  succeeded (permissions proven), which is a success here.
- "Not now" answers (connection modifying, incorrect state, throttling) become ``TRY_LATER``; refusals
  (access denied, unknown connection, invalid parameters) become ``FAILED``; AWS's code is kept.
- The client makes exactly one attempt: a throttled or busy connection is retried by the next event
  or post-check, never by a burst of calls.
- The response carries the tunnels' pre-shared keys: only :func:`vpn_doctor.vpn.connection_from_api`
  reads it, and only the changed options leave this module.
"""

from __future__ import annotations

from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import RETRYABLE_CODES
from vpn_doctor.constants import REMEDIATE_TAG
from vpn_doctor.models import RemediationAction, RemediationStatus
from vpn_doctor.remediation import ALLOWED_OPTIONS, Change, Execution, tunnel_options_summary
from vpn_doctor.vpn import connection_from_api

OPERATION: Final = "ModifyVpnTunnelOptions"
REPLACE: Final = "ReplaceVpnTunnel"
# The connection is busy (a modification in progress) or not in a state that allows changes.
_BUSY_CODES: Final = frozenset({"IncorrectState", "UnsupportedOperation", "IncorrectInstanceState"})
_DENIED_CODES: Final = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})
_NOT_FOUND_CODES: Final = frozenset({"InvalidVpnConnectionID.NotFound", "InvalidVpnConnectionId.NotFound"})
# One attempt only: retries belong to the next event, not to this call.
CLIENT_CONFIG: Final = Config(retries={"total_max_attempts": 1, "mode": "standard"})


class Ec2TunnelModifier:
    """Implements :class:`vpn_doctor.remediation.TunnelModifier` with boto3."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """The EC2 client (one attempt per call), created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("ec2", config=CLIENT_CONFIG)
        return self._client

    def modify(self, change: Change, *, dry_run: bool) -> Execution:
        """Send the change; never raises for an AWS answer (it becomes the execution's status)."""
        unexpected = set(change.tunnel_options) - ALLOWED_OPTIONS
        if unexpected:
            raise ValueError(f"vpn-doctor never changes {sorted(unexpected)}")
        replacing = change.action is RemediationAction.APPLY_PENDING_MAINTENANCE
        operation = REPLACE if replacing else OPERATION
        call = self.client.replace_vpn_tunnel if replacing else self.client.modify_vpn_tunnel_options
        try:
            response = call(**change.request, DryRun=dry_run)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            return translate_error(
                str(error.get("Code", "Unknown")),
                str(error.get("Message", "")),
                dry_run=dry_run,
                enabling_logging="LogOptions" in change.tunnel_options,
                operation=operation,
            )
        except BotoCoreError as exc:
            return Execution(
                RemediationStatus.TRY_LATER,
                f"{operation} could not reach EC2 ({type(exc).__name__}); nothing was changed, try later.",
                type(exc).__name__,
            )
        if replacing:
            accepted = bool(response.get("Return"))
            return Execution(
                RemediationStatus.APPLIED if accepted else RemediationStatus.FAILED,
                f"{REPLACE} {'accepted' if accepted else 'returned false'}: the tunnel is replaced now.",
                None if accepted else "ReturnFalse",
                after={"PendingMaintenanceApplied": accepted},
            )
        connection = connection_from_api(response.get("VpnConnection") or {"VpnConnectionId": change.vpn_connection_id})
        tunnel = connection.tunnel(change.tunnel_ip)
        return Execution(
            RemediationStatus.APPLIED,
            f"{OPERATION} accepted; connection state '{connection.state}'.",
            after=tunnel_options_summary(tunnel) if tunnel is not None else dict(change.tunnel_options),
        )


def translate_error(
    code: str, message: str, *, dry_run: bool, enabling_logging: bool = False, operation: str = OPERATION
) -> Execution:
    """The execution status for an EC2 error code (the message a person reads in the alert)."""
    if code == "DryRunOperation":
        # What a dry run checks: the ec2:<operation> permission on this connection, nothing more.
        return Execution(
            RemediationStatus.DRY_RUN,
            f"DryRun=True succeeded: ec2:{operation} is permitted on this connection; nothing was changed.",
        )
    if code in _BUSY_CODES or "modifying" in message.lower():
        return Execution(
            RemediationStatus.TRY_LATER,
            f"EC2 refused for now ({code}): the connection is being modified or is not available; "
            "nothing was changed, try later.",
            code,
        )
    if code in RETRYABLE_CODES:
        return Execution(
            RemediationStatus.TRY_LATER,
            f"EC2 throttled the request ({code}); nothing was changed and it is not retried at once.",
            code,
        )
    if code in _DENIED_CODES:
        # Say what IAM checks, not only the tag: the code already read the tag the way IAM does.
        logging = (
            "; enabling tunnel logging also needs the CloudWatch Logs log-delivery permissions "
            "(logs:CreateLogDelivery and the others the Site-to-Site VPN logging guide lists)"
            if enabling_logging
            else ""
        )
        said = message.split(" Encoded authorization failure message", maxsplit=1)[0][:200]
        return Execution(
            RemediationStatus.FAILED,
            f"Not allowed ({code}): the function's IAM policy allows ec2:{operation} only on monitored "
            f"connections tagged {REMEDIATE_TAG}=auto (or untagged in an auto deployment){logging}. "
            f"Nothing was changed. AWS said: {said}",
            code,
        )
    if code in _NOT_FOUND_CODES:
        return Execution(
            RemediationStatus.FAILED, f"The VPN connection no longer exists ({code}); nothing was changed.", code
        )
    what = "dry run" if dry_run else "modification"
    return Execution(RemediationStatus.FAILED, f"EC2 refused the {what} ({code}): {message[:200]}", code)
