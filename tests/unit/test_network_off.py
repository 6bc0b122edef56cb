"""The unit suite really runs with the network off."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketBlockedError


def test_a_unit_test_cannot_open_an_internet_socket() -> None:
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)
