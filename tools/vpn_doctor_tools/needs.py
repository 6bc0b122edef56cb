"""What each vpn-doctor function calls in AWS, and on what: the list ``vpn-doctor selftest`` checks each deployed
role against with ``iam:SimulatePrincipalPolicy``.

It is kept equal to what the functions really call by the grants contract
(``tests/infra/test_grants_contract.py``, ``test_selftest_needs_are_what_each_function_calls``): the calls the demo
records, the documented implicit permissions and the grants listed there as not exercised by the demo. A new call
fails that test until it is added here.

A resource is ``"*"`` (the action has no resource-level permissions), ``env:<variable>`` (the resource the
function's own environment names: a table, a bus, a topic, a queue, a log group, a secret, a role), or one of
:data:`PATTERNS` (a resource the function names at run time).
"""

from __future__ import annotations

from typing import Final

from vpn_doctor.constants import (
    ENV_ALERT_TOPIC_ARN,
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_POST_CHECK_ROLE_ARN,
    ENV_REMEDIATION_TABLE,
    ENV_SLACK_DLQ_URL,
    ENV_SLACK_SECRET_NAME,
    ENV_TUNNEL_LOG_GROUP_ARN,
    ENV_WATCHED_LOG_GROUPS,
)

# What enabling tunnel logging needs besides ec2:ModifyVpnTunnelOptions (log delivery, resource "*" only):
# https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-logs.html
TUNNEL_LOG_DELIVERY: Final = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
SCHEDULE: Final = "schedule"  # a one-time post-check schedule (vpn_doctor.aws.scheduler.NAME_PREFIX)
VPN_CONNECTION: Final = "vpn-connection"  # a watched connection, tagged for remediation
WATCHED_CONNECTION: Final = "watched-connection"  # any watched connection (read-only calls)
CERTIFICATE: Final = "certificate"  # an ACM certificate a watched tunnel authenticates with
PATTERNS: Final = (SCHEDULE, VPN_CONNECTION, WATCHED_CONNECTION, CERTIFICATE)

Need = tuple[str, str]  # (IAM action, resource)


def _env(variable: str) -> str:
    return f"env:{variable}"


_INCIDENTS = _env(ENV_INCIDENTS_TABLE)
_INCIDENT_STORE: Final = tuple(
    (f"dynamodb:{action}", _INCIDENTS) for action in ("BatchGetItem", "DeleteItem", "PutItem", "Query")
)
_BUS = ("events:PutEvents", _env(ENV_EVENT_BUS_NAME))
_LOOK_BACK = ("logs:FilterLogEvents", _env(ENV_TUNNEL_LOG_GROUP_ARN))
_READ_VPN = (("ec2:DescribeVpnConnections", "*"), ("ec2:DescribeCustomerGateways", "*"))

