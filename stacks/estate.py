"""Hub and spokes (docs/estate.md): what a hub adds to the stack, what a spoke adds, the per-region assets buckets
and the StackSet that rolls the spokes out.

Spoke to hub: a rule on the spoke's bus sends every incident transition and alert (which carries the remediation
outcome, the connection's owner tag, the account and region) to the hub's bus, through a role allowed
``events:PutEvents`` on that bus alone; the hub's bus policy admits the organization (``aws:PrincipalOrgID``) or
the listed accounts ("Sending and receiving events between AWS accounts",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html; an organization-wide grant requires
the sender's rule to name a role, https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-events-eventbuspolicy.html).

Hub to spokes: every write of a silence (added or lifted) in the hub's incidents table goes, through the table's
stream and an EventBridge Pipe (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html), to
the hub's silence topic; each spoke subscribes its ``estate_sync`` function to that topic (a spoke cannot be
enumerated by the hub when StackSets add accounts on their own, so the hub publishes once and the spokes listen).
SNS delivers to Lambda functions in other accounts and regions; the subscription is made in the topic's region
(https://docs.aws.amazon.com/sns/latest/dg/sns-cross-region-delivery.html), which ``AWS::SNS::Subscription``'s
``Region`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import Estate
from stacks.function import Packaging, VpnDoctorFunction, queue
from stacks.incidents import IDEMPOTENCY_ACTIONS
from stacks.nag import acknowledge
from vpn_doctor.constants import (
    DETAIL_TYPE_ALERT,
    DETAIL_TYPE_INCIDENT,
    ENV_INCIDENTS_TABLE,
    EVENT_SOURCE,
    SERVICE_NAME,
    SILENCE_PARTITION,
    TABLE_PARTITION_KEY,
)

# What a spoke forwards: incident transitions (the estate's history) and alerts (what people are told; each carries
# the remediation outcome and the connection's owner tag).
FORWARDED_DETAIL_TYPES = (DETAIL_TYPE_INCIDENT, DETAIL_TYPE_ALERT)
# Fixed names, so a spoke can name the hub's resources from the hub's account and region alone.
SILENCE_TOPIC_NAME = f"{SERVICE_NAME}-silences"
STACK_SET_NAME = f"{SERVICE_NAME}-spokes"
# How long the hub's archive keeps the estate's forwarded events (as long as resolved incidents are kept).
ARCHIVE_DAYS = 90
# The DynamoDB stream reads the pipe makes (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html).
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")


def bus_arn(account: str, region: str, name: str = SERVICE_NAME) -> str:
    """The ARN of a vpn-doctor bus in another account or region."""
    return f"arn:{Aws.PARTITION}:events:{region}:{account}:event-bus/{name}"


def silence_topic_arn(estate: Estate) -> str:
    """The hub's silence topic, named from the hub's account and region."""
    account, region = estate.hub()
    return f"arn:{Aws.PARTITION}:sns:{region}:{account}:{SILENCE_TOPIC_NAME}"


def assets_bucket_name(estate: Estate, region: str) -> str:
    """The spoke assets bucket of one region: ``<prefix>-<region>``."""
    return f"{estate.bucket_prefix}-{region}"


def senders(estate: Estate) -> tuple[list[iam.IPrincipal], dict[str, Any]]:
    """Who may send to the hub (and read its assets, subscribe to its silences): principals and conditions."""
    if estate.organization_id:
        return [iam.AnyPrincipal()], {"StringEquals": {"aws:PrincipalOrgID": estate.organization_id}}
    return [iam.AccountPrincipal(account) for account in estate.account_ids], {}


def held_alert_pattern() -> events.EventPattern:
    """Alerts a silence or maintenance window holds (``detail.held`` present): the ones a spoke remembers."""
    return events.EventPattern(
        source=[EVENT_SOURCE], detail_type=[DETAIL_TYPE_ALERT], detail={"held": {"reason": events.Match.exists()}}
    )


class HubSide(Construct):
    """The hub's bus policy, the archive of the estate's events, and the silences sent to the spokes."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bus: events.EventBus, table: dynamodb.Table, estate: Estate
    ) -> None:
        super().__init__(scope, construct_id)
        principals, conditions = senders(estate)
        bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SpokesSendTheirEvents",
                principals=principals,
                actions=["events:PutEvents"],
                resources=[bus.event_bus_arn],
                conditions=conditions or None,
            )
        )
        # The estate's history: every incident transition and alert on the hub's bus, its own and forwarded ones.
        self.archive = bus.archive(
            "EstateArchive",
            description="vpn-doctor incidents and alerts of every spoke",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=list(FORWARDED_DETAIL_TYPES)),
            retention=Duration.days(ARCHIVE_DAYS),
        )

        self.key = kms.Key(self, "SilenceTopicKey", description="vpn-doctor silence topic", enable_key_rotation=True)
        self.topic = sns.Topic(
            self,
            "SilenceTopic",
            topic_name=SILENCE_TOPIC_NAME,
            display_name="vpn-doctor silences for the spokes",
            master_key=self.key,
            enforce_ssl=True,
        )
        # Spokes subscribe their estate_sync function (protocol lambda only: no e-mail or HTTP copies of the audit).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SpokesSubscribe",
                principals=principals,
                actions=["sns:Subscribe"],
                resources=[self.topic.topic_arn],
                conditions={
                    **conditions,
                    "StringEquals": {**conditions.get("StringEquals", {}), "sns:Protocol": "lambda"},
                },
            )
        )

        # The stream carries the silences' writes (new images only: a lift is a write of the whole silence).
        cfn_table = table.node.default_child
        if not isinstance(cfn_table, dynamodb.CfnTable):
            raise TypeError("the incidents table has no CfnTable to stream from")
        cfn_table.stream_specification = dynamodb.CfnTable.StreamSpecificationProperty(stream_view_type="NEW_IMAGE")
        stream_arn = cfn_table.attr_stream_arn
        role = iam.Role(
            self,
            "PipeRole",
            assumed_by=iam.ServicePrincipal(
                "pipes.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="vpn-doctor: silences from the incidents table's stream to the silence topic",
        )
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(STREAM_READ_ACTIONS), resources=[stream_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:ListStreams"], resources=["*"]))
        self.topic.grant_publish(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "dynamodb:ListStreams has no resource-level permissions (Service Authorization Reference, DynamoDB).",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "Added by Topic.grant_publish, scoped to the topic's own key: publishing to an SSE-KMS topic needs a "
            "data key.",
        )
        only_silences = {
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"Keys": {TABLE_PARTITION_KEY: {"S": [SILENCE_PARTITION]}}},
        }
        self.pipe = pipes.CfnPipe(
            self,
            "SilencePipe",
            description="vpn-doctor: each silence added or lifted, to the spokes",
            role_arn=role.role_arn,
            source=stream_arn,
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                dynamo_db_stream_parameters=pipes.CfnPipe.PipeSourceDynamoDBStreamParametersProperty(
                    starting_position="LATEST", batch_size=1, maximum_retry_attempts=10
                ),
                filter_criteria=pipes.CfnPipe.FilterCriteriaProperty(
                    filters=[pipes.CfnPipe.FilterProperty(pattern=json.dumps(only_silences))]
                ),
            ),
            target=self.topic.topic_arn,
        )
        self.pipe.node.add_dependency(role)
        CfnOutput(scope, "SilenceTopicArn", value=self.topic.topic_arn)


