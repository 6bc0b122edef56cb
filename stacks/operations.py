"""Operations: the pipeline watches itself (errors, dead-letter depth) and shows tunnel states and findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import Tunnel
from stacks.function import VpnDoctorFunction
from stacks.state import tunnel_state_metric
from vpn_doctor.constants import (
    METRIC_ATTRIBUTED_FINDINGS,
    METRIC_BAD_RECORDS,
    METRIC_FINDINGS,
    METRIC_ONBOARDING_FAILED,
    METRIC_ONBOARDING_LOGGING,
    METRIC_ONBOARDING_ONBOARDED,
    METRIC_ONBOARDING_PENDING,
    METRIC_PUBLISH_FAILURES,
    METRIC_UNATTRIBUTED_FINDINGS,
    METRIC_UNKNOWN_RECORDS,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)

# Dashboards are account-wide, not regional: the name carries the stack's region so a deployment in a second region
# does not take over the first one's dashboard (CloudFormation resolves AWS::Region at deploy time).
DASHBOARD_NAME = f"{SERVICE_NAME}-{Aws.REGION}"
# Without listed tunnels the dashboard finds every tunnel's TunnelState itself.
ALL_TUNNELS_SEARCH = "SEARCH('{AWS/VPN,TunnelIpAddress,VpnId} MetricName=\"TunnelState\"', 'Maximum', 300)"
FINDINGS_SEARCH = f"SEARCH('{{{METRICS_NAMESPACE},Category,service}} MetricName=\"{METRIC_FINDINGS}\"', 'Sum', 300)"


def pipeline_metric(name: str) -> cloudwatch.Metric:
    """A vpn-doctor metric (namespace ``VpnDoctor``, dimension ``service``), summed over 5 minutes."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic="Sum",
        period=Duration.minutes(5),
    )


class Operations(Construct):
    """Alarms on every function's errors and dead-letter queue and on failed publishes, all to the alert topic,
    and one dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        functions: Sequence[VpnDoctorFunction],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        tunnels: Sequence[Tunnel],
        onboarding: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        action = actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for function in functions:
            self.alarms += [function.errors_alarm, function.dlq_alarm]
        for channel, dead_letters in dead_letter_queues.items():
            self.alarms.append(
                cloudwatch.Alarm(
                    self,
                    f"{channel}DeadLetterAlarm",
                    alarm_description=f"vpn-doctor {channel} messages could not be delivered "
                    f"(see the {channel} dead-letter queue)",
                    metric=dead_letters.metric_approximate_number_of_messages_visible(
                        period=Duration.minutes(5), statistic="Maximum"
                    ),
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        # A failed publish fails its invocation (Errors alarms above) and is retried; this alarm says why, in one
        # place, for every function that publishes (ingest, state, poller, respond, post_check).
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                "PublishFailuresAlarm",
                alarm_description="vpn-doctor could not publish to its event bus (the invocations are retried)",
                metric=pipeline_metric(METRIC_PUBLISH_FAILURES),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        for alarm in self.alarms:
            alarm.add_alarm_action(action)

        if tunnels:
            states: list[cloudwatch.IMetric] = [
                tunnel_state_metric(tunnel).with_(label=f"{tunnel.vpn_connection_id} {tunnel.outside_ip}")
                for tunnel in tunnels
            ]
        else:
            states = [cloudwatch.MathExpression(expression=ALL_TUNNELS_SEARCH, label="", period=Duration.minutes(5))]
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=DASHBOARD_NAME)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Tunnel state (1 = UP, 0 = DOWN)",
                left=states,
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Findings per category",
                left=[cloudwatch.MathExpression(expression=FINDINGS_SEARCH, label="", period=Duration.minutes(5))],
                stacked=True,
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Unrecognised and unreadable records",
                left=[pipeline_metric(name) for name in (METRIC_UNKNOWN_RECORDS, METRIC_BAD_RECORDS)],
                width=12,
            ),
            cloudwatch.GraphWidget(
                # Gateway-side failures matched to their tunnel from the poller's connection map, and those no
                # tunnel could be found for (counted, listed by `vpn-doctor classify --map`; no incident holds them).
                title="Gateway failures attributed to a tunnel / not attributed",
                left=[pipeline_metric(name) for name in (METRIC_ATTRIBUTED_FINDINGS, METRIC_UNATTRIBUTED_FINDINGS)],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Pipeline alarms", alarms=list(self.alarms), width=12),
        )
        if onboarding:
            # Each run reports the tunnels in scope logging / still pending (gauges: the latest run's Maximum) and
            # the changes it confirmed or saw fail.
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="On-boarding: tunnels logging / pending, changes confirmed / failed",
                    left=[
                        pipeline_metric(name).with_(statistic="Maximum")
                        for name in (METRIC_ONBOARDING_LOGGING, METRIC_ONBOARDING_PENDING)
                    ],
                    right=[pipeline_metric(name) for name in (METRIC_ONBOARDING_ONBOARDED, METRIC_ONBOARDING_FAILED)],
                    width=12,
                )
            )
