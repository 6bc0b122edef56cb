"""The watchdog: a scheduled function that alerts when vpn-doctor itself stops seeing the tunnels or telling people."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.function import Packaging, VpnDoctorFunction
from stacks.ingestion import log_group_arn
from stacks.nag import acknowledge, nag_arn
from vpn_doctor.constants import (
    ENV_ALERT_TOPIC_ARN,
    ENV_INCIDENTS_TABLE,
    ENV_INGEST_FUNCTION_ARN,
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_POLLER_FUNCTION_NAME,
    ENV_WATCHDOG_POLLER_QUIET_MINUTES,
    ENV_WATCHDOG_QUIET_HOURS,
    ENV_WATCHED_LOG_GROUPS,
)

# Every 15 minutes: a stopped poller is noticed within 15 minutes of its window (three missed runs), a silent tunnel
# within 15 minutes of its quiet period; 2,880 runs a month (README, "Watchdog", for the cost).
SCHEDULE = Duration.minutes(15)
# What the watchdog store (vpn_doctor.aws.watchdog.DynamoDbWatchdogStore) does in the incidents table.
WATCHDOG_STORE_ACTIONS = (
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)


class Watchdog(Construct):
    """The watchdog function, its least-privilege role and its schedule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        incidents_table: dynamodb.ITable,
        topic: sns.ITopic,
        log_group_names: Sequence[str],
        ingest: VpnDoctorFunction,
        poller: VpnDoctorFunction,
        monitor_scope: str,
        monitor_vpn_ids: Sequence[str],
        quiet_hours: int,
        poll_interval_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.watchdog = VpnDoctorFunction(
            self,
            "Watchdog",
            module="watchdog",
            description="Alerts when vpn-doctor stops seeing tunnel logs or telemetry, or cannot alert",
            packaging=packaging,
            environment={
                ENV_INCIDENTS_TABLE: incidents_table.table_name,
                ENV_ALERT_TOPIC_ARN: topic.topic_arn,
                ENV_WATCHED_LOG_GROUPS: ",".join(log_group_names),
                ENV_INGEST_FUNCTION_ARN: ingest.function.function_arn,
                ENV_POLLER_FUNCTION_NAME: poller.function.function_name,
                ENV_MONITOR_SCOPE: monitor_scope,
                ENV_MONITOR_VPN_IDS: ",".join(monitor_vpn_ids),
                ENV_WATCHDOG_QUIET_HOURS: str(quiet_hours),
                # The poller is stopped when it missed about three of its runs (at least 15 minutes).
                ENV_WATCHDOG_POLLER_QUIET_MINUTES: str(max(15, 3 * poll_interval_minutes)),
            },
            timeout=Duration.seconds(60),
        )
        role = self.watchdog.role
        incidents_table.grant(role, *WATCHDOG_STORE_ACTIONS)
        topic.grant_publish(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "Added by Topic.grant_publish, scoped to the topic's own key: publishing to an SSE-KMS topic needs a "
            "data key (GenerateDataKey and GenerateDataKeyWithoutPlaintext).",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:ListSubscriptionsByTopic"], resources=[topic.topic_arn])
        )
        arns = [log_group_arn(name) for name in log_group_names]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:DescribeLogStreams", "logs:DescribeSubscriptionFilters"],
                resources=[resource for arn in arns for resource in (arn, f"{arn}:*")],
            )
        )
        for name in log_group_names:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{nag_arn('logs', f'log-group:{name}')}:*]",
                "Read-only DescribeLogStreams/DescribeSubscriptionFilters on the watched tunnel log groups.",
            )
        # The poller's AWS/Lambda Invocations (GetMetricData has no resource-level permissions), the watched tunnels.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]))
        self.watchdog.grant_vpn_read()
        events.Rule(
            self,
            "Schedule",
            description="vpn-doctor watchdog",
            schedule=events.Schedule.rate(SCHEDULE),
            targets=[
                targets.LambdaFunction(
                    self.watchdog.function, dead_letter_queue=self.watchdog.failure_queue, retry_attempts=0
                )
            ],
        )
