"""Names shared by the CDK stacks and the functions: environment variables, metrics, resources.

One source of truth: a stack sets ``ENV_*`` on a function, the function's settings read it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

SERVICE_NAME: Final = "vpn-doctor"
METRICS_NAMESPACE: Final = "VpnDoctor"

# Tag that overrides the remediation mode per VPN connection (off | dry-run | auto).
REMEDIATE_TAG: Final = "vpn-doctor:remediate"
# Tag that opts a VPN connection in to monitoring when monitoring is by tag.
MONITOR_TAG: Final = "vpn-doctor:monitor"

# Environment variables (set by the stacks, read once by each function's settings).
ENV_INCIDENTS_TABLE: Final = "VPN_DOCTOR_INCIDENTS_TABLE"
ENV_REMEDIATION_TABLE: Final = "VPN_DOCTOR_REMEDIATION_TABLE"
ENV_ALERT_TOPIC_ARN: Final = "VPN_DOCTOR_ALERT_TOPIC_ARN"
ENV_SLACK_SECRET_NAME: Final = "VPN_DOCTOR_SLACK_SECRET_NAME"  # noqa: S105 - a variable name, not a secret
ENV_SLACK_DLQ_URL: Final = "VPN_DOCTOR_SLACK_DLQ_URL"
ENV_EVENT_BUS_NAME: Final = "VPN_DOCTOR_EVENT_BUS_NAME"
ENV_REMEDIATION_MODE: Final = "VPN_DOCTOR_REMEDIATION_MODE"
ENV_MONITOR_SCOPE: Final = "VPN_DOCTOR_MONITOR_SCOPE"
ENV_MONITOR_VPN_IDS: Final = "VPN_DOCTOR_MONITOR_VPN_IDS"
ENV_TUNNEL_LOG_GROUP_ARN: Final = "VPN_DOCTOR_TUNNEL_LOG_GROUP_ARN"
ENV_CHATBOT_FORMAT: Final = "VPN_DOCTOR_CHATBOT_FORMAT"
ENV_CLEAR_DELAY_SECONDS: Final = "VPN_DOCTOR_CLEAR_DELAY_SECONDS"
ENV_FLAP_TRANSITIONS: Final = "VPN_DOCTOR_FLAP_TRANSITIONS"
ENV_FLAP_WINDOW_SECONDS: Final = "VPN_DOCTOR_FLAP_WINDOW_SECONDS"
ENV_POST_CHECK_ROLE_ARN: Final = "VPN_DOCTOR_POST_CHECK_ROLE_ARN"
ENV_POST_CHECK_TARGET_ARN: Final = "VPN_DOCTOR_POST_CHECK_TARGET_ARN"

# Metric names (namespace METRICS_NAMESPACE).
METRIC_RECORDS: Final = "Records"
METRIC_FINDINGS: Final = "Findings"  # dimension Category
METRIC_UNKNOWN_RECORDS: Final = "UnknownRecords"
METRIC_BAD_RECORDS: Final = "BadRecords"
METRIC_INVALID_PAYLOADS: Final = "InvalidPayloads"
METRIC_CONTEXT_FAILURES: Final = "ContextReadFailures"  # earlier lines of a tunnel not read back

# Event sources/detail types on the vpn-doctor bus (for users who attach their own targets).
EVENT_SOURCE: Final = "vpn-doctor"
DETAIL_TYPE_STATE_CHANGE: Final = "VPN Tunnel State Change"
DETAIL_TYPE_INCIDENT: Final = "VPN Tunnel Incident"
DETAIL_TYPE_ALERT: Final = "VPN Tunnel Alert"

# Tag naming the customer gateway's vendor/device (e.g. "Cisco ASA"), for vendor-specific hints.
VENDOR_TAG: Final = "vpn-doctor:vendor"
# Tag naming the gateway's device type as GetVpnConnectionDeviceTypes lists it (its id, or words of its vendor,
# platform and software): alerts and `diagnose` then quote AWS's sample configuration for it (vpn_doctor.sample_config).
DEVICE_TYPE_TAG: Final = "vpn-doctor:device-type"

# Per-tunnel TunnelState alarms created by the stack are named TUNNEL_ALARM_PREFIX + "<vpn-id>-<outside-ip>";
# the state rule matches alarm state changes by this prefix.
TUNNEL_ALARM_PREFIX: Final = "vpn-doctor-tunnel-"

# The tunnel log group the stack creates (and points the tunnels' logging at) when none is configured.
TUNNEL_LOG_GROUP_NAME: Final = "/aws/vendedlogs/vpn-doctor/tunnels"

# Key schema of the incidents and remediation tables: the stack creates them, the adapters write them.
TABLE_PARTITION_KEY: Final = "pk"
TABLE_SORT_KEY: Final = "sk"
TABLE_TTL_ATTRIBUTE: Final = "expires_at"  # epoch seconds; DynamoDB deletes the item some time after

# A VPN connection id as AWS issues them: "vpn-" and 8 (older) or 17 hex digits.
VPN_CONNECTION_ID_PATTERN: Final = r"vpn-(?:[0-9a-f]{17}|[0-9a-f]{8})"


class MonitorScope(StrEnum):
    """Which VPN connections a deployment watches."""

    ALL = "all"
    TAG = "tag"  # connections carrying MONITOR_TAG
    LIST = "list"  # the configured connection ids


class Mode(StrEnum):
    """Remediation mode of a deployment or a connection."""

    OFF = "off"
    DRY_RUN = "dry-run"
    AUTO = "auto"

    @classmethod
    def parse(cls, value: str | None) -> Mode | None:
        """A mode from a setting or tag value (any case, ``dry_run`` accepted); ``None`` if not a mode."""
        if value is None:
            return None
        return _MODES.get(value.strip().lower().replace("_", "-"))


_MODES: Final = {mode.value: mode for mode in Mode}


class DpdAction(StrEnum):
    """The DPD timeout action remediation sets after repeated DPD timeouts (AWS's third one, clear, is the
    one it replaces)."""

    RESTART = "restart"  # AWS re-initiates IKE itself
    NONE = "none"  # policy: AWS must not act on a DPD timeout


# Incidents and state (state, poller and ingest handlers).
METRIC_STATE_EVENTS: Final = "StateEvents"  # dimension Source
METRIC_REJECTED_EVENTS: Final = "RejectedEvents"
METRIC_INCIDENT_TRANSITIONS: Final = "IncidentTransitions"  # dimension Kind
METRIC_POLL_ERRORS: Final = "PollErrors"

# Remediation guards (respond Lambda); defaults in vpn_doctor.remediation.RemediationPolicy.
ENV_REMEDIATION_COOLDOWN_SECONDS: Final = "VPN_DOCTOR_REMEDIATION_COOLDOWN_SECONDS"
ENV_REMEDIATION_DAILY_BUDGET: Final = "VPN_DOCTOR_REMEDIATION_DAILY_BUDGET"
ENV_REMEDIATION_SIBLING_UP_SECONDS: Final = "VPN_DOCTOR_REMEDIATION_SIBLING_UP_SECONDS"
# DPD timeout action to set after repeated DPD timeouts: restart (default) or none (AWS must not act).
ENV_REMEDIATION_DPD_ACTION: Final = "VPN_DOCTOR_REMEDIATION_DPD_ACTION"
# How long after a modification the post-check runs (the tunnel must be UP by then).
ENV_POST_CHECK_DELAY_SECONDS: Final = "VPN_DOCTOR_POST_CHECK_DELAY_SECONDS"
METRIC_REMEDIATIONS: Final = "Remediations"  # dimension Status
METRIC_ESCALATIONS: Final = "Escalations"

# Notify Lambda: its metrics.
METRIC_ALERTS_PUBLISHED: Final = "AlertsPublished"
METRIC_DUPLICATE_ALERTS: Final = "DuplicateAlerts"
METRIC_INVALID_ALERTS: Final = "InvalidAlerts"

# channels helper: the notify function counts each channel's dead-lettered alerts (dimension Channel);
# sent ones are METRIC_ALERTS_PUBLISHED (dimension Channel).
METRIC_ALERTS_DEAD_LETTERED: Final = "AlertsDeadLettered"

# Issue 14: values redacted from evidence and alerts (vpn_doctor.redact), counted by the ingest, respond and
# notify functions; monitored connections found deleted (poller, once each); publishes that failed (every
# function that publishes counts one when it raises PublishFailed; the stack alarms on it); failure findings
# naming no tunnel (ingest; on the dashboard).
METRIC_REDACTED_VALUES: Final = "RedactedValues"
METRIC_VANISHED_CONNECTIONS: Final = "VanishedConnections"
METRIC_PUBLISH_FAILURES: Final = "PublishFailures"
METRIC_UNATTRIBUTED_FINDINGS: Final = "UnattributedFindings"

# i14-robust helper: hostile input (issue 14).
# How far ahead of the receiving clock a record's time is trusted, in seconds (ingest; default 300).
ENV_MAX_CLOCK_SKEW_SECONDS: Final = "VPN_DOCTOR_MAX_CLOCK_SKEW_SECONDS"
METRIC_CLOCK_SKEWED_RECORDS: Final = "ClockSkewedRecords"
# Subscription payloads that inflate beyond vpn_doctor.subscription.MAX_DECODED_PAYLOAD_BYTES (rejected).
METRIC_OVERSIZED_PAYLOADS: Final = "OversizedPayloads"

# s3-onboard helper: on-boarding (issue 13), the scheduled onboard function switching tunnel logging on.
# Tag that opts a connection in (``on``) or out (``off``) of on-boarding; exact, lower-case values, because
# IAM's StringEquals compares them as they are.
LOGGING_TAG: Final = "vpn-doctor:logging"


class LoggingScope(StrEnum):
    """Which monitored connections on-boarding switches tunnel logging on for."""

    ALL = "all"  # every monitored connection, except those tagged LOGGING_TAG=off
    TAGGED = "tagged"  # monitored connections tagged LOGGING_TAG=on
    NONE = "none"  # no on-boarding at all (the stack creates nothing for it)


class LoggingTag(StrEnum):
    """The values of LOGGING_TAG."""

    ON = "on"
    OFF = "off"


ENV_LOGGING_SCOPE: Final = "VPN_DOCTOR_LOGGING_SCOPE"
ENV_LOGGING_BGP: Final = "VPN_DOCTOR_LOGGING_BGP"  # "true": BGP logs too where the connection uses BGP
# Optional UTC maintenance window, "[mon,tue,... ]HH:MM-HH:MM"; unset: any time.
ENV_LOGGING_WINDOW: Final = "VPN_DOCTOR_LOGGING_WINDOW"
ENV_LOGGING_SIBLING_UP_SECONDS: Final = "VPN_DOCTOR_LOGGING_SIBLING_UP_SECONDS"
METRIC_ONBOARDING_LOGGING: Final = "OnboardingTunnelsLogging"  # tunnels in scope logging where configured
METRIC_ONBOARDING_PENDING: Final = "OnboardingTunnelsPending"  # tunnels in scope not logging yet
METRIC_ONBOARDING_ONBOARDED: Final = "OnboardingTunnelsOnboarded"  # changes confirmed by this run
METRIC_ONBOARDING_FAILED: Final = "OnboardingTunnelsFailed"  # changes refused or not confirmed in time


# s3-selftest helper (issue 13): AWS Health notices recognised as caused by vpn-doctor's own tunnel changes
# (state function; vpn_doctor.own_changes), recorded and never alerted on.
# Also a tunnel's DOWN during vpn-doctor's own change (state function and poller).
METRIC_EXPECTED_NOTICES: Final = "ExpectedOwnChangeSignals"
# Watchdog function (vpn_doctor.watchdog): what it watches, how long a silence may last, what it counts.
ENV_WATCHED_LOG_GROUPS: Final = "VPN_DOCTOR_WATCHED_LOG_GROUPS"  # comma-separated log group names
ENV_INGEST_FUNCTION_ARN: Final = "VPN_DOCTOR_INGEST_FUNCTION_ARN"
ENV_POLLER_FUNCTION_NAME: Final = "VPN_DOCTOR_POLLER_FUNCTION_NAME"
ENV_WATCHDOG_QUIET_HOURS: Final = "VPN_DOCTOR_WATCHDOG_QUIET_HOURS"  # a tunnel's logs silent this long (default 6)
ENV_WATCHDOG_POLLER_QUIET_MINUTES: Final = "VPN_DOCTOR_WATCHDOG_POLLER_QUIET_MINUTES"  # poller not run (default 15)
METRIC_WATCHDOG_ALERTS: Final = "WatchdogAlerts"
METRIC_WATCHDOG_RESOLVED: Final = "WatchdogResolved"
METRIC_WATCHDOG_ERRORS: Final = "WatchdogErrors"


# s3-channels helper: PagerDuty and Microsoft Teams channels, routing by owner and severity (issue 18).
# The connection tag naming the team that owns it; the routing configuration maps owners to channels.
OWNER_TAG: Final = "vpn-doctor:owner"
ENV_PAGERDUTY_SECRET_NAME: Final = "VPN_DOCTOR_PAGERDUTY_SECRET_NAME"  # noqa: S105 - a variable name, not a secret
ENV_PAGERDUTY_DLQ_URL: Final = "VPN_DOCTOR_PAGERDUTY_DLQ_URL"
# The Events API v2 endpoint; unset: PagerDuty's (https://events.pagerduty.com/v2/enqueue). EU service
# regions use events.eu.pagerduty.com.
ENV_PAGERDUTY_EVENTS_URL: Final = "VPN_DOCTOR_PAGERDUTY_EVENTS_URL"
ENV_TEAMS_SECRET_NAME: Final = "VPN_DOCTOR_TEAMS_SECRET_NAME"  # noqa: S105 - a variable name, not a secret
ENV_TEAMS_DLQ_URL: Final = "VPN_DOCTOR_TEAMS_DLQ_URL"
# The routing configuration (JSON of vpn_doctor.routing.Routing); unset: every channel gets every alert.
ENV_ROUTING: Final = "VPN_DOCTOR_ROUTING"


# s3-report helper: the periodic report (issue 18), the scheduled report function and `vpn-doctor report`.
ENV_REPORT_PERIOD_DAYS: Final = "VPN_DOCTOR_REPORT_PERIOD_DAYS"  # how far back the scheduled report looks
METRIC_REPORTS_PUBLISHED: Final = "ReportsPublished"


# s3-traffic: traffic-aware detection (vpn_doctor.traffic) in the poller.
# Minutes of the traffic window (no traffic, one-way traffic, static-routing asymmetry); 0 = off.
ENV_NO_TRAFFIC_MINUTES: Final = "VPN_DOCTOR_NO_TRAFFIC_MINUTES"
ENV_POLL_INTERVAL_MINUTES: Final = "VPN_DOCTOR_POLL_INTERVAL_MINUTES"  # the poller's schedule
#: The tunnel key of a connection's traffic incidents (vpn_doctor.traffic): not an IP, no tunnel has it.
CONNECTION_SCOPE: Final = "connection"


# s3-attrib helper: attribution of customer-gateway lines to their tunnel (issue 15 item 4).
# The configured gateway map (JSON object: log group name, envelope host or gateway connection name ->
# "vpn-id" or "vpn-id/tunnel-outside-ip"); unset: the poller's connection map alone.
ENV_GATEWAY_MAP: Final = "VPN_DOCTOR_GATEWAY_MAP"
METRIC_ATTRIBUTED_FINDINGS: Final = "AttributedFindings"

# Storm control (vpn_doctor.rollup): this many connections failing within this many seconds make one storm (notify,
# which decides, and the poller, which ends it).
ENV_STORM_CONNECTIONS: Final = "VPN_DOCTOR_STORM_CONNECTIONS"
ENV_STORM_WINDOW_SECONDS: Final = "VPN_DOCTOR_STORM_WINDOW_SECONDS"

# s4-replace: endpoint replacements and certificate expiry ahead of time (issue 16 items 4, 6; vpn_doctor.replacement).
#: The tunnel key of a connection's replacement warnings: not an IP, no tunnel has it.
REPLACEMENT_SCOPE: Final = "replacement"
#: The tunnel key of a connection's certificate-expiry warnings.
CERTIFICATE_SCOPE: Final = "certificate"
#: Every pseudo tunnel key: an incident filed under one concerns the connection, not one tunnel's options.
PSEUDO_TUNNELS: Final = frozenset({CONNECTION_SCOPE, REPLACEMENT_SCOPE, CERTIFICATE_SCOPE})
# How often (minutes) the poller reads each lifecycle-controlled tunnel's GetVpnTunnelReplacementStatus; 0 = never.
ENV_REPLACEMENT_CHECK_MINUTES: Final = "VPN_DOCTOR_REPLACEMENT_CHECK_MINUTES"
# Days ahead of a tunnel certificate's expiry (ACM NotAfter) the warnings start, comma-separated; empty = off.
ENV_CERTIFICATE_WARN_DAYS: Final = "VPN_DOCTOR_CERTIFICATE_WARN_DAYS"
# Opt-in: the UTC window ("sat,sun 02:00-05:00") in which pending endpoint replacements are applied; unset: never.
ENV_APPLY_MAINTENANCE_WINDOW: Final = "VPN_DOCTOR_APPLY_MAINTENANCE_WINDOW"
# s4-bgp: BGP routes lost from the telemetry's AcceptedRouteCount (vpn_doctor.routes), in the poller.
ENV_ROUTES_HOLD_SECONDS: Final = "VPN_DOCTOR_ROUTES_HOLD_SECONDS"  # how long the count must stay low
ENV_ROUTES_DROP_PERCENT: Final = "VPN_DOCTOR_ROUTES_DROP_PERCENT"  # share of the baseline lost that is "low"
ENV_ROUTES_RELEARN_SECONDS: Final = "VPN_DOCTOR_ROUTES_RELEARN_SECONDS"  # low this long: the new baseline
# s4-ops helper: recurring maintenance windows from the deploy configuration (issue 18), read by respond.
# JSON object: a VPN connection id, a tag KEY=VALUE or * -> a window or a list of windows (vpn_doctor.silences).
ENV_MAINTENANCE_WINDOWS: Final = "VPN_DOCTOR_MAINTENANCE_WINDOWS"
# The Opsgenie channel (Alert API v2): its API integration key's secret, its dead-letter queue, and the API's base
# URL (unset: https://api.opsgenie.com; EU accounts: https://api.eu.opsgenie.com).
ENV_OPSGENIE_SECRET_NAME: Final = "VPN_DOCTOR_OPSGENIE_SECRET_NAME"  # noqa: S105 - a variable name, not a secret
ENV_OPSGENIE_DLQ_URL: Final = "VPN_DOCTOR_OPSGENIE_DLQ_URL"
ENV_OPSGENIE_API_URL: Final = "VPN_DOCTOR_OPSGENIE_API_URL"
OPSGENIE_API_URL: Final = "https://api.opsgenie.com"
OPSGENIE_EU_API_URL: Final = "https://api.eu.opsgenie.com"  # "If using the EU instance of Opsgenie" (alert-api)

# Hub and spokes (docs/estate.md). The partition of the incidents table holding silences: the hub publishes every
# write to it to its spokes, which keep a copy in theirs (vpn_doctor.app.silences.store_synced_silence).
SILENCE_PARTITION: Final = "SILENCE"
