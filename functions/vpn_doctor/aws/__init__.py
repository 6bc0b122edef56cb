"""Thin boto3 adapters: the only code that talks to AWS.

Each adapter creates its client lazily with plain ``boto3.client("<service>")`` (so region,
credentials and ``AWS_ENDPOINT_URL`` come from the environment: the demo points them at
moto_server), or accepts a client, and translates AWS errors into domain outcomes.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

# Error codes that mean "not now": the caller may retry later, without a retry storm.
RETRYABLE_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "LimitExceededException",
    }
)


class AwsCallFailed(RuntimeError):
    """An AWS call failed; ``code`` is AWS's error code (kept for the alert), ``try_later`` whether to retry."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code
        self.try_later = code in RETRYABLE_CODES or code == "EndpointConnectionError"


def translate(operation: str, exc: Exception) -> AwsCallFailed:
    """The domain error for a botocore exception (client errors keep their code)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return AwsCallFailed(operation, str(error.get("Code", "Unknown")), str(error.get("Message", "")))
    if isinstance(exc, BotoCoreError):
        return AwsCallFailed(operation, type(exc).__name__, str(exc))
    return AwsCallFailed(operation, type(exc).__name__, str(exc))
