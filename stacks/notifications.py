"""Notifications: the KMS-encrypted alert topic with its email subscriptions, and the notify function (Slack)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.function import Packaging, VpnDoctorFunction, queue
from stacks.incidents import IDEMPOTENCY_ACTIONS
from stacks.nag import acknowledge
from vpn_doctor.constants import (
    DETAIL_TYPE_ALERT,
    ENV_ALERT_TOPIC_ARN,
    ENV_CHATBOT_FORMAT,
    ENV_INCIDENTS_TABLE,
    ENV_SLACK_DLQ_URL,
    ENV_SLACK_SECRET_NAME,
    ENV_TUNNEL_LOG_GROUP_ARN,
    EVENT_SOURCE,
    SERVICE_NAME,
)

# Services that publish to the topic themselves: CloudWatch alarm actions and EventBridge rules users attach.
TOPIC_PUBLISHING_SERVICES = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


class Notifications(Construct):
    """Alert topic (email, optional Amazon Q Developer format) and the Slack notifier with its dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        bus: events.IEventBus,
        incidents_table: dynamodb.ITable,
        tunnel_log_group_arn: str,
        emails: Sequence[str],
        slack_secret_name: str | None,
        chatbot_format: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "TopicKey",
            description=f"{SERVICE_NAME} alert topic encryption",
            enable_key_rotation=True,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmAndEventPublishers",
                principals=[iam.ServicePrincipal(service) for service in TOPIC_PUBLISHING_SERVICES],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
            )
        )
        self.topic = sns.Topic(
            self, "AlertTopic", display_name="vpn-doctor alerts", master_key=self.key, enforce_ssl=True
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

        self.slack_dlq = queue(self, "SlackDeadLetterQueue", purpose="Slack messages undeliverable after retries")
        environment = {
            ENV_ALERT_TOPIC_ARN: self.topic.topic_arn,
            # Idempotency records (one alert, one message) live in the incidents table.
            ENV_INCIDENTS_TABLE: incidents_table.table_name,
            # Only for the Logs Insights link in alerts that name no log group; notify never reads logs.
            ENV_TUNNEL_LOG_GROUP_ARN: tunnel_log_group_arn,
            ENV_SLACK_DLQ_URL: self.slack_dlq.queue_url,
            ENV_CHATBOT_FORMAT: "true" if chatbot_format else "false",
        }
        if slack_secret_name:
            environment[ENV_SLACK_SECRET_NAME] = slack_secret_name
        self.notify = VpnDoctorFunction(
            self,
            "Notify",
            module="notify",
            description="Renders alerts to email (SNS) and Slack",
            packaging=packaging,
            environment=environment,
            timeout=Duration.seconds(60),
        )
        self.topic.grant_publish(self.notify.role)
        incidents_table.grant(self.notify.role, *IDEMPOTENCY_ACTIONS)
        acknowledge(
            self.notify.role,
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "Added by Topic.grant_publish, scoped to the topic's own key: publishing to an SSE-KMS topic needs a "
            "data key (GenerateDataKey and GenerateDataKeyWithoutPlaintext).",
        )
        self.slack_dlq.grant(self.notify.role, "sqs:SendMessage")
        if slack_secret_name:
            # Referenced by name only: the webhook URL is stored by the operator, never by the stack.
            secret = secretsmanager.Secret.from_secret_name_v2(self, "SlackSecret", slack_secret_name)
            # GetSecretValue only (grant_read adds DescribeSecret, which notify never calls); "-??????" is the
            # random suffix Secrets Manager appends to the name in the secret's ARN.
            self.notify.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[f"{secret.secret_arn}-??????"]
                )
            )
        events.Rule(
            self,
            "AlertRule",
            description="Every vpn-doctor alert goes to notify",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=[DETAIL_TYPE_ALERT]),
            targets=[
                targets.LambdaFunction(
                    self.notify.function, dead_letter_queue=self.notify.failure_queue, retry_attempts=4
                )
            ],
        )
