"""An exact distinct set is packed in a few hash fields of at most 64 bytes (not one field per member):
every member and its last seen survive the cuts between fields, a member seen again moves only its
time, the entity's hash stays a listpack, and a packed field Shield did not write is replaced, not fatal.
The library keeps the parses of the sets it writes (by content, with their times sorted): a set changed
since, or garbled (a member twice, a NaN time), is read and counted as stored, and no large set is kept."""

from __future__ import annotations

import dataclasses
import math
import struct
from urllib.parse import urlsplit

import redis

from shield.model import FakeClock, Observation
from shield.store.connect import StoreOptions, open_redis
from shield.store.redis import RedisStore
from tests.store.conftest import SETTINGS
from tests.store.packed_sets import packed_fields, unpack_set

IP = "{shield:ip:10.71.0.1}"


def _open(url: str) -> RedisStore:
    parts = urlsplit(url)
    return open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)


def login(account: str) -> Observation:
    return Observation(
        route="login",
        ip="10.71.0.1",
        subnet="10.71.0.0/24",
        asn="64571",
        country="CN",
        account=account,
        fp="fp-1",
        password="pw-1",
        pair=f"pair-{account}",
    )


def _members(sync: redis.Redis) -> list[tuple[bytes, float]]:
    return unpack_set(b"".join(packed_fields(sync.hgetall(IP))[b"1"]))  # ip.distinct_accounts


async def test_a_set_cut_across_fields_keeps_every_member_and_moves_only_a_returning_ones_time(
    redis_url: str,
) -> None:
    sync = redis.Redis.from_url(redis_url)
    now = FakeClock().now()
    accounts = [f"account-{i:03d}" for i in range(40)]  # 40 x 21 bytes: 14 fields
    store = _open(redis_url)
    try:
        for i, account in enumerate(accounts):
            counters = (await store.observe(login(account), now + i)).counters
        assert counters["ip.distinct_accounts_24h"] == 40
        before = _members(sync)
        fields = packed_fields(sync.hgetall(IP))[b"1"]
        again = (await store.observe(login(accounts[3]), now + 100)).counters  # its entry straddles a cut
    finally:
        await store.close()
    assert before == [(a.encode(), now + i) for i, a in enumerate(accounts)]
    assert len(fields) > 10
    assert all(len(f) == 64 for f in fields[:-1])
    assert again["ip.distinct_accounts_24h"] == 40  # seen again: no new member
    assert (again["ip.distinct_accounts_1m"], again["ip.distinct_accounts_10m"]) == (1, 40)  # its age is 0 now
    assert _members(sync) == [(a.encode(), now + 100 if a == accounts[3] else now + i) for i, a in enumerate(accounts)]
    assert sync.object("encoding", IP) in (b"listpack", b"ziplist")  # the whole hash: 64-byte values


