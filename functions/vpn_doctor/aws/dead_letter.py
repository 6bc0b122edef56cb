"""Dead-letter queue for messages a channel could not deliver: kept intact, with the reason."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.render.safe import valid_unicode_document


class DeadLetterQueue:
    """``SendMessage`` of an undelivered message to an SQS queue, for a person or a redrive to replay."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        """The SQS client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("sqs")
        return self._client

    def send(self, *, channel: str, payload: Mapping[str, Any], reason: str, context: Mapping[str, str]) -> str:
        """Keep ``payload`` exactly as it would have been sent, with why it was not and which alert it was.

        The body is ``{"channel", "reason", "context", "payload"}``; ``channel`` and ``reason`` are also
        message attributes. Returns SQS's message id; raises ``AwsCallFailed`` when SQS refuses.
        """
        # Intact except for unpaired surrogates (from a log line), which SQS's UTF-8 cannot carry.
        body = valid_unicode_document(
            {"channel": channel, "reason": reason, "context": dict(context), "payload": payload}
        )
        reason = body["reason"]
        try:
            response = self.client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(body, ensure_ascii=False),
                MessageAttributes={
                    "channel": {"DataType": "String", "StringValue": channel},
                    "reason": {"DataType": "String", "StringValue": reason[:256] or "unknown"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("SendMessage", exc) from None
        return str(response["MessageId"])
