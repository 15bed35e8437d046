"""The ban table on Redis as each worker's ban cache reads it: its changes since a cursor, from a log
the ban scripts keep (shield.store.redis_bans), the whole table only when the log cannot answer."""

from __future__ import annotations

import asyncio

import redis

from shield.model import FakeClock
from shield.store.bancache import BanCache
from tests.store.test_redis_calls import _open

META, LOG, EXPIRY = "{shield}:banmeta", "{shield}:banlog", "{shield}:banexp"


async def test_an_admin_add_and_lift_reach_another_workers_cache_in_one_refresh(redis_url: str) -> None:
    admin, worker = _open(redis_url), _open(redis_url)
    cache, now = BanCache(worker), FakeClock().now()
    try:
        await asyncio.gather(*(admin.add_ban("ip", f"10.70.1.{i}", ttl=600, reason="r", now=now) for i in range(100)))
        await cache.refresh(now)
        assert len(cache) == 100
        ban = await admin.add_ban("subnet", "10.70.2.0/24", ttl=600, reason="incident", now=now + 1, source="admin")
        assert await admin.remove_ban("ip", "10.70.1.5") is True
        version = cache.version
        changes = await worker.ban_changes(cache._cursor, now + 1)
        assert (changes.full, changes.bans, changes.lifted) == (False, [ban], [("ip", "10.70.1.5")])
        await cache.refresh(now + 1)
        assert cache.find({"subnet": "10.70.2.0/24"}, now + 1) == ban
        assert cache.find({"ip": "10.70.1.5"}, now + 1) is None
        assert (len(cache), cache.version) == (100, version + 1)
        await cache.refresh(now + 2)
        assert cache.version == version + 1  # nothing changed since
    finally:
        await admin.close()
        await worker.close()


async def test_a_flushed_redis_is_read_whole_again(redis_url: str) -> None:
    store, now = _open(redis_url), FakeClock().now()
    cache = BanCache(store)
    try:
        await store.add_ban("ip", "10.71.0.1", ttl=600, reason="r", now=now)
        await cache.refresh(now)
        redis.Redis.from_url(redis_url).flushall()
        ban = await store.add_ban("ip", "10.71.0.2", ttl=600, reason="r", now=now + 1)
        await cache.refresh(now + 1)
        assert cache.find({"ip": "10.71.0.1"}, now + 1) is None  # the store forgot it: so does the cache
        assert cache.find({"ip": "10.71.0.2"}, now + 1) == ban
        assert len(cache) == 1
    finally:
        await store.close()


async def test_a_log_trimmed_past_the_cursor_or_behind_it_is_read_whole_again(redis_url: str) -> None:
    store, now = _open(redis_url), FakeClock().now()
    raw = redis.Redis.from_url(redis_url)
    try:
        kept = await store.add_ban("ip", "10.72.0.1", ttl=600, reason="r", now=now)
        cursor = (await store.ban_changes(None, now)).cursor
        await store.add_ban("ip", "10.72.0.2", ttl=600, reason="r", now=now + 1)
        assert not (await store.ban_changes(cursor, now + 1)).full
        raw.hset(META, "f", cursor[1] + 1)  # as if the log's oldest entries had been trimmed
        assert (await store.ban_changes(cursor, now + 1)).full
        last = (await store.ban_changes(None, now + 1)).cursor
        raw.hset(META, "s", last[1] - 1)  # a replica promoted without the last write
        answer = await store.ban_changes(last, now + 1)
        assert (answer.full, kept in answer.bans, len(answer.bans)) == (True, True, 2)
    finally:
        await store.close()


