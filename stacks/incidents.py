"""Incidents: the incident store and the function that responds to incidents (diagnosis, remediation decision)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.function import Packaging, VpnDoctorFunction
from stacks.ingestion import grant_tunnel_log_reads
from vpn_doctor.constants import (
    DETAIL_TYPE_INCIDENT,
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_REMEDIATION_MODE,
    EVENT_SOURCE,
)

TTL_ATTRIBUTE = "expires_at"


def table(scope: Construct, construct_id: str) -> dynamodb.Table:
    """A pk/sk string-keyed, on-demand, encrypted table with TTL on ``expires_at`` and point-in-time recovery."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        time_to_live_attribute=TTL_ATTRIBUTE,
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
        remediation_mode: str,
        tunnel_log_group_names: Sequence[str],
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
                ENV_INCIDENTS_TABLE: self.table.table_name,
                ENV_EVENT_BUS_NAME: bus.event_bus_name,
                ENV_REMEDIATION_MODE: remediation_mode,
            },
        )
        self.table.grant_read_write_data(self.respond.role)
        bus.grant_put_events_to(self.respond.role)
        self.respond.grant_vpn_read()
        self.respond.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"])
        )
        grant_tunnel_log_reads(self.respond, tunnel_log_group_names)
        events.Rule(
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