class SpokeSide(Construct):
    """A spoke's forwarding to the hub, and its ``estate_sync`` function (the hub's silences, its held alerts)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        bus: events.IEventBus,
        table: dynamodb.ITable,
        estate: Estate,
    ) -> None:
        super().__init__(scope, construct_id)
        hub_account, hub_region = estate.hub()
        hub_bus = events.EventBus.from_event_bus_arn(self, "HubBus", bus_arn(hub_account, hub_region))
        # The role EventBridge uses to put on the hub's bus (targets.EventBus grants PutEvents on that bus only).
        self.forward_role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="vpn-doctor: forwards this spoke's incidents and alerts to the hub's bus",
        )
        self.dead_letter_queue = queue(self, "ForwardDeadLetterQueue", purpose="events the hub's bus did not take")
        self.forward_rule = events.Rule(
            self,
            "ForwardToHub",
            description="vpn-doctor incidents and alerts to the hub",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=list(FORWARDED_DETAIL_TYPES)),
            targets=[targets.EventBus(hub_bus, role=self.forward_role, dead_letter_queue=self.dead_letter_queue)],
        )

        self.sync = VpnDoctorFunction(
            self,
            "EstateSync",
            module="estate_sync",
            description="Copies the hub's silences to this spoke; remembers this spoke's held alerts",
            packaging=packaging,
            environment={ENV_INCIDENTS_TABLE: table.table_name},
        )
        # The silence store's get/put, the held incidents' put/delete, the once-records: all within these.
        table.grant(self.sync.role, *IDEMPOTENCY_ACTIONS)
        events.Rule(
            self,
            "HeldAlertRule",
            description="vpn-doctor held alerts, remembered on this spoke for the announcement when the hold ends",
            event_bus=bus,
            event_pattern=held_alert_pattern(),
            targets=[
                targets.LambdaFunction(self.sync.function, dead_letter_queue=self.sync.failure_queue, retry_attempts=4)
            ],
        )
        topic_arn = silence_topic_arn(estate)
        permission = lambda_.CfnPermission(
            self,
            "SilenceTopicInvoke",
            action="lambda:InvokeFunction",
            function_name=self.sync.function.function_arn,
            principal="sns.amazonaws.com",
            source_arn=topic_arn,
        )
        subscription = sns.CfnSubscription(
            self,
            "SilenceSubscription",
            protocol="lambda",
            endpoint=self.sync.function.function_arn,
            topic_arn=topic_arn,
            region=hub_region,
        )
        subscription.node.add_dependency(permission)


class AssetsBucketStack(Stack):
    """One region's bucket for the spoke template's code and layers (and, in the hub's region, the template), which
    the organization (or the listed accounts) may read; ``vpn-doctor publish-assets`` fills it."""

    def __init__(self, scope: Construct, construct_id: str, *, estate: Estate, region: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.bucket = s3.Bucket(
            self,
            "Assets",
            bucket_name=assets_bucket_name(estate, region),
            encryption=s3.BucketEncryption.S3_MANAGED,  # SSE-KMS would need every member account on the key
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        principals, conditions = senders(estate)
        # Lambda fetches a function's code as the caller creating it (the StackSet's execution role in the member
        # account), so that account needs s3:GetObject on the object.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SpokesReadAssets",
                principals=principals,
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions=conditions or None,
            )
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Holds only build artifacts published by vpn-doctor publish-assets (versioned); CloudTrail data events "
            "cover reads where wanted, an access-log bucket per region would cost more than it tells.",
        )
        CfnOutput(self, "AssetsBucket", value=self.bucket.bucket_name)


class SpokeStackSet(Construct):
    """The spokes as a service-managed StackSet, auto-deployed to the target OUs' accounts in the listed regions."""

    def __init__(self, scope: Construct, construct_id: str, *, estate: Estate, template_key: str) -> None:
        super().__init__(scope, construct_id)
        hub_account, hub_region = estate.hub()
        bucket = assets_bucket_name(estate, hub_region)
        self.template_url = f"https://{bucket}.s3.{hub_region}.{Aws.URL_SUFFIX}/{template_key}"
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "StackSet",
            stack_set_name=STACK_SET_NAME,
            description="vpn-doctor spokes: watch this account's VPN tunnels, forward to the hub",
            permission_model="SERVICE_MANAGED",
            call_as="DELEGATED_ADMIN" if estate.delegated_admin else "SELF",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            capabilities=["CAPABILITY_IAM"],
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                region_concurrency_type="PARALLEL", max_concurrent_percentage=25, failure_tolerance_percentage=10
            ),
            template_url=self.template_url,
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    regions=list(estate.regions),
                    # The hub's own account runs the hub (same bus and table names): no spoke there.
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(estate.organizational_unit_ids),
                        account_filter_type="DIFFERENCE",
                        accounts=[hub_account],
                    ),
                )
            ],
        )
        CfnOutput(scope, "SpokeTemplateUrl", value=self.template_url)


def spoke_regions(estate: Estate) -> Sequence[str]:
    """Every region that needs an assets bucket: the spokes' and the hub's (the template lives there)."""
    return sorted({*estate.regions, estate.hub()[1]})
