"""Use case of the poller's release step: when a hold ends, announce each held incident still open, once.

Notify remembers each held incident (its last held alert; a recovery while held forgets it, so what recovered
meanwhile is never announced). Every poll, the poller reads the held incidents (one ``Query``; the silences too,
only when some are held) and, for each whose hold has ended (its silence expired or was lifted, its maintenance
window closed) and still open on its tunnel (the tunnel's record, one ``BatchGetItem``), publishes its last alert
again, marked as released; then forgets every incident whose hold has ended.

Once: the announcement's transition event id is derived from the held alert's (``<event id>#released``), so
notify's once-per-(channel, incident, transition, event id) record sends it at most once per channel even when
the forget failed and the next poll publishes it again, or the bus delivers it twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from vpn_doctor.app.publishing import EventPublisher, publish_all
from vpn_doctor.constants import DETAIL_TYPE_ALERT, SILENCE_PARTITION
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.incidents import TunnelRecord
from vpn_doctor.models import Alert, dump, load
from vpn_doctor.silences import Silence, still_held

RELEASED_SUFFIX = "#released"


class HeldAlertsStore(Protocol):
    """The held incidents and silences (vpn_doctor.aws.silence_store)."""

    def held(self) -> Sequence[Alert]:
        """Every held incident's last held alert."""
        ...

    def silences(self, *, ended_after: datetime | None = None) -> list[Silence]:
        """The silences not ended by ``ended_after``."""
        ...

    def release(self, incident_ids: Sequence[str]) -> None:
        """Forget held incidents."""
        ...


class TunnelRecords(Protocol):
    """The tunnels' records, with their open incident (vpn_doctor.aws.incident_store)."""

    def load_many(self, tunnels: Iterable[tuple[str, str]]) -> Mapping[tuple[str, str], TunnelRecord]:
        """The records of ``tunnels``: one ``BatchGetItem`` per 100."""
        ...


def released_alert(held: Alert, silences: Iterable[Silence] = ()) -> Alert:
    """The announcement of a held alert whose hold has ended: the same alert, marked with what held it, until
    when it really held (a silence lifted early ended then, not at its planned expiry)."""
    transition = replace(held.transition, event_id=held.transition.event_id + RELEASED_SUFFIX)
    hold = held.held
    if hold is not None and hold.silence_id is not None:
        ended = [s.ended_at for s in silences if s.silence_id == hold.silence_id]
        hold = replace(hold, until=min([hold.until, *ended]))
    return replace(held, transition=transition, held=None, released_from=hold)


def announce_released(
    store: HeldAlertsStore, records: TunnelRecords, bus: EventPublisher, *, now: datetime
) -> list[str]:
    """Publish the alert of every held incident whose hold has ended and that is still open on its tunnel, then
    forget every ended one; the announced incident ids.

    "Still open" is read from the tunnel's record, not from notify's memory alone: an incident resolved after its
    hold ended (its recovery then went out as usual) is forgotten without a word. Raises
    :class:`~vpn_doctor.app.publishing.PublishFailed` when the bus refused: nothing is forgotten, the next poll
    tries again."""
    held = store.held()
    if not held:
        return []
    silences = store.silences(ended_after=now)
    ended = [alert for alert in held if alert.held is None or not still_held(alert.held, silences, now=now)]
    if not ended:
        return []
    tunnels = {(a.transition.incident.vpn_connection_id, a.transition.incident.tunnel_ip) for a in ended}
    open_now = {record.incident.incident_id for record in records.load_many(tunnels).values() if record.incident}
    broken = [alert for alert in ended if alert.transition.incident.incident_id in open_now]
    publish_all(bus, DETAIL_TYPE_ALERT, [dump(released_alert(alert, silences)) for alert in broken])
    store.release([alert.transition.incident.incident_id for alert in ended])
    return [alert.transition.incident.incident_id for alert in broken]


# --- a spoke's copy of the hub's silences (docs/estate.md, "hub to spokes") ------------------------------------


class SilenceCopies(Protocol):
    """Where a spoke keeps the hub's silences: the items respond and the poller read (vpn_doctor.aws.silence_store)."""

    def silence(self, silence_id: str) -> Silence | None:
        """One stored silence, ``None`` when unknown."""
        ...

    def put(self, silence: Silence) -> None:
        """Store a silence (new, or lifted)."""
        ...


def synced_silence(record: Mapping[str, Any]) -> Silence:
    """The silence in one hub message: a DynamoDB stream record (``INSERT``/``MODIFY``) of a ``SILENCE`` item, as
    the hub's pipe publishes it (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html).
    ValueError (pydantic's ValidationError too) when it is something else."""
    try:
        image = record["dynamodb"]["NewImage"]
        partition = image[PK]["S"]
        document = json.loads(image["doc"]["S"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a silence stream record ({type(exc).__name__}: {exc})") from None
    if partition != SILENCE_PARTITION:
        raise ValueError(f"not a silence item (partition {partition!r})")
    return load(Silence, document)


def store_synced_silence(copies: SilenceCopies, silence: Silence) -> bool:
    """Keep the hub's silence on this spoke; False when the copy already says as much or more.

    Messages may arrive twice and out of order (SNS delivers at least once, unordered): a lift is never undone by
    a late copy of the silence as added, and a repeat writes nothing."""
    stored = copies.silence(silence.silence_id)
    if stored == silence or (stored is not None and stored.lifted_at is not None and silence.lifted_at is None):
        return False
    copies.put(silence)
    return True
