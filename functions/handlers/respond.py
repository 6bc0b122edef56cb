"""Respond Lambda (bus: ``VPN Tunnel Incident``): diagnose, decide/execute remediation, publish the alert.

The detail is ``models.dump(IncidentTransition)``. The connection is read (read-only EC2 adapter),
diagnosed, and the remediation policy decides (off / dry-run / auto, every guard in
:mod:`vpn_doctor.remediation`). An applied change schedules the post-check. The result goes back on
the bus as ``VPN Tunnel Alert`` (``models.dump(Alert)``). A duplicate delivery publishes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import logger, metrics, trace_libraries, tracer
from handlers.runtime import LazyRuntime, SettingsError, integer, region, required, seconds
from vpn_doctor.aws import AwsCallFailed
from vpn_doctor.aws.bus import EventBus
from vpn_doctor.aws.ec2 import Ec2Reader
from vpn_doctor.aws.ec2_modify import Ec2TunnelModifier
from vpn_doctor.aws.remediation_store import DynamoDbRemediationStore
from vpn_doctor.aws.scheduler import PostCheckScheduler
from vpn_doctor.constants import (
    DETAIL_TYPE_ALERT,
    ENV_EVENT_BUS_NAME,
    ENV_POST_CHECK_DELAY_SECONDS,
    ENV_POST_CHECK_ROLE_ARN,
    ENV_POST_CHECK_TARGET_ARN,
    ENV_REMEDIATION_COOLDOWN_SECONDS,
    ENV_REMEDIATION_DAILY_BUDGET,
    ENV_REMEDIATION_DPD_ACTION,
    ENV_REMEDIATION_MODE,
    ENV_REMEDIATION_SIBLING_UP_SECONDS,
    ENV_REMEDIATION_TABLE,
    ENV_TUNNEL_LOG_GROUP_ARN,
    METRIC_INVALID_PAYLOADS,
    METRIC_PUBLISH_FAILURES,
    METRIC_REMEDIATIONS,
    METRICS_NAMESPACE,
)
from vpn_doctor.diagnosis import diagnose
from vpn_doctor.models import (
    Alert,
    IncidentTransition,
    RemediationOutcome,
    RemediationStatus,
    dump,
    iso,
    load,
)
from vpn_doctor.remediation import Mode, RemediationPolicy, remediate
from vpn_doctor.vpn import VpnConnectionInfo

trace_libraries(("botocore",))

ACTOR = "vpn-doctor respond"


@dataclass(frozen=True, slots=True)
class RemediationWiring:
    """The resources remediation needs (the stack creates them unless the deployment's mode is off)."""

    table: str
    post_check_target_arn: str
    post_check_role_arn: str


@dataclass(frozen=True, slots=True)
class RespondSettings:
    """The respond function's configuration, from its environment (names in ``vpn_doctor.constants``)."""

    event_bus_name: str
    # None when the deployment's mode is off: no table, no IAM to modify, so no tag can turn it on.
    wiring: RemediationWiring | None
    policy: RemediationPolicy = field(default_factory=RemediationPolicy)
    post_check_delay: timedelta = timedelta(minutes=15)
    region: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RespondSettings:
        """Read and validate; raises :class:`SettingsError` naming the variable."""
        bus = required(env, ENV_EVENT_BUS_NAME)
        raw_mode = env.get(ENV_REMEDIATION_MODE, "").strip() or Mode.DRY_RUN.value
        mode = Mode.parse(raw_mode)
        if mode is None:
            raise SettingsError(f"{ENV_REMEDIATION_MODE} must be off, dry-run or auto, not {raw_mode!r}")
        wiring = None
        if mode is not Mode.OFF:
            wiring = RemediationWiring(
                table=required(env, ENV_REMEDIATION_TABLE),
                post_check_target_arn=required(env, ENV_POST_CHECK_TARGET_ARN),
                post_check_role_arn=required(env, ENV_POST_CHECK_ROLE_ARN),
            )
        defaults = RemediationPolicy()
        dpd_action = env.get(ENV_REMEDIATION_DPD_ACTION, "").strip().lower() or defaults.dpd_timeout_action
        if dpd_action not in ("restart", "none"):
            raise SettingsError(f"{ENV_REMEDIATION_DPD_ACTION} must be restart or none, not {dpd_action!r}")
        policy = replace(
            defaults,
            mode=mode,
            cooldown=seconds(env, ENV_REMEDIATION_COOLDOWN_SECONDS, defaults.cooldown),
            daily_budget=integer(env, ENV_REMEDIATION_DAILY_BUDGET, defaults.daily_budget),
            sibling_up_minimum=seconds(env, ENV_REMEDIATION_SIBLING_UP_SECONDS, defaults.sibling_up_minimum),
            log_group_arn=env.get(ENV_TUNNEL_LOG_GROUP_ARN, "").strip() or None,
            dpd_timeout_action=dpd_action,
        )
        return cls(
            event_bus_name=bus,
            wiring=wiring,
            policy=policy,
            post_check_delay=seconds(env, ENV_POST_CHECK_DELAY_SECONDS, timedelta(minutes=15), minimum=60),
            region=region(env),
        )


@dataclass(slots=True)
class RespondRuntime:
    """Settings plus the adapters (their boto3 clients are created on first use)."""

    settings: RespondSettings
    ec2: Ec2Reader = field(default_factory=Ec2Reader)
    modifier: Ec2TunnelModifier = field(default_factory=Ec2TunnelModifier)
    bus: EventBus = field(init=False)
    store: DynamoDbRemediationStore | None = field(init=False, default=None)
    scheduler: PostCheckScheduler | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.bus = EventBus(self.settings.event_bus_name)
        wiring = self.settings.wiring
        if wiring is not None:
            self.store = DynamoDbRemediationStore(wiring.table)
            self.scheduler = PostCheckScheduler(
                target_arn=wiring.post_check_target_arn, role_arn=wiring.post_check_role_arn
            )


_RUNTIME: LazyRuntime[RespondRuntime] = LazyRuntime(lambda env: RespondRuntime(RespondSettings.from_env(env)))


def runtime() -> RespondRuntime:
    """The process-wide runtime, built from the environment on first use."""
    return _RUNTIME.get()


def reset() -> None:
    """Forget settings and clients (tests and the demo change the environment between runs)."""
    _RUNTIME.reset()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One incident transition in, at most one alert out."""
    active = runtime()
    try:
        transition = load_transition(event)
    except (KeyError, TypeError, ValueError) as exc:  # pydantic.ValidationError is a ValueError
        metrics.add_metric(name=METRIC_INVALID_PAYLOADS, unit=MetricUnit.Count, value=1)
        logger.error("Rejected event: not an incident transition", reason=str(exc)[:300])
        return {"status": "rejected"}
    incident = transition.incident
    logger.append_keys(
        vpn_connection_id=incident.vpn_connection_id, tunnel_ip=incident.tunnel_ip, incident_id=incident.incident_id
    )
    return respond(active, transition, now=datetime.now(UTC))


def load_transition(event: Mapping[str, Any]) -> IncidentTransition:
    """The transition in an EventBridge event's detail."""
    return load(IncidentTransition, event["detail"])


def respond(active: RespondRuntime, transition: IncidentTransition, *, now: datetime) -> dict[str, Any]:
    """Diagnose, remediate (policy-gated) and publish the alert; returns a summary for the logs/tests."""
    incident = transition.incident
    connection = _read_connection(active, incident.vpn_connection_id)
    diagnosis = diagnose(incident, connection, traffic=None, now=now)
    if active.store is None:
        outcome = RemediationOutcome(RemediationStatus.OFF, "Remediation is off for this deployment.", decided_at=now)
    else:
        try:
            decision = remediate(
                transition,
                connection,
                diagnosis,
                policy=active.settings.policy,
                store=active.store,
                modifier=active.modifier,
                now=now,
                actor=ACTOR,
            )
        except AwsCallFailed as exc:
            # The remediation table is unavailable: without its guards nothing may change; the alert still goes out.
            logger.error("Remediation store unavailable", code=exc.code, operation=exc.operation)
            outcome = RemediationOutcome(
                RemediationStatus.TRY_LATER,
                f"The remediation table could not be used ({exc.code}): nothing was changed.",
                error_code=exc.code,
                decided_at=now,
            )
        else:
            if decision.duplicate:
                logger.info("Duplicate incident event: already handled", event_id=transition.event_id)
                return {"status": "duplicate", "remediation": decision.outcome.status.value}
            outcome = decision.outcome
    if outcome.status is RemediationStatus.APPLIED and active.scheduler is not None:
        outcome = _schedule_post_check(active.scheduler, active.settings.post_check_delay, transition, outcome, now)
    _count(outcome.status.value)
    logger.info(
        "Remediation decision",
        status=outcome.status.value,
        action=outcome.action.value if outcome.action else None,
        reason=outcome.reason,
        error_code=outcome.error_code,
        verdict=diagnosis.verdict.value,
    )
    alert = Alert(
        transition=transition,
        diagnosis=diagnosis,
        remediation=outcome,
        region=active.settings.region,
        log_group=_log_group(connection, incident.tunnel_ip) or active.settings.policy.log_group_arn,
    )
    published = _publish(active, alert)
    return {
        "status": "published" if published else "not_published",
        "remediation": outcome.status.value,
        "verdict": diagnosis.verdict.value,
    }


def _read_connection(active: RespondRuntime, vpn_connection_id: str) -> VpnConnectionInfo | None:
    try:
        return active.ec2.connection(vpn_connection_id)
    except AwsCallFailed as exc:
        logger.warning("DescribeVpnConnections failed", code=exc.code)
        return None


def _schedule_post_check(
    scheduler: PostCheckScheduler,
    delay: timedelta,
    transition: IncidentTransition,
    outcome: RemediationOutcome,
    now: datetime,
) -> RemediationOutcome:
    payload = {
        "transition": dump(transition),
        "remediation": dump(outcome),
        "modified_at": iso(now),
    }
    try:
        name = scheduler.schedule(transition.event_id, now + delay, payload)
    except AwsCallFailed as exc:
        logger.error("Post-check not scheduled", code=exc.code)
        return replace(
            outcome,
            reason=f"{outcome.reason} The post-check could not be scheduled ({exc.code}): check the tunnel is UP "
            f"within {int(delay.total_seconds() // 60)} min.",
        )
    logger.info("Post-check scheduled", schedule=name, at=iso(now + delay))
    return outcome


def _log_group(connection: VpnConnectionInfo | None, tunnel_ip: str) -> str | None:
    tunnel = connection.tunnel(tunnel_ip) if connection is not None else None
    if tunnel is None or not tunnel.logging.enabled:
        return None
    return tunnel.logging.log_group_arn


def _publish(active: RespondRuntime, alert: Alert) -> bool:
    try:
        report = active.bus.publish(DETAIL_TYPE_ALERT, [dump(alert)])
    except AwsCallFailed as exc:
        metrics.add_metric(name=METRIC_PUBLISH_FAILURES, unit=MetricUnit.Count, value=1)
        logger.error("Alert not published", code=exc.code, alert=dump(alert))
        return False
    if report.failed:
        metrics.add_metric(name=METRIC_PUBLISH_FAILURES, unit=MetricUnit.Count, value=len(report.failed))
        logger.error("Alert not published", failures=report.failed, alert=dump(alert))
        return False
    return True


def _count(status: str) -> None:
    with single_metric(
        name=METRIC_REMEDIATIONS,
        unit=MetricUnit.Count,
        value=1,
        namespace=METRICS_NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name="Status", value=status)
