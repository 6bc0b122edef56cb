"""Typed deploy configuration, parsed once from the ``vpn-doctor`` key of the CDK context and validated at synth.

Every bad value raises :class:`ConfigError` naming the key, the value and what is allowed, so ``cdk synth``
fails with a sentence instead of a CloudFormation rollback half-way through a deploy.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vpn_doctor.incidents import IncidentPolicy

_INCIDENT_DEFAULTS = IncidentPolicy()

CONTEXT_KEY = "vpn-doctor"
REMEDIATION_MODES = ("off", "dry-run", "auto")
MONITOR_SCOPES = ("all", "tag", "list")
DPD_ACTIONS = ("restart", "none")
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_VPN_ID = re.compile(r"^vpn-[0-9a-f]{8}([0-9a-f]{9})?$")
_LOG_GROUP = re.compile(r"^[\w\-/.#]{1,512}$")
_SECRET_NAME = re.compile(r"^[\w/+=.@-]{1,512}$")


class ConfigError(ValueError):
    """A deploy configuration value is missing or not allowed; the message says which and why."""


@dataclass(frozen=True, kw_only=True)
class Tunnel:
    """One tunnel to watch with a ``TunnelState`` alarm: the VPN connection and the tunnel's AWS outside IP."""

    vpn_connection_id: str
    outside_ip: str


@dataclass(frozen=True, kw_only=True)
class VpnDoctorConfig:
    """The whole deploy configuration; defaults are the safe ones (dry-run remediation, watch everything)."""

    notification_emails: tuple[str, ...] = ()
    slack_secret_name: str | None = None
    remediation_mode: str = "dry-run"
    monitor_scope: str = "all"
    monitor_vpn_ids: tuple[str, ...] = ()
    tunnel_log_groups: tuple[str, ...] = ()
    tunnels: tuple[Tunnel, ...] = ()
    # Incident thresholds default to the incident rules' own (vpn_doctor.incidents.IncidentPolicy).
    clear_delay_seconds: int = int(_INCIDENT_DEFAULTS.clear_delay.total_seconds())
    flap_transitions: int = _INCIDENT_DEFAULTS.flap_transitions
    flap_window_seconds: int = int(_INCIDENT_DEFAULTS.flap_window.total_seconds())
    poll_interval_minutes: int = 1
    silence_minutes: int = 0
    network_manager_events: bool = False
    chatbot_format: bool = False
    # None: the layer release of the pinned Powertools version, resolved from Powertools' public SSM parameter.
    powertools_layer_version: int | None = None
    log_retention_days: int = 30
    # Remediation guards; None keeps the defaults of vpn_doctor.remediation.RemediationPolicy (one source of truth).
    remediation_cooldown_seconds: int | None = None
    remediation_daily_budget: int | None = None
    remediation_sibling_up_seconds: int | None = None
    remediation_dpd_action: str | None = None
    post_check_delay_seconds: int | None = None

    @property
    def remediation_enabled(self) -> bool:
        """False when the mode is ``off``: the remediation construct is then not created at all."""
        return self.remediation_mode != "off"

    @property
    def creates_log_group(self) -> bool:
        """True when no existing tunnel log group is configured, so the stack creates one."""
        return not self.tunnel_log_groups


_DEFAULTS = VpnDoctorConfig()
_KEYS = {
    "notification_emails",
    "slack_secret_name",
    "remediation_mode",
    "monitor",
    "tunnel_log_groups",
    "tunnels",
    "clear_delay_seconds",
    "flap_transitions",
    "flap_window_seconds",
    "poll_interval_minutes",
    "silence_minutes",
    "network_manager_events",
    "chatbot_format",
    "powertools_layer_version",
    "log_retention_days",
    "remediation_cooldown_seconds",
    "remediation_daily_budget",
    "remediation_sibling_up_seconds",
    "remediation_dpd_action",
    "post_check_delay_seconds",
}


