"""The one publish policy of every use case: a publish that did not fully succeed fails the invocation.

A thrown error and a partial failure (``FailedEntryCount > 0``, entries with an ``ErrorCode``) are
the same thing to the caller: :class:`PublishFailed` propagates out of the handler, so Lambda
(asynchronous invocations) or EventBridge (rule targets) delivers the event again, and the redelivery
completes what was left undone. Nothing is logged-and-forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vpn_doctor.aws.bus import PublishReport


class EventPublisher(Protocol):
    """Where use cases put events (the vpn-doctor bus; a list in unit tests)."""

    def publish(self, detail_type: str, details: Sequence[dict[str, Any]]) -> PublishReport:
        """Publish details of one detail type; raise ``AwsCallFailed`` when the call itself fails."""
        ...


class PublishFailed(RuntimeError):
    """Not every event was published: fail the invocation so the event is delivered again."""

    def __init__(
        self, detail_type: str, wanted: int, failed: Sequence[tuple[str, str]], code: str | None = None
    ) -> None:
        codes = sorted({error for _, error in failed} | ({code} if code else set()))
        super().__init__(
            f"{len(failed) or wanted} of {wanted} {detail_type!r} events not published ({', '.join(codes)})"
        )
        self.detail_type = detail_type
        self.wanted = wanted
        self.codes = tuple(codes)


def publish_all(bus: EventPublisher, detail_type: str, details: Sequence[dict[str, Any]]) -> int:
    """Publish every detail or raise :class:`PublishFailed`; returns how many were published."""
    if not details:
        return 0
    from vpn_doctor.aws import AwsCallFailed  # noqa: PLC0415 - keeps this module free of boto3 at import

    try:
        report = bus.publish(detail_type, details)
    except AwsCallFailed as exc:
        raise PublishFailed(detail_type, len(details), [], code=exc.code) from exc
    if report.failed:
        raise PublishFailed(detail_type, len(details), report.failed)
    return report.published
