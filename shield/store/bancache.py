"""A per-process copy of the active bans, so unprotected traffic is checked without I/O.

Protected requests read bans in their one store round trip. Everything else (static files,
API calls that are not logins) must also be refused once a client is banned, but must not
pay a Redis round trip per request: a background task copies the store's ban changes here every
`interval` seconds, and bans this process adds are inserted at once.

A refresh reads only what changed since the last one (Store.ban_changes, by a cursor the store
keeps): under a rotating-address wave the table holds 100k+ bans and grows by thousands a second,
and listing it whole every second cost each worker ~60 ms a second at 130k (and Redis a full
HGETALL per worker). The whole table is read again only when the store cannot answer the cursor (the
first refresh, a store that restarted, was flushed or failed over, a log trimmed past the cursor).
Expired bans need no event: `find` checks `Ban.active`, and each refresh drops the bans that expired
since the last one (an expiry heap), so the copy does not grow with every ban ever made.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Callable, Mapping

import structlog

from shield.model import Ban, BanScope
from shield.store.base import BanCursor, BanKey, Store, StoreUnavailable

log = structlog.get_logger()
SLACK = 64  # stale expiry heap entries tolerated before a rebuild, on top of one per ban held


class BanCache:
    __slots__ = ("_bans", "_cursor", "_heap", "_interval", "_store", "_task", "_wake", "version")

    def __init__(self, store: Store, *, interval: float = 1.0) -> None:
        self._store = store
        self._interval = interval
        self._bans: dict[tuple[str, str], Ban] = {}
        # (expires at, scope, value) of every ban held, and stale entries of bans replaced since
        self._heap: list[tuple[float, str, str]] = []
        self._cursor: BanCursor | None = None  # where the store's changes were last read to
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # bumped by every change of what `find` answers: whoever remembers an answer
        # (shield.proxy.ban_refusal's streaks, shield.proxy.passed) knows it may no longer hold.
        # Dropping an expired ban is no such change (`find` no longer answered it).
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
        heapq.heappush(self._heap, (ban.expires_at, ban.scope, ban.value))
        self.version += 1

    def drop(self, scope: BanScope, value: str) -> None:
        self._bans.pop((scope, value), None)
        self.version += 1

    def replace(self, bans: list[Ban]) -> None:
        """Hold exactly `bans` (a full reload)."""
        fresh: dict[tuple[str, str], Ban] = {(b.scope, b.value): b for b in bans}
        if fresh != self._bans:
            self._bans = fresh
            self.version += 1
        self._heap = [(b.expires_at, b.scope, b.value) for b in fresh.values()]
        heapq.heapify(self._heap)

    def apply(self, bans: list[Ban], lifted: list[BanKey]) -> None:
        """Take the store's changes: `bans` added or re-added, `lifted` gone. A ban this process
        put already (its own) comes back equal and changes nothing."""
        held, heap = self._bans, self._heap
        changed = False
        for ban in bans:
            key = (ban.scope, ban.value)
            was = held.get(key)
            if was is not ban and was != ban:  # (a ban of this process's comes back as the very object)
                held[key] = ban
                heapq.heappush(heap, (ban.expires_at, ban.scope, ban.value))
                changed = True
        for key in lifted:
            if held.pop(key, None) is not None:
                changed = True
        if changed:
            self.version += 1

    def expire(self, now: float) -> None:
        """Drop the bans expired by `now`: only the expiry heap's expired front is visited."""
        held, heap = self._bans, self._heap
        while heap and heap[0][0] <= now:
            _, scope, value = heapq.heappop(heap)
            ban = held.get((scope, value))
            if ban is not None and ban.expires_at <= now:
                del held[(scope, value)]
        if len(heap) > 2 * len(held) + SLACK:
            self._heap = [(b.expires_at, b.scope, b.value) for b in held.values()]
            heapq.heapify(self._heap)

    async def refresh(self, now: float) -> None:
        try:
            changes = await self._store.ban_changes(self._cursor, now)
        except StoreUnavailable:
            # Keep the last known bans (and cursor): an outage must not unban anyone.
            log.debug("bancache.refresh_failed")
            return
        if changes.full:
            self.replace(changes.bans)
        else:
            self.apply(changes.bans, changes.lifted)
        self._cursor = changes.cursor
        self.expire(now)

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
