"""The watchdog's AWS reads (CloudWatch Logs, SNS, CloudWatch metrics) and its memory (the incidents table).

Reads, per run: ``DescribeLogStreams`` (every page, 50 streams each) of each log group a watched tunnel logs to,
``DescribeSubscriptionFilters`` of each watched log group, ``ListSubscriptionsByTopic`` (every page) of the alert
topic, and one ``GetMetricData`` query of the poller's AWS/Lambda ``Invocations``. The store keeps the open
conditions in the incidents table under the partition ``WATCHDOG`` (``CONDITION#<key>``) and the watchdog's first
run (``SINCE``); one ``Query`` per run, a write only when a condition starts or ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.app.watchdog import OpenCondition
from vpn_doctor.aws import translate
from vpn_doctor.constants import TABLE_PARTITION_KEY as PK
from vpn_doctor.constants import TABLE_SORT_KEY as SK
from vpn_doctor.watchdog import Observation

WATCHDOG_PK: Final = "WATCHDOG"
_CONDITION: Final = "CONDITION#"
_SINCE: Final = "SINCE"


class _Clients:
    def __init__(self, clients: Mapping[str, Any] | None = None) -> None:
        self._clients = dict(clients or {})

    def client(self, service: str) -> Any:
        """The service's client, created on first use from the environment."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service)
        return self._clients[service]

    def call(self, service: str, operation: str, **request: Any) -> dict[str, Any]:
        method = getattr(self.client(service), operation)
        try:
            return dict(method(**request))
        except (ClientError, BotoCoreError) as exc:
            raise translate(operation, exc) from None

    def pages(self, service: str, operation: str, key: str, **request: Any) -> list[Any]:
        try:
            return [
                item
                for page in self.client(service).get_paginator(operation).paginate(**request)
                for item in page.get(key) or ()
            ]
        except (ClientError, BotoCoreError) as exc:
            raise translate(operation, exc) from None


class WatchdogReader(_Clients):
    """Implements :class:`vpn_doctor.app.watchdog.WatchdogAws` (clients by service name, created on first use)."""

    def last_events(self, log_group: str) -> dict[str, datetime]:
        """Each stream's ``lastEventTimestamp`` (streams with no event yet are left out)."""
        streams = self.pages("logs", "describe_log_streams", "logStreams", logGroupName=log_group)
        return {
            stream["logStreamName"]: datetime.fromtimestamp(stream["lastEventTimestamp"] / 1000, UTC)
            for stream in streams
            if stream.get("lastEventTimestamp")
        }

    def filter_destinations(self, log_group: str) -> list[str]:
        """The group's subscription filters' destination ARNs (at most two per group)."""
        filters = self.call("logs", "describe_subscription_filters", logGroupName=log_group)
        return [str(item.get("destinationArn", "")) for item in filters.get("subscriptionFilters") or ()]

    def subscription_arns(self, topic_arn: str) -> list[str]:
        """The topic's subscription ARNs (``PendingConfirmation`` for unconfirmed ones)."""
        subscriptions = self.pages("sns", "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn)
        return [str(item.get("SubscriptionArn", "")) for item in subscriptions]

    def invocations(self, function_name: str, *, start: datetime, end: datetime) -> float | None:
        """Sum of AWS/Lambda ``Invocations`` of the function over the window; ``None`` without a datapoint."""
        seconds = max(60, int((end - start).total_seconds()) // 60 * 60)
        response = self.call(
            "cloudwatch",
            "get_metric_data",
            MetricDataQueries=[
                {
                    "Id": "invocations",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Invocations",
                            "Dimensions": [{"Name": "FunctionName", "Value": function_name}],
                        },
                        "Period": seconds,
                        "Stat": "Sum",
                    },
                }
            ],
            StartTime=start,
            EndTime=end,
        )
        values = [value for result in response.get("MetricDataResults") or () for value in result.get("Values") or ()]
        return float(sum(values)) if values else None


class DynamoDbWatchdogStore(_Clients):
    """Implements :class:`vpn_doctor.app.watchdog.WatchdogStore` on the incidents table."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        super().__init__({"dynamodb": client} if client is not None else None)
        self.table_name = table_name

    def open_conditions(self) -> dict[str, OpenCondition]:
        """Every open condition (one consistent ``Query``, every page)."""
        items = self.pages(
            "dynamodb",
            "query",
            "Items",
            TableName=self.table_name,
            KeyConditionExpression=f"{PK} = :pk AND begins_with({SK}, :prefix)",
            ExpressionAttributeValues={":pk": {"S": WATCHDOG_PK}, ":prefix": {"S": _CONDITION}},
            ConsistentRead=True,
        )
        return {
            key: OpenCondition(key, bool(item.get("published", {}).get("BOOL")))
            for item in items
            if (key := item[SK]["S"].removeprefix(_CONDITION))
        }

    def open(self, observation: Observation, now: datetime) -> bool:
        """Put the condition, unpublished, unless it is already open (a concurrent run's): then ``False``."""
        try:
            self.client("dynamodb").put_item(
                TableName=self.table_name,
                Item={
                    PK: {"S": WATCHDOG_PK},
                    SK: {"S": f"{_CONDITION}{observation.key}"},
                    "condition": {"S": observation.condition.value},
                    "subject": {"S": observation.subject},
                    "detail": {"S": observation.detail},
                    "opened_at": {"S": now.astimezone(UTC).isoformat()},
                    "published": {"BOOL": False},
                },
                ConditionExpression=f"attribute_not_exists({PK})",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate("PutItem", exc) from None
            return False
        except BotoCoreError as exc:
            raise translate("PutItem", exc) from None
        return True

    def mark_published(self, key: str) -> None:
        """The condition's alert went out."""
        self.call(
            "dynamodb",
            "update_item",
            TableName=self.table_name,
            Key={PK: {"S": WATCHDOG_PK}, SK: {"S": f"{_CONDITION}{key}"}},
            UpdateExpression="SET published = :yes",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )

    def close(self, key: str) -> None:
        """Forget the condition (its resolution went out)."""
        self.call(
            "dynamodb",
            "delete_item",
            TableName=self.table_name,
            Key={PK: {"S": WATCHDOG_PK}, SK: {"S": f"{_CONDITION}{key}"}},
        )

    def watching_since(self, now: datetime) -> datetime:
        """The first run's time: written once (conditionally), read back consistently."""
        key = {PK: {"S": WATCHDOG_PK}, SK: {"S": _SINCE}}
        item = self.call("dynamodb", "get_item", TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        if item:
            return datetime.fromisoformat(item["since"]["S"])
        try:
            self.client("dynamodb").put_item(
                TableName=self.table_name,
                Item={**key, "since": {"S": now.astimezone(UTC).isoformat()}},
                ConditionExpression=f"attribute_not_exists({PK})",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate("PutItem", exc) from None
        except BotoCoreError as exc:
            raise translate("PutItem", exc) from None
        return now
