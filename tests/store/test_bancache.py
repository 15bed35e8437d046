"""BanCache: its version (what says that an answer of `find` remembered elsewhere may no longer hold),
and its refresh, which reads only what changed in the store since the last one."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from shield.model import Ban, FakeClock
from shield.store.bancache import BanCache
from shield.store.memory import MemoryStore
from shield.store.memory_bans import MemoryBans

if TYPE_CHECKING:
    from shield.store.base import BanChanges, BanCursor, Store

IP_BAN = Ban("ip", "192.0.2.1", "test", 0.0, 600.0)
SUBNET_BAN = Ban("subnet", "192.0.2.0/24", "test", 0.0, 900.0)


async def test_every_change_of_the_bans_moves_the_version_and_nothing_else_does() -> None:
    cache = BanCache(MemoryStore())
    seen = [cache.version]
    cache.put(IP_BAN)
    seen.append(cache.version)
    cache.replace([IP_BAN])  # the refresh of every second, finding the same bans
    assert cache.version == seen[-1]
    assert cache.find({"ip": "192.0.2.1"}, 1.0) == IP_BAN
    cache.replace([IP_BAN, SUBNET_BAN])
    seen.append(cache.version)
    cache.replace([IP_BAN, Ban("subnet", "192.0.2.0/24", "test", 0.0, 1200.0)])  # the same key, a longer ban
    seen.append(cache.version)
    cache.drop("ip", "192.0.2.1")
    seen.append(cache.version)
    cache.replace([])
    seen.append(cache.version)
    assert seen == sorted(set(seen)), "each change moved it, and only forward"


class Counting:
    """A MemoryStore that counts the bans (and lifts) it hands the cache, however it is asked."""

    def __init__(self, store: MemoryStore) -> None:
        self.store, self.handed = store, 0

    async def bans(self, now: float) -> list[Ban]:
        bans = await self.store.bans(now)
        self.handed += len(bans)
        return bans

    async def ban_changes(self, cursor: BanCursor | None, now: float) -> BanChanges:
        changes = await self.store.ban_changes(cursor, now)
        self.handed += len(changes.bans) + len(changes.lifted)
        return changes


def cache_of(store: MemoryStore) -> tuple[BanCache, Counting]:
    counting = Counting(store)
    return BanCache(cast("Store", counting)), counting


async def test_a_refresh_reads_only_the_bans_changed_since_the_last_one() -> None:
    store, now = MemoryStore(), FakeClock().now()
    cache, counting = cache_of(store)
    for i in range(1000):
        await store.add_ban("ip", f"10.1.{i // 256}.{i % 256}", ttl=600, reason="r", now=now)
    await cache.refresh(now)
    assert (len(cache), counting.handed) == (1000, 1000)
    for i in range(10):
        await store.add_ban("ip", f"10.2.0.{i}", ttl=600, reason="r", now=now + 1)
    await store.remove_ban("ip", "10.1.0.0")
    await cache.refresh(now + 1)
    assert (len(cache), counting.handed) == (1009, 1011)
    assert cache.find({"ip": "10.2.0.3"}, now + 1) is not None
    assert cache.find({"ip": "10.1.0.0"}, now + 1) is None


async def test_a_refresh_moves_the_version_only_when_a_ban_changed() -> None:
    store, now = MemoryStore(), FakeClock().now()
    cache, _ = cache_of(store)
    await cache.refresh(now)
    version = cache.version
    ban = await store.add_ban("ip", "10.3.0.1", ttl=60, reason="r", now=now)
    cache.put(ban)  # this process's own ban, in the cache at once
    version = cache.version
    await cache.refresh(now + 1)  # the store hands it back: nothing changed
    assert cache.version == version
    await store.add_ban("ip", "10.3.0.1", ttl=60, reason="r", now=now + 2)  # escalated elsewhere
    await cache.refresh(now + 2)
    assert cache.version == version + 1
    await cache.refresh(now + 1000)  # it expired: `find` no longer answered it, no change to tell
    assert (cache.version, len(cache)) == (version + 1, 0)


async def test_expired_bans_leave_the_cache_as_they_expire() -> None:
    store, now = MemoryStore(), FakeClock().now()
    cache, _ = cache_of(store)
    await cache.refresh(now)
    for second in range(20):  # a wave: 500 new bans of 5 s a second
        for i in range(500):
            await store.add_ban("ip", f"10.{second}.{i // 256}.{i % 256}", ttl=5, reason="r", now=now + second)
        await cache.refresh(now + second + 0.5)
        assert len(cache) <= 5 * 500
    assert len(cache._heap) <= 2 * len(cache) + 64
    assert cache.find({"ip": "10.19.0.1"}, now + 19.5) is not None
    await cache.refresh(now + 30)
    assert len(cache) == 0


async def test_a_cache_that_fell_behind_the_log_reads_the_whole_table() -> None:
    store, now = MemoryStore(), FakeClock().now()
    cache, counting = cache_of(store)
    store._bans = MemoryBans(log_size=100)
    await store.add_ban("ip", "10.4.0.1", ttl=600, reason="r", now=now)
    await cache.refresh(now)
    for i in range(150):
        await store.add_ban("ip", f"10.5.0.{i}", ttl=600, reason="r", now=now + 1)
    await store.remove_ban("ip", "10.4.0.1")
    await cache.refresh(now + 1)
    assert (len(cache), counting.handed) == (150, 151)
    assert cache.find({"ip": "10.4.0.1"}, now + 1) is None
