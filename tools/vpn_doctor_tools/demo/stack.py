"""What the CDK stack would create, created in the emulator: logs, topic, tables, bus, secret, VPN."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from vpn_doctor import constants
from vpn_doctor_tools.emulator import Emulator
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table

from .scenarios import DEMO_OWNER, DEMO_STORM_CONNECTIONS, DEMO_STORM_WINDOW_SECONDS

PREFIX: Final = "vpn-doctor-demo"
# The spoke: a member account in another region (moto files the calls signed with a role assumed in it under it).
SPOKE_ACCOUNT: Final = "210987654321"
SPOKE_REGION: Final = "us-east-1"


def demo_apply_window(now: datetime) -> str:
    """A UTC window (the deploy grammar, ``HH:MM-HH:MM``) from an hour before ``now`` to three hours after it."""
    return f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=3):%H:%M}"


# The names the demo's Lambda context gives the stages (``pipeline.LambdaContext``).
INGEST_FUNCTION_NAME: Final = "vpn-doctor-ingest"
POLLER_FUNCTION_NAME: Final = "vpn-doctor-poller"
TUNNEL_LOG_GROUP: Final = constants.TUNNEL_LOG_GROUP_NAME  # what the stack creates by default
BGP_LOG_GROUP: Final = "/aws/vendedlogs/vpn-doctor/bgp"
CGW_LOG_GROUP: Final = "/vpn-doctor/customer-gateway/syslog"
SLACK_SECRET_NAME: Final = "vpn-doctor/slack-webhook"  # noqa: S105 - a secret's name, not its value
TEAMS_SECRET_NAME: Final = "vpn-doctor/teams-webhook"  # noqa: S105 - a secret's name, not its value
PAGERDUTY_SECRET_NAME: Final = "vpn-doctor/pagerduty-routing-key"  # noqa: S105 - a secret's name, not its value
# The owner's alerts go to Teams too, and its critical ones page; every other connection follows the default
# route (e-mail and Slack, as before).
DEMO_ROUTING: Final = {
    "default": {"channels": ["sns", "slack"]},
    "owners": {
        DEMO_OWNER: {"channels": ["sns", "slack", "teams", "pagerduty"], "min_severity": {"pagerduty": "critical"}}
    },
}


@dataclass(frozen=True, slots=True)
class DemoStack:
    """Names and ARNs of what was created."""

    region: str
    account_id: str
    incidents_table: str
    remediation_table: str
    topic_arn: str
    email_queue_url: str
    slack_dlq_url: str
    bus_name: str
    incident_queue_url: str
    alert_queue_url: str
    slack_secret_name: str
    teams_secret_name: str
    teams_dlq_url: str
    pagerduty_secret_name: str
    pagerduty_dlq_url: str
    pagerduty_events_url: str
    vpn_gateway_id: str
    tunnel_log_group_arn: str
    bgp_log_group_arn: str
    ingest_arn: str

    def environment(self, *, remediation_mode: str) -> dict[str, str]:
        """The Lambda functions' environment, as the stack sets it (names from ``constants``)."""
        post_check_role = f"arn:aws:iam::{self.account_id}:role/{PREFIX}-post-check-scheduler"
        post_check_target = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{PREFIX}-post-check"
        return {
            constants.ENV_INCIDENTS_TABLE: self.incidents_table,
            constants.ENV_REMEDIATION_TABLE: self.remediation_table,
            constants.ENV_ALERT_TOPIC_ARN: self.topic_arn,
            constants.ENV_SLACK_SECRET_NAME: self.slack_secret_name,
            constants.ENV_SLACK_DLQ_URL: self.slack_dlq_url,
            constants.ENV_TEAMS_SECRET_NAME: self.teams_secret_name,
            constants.ENV_TEAMS_DLQ_URL: self.teams_dlq_url,
            constants.ENV_PAGERDUTY_SECRET_NAME: self.pagerduty_secret_name,
            constants.ENV_PAGERDUTY_DLQ_URL: self.pagerduty_dlq_url,
            constants.ENV_PAGERDUTY_EVENTS_URL: self.pagerduty_events_url,
            constants.ENV_ROUTING: json.dumps(DEMO_ROUTING),
            constants.ENV_EVENT_BUS_NAME: self.bus_name,
            constants.ENV_REMEDIATION_MODE: remediation_mode,
            # By tag: the demo stops watching a scenario's connection when the scenario ends.
            constants.ENV_MONITOR_SCOPE: "tag",
            constants.ENV_MONITOR_VPN_IDS: "",
            constants.ENV_TUNNEL_LOG_GROUP_ARN: self.tunnel_log_group_arn,
            constants.ENV_CHATBOT_FORMAT: "false",
            # Short hysteresis so a recovery resolves within the demo.
            constants.ENV_CLEAR_DELAY_SECONDS: "1",
            constants.ENV_FLAP_TRANSITIONS: "4",
            constants.ENV_FLAP_WINDOW_SECONDS: "600",
            # The scenarios are separate stories told a second or more apart, one connection each: a storm needs
            # DEMO_STORM_CONNECTIONS failing within a window of seconds, which only the storm scenario makes
            # (deployed: 5 in 120 s; the deploy keys accept 30 s and more, the function any positive window).
            constants.ENV_STORM_CONNECTIONS: str(DEMO_STORM_CONNECTIONS),
            constants.ENV_STORM_WINDOW_SECONDS: str(DEMO_STORM_WINDOW_SECONDS),
            # A short hold, so accepted BGP routes held low open their incident within the demo (deployed: 5 minutes).
            constants.ENV_ROUTES_HOLD_SECONDS: "1",
            constants.ENV_POST_CHECK_ROLE_ARN: post_check_role,
            constants.ENV_POST_CHECK_TARGET_ARN: post_check_target,
            # The deployment defaults, spelled out (post-checks fire when time passes in a scenario).
            constants.ENV_POST_CHECK_DELAY_SECONDS: "300",
            constants.ENV_REMEDIATION_COOLDOWN_SECONDS: "3600",
            constants.ENV_REMEDIATION_DAILY_BUDGET: "3",
            constants.ENV_REMEDIATION_SIBLING_UP_SECONDS: "600",
            constants.ENV_REMEDIATION_DPD_ACTION: "restart",
            constants.ENV_NO_TRAFFIC_MINUTES: "30",
            # A schedule as long as the traffic cadence, so every demo poll reads the traffic (deterministic).
            constants.ENV_POLL_INTERVAL_MINUTES: "30",
            # The checks ahead (endpoint replacements) on every demo poll, not every 6 hours (deterministic).
            constants.ENV_REPLACEMENT_CHECK_MINUTES: "30",
            # Pending replacements applied in a window (opt-in): the demo's opens an hour before it starts.
            constants.ENV_APPLY_MAINTENANCE_WINDOW: demo_apply_window(datetime.now(UTC)),
            # The watchdog: the tunnel log group and the poller. The demo delivers records to ingest itself, so the
            # emulator holds no subscription filter, and the watchdog says so (moto would run a subscribed
            # function for each record, which needs Docker).
            constants.ENV_WATCHED_LOG_GROUPS: TUNNEL_LOG_GROUP,
            constants.ENV_INGEST_FUNCTION_ARN: self.ingest_arn,
            constants.ENV_POLLER_FUNCTION_NAME: POLLER_FUNCTION_NAME,
            "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "AWS_LAMBDA_FUNCTION_NAME": f"{PREFIX}-handler",
        }


