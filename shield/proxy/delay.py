"""The tarpit: hold a suspicious request for a while before forwarding it.

A held request costs one timer (asyncio.sleep), never a thread. A cap on concurrently held
requests keeps an attacker from turning the tarpit into memory pressure: above it, `hold`
answers False at once and the caller answers 429.
"""

from __future__ import annotations

import asyncio


class Tarpit:
    """Bounded concurrent delays; one per worker process."""

    __slots__ = ("_inflight", "max_concurrent", "max_seconds")

    def __init__(self, max_concurrent: int, *, max_seconds: float = 60.0) -> None:
        if max_concurrent < 0:
            raise ValueError("max_concurrent must be >= 0")
        self.max_concurrent = max_concurrent
        self.max_seconds = max_seconds
        self._inflight = 0

    @property
    def inflight(self) -> int:
        """Requests being held now (for the metric)."""
        return self._inflight

    async def hold(self, seconds: float) -> bool:
        """Sleep `seconds` (capped at max_seconds); False at once when the tarpit is full.

        Cancellation-safe: a client that disconnects cancels the handler and frees its slot.
        """
        if self._inflight >= self.max_concurrent:
            return False
        self._inflight += 1
        try:
            await asyncio.sleep(min(max(seconds, 0.0), self.max_seconds))
        finally:
            self._inflight -= 1
        return True
