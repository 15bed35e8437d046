"""Serving an app on a port with the client limits: the runner, a connection cap per worker, a
shutdown bounded by the grace, and the file-handle budget that keeps the admin port answering.

aiohttp's `AppRunner` builds a `Server` whose protocol is `RequestHandler`; `LimitedRunner`
builds a `LimitedServer` whose protocol is `shield.proxy.client_limits.LimitedRequestHandler`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import resource
from collections import Counter
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from shield.observe.metrics import Metrics
from shield.proxy.client_limits import LimitedRequestHandler, canned
from shield.proxy.dispatch import DIRECT_KEY, direct
from shield.proxy.early_answers import GATE_KEY, Gate
from shield.settings.schema import LimitsSettings

# File handles kept for everything but client connections: the upstream pool is counted
# separately; this covers the admin port, the store, rule and GeoIP files, logs.
FD_RESERVE = 128
ADMIN_LIMITS = LimitsSettings(max_connections=64)


class Tally:
    """Counts connections cut by a limit (shield_clients_limited_total{listener, reason}); one
    `clients.limited` line a second at most, so 20,000 slow clients make 20,000 counts, not
    20,000 lines."""

    def __init__(self, listener: str, metrics: Metrics | None = None) -> None:
        self.listener = listener
        self.metrics = metrics
        self.counts: Counter[str] = Counter()
        self._flush: asyncio.TimerHandle | None = None

    def add(self, reason: str) -> None:
        self.counts[reason] += 1
        if self.metrics is not None:
            self.metrics.client_limited(self.listener, reason)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(1.0, self.flush)

    def flush(self) -> None:
        self._flush = None
        if self.counts:
            structlog.get_logger().warning("clients.limited", listener=self.listener, **dict(self.counts))
            self.counts.clear()


class LimitedServer(Server):
    def __init__(
        self, handler: Any, *, limits: LimitsSettings, tally: Tally, gate: Gate | None = None, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self.limits = limits
        self.tally = tally
        self.gate = gate

    def __call__(self) -> RequestHandler:
        if len(self._connections) >= self.limits.max_connections:
            return _Refused(self.tally)  # type: ignore[return-value]  # any asyncio.Protocol will do
        return LimitedRequestHandler(
            self, loop=self._loop, limits=self.limits, tally=self.tally, gate=self.gate, **self._kwargs
        )

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (aiohttp's signature)
        """In-flight requests get `timeout` in all (aiohttp waits for them, then as long again for
        the cancelled ones); then every connection left is aborted and its handler cancelled."""
        conns = list(self._connections)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(c.shutdown(timeout) for c in conns), return_exceptions=True)
        tasks = [c._task_handler for c in conns if c._task_handler is not None and not c._task_handler.done()]
        for conn in conns:
            if conn.transport is not None:
                conn.transport.abort()
            conn.force_close()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=0.5)
        self._connections.clear()


class _Refused(asyncio.Protocol):
    """Above the connection cap: a fast 503 and close, without a parser or a handler task. It
    closes once the client's first bytes are read (closing on unread bytes would reset the
    connection and could lose the 503 on the way), or after a second."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tally.add("over_connection_cap")
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        transport.write(canned(503, "Service Unavailable", "overloaded"))  # type: ignore[attr-defined]
        self.timer = asyncio.get_running_loop().call_later(1.0, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()


class LimitedRunner(web.AppRunner):
    def __init__(
        self, app: web.Application, *, limits: LimitsSettings, name: str, metrics: Metrics | None = None, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits
        self._tally = Tally(name, metrics)

    async def _make_server(self) -> Server:
        plain = await super()._make_server()
        opts = {
            **plain._kwargs,
            "keepalive_timeout": self._limits.keepalive_timeout,
            "max_line_size": self._limits.max_header_bytes,
            "max_field_size": self._limits.max_header_bytes,
            "max_headers": self._limits.max_headers,
        }
        handler = plain.request_handler
        catch_all = self._app.get(DIRECT_KEY)
        if catch_all is not None:
            handler = direct(catch_all, handler)
        return LimitedServer(
            handler, request_factory=plain.request_factory, loop=plain._loop,
            handler_cancellation=plain.handler_cancellation, limits=self._limits, tally=self._tally,
            gate=self._app.get(GATE_KEY), **opts,
        )


def fd_budget(limits: LimitsSettings, *, pool_size: int) -> tuple[LimitsSettings, str | None]:
    """Raise the soft file-handle limit to the hard one and keep the connection cap under it, so
    a flood of connections meets the cap (503) before the process runs out of handles and stops
    accepting everywhere, the admin port included. A warning when the cap had to come down."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    room = soft - FD_RESERVE - pool_size - ADMIN_LIMITS.max_connections
    if soft == resource.RLIM_INFINITY or limits.max_connections <= room:
        return limits, None
    lowered = max(1, room)
    warning = (f"limits.max_connections {limits.max_connections} lowered to {lowered}: the file-handle "
               f"limit is {soft} (raise it with ulimit -n)")
    return dataclasses.replace(limits, max_connections=lowered), warning
