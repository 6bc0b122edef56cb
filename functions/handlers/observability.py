"""One Logger, Metrics and Tracer for every handler (service ``vpn-doctor``, namespace ``VpnDoctor``)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger, Metrics, Tracer

from vpn_doctor.constants import METRICS_NAMESPACE, SERVICE_NAME

# The libraries our functions call out with: botocore (every AWS call) and http.client (the Slack
# SDK and webhooks go through urllib). Patching only these, instead of every library the X-Ray SDK
# knows (sqlite3, requests, httpx, database drivers, ...), traces the same calls and spares each
# cold start importing and patching the rest.
TRACED_LIBRARIES = ("botocore", "httplib")

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
# Each handler patches what it calls out with (patching botocore imports it): see trace_libraries.
tracer = Tracer(service=SERVICE_NAME, auto_patch=False)


def trace_libraries(libraries: Sequence[str] = TRACED_LIBRARIES) -> None:
    """Trace the calls these libraries make (X-Ray subsegments), from now on; patching twice is a no-op.

    A handler calls it at import for the libraries it always uses; the ingest handler only when it
    first needs AWS (most of its batches never do)."""
    tracer.patch(modules=libraries)
