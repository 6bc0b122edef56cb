"""State: the telemetry poller, the EventBridge rules that report tunnel state, and opt-in TunnelState alarms.

Discovery is the poller's job: every ``poll_interval_minutes`` it lists the connections in the monitor scope
(DescribeVpnConnections) and reads each tunnel's VgwTelemetry, so a new connection is watched from the next poll and
a deleted one drops out, with no list in cdk.json. It reads EC2's own tunnel status, not CloudWatch metrics, so late
or missing metric data cannot open an incident. A CloudWatch alarm per tunnel, or a Metrics Insights alarm over all
of them, would cost $0.10 per tunnel-month either way (see the README's "Tunnel state and what it costs"); the
``tunnels`` list still adds per-tunnel alarms for those who want them in the CloudWatch console.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import Tunnel
from stacks.function import Packaging, VpnDoctorFunction
from stacks.incidents import INCIDENT_STORE_ACTIONS
from stacks.ingestion import grant_connection_map_read, grant_tunnel_log_reads, log_group_arn
from stacks.nag import acknowledge, nag_arn
from vpn_doctor.constants import (
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_TUNNEL_LOG_GROUP_ARN,
    TUNNEL_ALARM_PREFIX,
)
from vpn_doctor.state_events import DETAIL_TYPE_NETWORK_MANAGER, NETWORK_MANAGER_CHANGE_TYPES

NETWORK_MANAGER_SOURCE = "aws.networkmanager"
# Network Manager publishes its events in us-west-2 only, whatever the VPN's region.
NETWORK_MANAGER_HOME_REGION = "us-west-2"


# AWS publishes no cadence for AWS/VPN TunnelState ("metric data is sent to CloudWatch as it becomes available",
# https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-cloudwatch-vpn.html), and AWS's own TunnelState alarm
# examples (and aws-cdk-lib's metricTunnelState) use 5-minute periods: a 1-minute period turns a late data point into
# a DOWN. The Maximum over 5 minutes is 0 only when every point in them said DOWN.
TUNNEL_STATE_PERIOD = Duration.minutes(5)


def tunnel_state_metric(tunnel: Tunnel) -> cloudwatch.Metric:
    """AWS/VPN TunnelState (1 = UP, 0 = DOWN) of one tunnel, its maximum over 5 minutes."""
    return cloudwatch.Metric(
        namespace="AWS/VPN",
        metric_name="TunnelState",
        dimensions_map={"VpnId": tunnel.vpn_connection_id, "TunnelIpAddress": tunnel.outside_ip},
        statistic="Maximum",
        period=TUNNEL_STATE_PERIOD,
    )


def network_manager_pattern() -> events.EventPattern:
    """Exactly the Network Manager events the state function reads (VPN IPsec/BGP status updates), so topology and
    routing events are never forwarded or delivered only to be rejected."""
    return events.EventPattern(
        source=[NETWORK_MANAGER_SOURCE],
        detail_type=[DETAIL_TYPE_NETWORK_MANAGER],
        detail={"changeType": list(NETWORK_MANAGER_CHANGE_TYPES)},
    )


def tunnel_alarm_name(tunnel: Tunnel) -> str:
    """The alarm name the state function receives: prefix, connection id and tunnel outside IP."""
    return f"{TUNNEL_ALARM_PREFIX}{tunnel.vpn_connection_id}-{tunnel.outside_ip}"


class State(Construct):
    """Turns alarms, AWS Health, Network Manager events and scheduled telemetry polls into tunnel states."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: Packaging,
        bus: events.IEventBus,
        incidents_table: dynamodb.ITable,
        incident_environment: Mapping[str, str],
        poller_environment: Mapping[str, str],
        tunnels: Sequence[Tunnel],
        poll_interval_minutes: int,
        tunnel_log_group_names: Sequence[str],
        network_manager_rule_on_default_bus: bool,
        network_manager_rule_on_bus: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            ENV_INCIDENTS_TABLE: incidents_table.table_name,
            ENV_EVENT_BUS_NAME: bus.event_bus_name,
            # A DOWN is explained from the tunnel's log lines before it (the AWS tunnel activity log group).
            ENV_TUNNEL_LOG_GROUP_ARN: log_group_arn(tunnel_log_group_names[0]),
            **incident_environment,
        }
        self.state = VpnDoctorFunction(
            self,
            "State",
            module="state",
            description="Turns alarm, AWS Health and Network Manager events into tunnel state changes",
            packaging=packaging,
            environment=environment,
        )
        self.poller = VpnDoctorFunction(
            self,
            "Poller",
            module="poller",
            description="Polls DescribeVpnConnections tunnel telemetry on a schedule",
            packaging=packaging,
            environment={**environment, **poller_environment},
            timeout=Duration.seconds(50),
        )
        # Silence detection reads the tunnels' traffic metrics (GetMetricData has no resource-level permissions).
        self.poller.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"])
        )
        # Once per table, the poll looks for outbox entries of the layout before the shared OUTBOX
        # partition (an upgrade republishes them): one Scan, until it has moved them all.
        incidents_table.grant(self.poller.role, "dynamodb:Scan")
        # The poller keeps the connection map (PutItem above): read first to write it only when it changed.
        grant_connection_map_read(self.poller.role, incidents_table)
        grant_ahead_reads(self.poller.role)
        for function in (self.state, self.poller):
            incidents_table.grant(function.role, *INCIDENT_STORE_ACTIONS)
            bus.grant_put_events_to(function.role)
            function.grant_vpn_read()
            grant_tunnel_log_reads(function, tunnel_log_group_names)

        self.alarms = [
            cloudwatch.Alarm(
                self,
                f"TunnelState{index}",
                alarm_name=tunnel_alarm_name(tunnel),
                alarm_description=f"VPN {tunnel.vpn_connection_id} tunnel {tunnel.outside_ip} is DOWN",
                metric=tunnel_state_metric(tunnel),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                # Missing or late points are no evidence of an outage: INSUFFICIENT_DATA reaches the state function
                # as UNKNOWN, which opens nothing. The poller's VgwTelemetry is the authority on DOWN.
                treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            )
            for index, tunnel in enumerate(tunnels)
        ]

        state_target = targets.LambdaFunction(
            self.state.function, dead_letter_queue=self.state.failure_queue, retry_attempts=4
        )
        events.Rule(
            self,
            "AlarmStateRule",
            description="vpn-doctor TunnelState alarms changed state",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={"alarmName": events.Match.prefix(TUNNEL_ALARM_PREFIX)},
            ),
            targets=[state_target],
        )
        events.Rule(
            self,
            "HealthRule",
            description="AWS Health events for Site-to-Site VPN",
            event_pattern=events.EventPattern(
                source=["aws.health"], detail_type=["AWS Health Event"], detail={"service": ["VPN"]}
            ),
            targets=[state_target],
        )
        if network_manager_rule_on_default_bus or network_manager_rule_on_bus:
            events.Rule(
                self,
                "NetworkManagerRule",
                description="Network Manager VPN events (forwarded from us-west-2 unless deployed there)",
                event_bus=bus if network_manager_rule_on_bus else None,
                event_pattern=network_manager_pattern(),
                targets=[state_target],
            )
        events.Rule(
            self,
            "PollSchedule",
            description="Scheduled tunnel telemetry poll",
            schedule=events.Schedule.rate(Duration.minutes(poll_interval_minutes)),
            targets=[
                targets.LambdaFunction(
                    self.poller.function, dead_letter_queue=self.poller.failure_queue, retry_attempts=0
                )
            ],
        )


def grant_ahead_reads(role: iam.IRole) -> None:
    """The warnings ahead of time (vpn_doctor.app.ahead): each watched tunnel's pending endpoint maintenance
    (ec2:GetVpnTunnelReplacementStatus, authorised on the vpn-connection resource type, Service Authorization
    Reference for Amazon EC2) and tunnel certificates' expiry (acm:DescribeCertificate on ACM certificates of the
    account and region). Both read-only."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["ec2:GetVpnTunnelReplacementStatus"],
            resources=[f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpn-connection/*"],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["acm:DescribeCertificate"],
            resources=[f"arn:{Aws.PARTITION}:acm:{Aws.REGION}:{Aws.ACCOUNT_ID}:certificate/*"],
        )
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{nag_arn('ec2', 'vpn-connection/*')}]",
        "GetVpnTunnelReplacementStatus is read-only; the poller discovers the connections it watches at run time, "
        "so their ids are not known at deploy time.",
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{nag_arn('acm', 'certificate/*')}]",
        "DescribeCertificate is read-only; the tunnels' certificates (CertificateArn in their telemetry) are read "
        "at run time and not known at deploy time.",
    )
