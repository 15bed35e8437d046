"""RedisStore's refusal counts (Store.count_attempt): written off the request path, in batches, bounded.

A refusal of a banned client (shield.proxy.ban_refusal) needs no answer from the store: its attempt
is queued here and the caller goes on. The queue drains in the background as the outcomes' does
(shield.store.coalesce): the first count is sent at once, the ones arriving meanwhile share the next
batch, one `count` call (lua/count.lua: writes, no reads) per master holding one of its entities.
Bounded: past MAX_QUEUED counts waiting, a count is dropped and reported (`on_drop`: the metrics'
store errors, op `count_dropped`); a failed batch is handed to `on_lost` (ResilientStore counts it in
its fallback, as an observe is while Redis is down) and never raised into a request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

from shield.model import Observation

MAX_QUEUED = 16384  # counts waiting (a flood of refusals at ~20 per ban-second and worker stays far below)
MAX_BATCH = 1024  # counts per batch
Count = tuple[Observation, float]

_log = structlog.get_logger("shield.store")


class AttemptCounts:
    """The queue of counts waiting for their batch, and its background drain (see the module docstring)."""

    def __init__(self, send: Callable[[Sequence[Count]], Awaitable[None]], *, max_queued: int = MAX_QUEUED) -> None:
        self._send = send
        self._max = max_queued
        self._queue: list[Count] = []
        self._task: asyncio.Task[None] | None = None
        self.on_drop: Callable[[int], None] | None = None
        self.on_lost: Callable[[Sequence[Count], Exception], None] | None = None
        self.dropped = 0  # counts dropped past the bound
        self.lost = 0  # counts of failed batches
        self.batches = 0

    def add(self, obs: Observation, now: float) -> None:
        queue = self._queue
        if len(queue) >= self._max:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(1)
            return
        queue.append((obs, now))
        task = self._task
        if task is None or task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="store.counts")

    async def flush(self) -> None:
        """Wait for every queued count to be sent (the tests' and shutdown's)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self, *, grace: float = 1.0) -> None:
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._queue = []

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self.batches += 1
            try:
                await self._send(batch)
            except Exception as e:  # never raised into a request: handed on (ResilientStore: its fallback)
                self.lost += len(batch)
                if self.on_lost is not None:
                    self.on_lost(batch, e)
                else:
                    _log.warning("store.counts_failed", error=str(e) or type(e).__name__, counts=len(batch))
