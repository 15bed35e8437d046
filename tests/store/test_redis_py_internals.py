"""The redis-py internals shield.store.exchange's fast path reads around, pinned by their source.

On a connected hiredis connection the exchange writes to the connection's stream writer itself and
reads replies from the parser's hiredis reader (`_send`, `_read`), doing what these functions do
without their layers. The lock pins redis-py; when an upgrade changes one of them, this test names
it: carry the change into exchange.py's fast path (or drop the path), then record the new digest.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from redis._parsers.hiredis import _AsyncHiredisParser
from redis.asyncio.connection import AbstractConnection

PINNED: dict[str, tuple[Callable[..., Any], str]] = {
    "_AsyncHiredisParser.read_response": (_AsyncHiredisParser.read_response, "54882231e9026d79"),  # _read's model
    "_AsyncHiredisParser.read_from_socket": (_AsyncHiredisParser.read_from_socket, "6cad7e2b45b7ba1d"),  # _read calls
    "_AsyncHiredisParser.on_connect": (_AsyncHiredisParser.on_connect, "5c7b848496314124"),  # the reader _read uses
    "AbstractConnection.send_packed_command": (AbstractConnection.send_packed_command, "63b7216a33101c84"),  # _send's
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_redis_py_function_is_the_one_the_exchange_follows(name: str) -> None:
    function, digest = PINNED[name]
    now = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
    assert now == digest, f"redis-py's {name} changed: recheck shield.store.exchange's fast path (module docstring)"
