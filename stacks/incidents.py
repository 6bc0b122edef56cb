"""Incidents: the incident store and the function that responds to incidents (diagnosis, remediation decision)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.function import Packaging, VpnDoctorFunction
from vpn_doctor.constants import (
    DETAIL_TYPE_INCIDENT,
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_REMEDIATION_MODE,
    ENV_TUNNEL_LOG_GROUP_ARN,
    EVENT_SOURCE,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TABLE_TTL_ATTRIBUTE,
    Mode,
)

# What the incident store (vpn_doctor.aws.incident_store) does with the incidents table: records and notices
# read in batches (BatchGetItem), outboxes queried, a save's TransactWriteItems (authorised per item as PutItem),
# a notice or vanished mark put, published outbox entries deleted. The infra contract test compares this with
# the calls the functions make.
INCIDENT_STORE_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem")
# What Powertools idempotency (notify's once-per-alert sends) does with its records in the incidents table: a
# conditional put, the result written back, an existing record read, a record deleted after a failed send.
IDEMPOTENCY_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DeleteItem")


def table(scope: Construct, construct_id: str) -> dynamodb.Table:
    """A string-keyed (partition and sort key), on-demand, encrypted table with TTL and point-in-time recovery."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        time_to_live_attribute=TABLE_TTL_ATTRIBUTE,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
    )


class Incidents(Construct):
    """The incidents table and the ``respond`` function, which the bus calls for every "VPN Tunnel Incident"."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        bus: events.IEventBus,
        remediation_mode: Mode,
        tunnel_log_group_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = table(self, "Table")
        self.respond = VpnDoctorFunction(
            self,
            "Respond",
            module="respond",
            description="Diagnoses a tunnel incident and decides on remediation (off / dry-run / auto)",
            packaging=packaging,
            timeout=Duration.seconds(60),
            environment={
                ENV_EVENT_BUS_NAME: bus.event_bus_name,
                ENV_REMEDIATION_MODE: remediation_mode.value,
                # Where remediation enables tunnel logging to, and the alert's log link for a tunnel without logging.
                ENV_TUNNEL_LOG_GROUP_ARN: tunnel_log_group_arn,
                ENV_INCIDENTS_TABLE: self.table.table_name,  # the silences that hold alerts (one Query each)
            },
        )
        self.table.grant(self.respond.role, "dynamodb:Query")
        bus.grant_put_events_to(self.respond.role)
        self.respond.grant_vpn_read()
        self.respond.grant_device_samples()
        # The diagnosis reads the tunnel's traffic (TunnelDataIn/Out); GetMetricData has no resource-level permissions.
        self.respond.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"])
        )
        self.rule = events.Rule(
            self,
            "IncidentRule",
            description="Every vpn-doctor incident transition goes to respond",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=[DETAIL_TYPE_INCIDENT]),
            targets=[
                targets.LambdaFunction(
                    self.respond.function, dead_letter_queue=self.respond.failure_queue, retry_attempts=4
                )
            ],
        )
