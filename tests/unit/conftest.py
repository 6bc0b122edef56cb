"""Unit tests are pure: the network is off (pytest-socket). A test that opens a socket fails, so a
unit test can never reach AWS, moto or a webhook by accident; integration tests are where those live."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _network_off() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()
