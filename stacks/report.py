"""The periodic report: the scheduled ``report`` function, its weekly rule and its role.

Its own function rather than a second job for the poller or notify: it runs once a week, reads the whole
incidents table (a ``Scan``, see ``vpn_doctor/aws/report_reader.py``) which no other function may, and publishes
to the alert topic; giving either of those functions that read would widen a role that runs every minute.

The schedule is an EventBridge rule (a ``cron`` expression in UTC, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html),
like the poller's and on-boarding's: a rule invokes the function through the function's resource policy, so no
role is needed. A failed run (the read or the publish failed) is retried by EventBridge, then kept in the
function's failure queue; the publish is at most once per scheduled event (an idempotency record in the
incidents table).

The role: ``dynamodb:Scan`` on the incidents table (the tunnels' records and incidents), ``dynamodb:Query`` on it
(the on-boarding audit), the idempotency record's calls on it, ``dynamodb:Query`` on the remediation table (the
remediation audit) when there is one, and ``sns:Publish`` on the alert topic with its key's data key; for each
configured chat channel (Slack, Teams), the grants notify has for it: ``secretsmanager:GetSecretValue`` on its
secret and ``sqs:SendMessage`` to its dead-letter queue (the report's summary goes there too).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.function import Packaging, VpnDoctorFunction
from stacks.incidents import IDEMPOTENCY_ACTIONS
from stacks.nag import acknowledge
from stacks.notifications import ChannelResources
from vpn_doctor.constants import (
    ENV_ALERT_TOPIC_ARN,
    ENV_CHATBOT_FORMAT,
    ENV_FLAP_TRANSITIONS,
    ENV_INCIDENTS_TABLE,
    ENV_REMEDIATION_TABLE,
    ENV_REPORT_PERIOD_DAYS,
)

# Mondays 08:00 UTC: the report of the week that just ended.
SCHEDULE = events.Schedule.cron(minute="0", hour="8", week_day="MON")
REPORT_PERIOD_DAYS = 7


class Report(Construct):
    """The ``report`` function, its weekly schedule and its role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        incidents_table: dynamodb.ITable,
        remediation_table: dynamodb.ITable | None,
        topic: sns.ITopic,
        chatbot_format: bool,
        flap_transitions: int,
        chat_channels: Sequence[ChannelResources] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            ENV_INCIDENTS_TABLE: incidents_table.table_name,
            ENV_ALERT_TOPIC_ARN: topic.topic_arn,
            ENV_CHATBOT_FORMAT: "true" if chatbot_format else "false",
            ENV_FLAP_TRANSITIONS: str(flap_transitions),
            ENV_REPORT_PERIOD_DAYS: str(REPORT_PERIOD_DAYS),
        }
        if remediation_table is not None:
            environment[ENV_REMEDIATION_TABLE] = remediation_table.table_name
        for channel in chat_channels:  # the chat channels' variables, as notify has them
            environment.update(channel.environment)
        self.report = VpnDoctorFunction(
            self,
            "Report",
            module="report",
            description="Weekly report (availability, incidents, recovery, changes) to the alert topic and chats",
            packaging=packaging,
            environment=environment,
            timeout=Duration.seconds(120),
        )
        role = self.report.role
        incidents_table.grant(role, "dynamodb:Scan", "dynamodb:Query", *IDEMPOTENCY_ACTIONS)
        if remediation_table is not None:
            remediation_table.grant(role, "dynamodb:Query")
        topic.grant_publish(role)
        for channel in chat_channels:
            channel.grant(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "Added by Topic.grant_publish, scoped to the topic's own key: publishing to an SSE-KMS topic needs a "
            "data key (GenerateDataKey and GenerateDataKeyWithoutPlaintext).",
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            description="vpn-doctor weekly report",
            schedule=SCHEDULE,
            targets=[
                targets.LambdaFunction(
                    self.report.function, dead_letter_queue=self.report.failure_queue, retry_attempts=2
                )
            ],
        )
