"""DynamoDB tables shaped like the stack's, for the demo and the tests (moto)."""

from __future__ import annotations

from typing import Any


def create_pipeline_table(client: Any, name: str) -> None:
    """A table as the stack creates it: string keys ``pk``/``sk``, on-demand, TTL on ``expires_at``."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
