"""Deadlines: one timer for every call that ends in the same slice of time, not one per call.

ResilientStore bounds each store call by its call_timeout. `asyncio.timeout` does that with a
timer per call (a TimerHandle built, pushed on the loop's heap, cancelled and left there until it
comes up): ~6 us a call measured on the build machine, and a protected request makes two. Here
the calls whose deadline falls in the same `grain` of time share one timer; arming a call is a
dict lookup and an append. A call is cut at most `grain` after its timeout. When a timer fires,
each of its calls still running has its task cancelled, as `asyncio.timeout` does; `disarm` then
undoes that cancellation (Task.uncancel) and says whether the deadline alone ended the call, so a
cancellation from elsewhere (a client gone, a shutdown) still propagates.
"""

from __future__ import annotations

import asyncio
import math

GRAIN = 0.01  # seconds: the deadlines of the calls started within one grain share a timer


class Guard:
    """One armed call: its task, the task's cancel count before it, and what became of it."""

    __slots__ = ("cancelling", "done", "expired", "task")

    def __init__(self, task: asyncio.Task[object], cancelling: int) -> None:
        self.task = task
        self.cancelling = cancelling
        self.done = False
        self.expired = False


class Deadlines:
    """Timeouts of `timeout` seconds (cut within `grain` after it) for calls of the running loop."""

    __slots__ = ("_grain", "_loop", "_slots", "_timeout", "timers")

    def __init__(self, timeout: float, *, grain: float = GRAIN) -> None:
        self._timeout = timeout
        self._grain = min(grain, timeout / 4)
        self._slots: dict[int, list[Guard]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.timers = 0  # timers scheduled (for the tests)

    def arm(self) -> Guard:
        """Start the current task's call: it is cancelled if still running at its deadline."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadlines.arm needs a running task")
        if loop is not self._loop:  # a new loop (tests, a restart): the old one's timers are gone
            self._loop, self._slots = loop, {}
        slot = math.ceil((loop.time() + self._timeout) / self._grain)
        guards = self._slots.get(slot)
        if guards is None:
            guards = self._slots[slot] = []
            loop.call_at(slot * self._grain, self._expire, slot)
            self.timers += 1
        guard = Guard(task, task.cancelling())
        guards.append(guard)
        return guard

    def disarm(self, guard: Guard) -> bool:
        """End the call (whatever its outcome): True if its deadline cancelled it and nothing else
        did (the task's cancel count is restored either way, as `asyncio.timeout` does)."""
        guard.done = True
        return guard.expired and guard.task.uncancel() <= guard.cancelling

    def _expire(self, slot: int) -> None:
        for guard in self._slots.pop(slot, ()):
            if not guard.done:
                guard.expired = True
                guard.task.cancel()
