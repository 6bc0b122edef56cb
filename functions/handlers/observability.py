"""One Logger, Metrics and Tracer for every handler (service ``vpn-doctor``, namespace ``VpnDoctor``)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from vpn_doctor.constants import METRICS_NAMESPACE, SERVICE_NAME

# The libraries our functions call out with: botocore (every AWS call) and http.client (the Slack
# SDK and webhooks go through urllib). Patching only these, instead of every library the X-Ray SDK
# knows (sqlite3, requests, httpx, database drivers, ...), traces the same calls and spares each
# cold start importing and patching the rest.
TRACED_LIBRARIES = ("botocore", "httplib")

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME, patch_modules=TRACED_LIBRARIES)
