"""The Redis store keeps only the distinct sets a rule reads, and one observe calls only the masters it needs."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis

from shield.model import FakeClock, Observation, Outcome
from shield.store.base import Retention
from shield.store.connect import StoreOptions, open_redis
from shield.store.redis import RedisStore
from tests.store.packed_sets import packed_fields, unpack_set

READS = frozenset({"account.distinct_fps_1h", "ip.attempts_1m", "account.failures_1h"})


def _open(url: str, retention: Retention = Retention()) -> RedisStore:  # noqa: B008 (frozen)
    parts = urlsplit(url)
    return open_redis(parts.scheme, parts, StoreOptions(), retention)


def _sets(sync: redis.Redis, key: str) -> dict[bytes, list[tuple[bytes, float]]]:
    """The entity's packed distinct sets: per set k, its members and last seen (tests/store/packed_sets.py)."""
    return {k: unpack_set(b"".join(parts)) for k, parts in packed_fields(sync.hgetall(key)).items()}


def login(account: str | None = "acct-1", **kw: str | None) -> Observation:
    values: dict[str, str | None] = {
        "ip": "10.70.0.1",
        "subnet": "10.70.0.0/24",
        "asn": "64570",
        "country": "CN",
        "account": account,
        "fp": "fp-1",
        "device": "dev-1",
        "password": "pw-1",
        "pair": f"pair-{account}",
    }
    values.update(kw)
    return Observation(route="login", **values)  # type: ignore[arg-type]


async def test_only_the_distinct_sets_a_rule_reads_are_kept(redis_url: str) -> None:
    store = _open(redis_url, Retention(reads=READS))
    now = FakeClock().now()
    try:
        await store.observe(login(), now)
        counters = (await store.observe(login(ip="10.70.0.2"), now + 1)).counters
    finally:
        await store.close()
    assert counters["account.distinct_fps_1h"] == 1
    assert "account.distinct_fps_1m" not in counters  # a window no rule reads is not counted
    # kept whatever the rules read: the derived facts' inputs (in the window they read, 24h) and the
    # takeover policy's (every window: its window is the policy's)
    assert counters["ip.distinct_accounts_24h"] == counters["subnet.distinct_accounts_24h"] == 1
    assert "ip.distinct_accounts_1m" not in counters
    assert counters["account.distinct_ips_10m"] == 2
    for name in ("account.distinct_asns_1m", "country.distinct_accounts_1h", "password.distinct_ips_10m"):
        assert name not in counters, name  # absent, not a false 0
    # every window of every measure is counted, only the counters needed are estimated (shield.store.estimated)
    assert counters["ip.attempts_1m"] == 1
    assert counters["account.failures_1h"] == 0  # read: present at 0
    assert "account.attempts_1h" not in counters
    # the account's sets: ips (1) and fps (4) are kept, asns (2) and countries (3) are not stored
    sets = _sets(redis.Redis.from_url(redis_url), "{shield:account:acct-1}")
    assert sorted(sets) == [b"1", b"4"]
    assert [m for m, _ in sets[b"1"]] == [b"10.70.0.1", b"10.70.0.2"]


async def test_a_large_set_counts_only_the_windows_a_rule_reads(redis_url: str) -> None:
    store = _open(redis_url, Retention(reads=frozenset({"password.distinct_accounts_1h"})))
    now = FakeClock().now()
    try:
        for i in range(150):  # past the exact limit: HyperLogLogs
            counters = (await store.observe(login(account=f"a-{i}", password="pw-spray"), now + i * 0.1)).counters
    finally:
        await store.close()
    assert abs(counters["password.distinct_accounts_1h"] - 150) <= 5
    assert "password.distinct_accounts_1m" not in counters
    hlls = {k.decode() for k in redis.Redis.from_url(redis_url).scan_iter("{shield:password:pw-spray}:x:*")}
    assert hlls
    assert all(k.startswith("{shield:password:pw-spray}:x:1:3:") for k in hlls), hlls  # 1h only


async def test_a_set_read_by_reloaded_rules_is_counted_from_then_on(redis_url: str) -> None:
    store = _open(redis_url, Retention(reads=READS))
    live = [READS]
    store.follow(lambda: live[0])
    now = FakeClock().now()
    try:
        assert "account.distinct_asns_1m" not in (await store.observe(login(), now)).counters
        live[0] = READS | {"account.distinct_asns_1m"}
        assert (await store.observe(login(), now + 1)).counters["account.distinct_asns_1m"] == 1
    finally:
        await store.close()


async def test_a_set_no_longer_read_loses_its_members(redis_url: str) -> None:
    store = _open(redis_url)  # every set kept
    live: list[frozenset[str] | None] = [None]
    store.follow(lambda: live[0])
    now = FakeClock().now()
    sync = redis.Redis.from_url(redis_url)
    try:
        await store.observe(login(), now)
        assert [m for m, _ in _sets(sync, "{shield:account:acct-1}")[b"2"]] == [b"64570"]  # the account's ASNs
        live[0] = READS
        await store.observe(login(), now + 1)
    finally:
        await store.close()
    sets = _sets(sync, "{shield:account:acct-1}")
    assert b"2" not in sets
    assert sets[b"4"] == [(b"fp-1", now + 1)]
    assert not any(f.startswith(b"2#") for f in sync.hkeys("{shield:account:acct-1}"))


async def test_an_observe_calls_only_the_masters_holding_its_entities(redis_cluster_url: str) -> None:
    store = _open(redis_cluster_url)
    now = FakeClock().now()
    alone = login(account=None, subnet=None, asn=None, country=None, fp=None, device=None, password=None, pair=None)
    try:
        await store.observe(login(), now)  # the first call reads every master's site shard
        commands = store.commands
        await store.observe(alone, now + 0.5)  # the site shards were read 0.5 s ago: not again
        assert store.commands - commands <= 2  # the address's master and the bans' master
        await store.record_outcome(login(), Outcome.FAILURE, familiar=False, now=now + 0.5)
        await store.observe(alone, now + 2)  # a second on: every shard is read again
        counters = (await store.observe(alone, now + 2)).counters
    finally:
        await store.close()
    assert counters["site.attempts_5m"] == 4
    assert counters["site.failures_5m"] == 1
