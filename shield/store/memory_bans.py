"""The memory store's bans and remembered offenses, pruned in amortised O(1).

Bans are kept apart from the counters (a flood of new keys must not evict them). Each ban and each
remembered offense also sits in an expiry heap; a write pops only what has expired since. A ban
re-added (or lifted) leaves a stale heap entry behind: it is checked against the table when popped,
and the heaps are rebuilt from the tables when stale entries outnumber live ones.

security: pruning used to scan every ban on each new ban once there were 1,024, so under a
rotating-address attack (thousands of active bans) each new ban cost O(bans).
"""

from __future__ import annotations

import heapq
import secrets
from collections import deque
from collections.abc import Mapping
from itertools import islice
from operator import attrgetter

from shield.model import Ban, BanScope
from shield.store.base import BanChanges, BanCursor
from shield.store.records import escalated_ttl, harshest

Key = tuple[BanScope, str]
SLACK = 64  # stale heap entries tolerated before a rebuild, on top of one per live entry
# The change log's length: the changes a reader (shield.store.bancache, once a second) may fall behind
# by before it must read the whole table again: 16 s of a wave's ~4,000 new bans a second.
LOG_SIZE = 65_536
_CREATED = attrgetter("created_at")


class MemoryBans:
    """Active bans by (scope, value), and the offenses that escalate a repeat offender's next ban."""

    __slots__ = ("_ban_heap", "_bans", "_epoch", "_log", "_offense_heap", "_offenses", "_seq")

    def __init__(self, *, log_size: int = LOG_SIZE) -> None:
        self._bans: dict[Key, Ban] = {}
        self._offenses: dict[Key, tuple[int, float, float]] = {}  # (offenses, last ban, remembered for)
        self._ban_heap: list[tuple[float, BanScope, str]] = []  # (expires at, scope, value)
        self._offense_heap: list[tuple[float, BanScope, str]] = []  # (forgotten at, scope, value)
        # The change log (`changes`): every add and lift as (sequence number, key), the oldest dropped
        # past log_size; the epoch tells this table's cursors from any other's.
        self._epoch = "m" + secrets.token_hex(8)
        self._seq = 0
        self._log: deque[tuple[int, Key]] = deque(maxlen=log_size)

    def __len__(self) -> int:
        """Entries held (bans and remembered offenses, expired or not yet pruned)."""
        return len(self._bans) + len(self._offenses)

    def any(self) -> bool:
        """Whether a ban is held (active or expired, not yet pruned)."""
        return bool(self._bans)

    def add(
        self,
        scope: BanScope,
        value: str,
        *,
        ttl: float,
        reason: str,
        now: float,
        source: str,
        escalate: bool,
        max_ttl: float,
    ) -> Ban:
        key = (scope, value)
        offenses = 1
        if escalate:
            known = self._offenses.get(key)
            if known is not None and known[0] and now - known[1] < known[2]:
                offenses = known[0] + 1
            # escalated_ttl of a first offense is ttl itself: most bans of a wave are new addresses'
            expires = now + (escalated_ttl(ttl, offenses, max_ttl) if offenses > 1 else float(ttl))
        else:
            expires = now + ttl
        current = self._bans.get(key)
        if current is not None and current.active(now):
            expires = max(expires, current.expires_at)  # never shorten a harsher ban already in place
        ban = Ban(scope, value, reason, now, expires, offenses, source)
        kept = max(max_ttl, ttl)
        self._bans[key] = ban
        self._offenses[key] = (offenses, now, kept)
        self._seq += 1
        self._log.append((self._seq, key))
        ban_heap, offense_heap = self._ban_heap, self._offense_heap
        heapq.heappush(ban_heap, (expires, scope, value))
        heapq.heappush(offense_heap, (now + kept, scope, value))
        if ban_heap[0][0] <= now or offense_heap[0][0] <= now or len(ban_heap) > 2 * len(self._bans) + SLACK or (
            len(offense_heap) > 2 * len(self._offenses) + SLACK
        ):
            self.prune(now)  # only when something expired, or stale heap entries are due a rebuild
        return ban

    def remove(self, scope: BanScope, value: str) -> bool:
        key = (scope, value)
        self._offenses.pop(key, None)  # lifting a ban forgives its offenses too
        # logged even when this table holds no such ban: a ResilientStore's fallback is told of a lift
        # during an outage, and the cache drops the shared store's copy (shield.store.resilient)
        self._seq += 1
        self._log.append((self._seq, key))
        return self._bans.pop(key, None) is not None

    def active(self, now: float) -> list[Ban]:
        """Every active ban, oldest first (shield.store.bancache copies them every second: thousands
        under a rotating-address wave, so no Python call per ban)."""
        self.prune(now)
        return sorted([b for b in self._bans.values() if now < b.expires_at], key=_CREATED)

    def changes(self, cursor: BanCursor | None, now: float) -> BanChanges:
        """The bans added or lifted since `cursor` (the whole table when the log cannot tell:
        shield.store.base.BanChanges); O(changes), and prunes what expired (amortised)."""
        self.prune(now)
        log, seq = self._log, self._seq
        if cursor is None or cursor[0] != self._epoch or not (seq - len(log) <= cursor[1] <= seq):
            return BanChanges((self._epoch, seq), True, [b for b in self._bans.values() if now < b.expires_at], [])
        # the log's sequence numbers are consecutive: the last seq - cursor entries are the changes
        keys = {key for _, key in islice(reversed(log), seq - cursor[1])}
        added: list[Ban] = []
        lifted: list[Key] = []
        bans = self._bans
        for key in keys:
            ban = bans.get(key)
            if ban is not None and now < ban.expires_at:
                added.append(ban)
            else:
                lifted.append(key)
        return BanChanges((self._epoch, seq), False, added, lifted)

    def find(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        bans = self._bans
        if not bans:
            return None
        return harshest((bans.get((scope, value)) for scope, value in keys.items()), now)

    def prune(self, now: float) -> None:
        """Drop what expired by `now`: only the heaps' expired fronts are visited."""
        bans, heap = self._bans, self._ban_heap
        while heap and heap[0][0] <= now:
            _, scope, value = heapq.heappop(heap)
            ban = bans.get((scope, value))
            if ban is not None and ban.expires_at <= now:
                del bans[(scope, value)]
        offenses, heap = self._offenses, self._offense_heap
        while heap and heap[0][0] <= now:
            _, scope, value = heapq.heappop(heap)
            found = offenses.get((scope, value))
            if found is not None and found[1] + found[2] <= now:
                del offenses[(scope, value)]
        if len(self._ban_heap) > 2 * len(bans) + SLACK:
            self._ban_heap = [(b.expires_at, scope, value) for (scope, value), b in bans.items()]
            heapq.heapify(self._ban_heap)
        if len(self._offense_heap) > 2 * len(offenses) + SLACK:
            self._offense_heap = [(last + kept, scope, value) for (scope, value), (_, last, kept) in offenses.items()]
            heapq.heapify(self._offense_heap)
