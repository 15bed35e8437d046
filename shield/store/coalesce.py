"""Coalescer: writes submitted while one flush is in flight go out together in the next flush.

No timer and no added delay when idle: the first write is sent at once; under load, writes queue
behind the flush in flight and the next flush carries them all (up to `max_batch`), so the number
of commands per write falls as the rate rises. Each submitter awaits its own write's result (an
error reaches every write of the failed flush).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    def __init__(self, flush: Callable[[list[T]], Awaitable[None]], *, name: str, max_batch: int = 128) -> None:
        self._flush = flush
        self._name = name
        self._max = max_batch
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=self._name)
        await future

    async def close(self, *, grace: float = 1.0) -> None:
        """Shutdown: let the queued writes go out for up to `grace` seconds, then cancel the rest."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._queue:
            future.cancel()
        self._queue = []

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            try:
                await self._flush([item for item, _ in batch])
            except Exception as e:  # every write of the batch failed: each writer gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
