"""Routing by owner and severity: which channels get an alert.

A connection names its owner with the tag ``vpn-doctor:owner`` (:data:`~vpn_doctor.constants.OWNER_TAG`);
the deployment's routing maps owners to a :class:`Route`: the channels they get, and per channel the
lowest severity worth sending there (PagerDuty only for ``critical``, say). A connection without the
tag, or with an owner the routing does not list, follows ``default``. Without any routing configured,
every channel gets every alert (what the deployment did before routing existed).

Example (the ``routing`` key of the deploy configuration, passed to notify as JSON)::

    {"default": {"channels": ["sns", "slack"]},
     "owners": {"network-emea": {"channels": ["sns", "teams", "pagerduty"],
                                 "min_severity": {"pagerduty": "critical"}}}}

Channel names are the channels' own (``sns`` = the alert topic: e-mail and Amazon Q Developer,
``slack``, ``teams``, ``pagerduty``).

An owner's route may name its own credential for a webhook channel (``secrets``: channel -> the name of a
Secrets Manager secret holding that team's Slack webhook URL, Teams Workflows URL or PagerDuty routing key, in
the same forms as the channel's own secret): that owner's messages on that channel then go there, and only there
(if the secret cannot be read, the message is dead-lettered, never sent to another team's webhook)::

    "owners": {"network-emea": {"channels": ["sns", "slack"], "secrets": {"slack": "vpn-doctor/slack-emea"}}}

The default route has no secrets of its own: it uses each channel's (``slack_secret_name`` ...).

The routing is read where both the alert and the channels are known (the notify use case): respond and
the post-check carry the owner in the alert, as they read the connection anyway, so notify needs no EC2
permission. Pure: no AWS, no environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from vpn_doctor.constants import OWNER_TAG
from vpn_doctor.models import TunnelState
from vpn_doctor.taxonomy import Severity
from vpn_doctor.vpn import VpnConnectionInfo

# Every channel vpn-doctor has (the names their records and metrics carry); routing may name only these.
CHANNEL_NAMES: Final = ("sns", "slack", "teams", "pagerduty", "opsgenie")
# Channels that correlate a recovery with what it recovers by key, and drop a recovery that matches nothing
# open (PagerDuty: "Once the alert is resolved, any further events with the same dedup_key will ... be dropped
# (for acknowledge and resolve events)", https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).
# Their minimum severity does not hold back a recovery: the connection's page may have been opened by
# another tunnel's more severe incident, and only this recovery closes it.
# Opsgenie alike: a close names the open alert by its alias (https://docs.opsgenie.com/docs/alert-api).
CORRELATED: Final = frozenset({"pagerduty", "opsgenie"})
# Channels whose credential is a secret an owner's route may replace with its own (not the alert topic).
OWNED_SECRETS: Final = ("slack", "teams", "pagerduty", "opsgenie")

# An owner is an EC2 tag value (up to 256 characters); leading/trailing spaces are not part of it.
Owner = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
# A Secrets Manager secret's name: up to 512 letters, digits and /_+=.@-
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html).
SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_/+=.@-]+$", max_length=512)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_channel(name: str) -> str:
    if name not in CHANNEL_NAMES:
        raise PydanticCustomError(
            "channel",
            "'{name}' is not a channel; use one of {allowed}",
            {"name": name, "allowed": ", ".join(CHANNEL_NAMES)},
        )
    return name


class Route(_Strict):
    """The channels one owner's alerts go to (``None``: every configured channel), and per channel the
    lowest severity it gets (a channel not listed there gets every severity)."""

    channels: tuple[str, ...] | None = None
    min_severity: Mapping[str, Severity] = Field(default_factory=dict)
    # The owner's own credential per webhook channel: channel -> the secret's name (module docstring).
    secrets: Mapping[str, SecretName] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_known_channels(self) -> Route:
        for name in (*(self.channels or ()), *self.min_severity, *self.secrets):
            _known_channel(name)
        not_owned = sorted(set(self.secrets) - set(OWNED_SECRETS))
        if not_owned:
            raise PydanticCustomError(
                "secrets",
                "secrets names {names}, which has no secret of its own (only {owned})",
                {"names": ", ".join(not_owned), "owned": ", ".join(OWNED_SECRETS)},
            )
        if self.channels is not None and len(set(self.channels)) != len(self.channels):
            raise PydanticCustomError("unique", "a channel is listed twice")
        sent_to = set(self.channels if self.channels is not None else CHANNEL_NAMES)
        for key, names in (("min_severity", self.min_severity), ("secrets", self.secrets)):
            unrouted = sorted(set(names) - sent_to)
            if unrouted:
                raise PydanticCustomError(
                    "unrouted",
                    "{key} names {names}, which this route does not send to (add it to channels)",
                    {"key": key, "names": ", ".join(unrouted)},
                )
        return self

    @property
    def named_channels(self) -> frozenset[str]:
        """Every channel this route names (to check they are configured)."""
        return frozenset((*(self.channels or ()), *self.min_severity, *self.secrets))

    def wants(self, channel: str, severity: Severity, *, recovery: bool = False) -> bool:
        """Whether ``channel`` gets an alert of ``severity`` (a ``recovery`` or not) on this route."""
        if self.channels is not None and channel not in self.channels:
            return False
        floor = self.min_severity.get(channel)
        return floor is None or severity.rank >= floor.rank or (recovery and channel in CORRELATED)


class Routing(_Strict):
    """The deployment's routing: one :class:`Route` per owner, and the route of every other connection."""

    default: Route = Route()
    owners: Mapping[Owner, Route] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _secrets_only_for_owners(self) -> Routing:
        if self.default.secrets:
            raise PydanticCustomError(
                "secrets",
                "default.secrets: the default route uses each channel's own secret (slack_secret_name, "
                "teams_secret_name, pagerduty_secret_name); name a team's own secret in its owners entry",
            )
        return self

    @property
    def owner_secrets(self) -> dict[tuple[str, str], str]:
        """(owner, channel) -> the name of the secret that owner's messages on that channel use."""
        return {
            (owner, channel): name for owner, route in self.owners.items() for channel, name in route.secrets.items()
        }

    def route(self, owner: str | None) -> Route:
        """The owner's route, or ``default`` (no owner, or one the routing does not list)."""
        return self.owners.get(owner.strip(), self.default) if owner else self.default

    def wants(self, channel: str, *, owner: str | None, severity: Severity, recovery: bool = False) -> bool:
        """Whether ``channel`` gets an alert about a connection of ``owner`` with ``severity``."""
        return self.route(owner).wants(channel, severity, recovery=recovery)

    @property
    def named_channels(self) -> frozenset[str]:
        """Every channel some route names."""
        return frozenset().union(self.default.named_channels, *(route.named_channels for route in self.owners.values()))


