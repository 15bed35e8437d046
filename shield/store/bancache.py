"""A per-process copy of the active bans, so unprotected traffic is checked without I/O.

Protected requests read bans in their one store round trip. Everything else (static files,
API calls that are not logins) must also be refused once a client is banned, but must not
pay a Redis round trip per request: a background task copies the store's bans here every
`interval` seconds, and bans this process adds are inserted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

import structlog

from shield.model import Ban, BanScope
from shield.store.base import Store, StoreUnavailable

log = structlog.get_logger()


class BanCache:
    __slots__ = ("_bans", "_interval", "_store", "_task", "_wake", "version")

    def __init__(self, store: Store, *, interval: float = 1.0) -> None:
        self._store = store
        self._interval = interval
        self._bans: dict[tuple[str, str], Ban] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # bumped by every change: whoever remembers what `find` answered (shield.proxy.ban_refusal's
        # streaks) knows it may no longer hold
        self.version = 0

    def __len__(self) -> int:
        return len(self._bans)

    def find(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        """The harshest (longest-lasting) active ban matching any key; pure dictionary lookups."""
        if not self._bans:
            return None
        found: Ban | None = None
        for scope, value in keys.items():
            ban = self._bans.get((scope, value))
            if ban is not None and ban.active(now) and (found is None or ban.expires_at > found.expires_at):
                found = ban
        return found

    def put(self, ban: Ban) -> None:
        self._bans[(ban.scope, ban.value)] = ban
        self.version += 1

    def drop(self, scope: BanScope, value: str) -> None:
        self._bans.pop((scope, value), None)
        self.version += 1

    def replace(self, bans: list[Ban]) -> None:
        fresh: dict[tuple[str, str], Ban] = {(b.scope, b.value): b for b in bans}
        if fresh != self._bans:  # the refresh of every second mostly finds the same bans
            self._bans = fresh
            self.version += 1

    async def refresh(self, now: float) -> None:
        try:
            self.replace(await self._store.bans(now))
        except StoreUnavailable:
            # Keep the last known bans: an outage must not unban anyone.
            log.debug("bancache.refresh_failed")

    def start(self, now: Callable[[], float]) -> None:
        self._task = asyncio.create_task(self._run(now), name="shield.store.bancache")

    def poke(self) -> None:
        """Refresh now rather than at the next interval (after an admin add or lift)."""
        self._wake.set()

    async def _run(self, now: Callable[[], float]) -> None:
        while True:
            await self.refresh(now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
