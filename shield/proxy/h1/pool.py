"""Keep-alive connections to one upstream, per worker: reuse the most recent idle one, open more
up to `size` in use at once, drop what the upstream closed or left idle too long. A request waits
at most `acquire_timeout` for a slot, and a quarter of the slots (H1Forwarder's choice) is kept
for protected routes, so downloads held open by slow readers cannot starve the logins."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque

from shield.proxy.h1.connection import UpstreamConnection

UPSTREAM_RCVBUF = 256 * 1024  # a LAN round trip at 10 Gbit/s fits; so does a slow reader's stall
IDLE_SECONDS = 30.0  # below the usual server keep-alive timeouts (nginx 75 s, gunicorn 2-5 s aside)


class PoolExhausted(TimeoutError):
    """Every connection stayed in use for the whole acquire timeout."""


class ConnectionPool:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        size: int,
        connect_timeout: float,
        acquire_timeout: float = 5.0,
        reserved: int = 0,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._host, self._port = host, port
        self._connect_timeout = connect_timeout
        self._acquire_timeout = acquire_timeout
        self._idle_seconds = idle_seconds
        # Oldest on the left, most recently released on the right: reuse takes from the right (a
        # warm connection), expiry from the left, so a burst's extra connections do not linger.
        self._idle: deque[tuple[UpstreamConnection, float]] = deque()
        self._slots = asyncio.Semaphore(size)
        # security: `reserved` slots only serve `acquire(bulk=False)` (protected routes): streams
        # held open by slow readers can fill the rest, never the logins' share.
        self._bulk = asyncio.Semaphore(size - reserved) if 0 < reserved < size else None
        self._bulk_held: set[UpstreamConnection] = set()

    async def acquire(self, *, fresh: bool = False, bulk: bool = False) -> UpstreamConnection:
        """A connection for one exchange; the caller must `release` it. Raises OSError/TimeoutError,
        PoolExhausted when no slot freed up within the acquire timeout. `bulk` (pass-through
        streams) leaves the reserved slots alone."""
        bulk_slot = self._bulk if bulk else None
        await self._take(bulk_slot)
        try:
            if not fresh:
                conn = self._reuse()
                if conn is not None:
                    return self._held(conn, bulk_slot)
            return self._held(await self._connect(), bulk_slot)
        except BaseException:
            self._slots.release()
            if bulk_slot is not None:
                bulk_slot.release()
            raise

    async def _take(self, bulk_slot: asyncio.Semaphore | None) -> None:
        if not self._slots.locked() and (bulk_slot is None or not bulk_slot.locked()):
            # the common case takes a free slot without arming a timer
            if bulk_slot is not None:
                await bulk_slot.acquire()
            await self._slots.acquire()
            return
        # security: slow clients holding every connection must not make the others wait forever
        taken = False
        try:
            async with asyncio.timeout(self._acquire_timeout):
                if bulk_slot is not None:
                    await bulk_slot.acquire()
                    taken = True
                await self._slots.acquire()
        except TimeoutError:
            if taken and bulk_slot is not None:
                bulk_slot.release()
            raise PoolExhausted from None

    def _held(self, conn: UpstreamConnection, bulk_slot: asyncio.Semaphore | None) -> UpstreamConnection:
        if bulk_slot is not None:
            self._bulk_held.add(conn)
        return conn

    def _give_back(self, conn: UpstreamConnection) -> None:
        self._slots.release()
        if conn in self._bulk_held and self._bulk is not None:
            self._bulk_held.discard(conn)
            self._bulk.release()

    def release(self, conn: UpstreamConnection) -> None:
        """Back to the pool when its exchange finished cleanly, else closed."""
        now = time.monotonic()
        self._expire(now)
        if conn.reusable:
            conn.used = True
            self._idle.append((conn, now))
        else:
            conn.close()
        self._give_back(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        conn.close()
        self._give_back(conn)

    def close(self) -> None:
        for conn, _ in self._idle:
            conn.close()
        self._idle.clear()

    def _reuse(self) -> UpstreamConnection | None:
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.pop()
            transport = conn.transport
            # Closed by the upstream while idle (its FIN already read): never written to.
            if conn.closed or transport is None or transport.is_closing() or now - since >= self._idle_seconds:
                conn.close()
                continue
            return conn
        return None

    def _expire(self, now: float) -> None:
        """Close idle connections from the oldest while they are too old or already closed."""
        idle = self._idle
        while idle and (idle[0][0].closed or now - idle[0][1] >= self._idle_seconds):
            idle.popleft()[0].close()

    async def _connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout):
            transport, conn = await loop.create_connection(UpstreamConnection, self._host, self._port)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # security: a fixed receive buffer (no autotuning up to tcp_rmem's max, 6-32 MB): with
            # its client not reading, an answer waits in the upstream's buffers, not in shield's
            # kernel memory; a thousand slow readers otherwise pushed the host into TCP memory
            # pressure and every connection's latency with it (bench/slowclients.py).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UPSTREAM_RCVBUF)
        return conn