def provision(emulator: Emulator) -> DemoStack:
    """Create the stack's resources in the emulator."""
    logs = emulator.client("logs")
    for group in (TUNNEL_LOG_GROUP, BGP_LOG_GROUP, CGW_LOG_GROUP):
        logs.create_log_group(logGroupName=group)
    dynamodb = emulator.client("dynamodb")
    tables = {"incidents": f"{PREFIX}-incidents", "remediation": f"{PREFIX}-remediation"}
    for table in tables.values():
        create_pipeline_table(dynamodb, table)
    sqs = emulator.client("sqs")
    email_queue, email_arn = _queue(sqs, f"{PREFIX}-email-inbox")
    dlq, _ = _queue(sqs, f"{PREFIX}-slack-dlq")
    teams_dlq, _ = _queue(sqs, f"{PREFIX}-teams-dlq")
    pagerduty_dlq, _ = _queue(sqs, f"{PREFIX}-pagerduty-dlq")
    incident_queue, incident_arn = _queue(sqs, f"{PREFIX}-incident-events")
    alert_queue, alert_arn = _queue(sqs, f"{PREFIX}-alert-events")
    sns = emulator.client("sns")
    topic_arn = sns.create_topic(Name=f"{PREFIX}-alerts")["TopicArn"]
    # Stands in for the e-mail subscription: the demo reads what an inbox would receive.
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=email_arn)
    events = emulator.client("events")
    bus = constants.SERVICE_NAME
    events.create_event_bus(Name=bus)
    # Rules mirroring the stack's: incidents go to the respond stage, alerts to the notify stage.
    for rule, detail_type, target in (
        ("incidents-to-respond", constants.DETAIL_TYPE_INCIDENT, incident_arn),
        ("alerts-to-notify", constants.DETAIL_TYPE_ALERT, alert_arn),
    ):
        pattern = {"source": [constants.EVENT_SOURCE], "detail-type": [detail_type]}
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "demo", "Arn": target}])
    secrets = emulator.client("secretsmanager")
    secrets.create_secret(Name=SLACK_SECRET_NAME, SecretString=emulator.slack.url)
    secrets.create_secret(Name=TEAMS_SECRET_NAME, SecretString=emulator.teams.url)
    secrets.create_secret(Name=PAGERDUTY_SECRET_NAME, SecretString=emulator.pagerduty.routing_key)
    vgw = emulator.client("ec2").create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=64512)["VpnGateway"]
    return DemoStack(
        region=emulator.region,
        account_id=emulator.account_id,
        incidents_table=tables["incidents"],
        remediation_table=tables["remediation"],
        topic_arn=topic_arn,
        email_queue_url=email_queue,
        slack_dlq_url=dlq,
        bus_name=bus,
        incident_queue_url=incident_queue,
        alert_queue_url=alert_queue,
        slack_secret_name=SLACK_SECRET_NAME,
        teams_secret_name=TEAMS_SECRET_NAME,
        teams_dlq_url=teams_dlq,
        pagerduty_secret_name=PAGERDUTY_SECRET_NAME,
        pagerduty_dlq_url=pagerduty_dlq,
        pagerduty_events_url=emulator.pagerduty.url,
        vpn_gateway_id=vgw["VpnGatewayId"],
        tunnel_log_group_arn=_log_group_arn(emulator, TUNNEL_LOG_GROUP),
        bgp_log_group_arn=_log_group_arn(emulator, BGP_LOG_GROUP),
        ingest_arn=f"arn:aws:lambda:{emulator.region}:{emulator.account_id}:function:{INGEST_FUNCTION_NAME}",
    )


