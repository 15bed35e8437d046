"""exchange: a loop turn's commands on one pooled connection, without redis-py's command machinery.

redis-py packs a command argument by argument in Python (type tests and an encode each: an observe
merged from 32 requests carries about a thousand) and wraps every pipeline in a Pipeline object,
its command stack, its observability hooks and its response callbacks. The store's commands are
bytes and strs already, and their replies need no response callback (FCALL, EVALSHA: the replies
are returned as the server sent them): here each is packed by `pack` (compiled) and the turn's are
sent in one write on a connection of the client's own pool. So the pool and its limits, the socket
timeouts, redis-py's error mapping (NOSCRIPT, READONLY, ...: its parser's), the disconnect on a
failed read, Sentinel's master lookup on (re)connect and the connection's Retry stay redis-py's. A
Cluster keeps redis-py's pipeline (TickPipeline's `_pool` is None): it routes each command by slot
and follows MOVED and ASK.

Per turn, redis-py's pool and reads cost more than the turn's own work: taking a connection from a
BlockingConnectionPool and giving it back is a condition, a lock, a timeout, a liveness check and
its observability hooks, and each reply's read arms and cancels a timer of its own. So the turns
keep the connections they used (`Lanes`: up to KEPT, taken from the pool and given back at close)
and a turn's replies are read under one deadline, the connection's socket timeout: 70-72 -> 35-37 us
of CPU per exchange of one command, 74-80 -> 30-38 us of four (an exchange loop on a local
redis-server). A connection a failed exchange used is disconnected and goes back to the pool, which
checks it before its next use.

On a connected connection reading through hiredis (with no health check to run) the write and the
reads skip redis-py's layers too (`_send`, `_read`): its send runs under asyncio.wait_for, a task, a
timer and two more loop turns per exchange, and each reply's read goes through three coroutines.
With the compiled `pack`: -42k instructions per protected request that adds a ban (observe + add_ban,
8 at once, callgrind), of ~495k for the store's part. Anything else (connecting, a health check, another
parser) takes redis-py's own send and reads.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, Final, cast

from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis._parsers.socket import SERVER_CLOSED_CONNECTION_ERROR
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

KEPT: Final = 4  # connections the turns keep between exchanges (more at once come from the pool)
_HEADED: Final = 512  # argument sizes whose RESP head ("$<size>\r\n") is made once
_HEADS: Final = [b"$%d\r\n" % n for n in range(_HEADED)]


def pool_of(client: object) -> ConnectionPool | None:
    """The pool to exchange on: a standalone or Sentinel client's (None: a Cluster, or a client
    holding one connection of its own, which keeps redis-py's path)."""
    if isinstance(client, Redis) and not client.single_connection_client:
        return client.connection_pool
    return None


def pack(words: Sequence[str | bytes]) -> bytes:
    """One command in RESP (strs as UTF-8, as redis-py's default encoder). Joined here, compiled:
    hiredis.pack_command copied each argument twice over (~1,400 instructions an argument, callgrind)."""
    heads = _HEADS
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word.encode() if isinstance(word, str) else word
        size = len(data)
        parts.append(heads[size] if size < _HEADED else b"$%d\r\n" % size)
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


async def exchange(pool: ConnectionPool, packed: list[bytes]) -> list[Any]:
    """Send the packed commands in one write, then read their replies in order (a command's own
    error, a ResponseError, as its reply). A connection failure raises, after the connection's
    Retry (each attempt on a fresh connection, as redis-py's pipeline)."""
    conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        return await _with_retry(conn, packed)
    finally:
        await pool.release(conn)


