"""Upgrading over the previous key layouts ("n" plus one packed field per window; one field per
distinct set member): no crash, the counters start afresh, the old fields go, the distinct sets
(packed now) and the history stay."""

from __future__ import annotations

import struct
from urllib.parse import urlsplit

import redis

from shield.model import FakeClock, Observation, Outcome
from shield.store.connect import StoreOptions, open_redis
from tests.store.conftest import SETTINGS
from tests.store.packed_sets import packed_fields, unpack_set

OBS = Observation(
    route="login",
    ip="10.77.0.1",
    subnet="10.77.0.0/24",
    asn="64577",
    country="CN",
    account="acct-old",
    fp="fp-old",
    password="pw-old",
    pair="pair-old",
)
OLD = ("n", "1", "2", "3", "4")


def _old_entity(sync: redis.Redis, key: str, now: float, measures: int, member: str | None, windows: int = 4) -> None:
    """A hash as the previous layout wrote it: 9 attempts in every window's current bucket."""
    window = struct.pack("<" + "i" * (2 * measures), *([9, 0] + [0, 0] * (measures - 1)))
    fields: dict[str, bytes | str] = {"n": struct.pack("<dd", now - 1, now - 1)}
    fields.update({str(i): window for i in range(1, windows + 1)})
    if member:
        fields[member] = repr(now - 1)
    sync.hset(key, mapping=fields)
    sync.pexpire(key, 3_600_000)


async def test_entities_in_the_previous_layout_start_afresh_and_lose_their_old_fields(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    now = FakeClock().now()
    _old_entity(sync, "{shield:ip:10.77.0.1}", now, 3, "1|acct-before")  # ip.distinct_accounts member
    _old_entity(sync, "{shield:account:acct-old}", now, 5, None)
    _old_entity(sync, "{shield:site:0}", now, 4, None, windows=2)
    parts = urlsplit(redis_url)
    store = open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)
    try:
        counters = (await store.observe(OBS, now)).counters
        await store.record_outcome(OBS, Outcome.FAILURE, familiar=False, now=now)
        again = (await store.observe(OBS, now + 1)).counters
    finally:
        await store.close()
    assert counters["ip.attempts_1h"] == counters["account.attempts_1h"] == 1  # afresh, not 10
    assert counters["ip.distinct_accounts_1h"] == 2  # the set's member survived the upgrade
    assert (again["ip.failures_1h"], again["account.failures_unfamiliar_1h"], again["ip.attempts_1h"]) == (1, 1, 2)
    # the previous layout's member field ("<k>|<member>" -> last seen) is now a packed set's member
    fields = sync.hgetall("{shield:ip:10.77.0.1}")
    assert b"1|acct-before" not in fields
    assert unpack_set(b"".join(packed_fields(fields)[b"1"])) == [(b"acct-before", now - 1), (b"acct-old", now + 1)]
    for key in ("{shield:ip:10.77.0.1}", "{shield:account:acct-old}", "{shield:site:0}"):
        fields = {f.decode() for f in sync.hkeys(key)}
        assert not fields & set(OLD), (key, fields)
        assert sync.object("encoding", key) in (b"listpack", b"ziplist"), key
