"""One Logger, Metrics and Tracer for every handler (service ``vpn-doctor``, namespace ``VpnDoctor``)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from vpn_doctor.constants import METRICS_NAMESPACE, SERVICE_NAME

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
