"""SNS publisher for alerts: e-mail body plus, optionally, the Amazon Q Developer chat JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.render.email import email_subject
from vpn_doctor.text import valid_unicode


class AlertTopic:
    """``Publish`` to the alert topic with message attributes users can filter subscriptions on."""

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> Any:
        """The SNS client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("sns")
        return self._client

    def publish(self, *, subject: str, message: str, attributes: Mapping[str, str], structured: bool) -> str:
        """Publish one alert and return SNS's message id.

        ``structured`` means ``message`` is a ``MessageStructure="json"`` envelope (one text per
        protocol). The subject is made valid for SNS again here, whoever built it. Empty attribute
        values are left out (SNS rejects them). Unpaired surrogates (from a log line) become U+FFFD:
        the request is UTF-8. Raises ``AwsCallFailed`` with AWS's error code.
        """
        request: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Subject": email_subject(valid_unicode(subject)),
            "Message": valid_unicode(message),
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": valid_unicode(value)}
                for name, value in attributes.items()
                if value
            },
        }
        if structured:
            request["MessageStructure"] = "json"
        try:
            response = self.client.publish(**request)
        except (ClientError, BotoCoreError) as exc:
            raise translate("Publish", exc) from None
        return str(response["MessageId"])