EVERY_CHANNEL: Final = Routing()


def parse_routing(text: str | None) -> Routing:
    """The routing from its JSON text (the notify function's variable); empty: :data:`EVERY_CHANNEL`.

    Raises ``ValueError`` naming each bad key (``owners.network-emea.channels.0: ...``), never a crash."""
    if not text or not text.strip():
        return EVERY_CHANNEL
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"routing is not valid JSON ({exc.msg})") from None
    try:
        return Routing.model_validate(document)
    except ValidationError as exc:
        raise ValueError("; ".join(routing_errors(exc))) from None


def routing_errors(exc: ValidationError) -> list[str]:
    """Each validation error as ``<key path>: <what is wrong>``."""
    return [f"{'.'.join(map(str, error['loc'])) or 'routing'}: {error['msg']}" for error in exc.errors()]


def owner_of(connection: VpnConnectionInfo | None) -> str | None:
    """The connection's ``vpn-doctor:owner`` tag, stripped; ``None`` when absent or blank."""
    if connection is None:
        return None
    return connection.tags.get(OWNER_TAG, "").strip() or None


def other_tunnels_down(connection: VpnConnectionInfo | None, tunnel_ip: str) -> tuple[str, ...]:
    """The outside IPs of the connection's other tunnels that EC2's telemetry reports DOWN."""
    if connection is None:
        return ()
    return tuple(
        tunnel.outside_ip
        for tunnel in connection.tunnels
        if tunnel.outside_ip != tunnel_ip
        and tunnel.telemetry is not None
        and tunnel.telemetry.status is TunnelState.DOWN
    )
