"""Keep-alive connections to one upstream, per worker: reuse the most recent idle one, open more
up to `size` in use at once, drop what the upstream closed or left idle too long."""

from __future__ import annotations

import asyncio
import time

from shield.h1.connection import UpstreamConnection

IDLE_SECONDS = 30.0  # below the usual server keep-alive timeouts (nginx 75 s, gunicorn 2-5 s aside)


class ConnectionPool:
    def __init__(self, host: str, port: int, *, size: int, connect_timeout: float) -> None:
        self._host, self._port = host, port
        self._connect_timeout = connect_timeout
        self._idle: list[tuple[UpstreamConnection, float]] = []
        self._slots = asyncio.Semaphore(size)

    async def acquire(self, *, fresh: bool = False) -> UpstreamConnection:
        """A connection for one exchange; the caller must `release` it. Raises OSError/TimeoutError."""
        await self._slots.acquire()
        try:
            if not fresh:
                conn = self._reuse()
                if conn is not None:
                    return conn
            return await self._connect()
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: UpstreamConnection) -> None:
        """Back to the pool when its exchange finished cleanly, else closed."""
        if conn.reusable:
            conn.used = True
            self._idle.append((conn, time.monotonic()))
        else:
            conn.close()
        self._slots.release()

    def discard(self, conn: UpstreamConnection) -> None:
        conn.close()
        self._slots.release()

    def close(self) -> None:
        for conn, _ in self._idle:
            conn.close()
        self._idle.clear()

    def _reuse(self) -> UpstreamConnection | None:
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.pop()
            transport = conn.transport
            if conn.closed or transport is None or transport.is_closing() or now - since > IDLE_SECONDS:
                conn.close()
                continue
            return conn
        return None

    async def _connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout):
            _transport, conn = await loop.create_connection(UpstreamConnection, self._host, self._port)
        return conn