async def test_the_log_keeps_the_last_65536_changes(redis_url: str) -> None:
    store, now = _open(redis_url), FakeClock().now()
    raw = redis.Redis.from_url(redis_url)
    try:
        cursor = (await store.ban_changes(None, now)).cursor
        total = 65536 + 1025
        for batch in range(0, total, 200):
            await asyncio.gather(
                *(
                    store.add_ban("ip", f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}", ttl=600, reason="r", now=now)
                    for i in range(batch, min(batch + 200, total))
                )
            )
        assert raw.zcard(LOG) == 65536
        assert (await store.ban_changes(cursor, now)).full
        floor = int(raw.hget(META, "f") or 0)
        changes = await store.ban_changes((cursor[0], floor), now)
        assert (changes.full, len(changes.bans)) == (False, 65536)
    finally:
        await store.close()


async def test_expired_bans_and_forgotten_offenses_are_deleted_a_few_at_a_time(redis_url: str) -> None:
    store, now = _open(redis_url), FakeClock().now()
    raw = redis.Redis.from_url(redis_url)
    try:
        for i in range(2500):
            await store.add_ban("ip", f"10.73.{i // 256}.{i % 256}", ttl=10, reason="r", now=now, max_ttl=10)
        lasting = await store.add_ban("ip", "10.74.0.1", ttl=600, reason="r", now=now, max_ttl=600)
        cursor = (await store.ban_changes(None, now)).cursor
        changes = await store.ban_changes(cursor, now + 20)
        assert raw.hlen("{shield}:bans") == 501  # 2,000 a call
        assert (await store.ban_changes(changes.cursor, now + 21)).bans == []
        assert (raw.hlen("{shield}:bans"), raw.hlen("{shield}:offenses"), raw.zcard(EXPIRY)) == (1, 1, 1)
        assert await store.bans(now + 21) == [lasting]
    finally:
        await store.close()


async def test_bans_written_before_the_log_existed_are_indexed_for_expiry_on_the_first_full_read(
    redis_url: str,
) -> None:
    store, now = _open(redis_url), FakeClock().now()
    raw = redis.Redis.from_url(redis_url)
    try:
        await store.add_ban("ip", "10.75.0.1", ttl=10, reason="r", now=now, max_ttl=10)
        raw.delete(META, LOG, EXPIRY)  # as an older shield left its table
        await store.ban_changes(None, now)
        assert raw.zcard(EXPIRY) == 1
        await store.ban_changes(None, now + 20)
        assert (raw.hlen("{shield}:bans"), raw.hlen("{shield}:offenses"), raw.zcard(EXPIRY)) == (0, 0, 0)
    finally:
        await store.close()


async def test_a_workers_own_bans_come_back_from_the_log_as_the_bans_it_holds(redis_url: str) -> None:
    # Its own bans are not parsed again: the change log hands back the Ban add_ban made, the very
    # object; another worker's are read as ever, and a ban changed since is read anew.
    worker, other = _open(redis_url), _open(redis_url)
    cache, now = BanCache(worker), FakeClock().now()
    try:
        await cache.refresh(now)
        mine = [await worker.add_ban("ip", f"10.71.1.{i}", ttl=600, reason="r", now=now) for i in range(3)]
        for ban in mine:
            cache.put(ban)
        theirs = await other.add_ban("ip", "10.71.2.1", ttl=600, reason="r", now=now)
        again = await other.add_ban("ip", "10.71.1.2", ttl=600, reason="again", now=now + 1)  # escalated
        changes = await worker.ban_changes(cache._cursor, now + 1)
        by_value = {b.value: b for b in changes.bans}
        assert by_value["10.71.1.0"] is mine[0]
        assert by_value["10.71.1.1"] is mine[1]
        assert by_value["10.71.2.1"] == theirs
        assert by_value["10.71.1.2"] == again != mine[2]
        version = cache.version
        cache.apply(changes.bans, changes.lifted)
        assert cache.version == version + 1  # the two read anew, not its own
        assert cache.find({"ip": "10.71.1.2"}, now + 1) == again
        assert list(worker._own.values()) == [mine[2]]  # the rest taken back (that one bounded by MAX_OWN)
    finally:
        await worker.close()
        await other.close()
