"""exchange: a loop turn's commands on one pooled connection, without redis-py's command machinery.

redis-py packs a command argument by argument in Python (type tests and an encode each: an observe
merged from 32 requests carries about a thousand) and wraps every pipeline in a Pipeline object,
its command stack, its observability hooks and its response callbacks. The store's commands are
bytes and strs already, and their replies need no response callback (FCALL, EVALSHA: the replies
are returned as the server sent them): here each is packed in one C call (hiredis.pack_command)
and the turn's are sent in one write on a connection of the client's own pool, read back with the
connection's own reads. So the pool and its limits, the socket timeouts, redis-py's error mapping
(NOSCRIPT, READONLY, ...), the disconnect on a failed read, Sentinel's master lookup on (re)connect
and the connection's Retry stay redis-py's. A Cluster keeps redis-py's pipeline (TickPipeline's
`_pool` is None): it routes each command by slot and follows MOVED and ASK.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ResponseError


def pool_of(client: object) -> ConnectionPool | None:
    """The pool to exchange on: a standalone or Sentinel client's (None: a Cluster, or a client
    holding one connection of its own, which keeps redis-py's path)."""
    if isinstance(client, Redis) and not client.single_connection_client:
        return client.connection_pool
    return None


def pack(words: Sequence[str | bytes]) -> bytes:
    """One command in RESP (strs as UTF-8, as redis-py's default encoder)."""
    # (the stub types the tuple as of one item: a tuple of any length is what it packs)
    return cast(bytes, hiredis.pack_command(tuple(words)))  # type: ignore[arg-type]


async def exchange(pool: ConnectionPool, packed: list[bytes]) -> list[Any]:
    """Send the packed commands in one write, then read their replies in order (a command's own
    error, a ResponseError, as its reply). A connection failure raises, after the connection's
    Retry (each attempt on a fresh connection, as redis-py's pipeline)."""
    conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        return await conn.retry.call_with_retry(lambda: _round_trip(conn, packed), lambda _: conn.disconnect())
    finally:
        await pool.release(conn)


async def _round_trip(conn: AbstractConnection, packed: list[bytes]) -> list[Any]:
    await conn.send_packed_command(packed)
    replies: list[Any] = []
    try:
        for _ in packed:
            try:
                replies.append(await conn.read_response())
            except ResponseError as e:
                replies.append(e)
    except BaseException:
        # A failed or cancelled read leaves the rest of the replies on the socket: never hand
        # that connection to the next caller (read_response disconnects too; this covers all).
        await conn.disconnect(nowait=True)
        raise
    return replies
