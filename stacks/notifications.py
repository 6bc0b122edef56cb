"""Notifications: the notify function and its channels' resources, built from the configured channels.

Each channel's stack side is a small class that creates its resources in this construct's scope
(so their logical ids stay those of the resources they replaced) and tells the notify function what
it needs: environment variables, grants, and a dead-letter queue for the operations alarms. A new
channel is one such class (or an instance of an existing one, e.g. another webhook) appended to the
list below, from one config key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from aws_cdk import Aws, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import VpnDoctorConfig
from stacks.function import Packaging, VpnDoctorFunction, queue
from stacks.incidents import IDEMPOTENCY_ACTIONS
from stacks.nag import acknowledge
from vpn_doctor.constants import (
    DETAIL_TYPE_ALERT,
    ENV_ALERT_TOPIC_ARN,
    ENV_CHATBOT_FORMAT,
    ENV_INCIDENTS_TABLE,
    ENV_OPSGENIE_API_URL,
    ENV_OPSGENIE_DLQ_URL,
    ENV_OPSGENIE_SECRET_NAME,
    ENV_PAGERDUTY_DLQ_URL,
    ENV_PAGERDUTY_SECRET_NAME,
    ENV_ROUTING,
    ENV_SLACK_DLQ_URL,
    ENV_SLACK_SECRET_NAME,
    ENV_STORM_CONNECTIONS,
    ENV_STORM_WINDOW_SECONDS,
    ENV_TEAMS_DLQ_URL,
    ENV_TEAMS_SECRET_NAME,
    ENV_TUNNEL_LOG_GROUP_ARN,
    EVENT_SOURCE,
    OPSGENIE_EU_API_URL,
    SERVICE_NAME,
)

# Services that publish to the encrypted topic themselves need the key: CloudWatch alarm actions (the operations
# alarms) and EventBridge rules users attach ("Enable compatibility between event sources from AWS services and
# encrypted topics", https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
ALARM_PUBLISHER = "cloudwatch.amazonaws.com"
EVENT_PUBLISHER = "events.amazonaws.com"


def alarms_of_this_account() -> dict[str, dict[str, str]]:
    """The condition naming CloudWatch alarms of this account and region as the source of a request.

    CloudWatch sends the alarm's ARN as ``aws:SourceArn`` (the knowledge-center statement below scopes by it) and
    its account as ``aws:SourceAccount`` (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
    """
    return {
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"},
    }


class ChannelResources(Protocol):
    """A channel's side of the stack, as the notify function sees it."""

    @property
    def name(self) -> str:
        """Names the channel's resources and alarms."""
        ...

    @property
    def environment(self) -> Mapping[str, str]:
        """The notify function's variables for this channel (names from ``vpn_doctor.constants``)."""
        ...

    @property
    def dead_letter_queue(self) -> sqs.IQueue | None:
        """Where undeliverable messages wait (alarmed on), if the channel has one."""
        ...

    def grant(self, role: iam.IRole) -> None:
        """Let the notify function send on this channel."""
        ...


class AlertTopicChannel:
    """The KMS-encrypted alert topic with its e-mail subscriptions; optionally in Amazon Q Developer format."""

    name = "AlertTopic"
    dead_letter_queue = None  # a failed publish fails notify: the event is retried, then kept by notify's own DLQ

    def __init__(self, scope: Construct, *, emails: Sequence[str], chatbot_format: bool) -> None:
        self.key = kms.Key(
            scope, "TopicKey", description=f"{SERVICE_NAME} alert topic encryption", enable_key_rotation=True
        )
        # CloudWatch acts for an alarm: only this account's alarms of this region may use the key (the
        # confused-deputy keys, https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html; KMS
        # supports every global condition key, https://docs.aws.amazon.com/kms/latest/developerguide/conditions-aws.html).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal(ALARM_PUBLISHER)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions=alarms_of_this_account(),
            )
        )
        # Not scoped the same way: for EventBridge delivering to an encrypted topic, aws:SourceAccount/aws:SourceArn
        # are reported not to be supported in the key policy (AWS's own CDK constructs say so, citing the SNS page
        # above: aws.github.io/modern-data-architecture-accelerator, grantCloudWatchAlarmsTopicAccess); a condition
        # that the request never carries would drop every event silently. No rule of this stack targets the topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventRules",
                principals=[iam.ServicePrincipal(EVENT_PUBLISHER)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            scope, "AlertTopic", display_name="vpn-doctor alerts", master_key=self.key, enforce_ssl=True
        )
        # enforce_ssl's Deny becomes the topic's whole policy, replacing SNS's default one: without this Allow no
        # alarm can publish ("... is not authorized to perform: SNS:Publish", with the statement AWS gives,
        # https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger), scoped like the key's.
        # No EventBridge rule of this stack targets the topic, so EventBridge is given nothing here.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal(ALARM_PUBLISHER)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=alarms_of_this_account(),
            )
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.environment = {
            ENV_ALERT_TOPIC_ARN: self.topic.topic_arn,
            ENV_CHATBOT_FORMAT: "true" if chatbot_format else "false",
        }

    def grant(self, role: iam.IRole) -> None:
        """``sns:Publish`` on the topic, and the data key its encryption needs."""
        self.topic.grant_publish(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "Added by Topic.grant_publish, scoped to the topic's own key: publishing to an SSE-KMS topic needs a "
            "data key (GenerateDataKey and GenerateDataKeyWithoutPlaintext).",
        )


