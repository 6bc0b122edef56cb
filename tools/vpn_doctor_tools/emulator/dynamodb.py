"""DynamoDB tables shaped like the stack's, for the demo and the tests (moto)."""

from __future__ import annotations

from typing import Any

from vpn_doctor.constants import TABLE_PARTITION_KEY, TABLE_SORT_KEY, TABLE_TTL_ATTRIBUTE


def create_pipeline_table(client: Any, name: str) -> None:
    """A table as the stack creates it: string partition and sort keys, on-demand, TTL on the expiry attribute."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": TABLE_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": TABLE_SORT_KEY, "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE_TTL_ATTRIBUTE}
    )
