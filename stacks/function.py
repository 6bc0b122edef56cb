"""One Lambda-function construct used for every vpn-doctor function (instead of copy-pasted blocks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import acknowledge
from stacks.packaging import ARCHITECTURE, RUNTIME
from vpn_doctor.constants import METRICS_NAMESPACE, SERVICE_NAME

# What the VPN reader (vpn_doctor.aws.ec2) calls: the connections, and their customer gateways' device names.
VPN_READ_ACTIONS = ("ec2:DescribeVpnConnections", "ec2:DescribeCustomerGateways")
# AWS's sample configuration per device type, quoted in alerts (vpn_doctor.sample_config). Like the Describe
# calls, granted on "*": the Service Authorization Reference gives GetVpnConnectionDeviceTypes no resource type.
DEVICE_SAMPLE_ACTIONS = ("ec2:GetVpnConnectionDeviceTypes", "ec2:GetVpnConnectionDeviceSampleConfiguration")


# CloudWatch Logs accepts only these retention periods (days): the deploy configuration validates against them.
RETENTION: Final[Mapping[int, logs.RetentionDays]] = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS, 2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}  # fmt: skip


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention enum for a validated number of days."""
    return RETENTION[days]


def queue(scope: Construct, construct_id: str, *, purpose: str) -> sqs.Queue:
    """An encrypted, TLS-only SQS queue that holds what could not be processed, for 14 days."""
    created = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    acknowledge(
        created,
        "AwsSolutions-SQS3",
        f"This queue is itself a dead-letter queue ({purpose}); a DLQ of a DLQ would only move the problem.",
    )
    return created


@dataclass(frozen=True, kw_only=True)
class Packaging:
    """What every function shares: the code asset and the layers (Powertools, runtime dependencies)."""

    code: lambda_.Code
    layers: tuple[lambda_.ILayerVersion, ...]
    log_retention_days: int


class VpnDoctorFunction(Construct):
    """A python3.13/arm64 function with X-Ray tracing, its own log group and retention, an on-failure queue for
    asynchronous invocations, a least-privilege role (no managed policies) and an alarm on its errors."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        module: str,
        description: str,
        packaging: Packaging,
        environment: Mapping[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int = 256,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(packaging.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{SERVICE_NAME} {module} function",
        )
        # Written to explicitly (instead of AWSLambdaBasicExecutionRole) so the role can only write its own logs.
        self.log_group.grant_write(self.role)
        self.failure_queue = queue(self, "FailureQueue", purpose=f"failed asynchronous {module} invocations")
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"handlers.{module}.handler",
            code=packaging.code,
            layers=list(packaging.layers),
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout or Duration.seconds(30),
            memory_size=memory_size,
            environment={
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **(environment or {}),
            },
            on_failure=destinations.SqsDestination(self.failure_queue),
            retry_attempts=2,
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "python3.13 is pinned on purpose: it is the newest runtime the public Powertools v3 arm64 layer "
            "we depend on is published and tested for.",
        )
        # X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions.
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Read-only/telemetry actions without resource-level permissions (X-Ray tracing, "
            "ec2:Describe*, cloudwatch:GetMetricData) can only be granted on '*'.",
        )
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "ErrorsAlarm",
            alarm_description=f"{SERVICE_NAME} {module} function raised errors",
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dlq_alarm = cloudwatch.Alarm(
            self,
            "FailureQueueAlarm",
            alarm_description=f"{SERVICE_NAME} {module} invocations failed after retries (see its failure queue)",
            metric=self.failure_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def grant_vpn_read(self) -> None:
        """Describe VPN connections and their customer gateways (EC2 reads have no resource-level permissions)."""
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(VPN_READ_ACTIONS), resources=["*"]))

    def grant_device_samples(self) -> None:
        """List device types and read a connection's sample configuration (respond quotes it in alerts)."""
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(DEVICE_SAMPLE_ACTIONS), resources=["*"]))

    def add_environment(self, name: str, value: str) -> None:
        """Set one environment variable (names from ``vpn_doctor.constants`` only)."""
        self.function.add_environment(name, value)