# The channels whose chats get the weekly report too (vpn_doctor.render.report.REPORT_LAYOUTS), by construct name.
CHAT_CHANNELS = ("Slack", "Teams")


class WebhookChannel:
    """A webhook channel (Slack, Teams; PagerDuty's routing key alike): its credential a secret the operator
    stores, read by name; a dead-letter queue."""

    def __init__(
        self, scope: Construct, name: str, *, secret_name: str, secret_variable: str, queue_variable: str
    ) -> None:
        self.name = name
        self.dead_letter_queue: sqs.IQueue = queue(
            scope, f"{name}DeadLetterQueue", purpose=f"{name} messages undeliverable after retries"
        )
        # Referenced by name only: the webhook URL is stored by the operator, never by the stack.
        self.secret = secretsmanager.Secret.from_secret_name_v2(scope, f"{name}Secret", secret_name)
        self.environment = {secret_variable: secret_name, queue_variable: self.dead_letter_queue.queue_url}

    def grant(self, role: iam.IRole) -> None:
        """Read the secret; park what the webhook refuses (exactly the calls notify makes)."""
        # GetSecretValue only (grant_read adds DescribeSecret, which notify never calls); "-??????" is the
        # random suffix Secrets Manager appends to the name in the secret's ARN.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=[f"{self.secret.secret_arn}-??????"]
            )
        )
        self.dead_letter_queue.grant(role, "sqs:SendMessage")


def opsgenie_channel(scope: Construct, config: VpnDoctorConfig) -> WebhookChannel | None:
    """Opsgenie's resources when configured: its key's secret by name, its queue, and the API of the account's
    instance (https://docs.opsgenie.com/docs/alert-api: EU accounts use https://api.eu.opsgenie.com)."""
    if not config.opsgenie_secret_name:
        return None
    channel = WebhookChannel(
        scope,
        "Opsgenie",
        secret_name=config.opsgenie_secret_name,
        secret_variable=ENV_OPSGENIE_SECRET_NAME,
        queue_variable=ENV_OPSGENIE_DLQ_URL,
    )
    if config.opsgenie_region == "eu":
        channel.environment[ENV_OPSGENIE_API_URL] = OPSGENIE_EU_API_URL
    return channel


def optional_channels(scope: Construct, config: VpnDoctorConfig) -> list[ChannelResources]:
    """The channels beside the alert topic that the deploy configuration turns on: one entry each."""
    candidates: list[ChannelResources | None] = [
        WebhookChannel(
            scope,
            "Slack",
            secret_name=config.slack_secret_name,
            secret_variable=ENV_SLACK_SECRET_NAME,
            queue_variable=ENV_SLACK_DLQ_URL,
        )
        if config.slack_secret_name
        else None,
        WebhookChannel(
            scope,
            "Teams",
            secret_name=config.teams_secret_name,
            secret_variable=ENV_TEAMS_SECRET_NAME,
            queue_variable=ENV_TEAMS_DLQ_URL,
        )
        if config.teams_secret_name
        else None,
        WebhookChannel(
            scope,
            "PagerDuty",
            secret_name=config.pagerduty_secret_name,
            secret_variable=ENV_PAGERDUTY_SECRET_NAME,
            queue_variable=ENV_PAGERDUTY_DLQ_URL,
        )
        if config.pagerduty_secret_name
        else None,
        opsgenie_channel(scope, config),
    ]
    return [channel for channel in candidates if channel is not None]