@dataclass(frozen=True, slots=True)
class DemoConnection:
    """A VPN connection created for one scenario."""

    vpn_connection_id: str
    name: str
    customer_gateway_ip: str
    tunnel_ips: tuple[str, str]
    neighbor_ips: tuple[str, str]


def create_connection(
    emulator: Emulator,
    stack: DemoStack,
    *,
    name: str,
    index: int,
    static_routes: bool,
    tunnel_options: tuple[dict[str, Any], ...] = ({}, {}),
    owner: str | None = None,
) -> DemoConnection:
    """A customer gateway and a VPN connection with two tunnels, logging to the stack's groups."""
    ec2 = emulator.client("ec2")
    cgw_ip = f"203.0.113.{10 + index}"
    cgw = ec2.create_customer_gateway(
        BgpAsn=65000 + index,
        PublicIp=cgw_ip,
        Type="ipsec.1",
        TagSpecifications=[{"ResourceType": "customer-gateway", "Tags": [{"Key": "Name", "Value": f"{name}-cgw"}]}],
    )["CustomerGateway"]
    logging = {
        "CloudWatchLogOptions": {
            "LogEnabled": True,
            "LogGroupArn": stack.tunnel_log_group_arn,
            "LogOutputFormat": "json",
            "BgpLogEnabled": True,
            "BgpLogGroupArn": stack.bgp_log_group_arn,
            "BgpLogOutputFormat": "json",
        }
    }
    tunnels = [
        {
            "IKEVersions": [{"Value": "ikev2"}],
            "DPDTimeoutAction": "clear",
            "StartupAction": "add",
            "LogOptions": logging,
        }
        | dict(extra)
        for extra in tunnel_options
    ]
    created = ec2.create_vpn_connection(
        CustomerGatewayId=cgw["CustomerGatewayId"],
        VpnGatewayId=stack.vpn_gateway_id,
        Type="ipsec.1",
        Options={"StaticRoutesOnly": static_routes, "TunnelOptions": tunnels},
        TagSpecifications=[
            {
                "ResourceType": "vpn-connection",
                "Tags": [
                    {"Key": "Name", "Value": name},
                    {"Key": constants.MONITOR_TAG, "Value": "true"},
                    *([{"Key": constants.OWNER_TAG, "Value": owner}] if owner else []),
                ],
            }
        ],
    )["VpnConnection"]
    vpn_id = created["VpnConnectionId"]
    first, second = emulator.vpn.tunnel_ips(vpn_id)
    return DemoConnection(
        vpn_connection_id=vpn_id,
        name=name,
        customer_gateway_ip=cgw_ip,
        tunnel_ips=(first, second),
        neighbor_ips=(f"169.254.{10 + index}.1", f"169.254.{10 + index}.5"),
    )


def stop_monitoring(emulator: Emulator, connection: DemoConnection) -> None:
    """Remove the monitoring tag, so the poller leaves a finished scenario's connection alone."""
    emulator.client("ec2").delete_tags(Resources=[connection.vpn_connection_id], Tags=[{"Key": constants.MONITOR_TAG}])


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(url), str(arn)


def _log_group_arn(emulator: Emulator, name: str) -> str:
    return f"arn:aws:logs:{emulator.region}:{emulator.account_id}:log-group:{name}"