async def test_a_packed_field_not_written_by_shield_is_replaced(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    now = FakeClock().now()
    sync.hset(IP, mapping={"1#!": b"\x05\x00garbage", "1##": b"x"})  # a count of 5, then too few bytes; a gap
    store = _open(redis_url)
    try:
        counters = (await store.observe(login("account-a"), now)).counters
    finally:
        await store.close()
    assert counters["ip.distinct_accounts_24h"] == 1
    assert _members(sync) == [(b"account-a", now)]
    assert not sync.hexists(IP, "1##")


async def test_a_member_too_long_for_its_length_field_is_cut_not_corrupting_its_set(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    now = FakeClock().now()
    huge = "a" * 70_000  # past the packed length's 65,535 (no value the worker sends comes near)
    store = _open(redis_url)
    try:
        await store.observe(login("account-a"), now)
        await store.observe(login(huge), now + 1)
        counters = (await store.observe(login("account-a"), now + 2)).counters
    finally:
        await store.close()
    assert counters["ip.distinct_accounts_24h"] == 2
    assert _members(sync) == [(b"account-a", now + 2), (huge[:65_535].encode(), now + 1)]


async def test_a_set_changed_by_another_writer_since_the_last_write_is_read_as_stored(redis_url: str) -> None:
    """The library keeps the parses of the sets it wrote (by their packed string): a set changed since
    (another library, an operator, a restore) is read from what is stored, never from the kept parse."""
    sync = redis.Redis.from_url(redis_url)
    now = FakeClock().now()
    store = _open(redis_url)
    try:
        for i, account in enumerate(("account-a", "account-b", "account-c")):
            await store.observe(login(account), now + i)
        written = packed_fields(sync.hgetall(IP))[b"1"]
        # the same set without account-b, as another writer would leave it (one field: 3 short members fit)
        only = [(m, t) for m, t in _members(sync) if m != b"account-b"]
        fields = {
            "1#!": struct.pack("<H", len(only))
            + b"".join(struct.pack("<H", len(m)) + m + struct.pack("<d", t) for m, t in only)
        }
        assert len(written) == 1
        assert len(fields["1#!"]) <= 64
        sync.hset(IP, mapping=fields)
        counters = (await store.observe(login("account-d"), now + 3)).counters
        again = (await store.observe(login("account-a"), now + 4)).counters  # the set the library wrote last
    finally:
        await store.close()
    assert counters["ip.distinct_accounts_24h"] == 3  # a, c, d: not b
    assert again["ip.distinct_accounts_24h"] == 3
    assert _members(sync) == [(b"account-a", now + 4), (b"account-c", now + 2), (b"account-d", now + 3)]


def _packed(members: list[tuple[bytes, float]]) -> bytes:
    return struct.pack("<H", len(members)) + b"".join(
        struct.pack("<H", len(m)) + m + struct.pack("<d", t) for m, t in members
    )


async def test_a_set_with_a_member_twice_counts_every_entry_as_before(redis_url: str) -> None:
    """A set Shield never writes (a member twice, from another writer): every entry counts, the
    attempt's own at age 0, as the pass over the members always did (the sorted counting of kept
    sets does not take it)."""
    sync = redis.Redis.from_url(redis_url)
    now = FakeClock().now()
    store = _open(redis_url)
    try:
        await store.observe(login("account-b"), now - 7200)  # the entity and its row
        sync.hset(IP, "1#!", _packed([(b"account-a", now - 3600), (b"account-a", now - 10)]))
        first = (await store.observe(login("account-a"), now)).counters  # the set's parse is kept now
        sync.hset(IP, "1#!", _packed([(b"account-a", now - 3600), (b"account-a", now - 10)]))
        again = (await store.observe(login("account-a"), now + 1)).counters
    finally:
        await store.close()
    for counters in (first, again):
        assert (counters["ip.distinct_accounts_1m"], counters["ip.distinct_accounts_1h"]) == (2, 2)


async def test_a_member_whose_time_is_not_a_number_is_dropped_as_stale(redis_url: str) -> None:
    """A last seen that is NaN (another writer's) is stale, as it always was: dropped from the set on
    the next count, even when the set's parse is kept (the sorted counting of kept sets does not take it)."""
    sync = redis.Redis.from_url(redis_url)
    now = FakeClock().now()
    garbled = _packed([(b"account-b", now - 10), (b"account-a", math.nan)])
    store = _open(redis_url)
    try:
        await store.observe(login("account-b"), now - 20)  # the entity and its row
        sync.hset(IP, "1#!", garbled)
        first = (await store.observe(login("account-c"), now)).counters
        sync.hset(IP, "1#!", garbled)  # the set as garbled again, its parse kept by the call before
        await store.observe(login("account-b"), now + 1)
        sync.hset(IP, "1#!", garbled)
        again = (await store.observe(login("account-c"), now + 2)).counters
    finally:
        await store.close()
    assert first["ip.distinct_accounts_1m"] == again["ip.distinct_accounts_1m"] == 2
    assert [m for m, _ in _members(sync)] == [b"account-b", b"account-c"]


async def test_the_kept_parses_of_sets_hold_no_large_ones(redis_url: str) -> None:
    """The library keeps the parses of the sets it writes (at most 256), but not of a set past 4 KiB:
    values far longer than any the worker sends (an account name of 30,000 bytes) are not kept in
    Redis's Lua memory, 256 of them would hold megabytes."""
    sync = redis.Redis.from_url(redis_url)
    now = FakeClock().now()
    store = _open(redis_url)

    def attempt(i: int, account: str) -> Observation:
        return dataclasses.replace(login(account), ip=f"10.72.{i // 250}.{i % 250 + 1}")

    try:
        await store.observe(login("account-a"), now)  # the library loaded
        before = int(sync.info("memory")["used_memory_vm_functions"])
        for i in range(250):
            await store.observe(attempt(i, "a" * 30_000), now + i)
            await store.observe(attempt(i, "b" * 30_000), now + i)  # the set read, appended, written: 60 KB
        after = int(sync.info("memory")["used_memory_vm_functions"])
    finally:
        await store.close()
    assert after - before < 4_000_000, after - before