def parse_config(raw: object) -> VpnDoctorConfig:
    """Validate the ``vpn-doctor`` context value (a mapping, or its JSON text from ``-c``) into a typed config."""
    if raw is None:
        return _DEFAULTS
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONTEXT_KEY}: context value is not valid JSON ({exc.msg})") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{CONTEXT_KEY}: expected an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{CONTEXT_KEY}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}")

    monitor = raw.get("monitor", {"scope": "all"})
    if not isinstance(monitor, Mapping):
        raise ConfigError('monitor: expected an object like {"scope": "all"}')
    scope = _choice(monitor.get("scope", "all"), "monitor.scope", MONITOR_SCOPES)
    vpn_ids = _strings(monitor.get("vpn_connection_ids", []), "monitor.vpn_connection_ids", _VPN_ID, "vpn-0123abcd")
    if scope == "list" and not vpn_ids:
        raise ConfigError("monitor.vpn_connection_ids: scope 'list' needs at least one VPN connection id")
    if scope != "list" and vpn_ids:
        raise ConfigError(f"monitor.vpn_connection_ids: only used with scope 'list' (scope is '{scope}')")

    slack = raw.get("slack_secret_name")
    if slack is not None and (not isinstance(slack, str) or not _SECRET_NAME.match(slack)):
        raise ConfigError(f"slack_secret_name: {slack!r} is not a Secrets Manager secret name")

    log_groups = _strings(raw.get("tunnel_log_groups", []), "tunnel_log_groups", _LOG_GROUP, "/aws/vpn/tunnels")
    if len(set(log_groups)) != len(log_groups):
        raise ConfigError("tunnel_log_groups: a log group is listed twice")

    flap_transitions = _integer(raw, "flap_transitions", _DEFAULTS.flap_transitions, 2, 100)
    retention = _integer(raw, "log_retention_days", _DEFAULTS.log_retention_days, 1, 3653)
    if retention not in LOG_RETENTION_DAYS:
        raise ConfigError(
            f"log_retention_days: {retention} is not a CloudWatch Logs retention; use one of "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    return VpnDoctorConfig(
        notification_emails=_strings(
            raw.get("notification_emails", []), "notification_emails", _EMAIL, "ops@example.com"
        ),
        slack_secret_name=slack,
        remediation_mode=_choice(
            raw.get("remediation_mode", _DEFAULTS.remediation_mode), "remediation_mode", REMEDIATION_MODES
        ),
        monitor_scope=scope,
        monitor_vpn_ids=vpn_ids,
        tunnel_log_groups=log_groups,
        tunnels=_tunnels(raw.get("tunnels", [])),
        clear_delay_seconds=_integer(raw, "clear_delay_seconds", _DEFAULTS.clear_delay_seconds, 0, 86_400),
        flap_transitions=flap_transitions,
        flap_window_seconds=_integer(raw, "flap_window_seconds", _DEFAULTS.flap_window_seconds, 60, 86_400),
        poll_interval_minutes=_integer(raw, "poll_interval_minutes", _DEFAULTS.poll_interval_minutes, 1, 1440),
        silence_minutes=_integer(raw, "silence_minutes", _DEFAULTS.silence_minutes, 0, 1440),
        network_manager_events=_boolean(raw, "network_manager_events", _DEFAULTS.network_manager_events),
        chatbot_format=_boolean(raw, "chatbot_format", _DEFAULTS.chatbot_format),
        powertools_layer_version=_optional_integer(raw, "powertools_layer_version", 1, 10_000),
        log_retention_days=retention,
        remediation_cooldown_seconds=_optional_integer(raw, "remediation_cooldown_seconds", 0, 7 * 86_400),
        remediation_daily_budget=_optional_integer(raw, "remediation_daily_budget", 0, 100),
        remediation_sibling_up_seconds=_optional_integer(raw, "remediation_sibling_up_seconds", 0, 86_400),
        remediation_dpd_action=(
            None
            if raw.get("remediation_dpd_action") is None
            else _choice(raw["remediation_dpd_action"], "remediation_dpd_action", DPD_ACTIONS)
        ),
        post_check_delay_seconds=_optional_integer(raw, "post_check_delay_seconds", 60, 86_400),
    )


def _choice(value: object, key: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not allowed; use one of {', '.join(allowed)}")
    return str(value)


def _strings(value: object, key: str, pattern: re.Pattern[str], example: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, str) or not pattern.match(item):
            raise ConfigError(f"{key}: {item!r} is not valid (expected something like {example!r})")
    return tuple(value)


def _integer(raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    # bool is an int in Python; "true" as a threshold is a typo, not a number.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key}: {value!r} must be a whole number from {low} to {high}")
    return value


def _optional_integer(raw: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    return None if raw.get(key) is None else _integer(raw, key, 0, low, high)


def _boolean(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: {value!r} must be true or false")
    return value


def _tunnels(value: object) -> tuple[Tunnel, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError(f"tunnels: expected a list, got {type(value).__name__}")
    tunnels: list[Tunnel] = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) != {"vpn_connection_id", "outside_ip"}:
            raise ConfigError(f'tunnels: {item!r} must be {{"vpn_connection_id": ..., "outside_ip": ...}}')
        vpn_id, ip = item["vpn_connection_id"], item["outside_ip"]
        if not isinstance(vpn_id, str) or not _VPN_ID.match(vpn_id):
            raise ConfigError(f"tunnels: {vpn_id!r} is not a VPN connection id (expected like 'vpn-0123abcd')")
        try:
            ipaddress.IPv4Address(ip)
        except (ipaddress.AddressValueError, TypeError) as exc:
            raise ConfigError(f"tunnels: {ip!r} is not the tunnel's IPv4 outside address") from exc
        tunnels.append(Tunnel(vpn_connection_id=vpn_id, outside_ip=ip))
    if len(set(tunnels)) != len(tunnels):
        raise ConfigError("tunnels: a tunnel is listed twice")
    return tuple(tunnels)
