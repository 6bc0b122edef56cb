"""The vpn-doctor stack: composes the constructs, and the small us-west-2 stack forwarding Network Manager events."""

from __future__ import annotations

import json
from typing import Any, Literal

from aws_cdk import Annotations, Aws, CfnOutput, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.config import ConfigError, VpnDoctorConfig
from stacks.estate import HubSide, SpokeSide
from stacks.function import Packaging
from stacks.incidents import Incidents
from stacks.ingestion import Ingestion, log_group_arn
from stacks.notifications import Notifications, storm_environment
from stacks.onboarding import Onboarding
from stacks.operations import Operations
from stacks.packaging import (
    POWERTOOLS_SSM_PREFIX,
    dependencies_layer,
    function_code,
    pinned_version,
    powertools_layer_arn,
)
from stacks.remediation import Remediation
from stacks.report import Report
from stacks.state import NETWORK_MANAGER_HOME_REGION, State, network_manager_pattern
from stacks.watchdog import Watchdog
from vpn_doctor.constants import (
    ENV_APPLY_MAINTENANCE_WINDOW,
    ENV_CERTIFICATE_WARN_DAYS,
    ENV_CLEAR_DELAY_SECONDS,
    ENV_FLAP_TRANSITIONS,
    ENV_FLAP_WINDOW_SECONDS,
    ENV_GATEWAY_MAP,
    ENV_MAINTENANCE_WINDOWS,
    ENV_MAX_CLOCK_SKEW_SECONDS,
    ENV_MONITOR_SCOPE,
    ENV_MONITOR_VPN_IDS,
    ENV_NO_TRAFFIC_MINUTES,
    ENV_POLL_INTERVAL_MINUTES,
    ENV_POST_CHECK_DELAY_SECONDS,
    ENV_REMEDIATION_COOLDOWN_SECONDS,
    ENV_REMEDIATION_DAILY_BUDGET,
    ENV_REMEDIATION_DPD_ACTION,
    ENV_REMEDIATION_SIBLING_UP_SECONDS,
    ENV_REMEDIATION_TABLE,
    ENV_REPLACEMENT_CHECK_MINUTES,
    ENV_ROUTES_DROP_PERCENT,
    ENV_ROUTES_HOLD_SECONDS,
    ENV_ROUTES_RELEARN_SECONDS,
    SERVICE_NAME,
    MonitorScope,
)

BUS_NAME = SERVICE_NAME
# What one stack is: the whole thing in one account and region, or one side of an estate (docs/estate.md).
Part = Literal["single", "hub", "spoke"]


