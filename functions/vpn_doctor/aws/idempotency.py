"""At most once per key: Powertools idempotency records in the incidents table (``pk``/``sk``, TTL ``expires_at``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from vpn_doctor.constants import TABLE_PARTITION_KEY, TABLE_SORT_KEY, TABLE_TTL_ATTRIBUTE


class OnceInTable:
    """Runs a sender at most once per (scope, key) within ``expires_after``; a repeat gets the stored result.

    Records sit under the partition ``idempotency#<function>`` with the sort key ``<function>.<scope>#<hash of
    key>``. A sender that raises leaves no record, so a retry runs it again.
    """

    def __init__(self, table_name: str, *, function: str, expires_after: timedelta) -> None:
        self._function = function
        self._config = IdempotencyConfig(
            expires_after_seconds=int(expires_after.total_seconds()), raise_on_no_idempotency_key=True
        )
        self._store = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr=TABLE_PARTITION_KEY,
            sort_key_attr=TABLE_SORT_KEY,
            static_pk_value=f"idempotency#{function}",
            expiry_attr=TABLE_TTL_ATTRIBUTE,
        )
        self._senders: dict[str, Callable[..., dict[str, Any]]] = {}

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Lets a record left by a timed-out invocation expire with it (Powertools' in-progress expiry)."""
        self._config.register_lambda_context(context)

    def __call__(
        self, scope: str, key: Mapping[str, str], send: Callable[[], dict[str, str]]
    ) -> tuple[dict[str, str], bool]:
        """``send()``'s result, or the one stored for ``key``; and whether it was the stored one."""
        ran = False

        def run() -> dict[str, str]:
            nonlocal ran
            ran = True
            return send()

        result: dict[str, str] = self._sender(scope)(key=dict(key), send=run)
        return result, not ran

    def _sender(self, scope: str) -> Callable[..., dict[str, Any]]:
        if scope not in self._senders:
            self._senders[scope] = idempotent_function(
                _call,
                data_keyword_argument="key",
                persistence_store=self._store,
                config=self._config,
                key_prefix=f"{self._function}.{scope}",
            )
        return self._senders[scope]


def _call(*, key: dict[str, str], send: Callable[[], dict[str, str]]) -> dict[str, str]:
    # ``key`` is only hashed into the record's key; ``send`` does the work.
    return send()
