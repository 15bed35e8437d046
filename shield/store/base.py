"""The Store port: what shield remembers, behind one interface with two implementations.

A protected request makes exactly one call, `observe`, which counts the attempt in every
dimension, reads back every counter, the account's history and any active ban. The
outcome (read from the upstream's answer) is recorded by a second call, `record_outcome`,
off the request path. A refused request (a ban in force) is only counted, `count_attempt`: the
same writes as `observe`, no reads. `MemoryStore` and `RedisStore` pass the same contract suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from shield.model import DEFAULT_WINDOWS, Ban, BanScope, Observation, Outcome, Signals, Window


@dataclass(slots=True, frozen=True)
class Retention:
    """What a store keeps, and how much: the counter windows and the account history's bounds.

    The stores take this, not the whole Settings (shield.service.retention builds it from them)."""

    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    history_days: int = 90
    history_size: int = 10  # the last N countries, networks, devices, ... of an account
    # An unconfirmed success (shield.decision.confirm) counts as confirmed after this long without a
    # contrary signal (a failed login on the account); see shield.store.records.
    confirm_after: float = 86400.0
    max_keys: int = 1_000_000  # the memory store's bound (Redis has its own maxmemory policy)
    # The counter names the rules read (None: all). Both stores keep and count only the distinct sets
    # named here (and always those the takeover policy and the derived facts read: shield.store.layout
    # ALWAYS_DISTINCT and with_shared); the counters they leave out are absent from Signals.
    reads: frozenset[str] | None = None


def check_count(obs: Observation) -> None:
    """`count_attempt`'s observation: none of the dimensions whose values are distinct sets' members or
    ask for the account's history (what a refusal, its body unread, never has)."""
    if obs.account is not None or obs.password is not None or obs.pair is not None:
        raise ValueError("count_attempt: an observation without account, password or pair (observe counts those)")


BanKey = tuple[BanScope, str]
# Where a reader of the ban table stands: (the table's epoch, the last change read). The epoch names
# one life of one table (a memory store's, a Redis keyspace's until a flush), so a cursor from another
# (a ResilientStore's fallback, a restarted or flushed Redis) is never taken for this one's.
BanCursor = tuple[str, int]


@dataclass(slots=True, frozen=True)
class BanChanges:
    """What changed in the ban table since a cursor (Store.ban_changes).

    `full`: the cursor could not be answered (none, another table's, trimmed past, ahead of the
    table); `bans` is then every active ban and replaces what the reader holds. Otherwise `bans` are
    the bans added or re-added since (active at the call's `now`) and `lifted` the keys that no
    longer hold one (lifted, or expired and deleted). Plain expiry needs no event: a reader checks
    `Ban.active(now)` and drops its expired bans itself."""

    cursor: BanCursor
    full: bool
    bans: list[Ban]
    lifted: list[BanKey]


class StoreUnavailable(Exception):
    """The backing store cannot be reached; the caller falls back to local counters."""


class Store(Protocol):
    async def observe(self, obs: Observation, now: float) -> Signals:
        """Count one attempt everywhere, return all counters, history and the harshest active ban
        matching any of ip/subnet/asn/account/fp. One round trip."""
        ...

    def count_attempt(self, obs: Observation, now: float) -> None:
        """Count one attempt as `observe` counts it (the same counters, buckets and expiry), reading
        and returning nothing: a refusal's count (shield.proxy.ban_refusal), which needs no answer.
        Never waits and never raises for the store's sake (Redis: queued, sent off the request path in
        batches, bounded). `obs` is a refused request's: no account, password or pair (no member of any
        distinct set, no history to ask whether the account is known): ValueError otherwise."""
        ...

    async def record_outcome(
        self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float, confirmed: bool = True
    ) -> None:
        """Record a login's outcome: failures/successes per dimension, the familiar/unfamiliar
        failure split for the account, and on success the account history (`confirmed=False`: as
        unconfirmed, making nothing familiar until confirmed). A failure forgets the account's
        unconfirmed successes (a contrary signal)."""
        ...

    async def add_ban(
        self,
        scope: BanScope,
        value: str,
        *,
        ttl: float,
        reason: str,
        now: float,
        source: str = "rules",
        escalate: bool = True,
        max_ttl: float = 7 * 86400,
    ) -> Ban:
        """Record a ban. With `escalate`, a repeat offender (banned before within max_ttl) gets
        ttl * 2**(offenses-1), capped at max_ttl."""
        ...

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        """Lift a ban; False when there was none."""
        ...

    async def bans(self, now: float) -> list[Ban]:
        """Every active ban."""
        ...

    async def ban_changes(self, cursor: BanCursor | None, now: float) -> BanChanges:
        """The ban table's changes since `cursor` (None: everything), and the cursor to ask with next
        (shield.store.bancache reads them every second: a few, not the whole table)."""
        ...

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        """The harshest active ban matching any of the given scope values (one round trip)."""
        ...

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        """True the first time `key` is claimed within ttl, False after (challenge replay)."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot be reached."""
        ...

    async def close(self) -> None: ...