def owner_secrets(scope: Construct, config: VpnDoctorConfig, role: iam.IRole) -> list[str]:
    """Each owner's own webhook URL or routing key (``routing.owners.<owner>.secrets``), referenced by name as the
    channels' own are (the operator stores the value, never the stack): notify reads exactly those. Returns their
    ARN patterns (empty: no owner names one)."""
    names = sorted(set(config.routing.owner_secrets.values())) if config.routing is not None else []
    arns = [
        # "-??????": the random suffix Secrets Manager appends to the name in the secret's ARN.
        f"{secretsmanager.Secret.from_secret_name_v2(scope, f'OwnerSecret{index}', name).secret_arn}-??????"
        for index, name in enumerate(names)
    ]
    if arns:
        role.add_to_principal_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=arns))
    return arns


class Notifications(Construct):
    """The configured channels' resources, and the notify function that sends every alert on them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        bus: events.IEventBus,
        incidents_table: dynamodb.ITable,
        tunnel_log_group_arn: str,
        config: VpnDoctorConfig,
        sends_alerts: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        # The topic is always there: the operations alarms publish to it too.
        alert_topic = AlertTopicChannel(self, emails=config.notification_emails, chatbot_format=config.chatbot_format)
        self.topic = alert_topic.topic
        self.notify: VpnDoctorFunction | None = None
        self.dead_letter_queues: dict[str, sqs.IQueue] = {}
        self.chat_channels: list[ChannelResources] = []
        self.owner_secret_arns: list[str] = []
        if not sends_alerts:
            # A spoke (docs/estate.md): the hub alerts; the topic is for this spoke's own operations alarms.
            return
        channels: list[ChannelResources] = [alert_topic, *optional_channels(self, config)]
        # The chat channels the weekly report also goes to (stacks/report.py): their secrets and queues.
        self.chat_channels = [channel for channel in channels if channel.name in CHAT_CHANNELS]
        self.dead_letter_queues = {
            channel.name: channel.dead_letter_queue for channel in channels if channel.dead_letter_queue is not None
        }
        environment = {
            # Idempotency records (one alert, one message per channel) live in the incidents table.
            ENV_INCIDENTS_TABLE: incidents_table.table_name,
            # Only for the Logs Insights link in alerts that name no log group; notify never reads logs.
            ENV_TUNNEL_LOG_GROUP_ARN: tunnel_log_group_arn,
        }
        for channel in channels:
            environment.update(channel.environment)
        if config.routing is not None:
            environment[ENV_ROUTING] = config.routing.model_dump_json(exclude_defaults=True)
        environment.update(storm_environment(config))  # notify's roll-up decides storms
        self.notify = notify = VpnDoctorFunction(
            self,
            "Notify",
            module="notify",
            description="Renders alerts to email (SNS), Slack, Teams and PagerDuty",
            packaging=packaging,
            environment=environment,
            timeout=Duration.seconds(60),
        )
        incidents_table.grant(notify.role, *IDEMPOTENCY_ACTIONS)
        for channel in channels:
            channel.grant(notify.role)
        self.owner_secret_arns = owner_secrets(self, config, notify.role)
        events.Rule(
            self,
            "AlertRule",
            description="Every vpn-doctor alert goes to notify",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=[DETAIL_TYPE_ALERT]),
            targets=[targets.LambdaFunction(notify.function, dead_letter_queue=notify.failure_queue, retry_attempts=4)],
        )


def storm_environment(config: VpnDoctorConfig) -> dict[str, str]:
    """Storm control's thresholds, for notify (which decides) and the poller (which ends storms)."""
    return {
        ENV_STORM_CONNECTIONS: str(config.storm_connections),
        ENV_STORM_WINDOW_SECONDS: str(config.storm_window_seconds),
    }
