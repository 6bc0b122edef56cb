"""Typed deploy configuration, parsed once from the ``vpn-doctor`` key of the CDK context and validated at synth.

A pydantic model that forbids unknown keys: every bad value raises :class:`ConfigError` naming the key
(``vpn-doctor.monitor.scope: ...``), the value and what is allowed, so ``cdk synth`` fails with a sentence
instead of a CloudFormation rollback half-way through a deploy. The choices (remediation mode, monitor scope,
DPD action) are the core's own enums, so the stack and the functions accept the same values.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from stacks.function import RETENTION
from vpn_doctor.attribution import valid_source_target
from vpn_doctor.constants import (
    TUNNEL_LOG_GROUP_NAME,
    VPN_CONNECTION_ID_PATTERN,
    DpdAction,
    LoggingScope,
    Mode,
    MonitorScope,
)
from vpn_doctor.incidents import IncidentPolicy
from vpn_doctor.onboarding import MaintenanceWindow
from vpn_doctor.records import DEFAULT_MAX_CLOCK_SKEW
from vpn_doctor.rollup import RollupPolicy
from vpn_doctor.routes import RoutePolicy
from vpn_doctor.routing import Routing
from vpn_doctor.silences import parse_windows

CONTEXT_KEY = "vpn-doctor"
_INCIDENT_DEFAULTS = IncidentPolicy()
_ROLLUP_DEFAULTS = RollupPolicy()
_ROUTE_DEFAULTS = RoutePolicy()


class ConfigError(ValueError):
    """A deploy configuration value is missing or not allowed; the message says which and why."""


def _matching(pattern: str, example: str) -> AfterValidator:
    """A string check with a readable error: the value and an example of a good one."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError("format", "not valid (expected something like '{example}')", {"example": example})
        return value

    return AfterValidator(check)


def _ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ipaddress.AddressValueError:
        raise PydanticCustomError("ipv4", "not the tunnel's IPv4 outside address") from None
    return value


def _retention(days: int) -> int:
    if days not in RETENTION:
        raise PydanticCustomError(
            "retention",
            "not a CloudWatch Logs retention; use one of {allowed}",
            {"allowed": ", ".join(map(str, RETENTION))},
        )
    return days


def _unique(items: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(items)) != len(items):
        raise PydanticCustomError("unique", "an entry is listed twice")
    return items


def _whole(low: int, high: int) -> Any:
    """A whole number in a range; strict, because ``true`` or ``"5"`` as a threshold is a typo, not a number."""
    return Field(strict=True, ge=low, le=high)