#: Per handler module (``handlers.<module>``): every call it makes, and on what.
NEEDS: Final[dict[str, tuple[Need, ...]]] = {
    # GetItem: the connection map item alone (dynamodb:LeadingKeys), to attribute gateway lines.
    "ingest": (*_INCIDENT_STORE, ("dynamodb:GetItem", _INCIDENTS), _BUS, _LOOK_BACK),
    "state": (*_INCIDENT_STORE, ("dynamodb:Query", _env(ENV_REMEDIATION_TABLE)), _BUS, _LOOK_BACK, *_READ_VPN),
    "poller": (
        *_INCIDENT_STORE,
        ("dynamodb:Scan", _INCIDENTS),  # once per table: outbox entries the previous layout left (upgrade)
        ("dynamodb:GetItem", _INCIDENTS),  # the connection map, read once per container to write it only on change
        ("dynamodb:Query", _env(ENV_REMEDIATION_TABLE)),
        _BUS,
        _LOOK_BACK,
        *_READ_VPN,
        ("cloudwatch:GetMetricData", "*"),
        # The warnings ahead of time (vpn_doctor.app.ahead): pending endpoint maintenance, certificates' expiry.
        ("ec2:GetVpnTunnelReplacementStatus", WATCHED_CONNECTION),
        ("acm:DescribeCertificate", CERTIFICATE),
    ),
    "respond": (
        *(
            (f"dynamodb:{action}", _env(ENV_REMEDIATION_TABLE))
            for action in ("GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem")
        ),
        _BUS,
        *_READ_VPN,
        ("cloudwatch:GetMetricData", "*"),
        # AWS's sample configuration for the gateway's device type, quoted in the alert (vpn_doctor.app.samples).
        ("ec2:GetVpnConnectionDeviceTypes", "*"),
        ("ec2:GetVpnConnectionDeviceSampleConfiguration", "*"),
        ("ec2:ModifyVpnTunnelOptions", VPN_CONNECTION),
        # remediation's apply_pending_maintenance, granted only where apply_pending_maintenance_window is set
        ("ec2:ReplaceVpnTunnel", VPN_CONNECTION),
        *((action, "*") for action in TUNNEL_LOG_DELIVERY),  # remediation's enable_tunnel_logging
        ("scheduler:CreateSchedule", SCHEDULE),
        ("iam:PassRole", _env(ENV_POST_CHECK_ROLE_ARN)),
    ),
    "notify": (
        # GetItem and PutItem serve the roll-up's connection records and storm detector too (vpn_doctor.app.rollup).
        *((f"dynamodb:{action}", _INCIDENTS) for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")),
        ("sns:Publish", _env(ENV_ALERT_TOPIC_ARN)),
        ("secretsmanager:GetSecretValue", _env(ENV_SLACK_SECRET_NAME)),
        ("sqs:SendMessage", _env(ENV_SLACK_DLQ_URL)),
    ),
    "post_check": (*_READ_VPN, _BUS),
    # Not run by the demo: its calls are recorded in tests/infra/test_report.py against its role.
    "report": (
        *(
            (f"dynamodb:{action}", _INCIDENTS)
            for action in ("Scan", "Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem")
        ),
        ("dynamodb:Query", _env(ENV_REMEDIATION_TABLE)),
        ("sns:Publish", _env(ENV_ALERT_TOPIC_ARN)),
        # The report's summary to the chat channels (Slack, as notify's needs list it; skipped when not configured).
        ("secretsmanager:GetSecretValue", _env(ENV_SLACK_SECRET_NAME)),
        ("sqs:SendMessage", _env(ENV_SLACK_DLQ_URL)),
    ),
    # Not run by the demo: its calls are recorded in tests/infra/test_onboarding.py against its role.
    "onboard": (
        *((f"dynamodb:{action}", _INCIDENTS) for action in ("Query", "PutItem", "DeleteItem")),
        ("ec2:DescribeVpnConnections", "*"),
        ("ec2:ModifyVpnTunnelOptions", VPN_CONNECTION),
        *((action, "*") for action in TUNNEL_LOG_DELIVERY),
    ),
    "watchdog": (
        *((f"dynamodb:{action}", _INCIDENTS) for action in ("Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem")),
        ("sns:Publish", _env(ENV_ALERT_TOPIC_ARN)),
        ("sns:ListSubscriptionsByTopic", _env(ENV_ALERT_TOPIC_ARN)),
        ("logs:DescribeLogStreams", _env(ENV_WATCHED_LOG_GROUPS)),
        ("logs:DescribeSubscriptionFilters", _env(ENV_WATCHED_LOG_GROUPS)),
        ("cloudwatch:GetMetricData", "*"),
        *_READ_VPN,
    ),
    # A spoke's only (docs/estate.md): the hub's silences copied (GetItem, PutItem), held incidents remembered
    # (PutItem) or forgotten (DeleteItem), once-records of held alerts (Powertools idempotency). Checked against its
    # role in tests/infra/test_estate.py.
    "estate_sync": tuple(
        (f"dynamodb:{action}", _INCIDENTS) for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
    ),
}
