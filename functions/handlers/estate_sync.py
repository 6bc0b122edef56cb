"""Estate sync Lambda, on a spoke (docs/estate.md): keeps what the hub decides where this spoke's functions read it.

Two inputs:

- the hub's silences (SNS, from the hub's silence topic: one DynamoDB stream record of a ``SILENCE`` item per
  message), copied into this spoke's incidents table, where respond decides holds and the poller ends them
  (:func:`vpn_doctor.app.silences.store_synced_silence`);
- this spoke's held alerts (its bus, ``VPN Tunnel Alert`` with ``held``): remembered here exactly as notify does in
  a single deployment (:func:`vpn_doctor.app.notify.deliver_alert`, with no channel: a spoke sends nothing), so
  the spoke's poller announces each still-open incident once when its hold ends. The hub's notify receives the same
  alert, forwarded, and sends nothing for it either.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, ValidationError

from handlers.observability import count, logger, metrics, trace_libraries, tracer
from handlers.wiring import FunctionSettings, Once, load_settings
from vpn_doctor import constants as names
from vpn_doctor.app.notify import DUPLICATE_WINDOW, deliver_alert
from vpn_doctor.app.silences import store_synced_silence, synced_silence
from vpn_doctor.aws.idempotency import OnceInTable
from vpn_doctor.aws.silence_store import DynamoDbSilenceStore
from vpn_doctor.models import Alert, load

trace_libraries(("botocore",))


class Settings(FunctionSettings):
    """The spoke's incidents table: its silences, its held incidents, the once-records of held alerts."""

    incidents_table: str = Field(alias=names.ENV_INCIDENTS_TABLE)


settings = Once(lambda: load_settings(Settings))
store = Once(lambda: DynamoDbSilenceStore(settings().incidents_table))
once = Once(lambda: OnceInTable(settings().incidents_table, function="estate_sync", expires_after=DUPLICATE_WINDOW))


def _reason(exc: ValueError) -> str:
    # pydantic's errors by field path and kind, never the values (a reason may quote anything).
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:5])
    return str(exc)[:300]


def _stream_records(record: dict[str, Any]) -> list[Any]:
    """The stream records one SNS record carries: one (the pipe's batch size is 1), or a list of them."""
    if record.get("EventSource") != "aws:sns":
        raise ValueError(f"not an SNS record (EventSource {record.get('EventSource')!r})")
    message = json.loads(record["Sns"]["Message"])
    return message if isinstance(message, list) else [message]


def _silences(records: list[dict[str, Any]]) -> dict[str, Any]:
    stored = unchanged = rejected = 0
    for record in records:
        message_id = (record.get("Sns") or {}).get("MessageId")
        try:
            silences = [synced_silence(item) for item in _stream_records(record)]
        except (ValueError, KeyError, TypeError) as exc:  # json's and pydantic's errors are ValueErrors
            rejected += 1
            count(names.METRIC_INVALID_PAYLOADS)
            why = _reason(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            logger.error("Rejected silence message", reason=why, message_id=message_id)
            continue
        for silence in silences:
            if store_synced_silence(store(), silence):
                stored += 1
                logger.info(
                    "Silence copied from the hub", silence_id=silence.silence_id, lifted=bool(silence.lifted_at)
                )
            else:
                unchanged += 1
    return {"status": "silences", "stored": stored, "unchanged": unchanged, "rejected": rejected}


def _held(event: dict[str, Any]) -> dict[str, Any]:
    try:
        alert = load(Alert, event.get("detail") or {})
    except ValueError as exc:
        count(names.METRIC_INVALID_ALERTS)
        logger.error("Rejected alert event", reason=_reason(exc), event_id=event.get("id"))
        return {"status": "rejected"}
    if alert.held is None:  # the rule passes held alerts only; anything else is not this function's to keep
        return {"status": "ignored"}
    incident = alert.transition.incident
    logger.append_keys(incident_id=incident.incident_id, vpn_connection_id=incident.vpn_connection_id)
    delivery = deliver_alert(
        alert, channels=(), once=once(), held_alerts=store(), console_region=None, log_group=None, now=datetime.now(UTC)
    )
    summary = delivery.summary()
    logger.info("Held alert remembered", status=summary["status"], duplicate=delivery.duplicate)
    return {"status": summary["status"]}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Copy the hub's silences (SNS records), or remember a held alert (a bus event); bad input is rejected."""
    once().register_lambda_context(context)
    records = event.get("Records")
    if isinstance(records, list):
        return _silences(records)
    if event.get("detail-type") == names.DETAIL_TYPE_ALERT:
        return _held(event)
    count(names.METRIC_INVALID_PAYLOADS)
    logger.error("Rejected event: neither SNS records nor an alert", detail_type=event.get("detail-type"))
    return {"status": "rejected"}
