"""Ingestion: subscription filters on the tunnel log groups and the ingest function they feed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as log_destinations
from constructs import Construct

from stacks.function import Packaging, VpnDoctorFunction, retention
from stacks.incidents import INCIDENT_STORE_ACTIONS
from stacks.nag import acknowledge, nag_arn
from vpn_doctor.aws.connection_map import MAP_PK
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_INCIDENTS_TABLE, TUNNEL_LOG_GROUP_NAME

# Routine records dropped before they cost an invocation: dead peer detection exchanges and "SA established"
# notices (strongSwan, libreswan). Quoted terms are matched as exact, case-sensitive phrases anywhere in the
# raw event, which works the same for JSON tunnel records and for text/syslog lines; a JSON pattern such as
# { $.details != ... } would silently drop every text line, because non-JSON events never match JSON patterns.
# The phrases are chosen so no failure contains them: "un-established" and "from Established to Idle" do not
# contain "established between"/"established with SPIs", and DPD failures say "DPD timed out", not "DPD request".
ROUTINE_PHRASES = (
    "DPD request",
    "DPD response",
    "established between",
    "established with SPIs",
    "IPsec SA established",
    "ISAKMP SA established",
    "established IKE SA",
    "established Child SA",
    "established CHILD SA",
)
FILTER_PATTERN = " ".join(f'-"{phrase}"' for phrase in ROUTINE_PHRASES)


def log_group_arn(name: str) -> str:
    """The ARN of a log group in this stack's account and region (without the ``:*`` stream suffix)."""
    return f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{name}"


def grant_tunnel_log_reads(function: VpnDoctorFunction, names: Sequence[str]) -> None:
    """Let a function look back over the tunnel log groups (FilterLogEvents only): the lines before a record,
    or before a DOWN."""
    arns = [log_group_arn(name) for name in names]
    function.role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["logs:FilterLogEvents"],
            resources=[resource for arn in arns for resource in (arn, f"{arn}:*")],
        )
    )
    for name in names:
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::{nag_arn('logs', f'log-group:{name}')}:*]",
            "Read-only FilterLogEvents on the configured tunnel log groups; ':*' covers their log streams.",
        )


def grant_connection_map_read(role: iam.IRole, incidents_table: dynamodb.ITable) -> None:
    """``GetItem`` of the connection map item alone (``dynamodb:LeadingKeys``: its partition key), so the
    role reads no other item with it (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadConnectionMap",
            actions=["dynamodb:GetItem"],
            resources=[incidents_table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [MAP_PK]}},
        )
    )


class Ingestion(Construct):
    """Subscribes the ingest function to each tunnel log group (existing ones, or one created here)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        bus: events.IEventBus,
        incidents_table: dynamodb.ITable,
        log_group_names: Sequence[str],
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.ingest = VpnDoctorFunction(
            self,
            "Ingest",
            module="ingest",
            description="Classifies VPN tunnel and customer-gateway log records into findings",
            packaging=packaging,
            environment={
                ENV_INCIDENTS_TABLE: incidents_table.table_name,
                ENV_EVENT_BUS_NAME: bus.event_bus_name,
                **environment,
            },
        )
        # Findings open incidents (the incident store) and publish their transitions.
        incidents_table.grant(self.ingest.role, *INCIDENT_STORE_ACTIONS)
        bus.grant_put_events_to(self.ingest.role)
        # Gateway lines are attributed with the poller's connection map: ingest never reads EC2.
        grant_connection_map_read(self.ingest.role, incidents_table)

        groups: list[logs.ILogGroup] = []
        if log_group_names:
            names = list(log_group_names)
            for index, name in enumerate(names):
                groups.append(logs.LogGroup.from_log_group_name(self, f"TunnelLogs{index}", name))
        else:
            names = [TUNNEL_LOG_GROUP_NAME]
            groups.append(
                logs.LogGroup(
                    self,
                    "TunnelLogs",
                    log_group_name=TUNNEL_LOG_GROUP_NAME,
                    retention=retention(packaging.log_retention_days),
                    removal_policy=RemovalPolicy.RETAIN,
                )
            )
        self.log_group_names = tuple(names)
        # The earlier lines of a record's tunnel, read back from the record's own log group.
        grant_tunnel_log_reads(self.ingest, names)
        self.log_group_arns = tuple(log_group_arn(name) for name in names)
        for index, group in enumerate(groups):
            logs.SubscriptionFilter(
                self,
                f"Subscription{index}",
                log_group=group,
                destination=log_destinations.LambdaDestination(self.ingest.function),
                filter_pattern=logs.FilterPattern.literal(FILTER_PATTERN),
                filter_name="vpn-doctor-ingest",
            )