class VpnDoctorStack(Stack):
    """Everything vpn-doctor needs in the region of the VPN connections; deploy with ``cdk deploy``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: VpnDoctorConfig, part: Part = "single", **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.part = part
        packaging = Packaging(
            code=function_code(),
            layers=runtime_layers(self, config),
            log_retention_days=config.log_retention_days,
        )
        # Users may attach their own targets to this bus (findings, incidents, alerts).
        self.bus = events.EventBus(self, "Bus", event_bus_name=BUS_NAME)
        # How far ahead of now a record's (ingest) or state change's (state, poller) time is trusted.
        clock_environment = {ENV_MAX_CLOCK_SKEW_SECONDS: str(config.max_clock_skew_seconds)}
        # The incident rules' thresholds, for the functions that apply state changes (findings use none of them).
        incident_environment = {
            **clock_environment,
            ENV_CLEAR_DELAY_SECONDS: str(config.clear_delay_seconds),
            ENV_FLAP_TRANSITIONS: str(config.flap_transitions),
            ENV_FLAP_WINDOW_SECONDS: str(config.flap_window_seconds),
        }
        # Which connections the poller reads, its schedule, and the window of its traffic findings.
        poller_environment = {
            ENV_NO_TRAFFIC_MINUTES: str(config.no_traffic_minutes),
            ENV_POLL_INTERVAL_MINUTES: str(config.poll_interval_minutes),
            ENV_MONITOR_SCOPE: config.monitor.scope.value,
            ENV_MONITOR_VPN_IDS: ",".join(config.monitor.vpn_connection_ids),
            **storm_environment(config),  # the poller ends storms (vpn_doctor.app.rollup)
            # The warnings ahead of time: endpoint replacements, certificate expiry (vpn_doctor.app.ahead).
            ENV_REPLACEMENT_CHECK_MINUTES: str(60 * config.replacement_check_hours),
            ENV_CERTIFICATE_WARN_DAYS: ",".join(str(days) for days in config.certificate_warn_days) or "0",
            # BGP routes lost (vpn_doctor.routes): the hold, the share of the baseline lost, the re-learn window.
            ENV_ROUTES_HOLD_SECONDS: str(config.routes_lost_hold_seconds),
            ENV_ROUTES_DROP_PERCENT: str(config.routes_lost_drop_percent),
            ENV_ROUTES_RELEARN_SECONDS: str(config.routes_relearn_hours * 3600),
        }
        if config.apply_pending_maintenance_window is not None:
            poller_environment[ENV_APPLY_MAINTENANCE_WINDOW] = config.apply_pending_maintenance_window
        home_region = not Token.is_unresolved(self.region) and self.region == NETWORK_MANAGER_HOME_REGION
        if config.network_manager_events and Token.is_unresolved(self.region):
            raise ConfigError(
                "network_manager_events: needs a known region to forward us-west-2 events to; deploy with "
                "credentials, or set AWS_REGION so the CDK CLI passes it on as CDK_DEFAULT_REGION"
            )

        log_group_names = config.log_group_names
        self.incidents = Incidents(
            self,
            "Incidents",
            packaging=packaging,
            bus=self.bus,
            remediation_mode=config.remediation_mode,
            tunnel_log_group_arn=log_group_arn(log_group_names[0]),
        )
        if config.maintenance_windows:  # recurring maintenance windows from the config (vpn_doctor.silences)
            self.incidents.respond.add_environment(ENV_MAINTENANCE_WINDOWS, json.dumps(config.maintenance_windows))
        self.ingestion = Ingestion(
            self,
            "Ingestion",
            packaging=packaging,
            bus=self.bus,
            incidents_table=self.incidents.table,
            log_group_names=config.tunnel_log_groups,
            # The configured gateway map: gateways whose lines name no IP (vpn_doctor.attribution).
            environment={**clock_environment, ENV_GATEWAY_MAP: json.dumps(config.gateway_map, sort_keys=True)},
        )
        self.state = State(
            self,
            "State",
            packaging=packaging,
            bus=self.bus,
            incidents_table=self.incidents.table,
            incident_environment=incident_environment,
            poller_environment=poller_environment,
            tunnels=config.tunnels,
            poll_interval_minutes=config.poll_interval_minutes,
            tunnel_log_group_names=log_group_names,
            network_manager_rule_on_default_bus=config.network_manager_events and home_region,
            network_manager_rule_on_bus=config.network_manager_events and not home_region,
        )
        self.remediation = (
            Remediation(
                self,
                "Remediation",
                packaging=packaging,
                bus=self.bus,
                respond=self.incidents.respond,
                mode=config.remediation_mode,
                vpn_ids=config.monitor.vpn_connection_ids,
                monitored_by_tag=config.monitor.scope is MonitorScope.TAG,
                guard_environment=_guard_environment(config),
                replaces_tunnels=config.apply_pending_maintenance_window is not None,
            )
            if config.remediation_enabled
            else None
        )
        if self.remediation:
            # AWS Health notices about vpn-doctor's own tunnel changes, and the changed tunnel's DOWN during
            # one, are matched with their audit records (vpn_doctor.own_changes): state and poller read the
            # audit, one Query per such signal.
            for function in (self.state.state, self.state.poller):
                function.add_environment(ENV_REMEDIATION_TABLE, self.remediation.table.table_name)
                self.remediation.table.grant(function.role, "dynamodb:Query")
        self.notifications = Notifications(
            self,
            "Notifications",
            packaging=packaging,
            bus=self.bus,
            incidents_table=self.incidents.table,
            tunnel_log_group_arn=log_group_arn(log_group_names[0]),
            config=config,
            sends_alerts=part != "spoke",
        )
        # On-boarding: switches the watched tunnels' logging on to the first tunnel log group (logging.enable).
        self.onboarding = (
            Onboarding(
                self,
                "Onboarding",
                packaging=packaging,
                table=self.incidents.table,
                log_group_arn=self.ingestion.log_group_arns[0],
                logging_scope=config.logging.enable,
                bgp=config.logging.bgp,
                window=config.logging.window,
                monitor_environment={
                    name: poller_environment[name] for name in (ENV_MONITOR_SCOPE, ENV_MONITOR_VPN_IDS)
                },
                vpn_ids=config.monitor.vpn_connection_ids,
                monitored_by_tag=config.monitor.scope is MonitorScope.TAG,
                sibling_up_seconds=config.remediation_sibling_up_seconds,
            )
            if config.onboarding_enabled
            else None
        )

        self.watchdog = Watchdog(
            self,
            "Watchdog",
            packaging=packaging,
            incidents_table=self.incidents.table,
            topic=self.notifications.topic,
            log_group_names=self.ingestion.log_group_names,
            ingest=self.ingestion.ingest,
            poller=self.state.poller,
            monitor_scope=config.monitor.scope.value,
            monitor_vpn_ids=config.monitor.vpn_connection_ids,
            quiet_hours=config.watchdog_quiet_hours,
            poll_interval_minutes=config.poll_interval_minutes,
        ).watchdog

        # The weekly report to the alert topic (report_weekly: false leaves it out).
        self.report = (
            Report(
                self,
                "Report",
                packaging=packaging,
                incidents_table=self.incidents.table,
                remediation_table=self.remediation.table if self.remediation else None,
                topic=self.notifications.topic,
                chatbot_format=config.chatbot_format,
                flap_transitions=config.flap_transitions,
                chat_channels=self.notifications.chat_channels,
            )
            if config.report_weekly and part != "spoke"
            else None
        )
        self.hub: HubSide | None = None
        self.spoke: SpokeSide | None = None
        if part == "hub":
            self.hub = HubSide(self, "Hub", bus=self.bus, table=self.incidents.table, estate=config.hub_and_spokes)
            # Forwarded incidents are the spokes' to respond to: the hub's respond takes its own account's only
            # (forwarded events keep their account, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html).
            self.incidents.rule.add_event_pattern(account=[Aws.ACCOUNT_ID])
        elif part == "spoke":
            self.spoke = SpokeSide(
                self,
                "Spoke",
                packaging=packaging,
                bus=self.bus,
                table=self.incidents.table,
                estate=config.hub_and_spokes,
            )
        functions = [
            self.ingestion.ingest,
            self.state.state,
            self.state.poller,
            self.incidents.respond,
            *([self.notifications.notify] if self.notifications.notify else []),
            *([self.spoke.sync] if self.spoke else []),
            self.watchdog,
        ]
        if self.remediation:
            functions.append(self.remediation.post_check)
        if self.onboarding:
            functions.append(self.onboarding.onboard)
        if self.report:
            functions.append(self.report.report)
        self.operations = Operations(
            self,
            "Operations",
            topic=self.notifications.topic,
            functions=functions,
            dead_letter_queues={
                **self.notifications.dead_letter_queues,
                **({"HubForward": self.spoke.dead_letter_queue} if self.spoke else {}),
            },
            tunnels=config.tunnels,
            onboarding=self.onboarding is not None,
        )
        self.forwards_network_manager = config.network_manager_events and not home_region
        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name)
        CfnOutput(self, "AlertTopicArn", value=self.notifications.topic.topic_arn)
        CfnOutput(self, "TunnelLogGroups", value=",".join(self.ingestion.log_group_names))


class NetworkManagerForwarderStack(Stack):
    """In us-west-2 (where Network Manager publishes): forwards its events to the vpn-doctor bus."""

    def __init__(self, scope: Construct, construct_id: str, *, target_region: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        bus_arn = f"arn:{Aws.PARTITION}:events:{target_region}:{Aws.ACCOUNT_ID}:event-bus/{BUS_NAME}"
        target_bus = events.EventBus.from_event_bus_arn(self, "VpnDoctorBus", bus_arn)
        role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Forward Network Manager events to the vpn-doctor bus",
        )
        events.Rule(
            self,
            "Forward",
            description="Network Manager events to the vpn-doctor bus in the VPN's region",
            event_pattern=network_manager_pattern(),
            targets=[targets.EventBus(target_bus, role=role)],
        )


def runtime_layers(stack: Stack, config: VpnDoctorConfig) -> tuple[lambda_.ILayerVersion, ...]:
    """The functions' layers: Powertools' public layer and the dependencies layer, or (``powertools_layer``
    ``bundled``) one layer holding the pinned Powertools release too, for regions without the public layer."""
    if config.powertools_layer == "bundled":
        return (dependencies_layer(stack, "RuntimeDependencies", with_powertools=True),)
    # The public layer's ARN is read from an SSM parameter at deploy time; a region without it fails the deploy
    # with "Unable to fetch parameters", so the synth says where the layer comes from and what to do instead.
    Annotations.of(stack).add_info(
        f"Powertools comes from its public layer, via SSM parameter {POWERTOOLS_SSM_PREFIX}/"
        f"{pinned_version('aws-lambda-powertools')} (published only in the regions of Powertools' release "
        'workflow). If the deploy fails with \'Unable to fetch parameters\', set "powertools_layer": "bundled" '
        "in cdk.json to build Powertools into the dependencies layer instead."
    )
    return (
        lambda_.LayerVersion.from_layer_version_arn(
            stack, "Powertools", powertools_layer_arn(stack, config.powertools_layer_version)
        ),
        dependencies_layer(stack, "RuntimeDependencies"),
    )


def _guard_environment(config: VpnDoctorConfig) -> dict[str, str]:
    """Remediation guard settings for respond, only those configured (unset = the policy's own defaults)."""
    values = {
        ENV_REMEDIATION_COOLDOWN_SECONDS: config.remediation_cooldown_seconds,
        ENV_REMEDIATION_DAILY_BUDGET: config.remediation_daily_budget,
        ENV_REMEDIATION_SIBLING_UP_SECONDS: config.remediation_sibling_up_seconds,
        ENV_REMEDIATION_DPD_ACTION: config.remediation_dpd_action,
        ENV_POST_CHECK_DELAY_SECONDS: config.post_check_delay_seconds,
    }
    return {name: str(value) for name, value in values.items() if value is not None}