class Lanes:
    """`exchange` on connections kept between turns (see the module docstring)."""

    __slots__ = ("_idle", "_pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._idle: list[AbstractConnection] = []

    async def exchange(self, packed: list[bytes]) -> list[Any]:
        """`exchange(pool, packed)`, on a kept connection when one is free."""
        idle = self._idle
        conn: AbstractConnection = idle.pop() if idle else await self._pool.get_connection()  # type: ignore[no-untyped-call]
        kept = False
        try:
            replies = await _with_retry(conn, packed)
            if len(idle) < KEPT:
                idle.append(conn)
                kept = True
            return replies
        finally:
            if not kept:  # failed (disconnected: the pool reconnects it), or more than KEPT at once
                await self._pool.release(conn)

    async def close(self) -> None:
        """Give the kept connections back to the pool."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._pool.release(conn)


async def _with_retry(conn: AbstractConnection, packed: list[bytes]) -> list[Any]:
    return await conn.retry.call_with_retry(lambda: _round_trip(conn, packed), lambda _: conn.disconnect())


async def _round_trip(conn: AbstractConnection, packed: list[bytes]) -> list[Any]:
    parser = conn._parser
    # The common case, a connected connection reading through hiredis with no health check to run:
    # written and read here (see _send and _read); anything else through redis-py's own calls.
    fast = (
        type(parser) is _AsyncHiredisParser
        and conn.is_connected
        and not conn.health_check_interval
    )
    if fast and _closed_by_server(conn):
        # the server closed it while it was kept (a restart, an idle timeout): connect again first, as
        # the pool's own check before lending a connection would
        await conn.disconnect(nowait=True)
        fast = False
    if fast:
        try:
            _send(conn, packed)
        except BaseException:
            # as send_packed_command does: a connection that failed a write is never used again as is
            await conn.disconnect(nowait=True)
            raise
    else:
        await conn.send_packed_command(packed)
    replies: list[Any] = []
    try:
        # One deadline for the turn's replies (redis-py arms one per read): math.inf tells
        # read_response not to arm its own.
        async with asyncio.timeout(conn.socket_timeout):
            if fast:
                await _read(cast(_AsyncHiredisParser, parser), len(packed), replies)
            else:
                for _ in packed:
                    try:
                        replies.append(await conn.read_response(timeout=math.inf))
                    except ResponseError as e:
                        replies.append(e)
    except TimeoutError:
        # (read_response disconnected the connection when the deadline cancelled its read)
        await conn.disconnect(nowait=True)
        raise RedisTimeoutError(f"Timeout reading from {_where(conn)}") from None
    except OSError as e:  # (from the fast path's reads: redis-py's own map them so)
        await conn.disconnect(nowait=True)
        raise ConnectionError(f"Error while reading from {_where(conn)} : {e.args}") from e
    except BaseException:
        # A failed or cancelled read leaves the rest of the replies on the socket: never hand
        # that connection to the next caller (read_response disconnects too; this covers all).
        await conn.disconnect(nowait=True)
        raise
    return replies


def _closed_by_server(conn: AbstractConnection) -> bool:
    """Whether the connection's stream has read the server's end (or an error): redis-py's pool checks
    that (can_read) before lending a connection; a kept one was not lent since."""
    stream = conn._reader
    return stream is None or stream.at_eof() or stream.exception() is not None


def _send(conn: AbstractConnection, packed: list[bytes]) -> None:
    """send_packed_command's write, without its task: redis-py runs the write under
    asyncio.wait_for (a task, a timer and two loop turns per exchange, ~40 % of an exchange's
    instructions). The transport takes the bytes at once (buffering what the socket does not);
    the replies' deadline bounds a peer that never reads them."""
    writer = conn._writer
    if writer is None or writer.transport.is_closing():
        raise ConnectionError("Connection closed by the server before write")
    writer.writelines(packed)


async def _read(parser: _AsyncHiredisParser, count: int, replies: list[Any]) -> None:
    """`count` replies, read_response's way without its layers: hiredis parses what the socket gave;
    an error reply (a ResponseError or one of redis-py's subclasses, mapped by the parser) is the
    reply; a RESP3 push notification goes to the parser's handler, as redis-py's reads do."""
    # (getattr: redis-py types both None, their value before connect, and compiled code checks that type)
    reader: Any = getattr(parser, "_reader")  # noqa: B009
    push: Any = getattr(parser, "_hiredis_PushNotificationType")  # noqa: B009 (None before hiredis 3.2)
    for _ in range(count):
        if not parser._connected:
            raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        reply = reader.gets()
        while reply is NOT_ENOUGH_DATA or (push is not None and isinstance(reply, push)):
            if reply is NOT_ENOUGH_DATA:
                await parser.read_from_socket()  # type: ignore[no-untyped-call]
            else:
                await parser.handle_push_response(reply)  # type: ignore[no-untyped-call]
            reply = reader.gets()
        if isinstance(reply, ConnectionError):
            # an error reply the parser maps to a ConnectionError (LOADING, MASTERDOWN...): the server
            # cannot answer now, as redis-py's read_response raises it, not a command's answer
            raise reply
        replies.append(reply)


def _where(conn: AbstractConnection) -> str:
    host, port = getattr(conn, "host", None), getattr(conn, "port", None)
    return f"{host}:{port}" if host is not None else str(getattr(conn, "path", "redis"))
