"""On-boarding: the scheduled ``onboard`` function that switches the watched tunnels' logging on, with its own role.

Not created when ``logging.enable`` is ``none``. The schedule is an EventBridge rule (``rate(5 minutes)``), like the
poller's: a rule invokes the function through the function's resource policy, so no extra role is needed, and a
run that finds nothing to do costs one ``DescribeVpnConnections`` and one ``Query`` per connection. (EventBridge
Scheduler would need an execution role the function's callers could pass; it adds nothing for a fixed rate.)

The role may call ``ec2:ModifyVpnTunnelOptions`` only on connections in the on-boarding scope (by the tag
``vpn-doctor:logging``, and ``vpn-doctor:monitor`` when monitoring is by tag, or the listed connections). IAM has
no condition key for ``LogOptions``: the code sends nothing else (the modify adapter refuses any other option).
Switching tunnel logging on also needs the log-delivery permissions, which EC2 exercises with the caller's
credentials ("IAM requirements to publish to CloudWatch Logs",
https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-logs.html); none of them has resource-level permissions
(Service Authorization Reference, CloudWatch Logs: resource ``*``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.function import Packaging, VpnDoctorFunction
from stacks.nag import acknowledge, nag_arn
from stacks.remediation import LOG_DELIVERY_ACTIONS
from vpn_doctor.constants import (
    ENV_INCIDENTS_TABLE,
    ENV_LOGGING_BGP,
    ENV_LOGGING_SCOPE,
    ENV_LOGGING_SIBLING_UP_SECONDS,
    ENV_LOGGING_WINDOW,
    ENV_TUNNEL_LOG_GROUP_ARN,
    LOGGING_TAG,
    MONITOR_TAG,
    LoggingScope,
    LoggingTag,
)

# What vpn_doctor.aws.onboarding_store does with the incidents table: read a connection's progress, mark a change
# in flight (conditional put), settle it (put, conditional delete), append audit lines.
ONBOARDING_STORE_ACTIONS = ("dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem")
SCHEDULE = events.Schedule.rate(Duration.minutes(5))


def scope_conditions(scope: LoggingScope, *, monitored_by_tag: bool) -> dict[str, dict[str, Any]]:
    """The IAM conditions matching the connections in the on-boarding scope (tag values compared exactly)."""
    tag = f"aws:ResourceTag/{LOGGING_TAG}"
    conditions: dict[str, dict[str, Any]] = (
        {"StringEquals": {tag: LoggingTag.ON.value}}
        if scope is LoggingScope.TAGGED
        # A negated operator matches when the tag is absent too (IAM user guide, condition operators).
        else {"StringNotEquals": {tag: LoggingTag.OFF.value}}
    )
    if monitored_by_tag:
        conditions["Null"] = {f"aws:ResourceTag/{MONITOR_TAG}": "false"}
    return conditions


class Onboarding(Construct):
    """The ``onboard`` function, its schedule and its role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        table: dynamodb.ITable,
        log_group_arn: str,
        logging_scope: LoggingScope,
        bgp: bool,
        window: str | None,
        monitor_environment: Mapping[str, str],
        vpn_ids: Sequence[str] = (),
        monitored_by_tag: bool = False,
        sibling_up_seconds: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if logging_scope is LoggingScope.NONE:
            raise ValueError("on-boarding with logging.enable 'none' creates nothing: do not build the construct")
        environment = {
            ENV_INCIDENTS_TABLE: table.table_name,
            ENV_TUNNEL_LOG_GROUP_ARN: log_group_arn,
            ENV_LOGGING_SCOPE: logging_scope.value,
            ENV_LOGGING_BGP: "true" if bgp else "false",
            **monitor_environment,
        }
        if window:
            environment[ENV_LOGGING_WINDOW] = window
        if sibling_up_seconds is not None:
            environment[ENV_LOGGING_SIBLING_UP_SECONDS] = str(sibling_up_seconds)
        self.onboard = VpnDoctorFunction(
            self,
            "Onboard",
            module="onboard",
            description="Switches the watched VPN tunnels' logging on, one tunnel of a connection at a time",
            packaging=packaging,
            environment=environment,
            timeout=Duration.seconds(60),
        )
        role = self.onboard.role
        table.grant(role, *ONBOARDING_STORE_ACTIONS)
        role.add_to_principal_policy(iam.PolicyStatement(actions=["ec2:DescribeVpnConnections"], resources=["*"]))
        connections = (
            [f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpn-connection/{vpn_id}" for vpn_id in vpn_ids]
            if vpn_ids
            else [f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpn-connection/*"]
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ModifyTunnelLoggingInOnboardingScope",
                actions=["ec2:ModifyVpnTunnelOptions"],
                resources=connections,
                conditions=scope_conditions(logging_scope, monitored_by_tag=monitored_by_tag),
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="DeliverTunnelLogs", actions=list(LOG_DELIVERY_ACTIONS), resources=["*"])
        )
        if not vpn_ids:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{nag_arn('ec2', 'vpn-connection/*')}]",
                f"ModifyVpnTunnelOptions is limited by condition on the {LOGGING_TAG} tag (and {MONITOR_TAG} when "
                "monitoring by tag); with monitor scope all/tag the connection ids are not known at deploy time.",
            )
        self.rule = events.Rule(
            self,
            "Schedule",
            description="vpn-doctor on-boarding: switch the watched tunnels' logging on",
            schedule=SCHEDULE,
            # No retries: the next run is five minutes away and picks up where this one stopped.
            targets=[
                targets.LambdaFunction(
                    self.onboard.function, dead_letter_queue=self.onboard.failure_queue, retry_attempts=0
                )
            ],
        )
