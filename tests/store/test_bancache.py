"""BanCache.version: what says that an answer of `find` remembered elsewhere may no longer hold."""

from __future__ import annotations

from shield.model import Ban
from shield.store.bancache import BanCache
from shield.store.memory import MemoryStore

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