Email = Annotated[str, _matching(r"[^@\s]+@[^@\s]+\.[^@\s]+", "ops@example.com")]
VpnId = Annotated[str, _matching(VPN_CONNECTION_ID_PATTERN, "vpn-0123abcd")]
LogGroupName = Annotated[str, _matching(r"[\w\-/.#]{1,512}", "/aws/vpn/tunnels")]
SecretName = Annotated[str, _matching(r"[\w/+=.@-]{1,512}", "vpn-doctor/slack-webhook")]
Switch = Annotated[bool, Field(strict=True)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tunnel(_Section):
    """One tunnel to watch with a ``TunnelState`` alarm: the VPN connection and the tunnel's AWS outside IP."""

    vpn_connection_id: VpnId
    outside_ip: Annotated[str, AfterValidator(_ipv4)]


class Monitor(_Section):
    """Which connections are watched: all, those tagged ``vpn-doctor:monitor``, or the listed ones."""

    scope: MonitorScope = MonitorScope.ALL
    vpn_connection_ids: tuple[VpnId, ...] = ()

    @model_validator(mode="after")
    def _ids_only_with_a_list(self) -> Monitor:
        if self.scope is MonitorScope.LIST and not self.vpn_connection_ids:
            raise PydanticCustomError("ids", "scope 'list' needs at least one VPN connection id in vpn_connection_ids")
        if self.scope is not MonitorScope.LIST and self.vpn_connection_ids:
            raise PydanticCustomError(
                "ids",
                "vpn_connection_ids is only used with scope 'list' (scope is '{scope}')",
                {"scope": str(self.scope)},
            )
        return self


def _window(value: str) -> str:
    try:
        MaintenanceWindow.parse(value)
    except ValueError as exc:
        raise PydanticCustomError("window", "{problem}", {"problem": str(exc)}) from None
    return value


class Logging(_Section):
    """On-boarding: which monitored connections get tunnel (and BGP) logging switched on, and when.

    ``enable``: ``all`` (every monitored connection except those tagged ``vpn-doctor:logging=off``), ``tagged``
    (only those tagged ``vpn-doctor:logging=on``) or ``none`` (no on-boarding resources at all). ``window``: an
    optional UTC maintenance window such as ``"sat,sun 02:00-05:00"`` (days optional)."""

    enable: LoggingScope = LoggingScope.ALL
    bgp: Switch = True
    window: Annotated[str, AfterValidator(_window)] | None = None


def _channel_names(values: Mapping[str, Any]) -> frozenset[str]:
    """The channels a configuration turns on: the alert topic always, each webhook channel with its secret."""
    secrets = {
        "slack": "slack_secret_name",
        "teams": "teams_secret_name",
        "pagerduty": "pagerduty_secret_name",
        "opsgenie": "opsgenie_secret_name",
    }
    return frozenset({"sns", *(name for name, key in secrets.items() if values.get(key))})


def _gateway_map(value: dict[str, str]) -> dict[str, str]:
    wrong = sorted(key for key, target in value.items() if not key.strip() or not valid_source_target(target))
    if wrong:
        raise PydanticCustomError(
            "gateway_map", "each value is 'vpn-id' or 'vpn-id/tunnel-outside-ip' (wrong: {wrong})", {"wrong": wrong}
        )
    if len(json.dumps(value)) > _GATEWAY_MAP_MAX_CHARS:
        raise PydanticCustomError(
            "gateway_map",
            "is over {limit} characters (Lambda's environment holds 4 KB)",
            {"limit": _GATEWAY_MAP_MAX_CHARS},
        )
    return value


def _maintenance_windows(value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    # The functions' own parser (vpn_doctor.silences.parse_windows): what synth accepts, respond understands.
    try:
        parse_windows(value)
    except ValueError as exc:
        raise PydanticCustomError("maintenance_windows", "{problem}", {"problem": str(exc)}) from None
    if len(json.dumps(value)) > _WINDOWS_MAX_CHARS:
        raise PydanticCustomError(
            "maintenance_windows",
            "is over {limit} characters (Lambda's environment holds 4 KB); tag the connections instead",
            {"limit": _WINDOWS_MAX_CHARS},
        )
    return value


# What the configured maintenance windows may take of the respond function's 4 KB environment.
_WINDOWS_MAX_CHARS = 1_024


# What the gateway map may take of the ingest function's 4 KB environment
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
_GATEWAY_MAP_MAX_CHARS = 2_048


AccountId = Annotated[str, _matching(r"\d{12}", "111122223333")]
OrganizationId = Annotated[str, _matching(r"o-[a-z0-9]{10,32}", "o-a1b2c3d4e5")]
OrganizationalUnitId = Annotated[
    str, _matching(r"(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32})|(r-[a-z0-9]{4,32})", "ou-ab12-cd34ef56")
]
RegionName = Annotated[str, _matching(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", "eu-west-1")]
BucketPrefix = Annotated[str, _matching(r"[a-z0-9][a-z0-9.-]{2,40}", "vpn-doctor-assets-111122223333")]
Deployment = Literal["single", "hub", "spoke", "estate"]


class Estate(_Section):
    """Hub and spokes (docs/estate.md): who may send to the hub, where the hub is, where the spokes roll out.

    ``organization_id`` or ``account_ids``: the senders the hub's bus (and its silence topic) admit. ``hub_account_id``
    and ``hub_region``: where a spoke forwards to. ``organizational_unit_ids`` and ``regions``: the StackSet's
    targets (``deployment: estate``). ``assets_bucket_prefix``: the per-region buckets holding the spoke template's
    code (``<prefix>-<region>``; default ``vpn-doctor-assets-<hub account>``)."""

    organization_id: OrganizationId | None = None
    account_ids: Annotated[tuple[AccountId, ...], AfterValidator(_unique)] = ()
    hub_account_id: AccountId | None = None
    hub_region: RegionName | None = None
    organizational_unit_ids: Annotated[tuple[OrganizationalUnitId, ...], AfterValidator(_unique)] = ()
    regions: Annotated[tuple[RegionName, ...], AfterValidator(_unique)] = ()
    assets_bucket_prefix: BucketPrefix | None = None
    # The hub's account is a delegated administrator for StackSets, not the management account (CallAs).
    delegated_admin: Switch = False

    def hub(self) -> tuple[str, str]:
        """The hub's account and region (a spoke forwards there); ConfigError when either is not set."""
        if not (self.hub_account_id and self.hub_region):
            raise ConfigError("vpn-doctor.estate: set hub_account_id and hub_region (where spokes forward)")
        return self.hub_account_id, self.hub_region

    @property
    def bucket_prefix(self) -> str:
        """The assets buckets' prefix: configured, or ``vpn-doctor-assets-<hub account>`` (names are global)."""
        return self.assets_bucket_prefix or f"vpn-doctor-assets-{self.hub_account_id}"


def _estate_problems(deployment: str, estate: Estate | None, values: Mapping[str, Any]) -> list[str]:
    """What a hub, spoke or estate deployment is missing (nothing for ``single``)."""
    if deployment == "single":
        return ["estate is only read with deployment hub, spoke or estate"] if estate is not None else []
    estate = estate or Estate()
    problems: list[str] = []
    if deployment in ("hub", "estate") and not (estate.organization_id or estate.account_ids):
        problems.append("the hub admits an organization or listed accounts: set estate.organization_id or account_ids")
    if estate.organization_id and estate.account_ids:
        problems.append("set estate.organization_id or estate.account_ids, not both")
    if deployment in ("spoke", "estate") and not (estate.hub_account_id and estate.hub_region):
        problems.append("a spoke forwards to the hub: set estate.hub_account_id and estate.hub_region")
    if deployment == "estate" and not (estate.organizational_unit_ids and estate.regions):
        problems.append("the StackSet needs targets: set estate.organizational_unit_ids and estate.regions")
    if deployment == "estate" and values.get("network_manager_events"):
        problems.append(
            "network_manager_events needs a known region; StackSet spokes have none (deploy spokes "
            "with deployment 'spoke' instead)"
        )
    if deployment == "spoke":
        channels = sorted(name for name in _channel_names(values) if name != "sns") + (
            ["routing"] if values.get("routing") else []
        )
        if channels:
            problems.append(f"a spoke sends no alerts (the hub does): remove {', '.join(channels)}")
    return problems


class VpnDoctorConfig(_Section):
    """The whole deploy configuration (the README's Configuration table); defaults are the safe ones."""

    notification_emails: tuple[Email, ...] = ()
    slack_secret_name: SecretName | None = None
    # Microsoft Teams (a Workflows webhook URL) and PagerDuty (an Events API v2 routing key), each a secret's name.
    teams_secret_name: SecretName | None = None
    pagerduty_secret_name: SecretName | None = None
    # Opsgenie (an API integration's key for the Alert API v2), a secret's name, and the account's instance.
    opsgenie_secret_name: SecretName | None = None
    opsgenie_region: Literal["us", "eu"] = "us"
    # Which channels get which alerts, by the connection's vpn-doctor:owner tag and the severity (vpn_doctor.routing);
    # None: every channel gets every alert.
    routing: Routing | None = None
    remediation_mode: Mode = Mode.DRY_RUN
    monitor: Monitor = Monitor()
    tunnel_log_groups: Annotated[tuple[LogGroupName, ...], AfterValidator(_unique)] = ()
    tunnels: Annotated[tuple[Tunnel, ...], AfterValidator(_unique)] = ()
    # Incident thresholds default to the incident rules' own (vpn_doctor.incidents.IncidentPolicy).
    clear_delay_seconds: Annotated[int, _whole(0, 86_400)] = int(_INCIDENT_DEFAULTS.clear_delay.total_seconds())
    flap_transitions: Annotated[int, _whole(2, 100)] = _INCIDENT_DEFAULTS.flap_transitions
    flap_window_seconds: Annotated[int, _whole(60, 86_400)] = int(_INCIDENT_DEFAULTS.flap_window.total_seconds())
    # How far ahead of the functions' clock a log record's or state change's time is trusted (a day at most).
    max_clock_skew_seconds: Annotated[int, _whole(0, 86_400)] = int(DEFAULT_MAX_CLOCK_SKEW.total_seconds())
    # Storm control (vpn_doctor.rollup): this many connections failing within this many seconds make one grouped
    # message; the storm ends after as many seconds without a new failure. Defaults: the roll-up's own.
    storm_connections: Annotated[int, _whole(2, 10_000)] = _ROLLUP_DEFAULTS.storm_connections
    storm_window_seconds: Annotated[int, _whole(30, 3_600)] = int(_ROLLUP_DEFAULTS.storm_window.total_seconds())
    poll_interval_minutes: Annotated[int, _whole(1, 1440)] = 1
    # The traffic findings' window (no traffic, one-way traffic, static-routing asymmetry); 0 turns them off.
    no_traffic_minutes: Annotated[int, _whole(0, 1440)] = 30
    # Warnings ahead of time (vpn_doctor.app.ahead): hours between two reads of a lifecycle-controlled tunnel's
    # replacement status (0: off), and days ahead of a tunnel certificate's expiry the warnings start (empty: off).
    replacement_check_hours: Annotated[int, _whole(0, 168)] = 6
    certificate_warn_days: tuple[Annotated[int, _whole(1, 365)], ...] = (30, 7)
    # Opt-in: a UTC window ("sat,sun 02:00-05:00") in which AWS's pending endpoint replacements of tunnels with
    # lifecycle control on are applied (ReplaceVpnTunnel, under the remediation guards); None: never.
    apply_pending_maintenance_window: Annotated[str, AfterValidator(_window)] | None = None
    # BGP routes lost from the telemetry's AcceptedRouteCount (vpn_doctor.routes; defaults are its RoutePolicy's):
    # how long the count must stay low, what share of the tunnel's baseline lost is low, how long low until the
    # low count becomes the tunnel's new baseline (routes withdrawn on purpose).
    routes_lost_hold_seconds: Annotated[int, _whole(0, 86_400)] = int(_ROUTE_DEFAULTS.hold.total_seconds())
    routes_lost_drop_percent: Annotated[int, _whole(1, 100)] = _ROUTE_DEFAULTS.drop_percent
    routes_relearn_hours: Annotated[int, _whole(1, 168)] = int(_ROUTE_DEFAULTS.relearn.total_seconds() // 3600)
    network_manager_events: Switch = False
    chatbot_format: Switch = False
    # Where Powertools comes from: "public" = Powertools' own layer (published only in the regions of its release
    # workflow), "bundled" = installed from the pinned wheel into the dependencies layer (any region).
    powertools_layer: Literal["public", "bundled"] = "public"
    # None: the layer release of the pinned Powertools version, resolved from Powertools' public SSM parameter.
    powertools_layer_version: Annotated[int, _whole(1, 10_000)] | None = None
    log_retention_days: Annotated[int, Field(strict=True), AfterValidator(_retention)] = 30
    # The watchdog alerts when a tunnel with logging on sent no log line for this many hours (at least 2: CloudWatch
    # Logs updates a stream's last event time "typically in less than an hour").
    watchdog_quiet_hours: Annotated[int, _whole(2, 168)] = 6
    # Remediation guards; None keeps the defaults of vpn_doctor.remediation.RemediationPolicy (one source of truth).
    remediation_cooldown_seconds: Annotated[int, _whole(0, 7 * 86_400)] | None = None
    remediation_daily_budget: Annotated[int, _whole(0, 100)] | None = None
    remediation_sibling_up_seconds: Annotated[int, _whole(0, 86_400)] | None = None
    remediation_dpd_action: DpdAction | None = None
    post_check_delay_seconds: Annotated[int, _whole(60, 86_400)] | None = None
    # On-boarding (switching the tunnels' logging on); its own switch, independent of remediation_mode.
    logging: Logging = Logging()
    # The weekly report (Mondays 08:00 UTC) to the alert topic; false creates no report function.
    report_weekly: Switch = True
    # Customer gateways whose lines name no IP (vpn_doctor.attribution): a log group name, a syslog host or a
    # gateway connection name -> "vpn-id" or "vpn-id/tunnel-outside-ip". Lambda's environment holds 4 KB in all.
    gateway_map: Annotated[dict[str, str], AfterValidator(_gateway_map)] = Field(default_factory=dict)
    # Recurring maintenance windows (vpn_doctor.silences): a VPN id, a tag "KEY=VALUE" or "*" -> a window such as
    # "SUN 02:00-04:00 UTC" or a list of them; they hold alerts and remediation exactly like the tag's window.
    maintenance_windows: Annotated[dict[str, str | list[str]], AfterValidator(_maintenance_windows)] = Field(
        default_factory=dict
    )
    # single: one stack (today's); hub, spoke: one side of an estate; estate: the hub plus a StackSet of spokes.
    deployment: Deployment = "single"
    estate: Estate | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: object) -> object:
        # silence_minutes meant "UP with no traffic"; "silence" now means a muted alert (issue 16).
        if isinstance(data, dict) and "silence_minutes" in data:
            raise PydanticCustomError(
                "renamed", "silence_minutes was renamed no_traffic_minutes (same meaning, minutes; 0 = off)"
            )
        return data

    @model_validator(mode="after")
    def _replacements_applied_only_with_remediation(self) -> VpnDoctorConfig:
        if self.apply_pending_maintenance_window is not None and self.remediation_mode is Mode.OFF:
            raise PydanticCustomError(
                "apply_window",
                "apply_pending_maintenance_window applies replacements through remediation: with remediation_mode "
                "'off' nothing could apply them; set remediation_mode to 'dry-run' or 'auto', or leave the window null",
            )
        return self

    @model_validator(mode="after")
    def _layer_version_only_with_the_public_layer(self) -> VpnDoctorConfig:
        if self.powertools_layer == "bundled" and self.powertools_layer_version is not None:
            raise PydanticCustomError(
                "layer",
                "powertools_layer_version picks a public layer release; with powertools_layer 'bundled' leave it null",
            )
        return self

    @model_validator(mode="after")
    def _estate_complete(self) -> VpnDoctorConfig:
        problems = _estate_problems(self.deployment, self.estate, self.model_dump())
        if problems:
            raise PydanticCustomError("estate", "{problems}", {"problems": "; ".join(problems)})
        return self

    @field_validator("routing")
    @classmethod
    def _routes_to_configured_channels(cls, routing: Routing | None, info: ValidationInfo) -> Routing | None:
        # The secrets are declared before routing, so they are validated (and in info.data) by now.
        configured = _channel_names(info.data)
        missing = sorted(routing.named_channels - configured) if routing else []
        if missing:
            raise PydanticCustomError(
                "routing",
                "names {missing}, which this deployment does not configure (configured: {configured})",
                {"missing": ", ".join(missing), "configured": ", ".join(sorted(configured))},
            )
        return routing

    @property
    def channel_names(self) -> frozenset[str]:
        """The channels this deployment sends alerts on (names as in ``vpn_doctor.routing``)."""
        return _channel_names(
            self.model_dump(
                include={"slack_secret_name", "teams_secret_name", "pagerduty_secret_name", "opsgenie_secret_name"}
            )
        )

    @property
    def hub_and_spokes(self) -> Estate:
        """The estate section (empty for a single deployment)."""
        return self.estate or Estate()

    @property
    def remediation_enabled(self) -> bool:
        """False when the mode is ``off``: the remediation construct is then not created at all."""
        return self.remediation_mode is not Mode.OFF

    @property
    def onboarding_enabled(self) -> bool:
        """False when ``logging.enable`` is ``none``: the on-boarding construct is then not created at all."""
        return self.logging.enable is not LoggingScope.NONE

    @property
    def creates_log_group(self) -> bool:
        """True when no existing tunnel log group is configured, so the stack creates one."""
        return not self.tunnel_log_groups

    @property
    def log_group_names(self) -> tuple[str, ...]:
        """The tunnel log groups watched: the configured ones (AWS tunnel activity logs first), or the created one."""
        return self.tunnel_log_groups or (TUNNEL_LOG_GROUP_NAME,)


def parse_config(raw: object) -> VpnDoctorConfig:
    """Validate the ``vpn-doctor`` context value (a mapping, or its JSON text from ``-c``) into a typed config."""
    if raw is None:
        return VpnDoctorConfig()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONTEXT_KEY}: context value is not valid JSON ({exc.msg})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{CONTEXT_KEY}: expected an object, got {type(raw).__name__}")
    try:
        return VpnDoctorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("; ".join(_sentence(error) for error in exc.errors())) from None


# pydantic's wording where a reader of cdk.json would not recognise it (JSON has lists and objects, no tuples).
_PLAIN = {
    "tuple_type": "expected a list",
    "model_type": "expected an object",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
}


def _sentence(error: Any) -> str:
    """One validation error as ``vpn-doctor.<key path>: <what is wrong>, got <value>``."""
    key = ".".join([CONTEXT_KEY, *(str(part) for part in error["loc"])])
    if error["type"] == "estate":  # about the whole configuration: its input is all of it, not worth repeating
        return f"{key}: {error['msg']}"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(VpnDoctorConfig.model_fields) if len(error["loc"]) == 1 else "see the README"
        return f"{key}: unknown key; allowed: {allowed}"
    return f"{key}: {_PLAIN.get(error['type'], error['msg'])}, got {error['input']!r}"
