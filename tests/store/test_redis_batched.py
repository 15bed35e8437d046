"""The batched hot counters (site, country, ASN): a worker's counts reach Redis, and other workers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from shield.model import FakeClock, Observation, Outcome
from shield.rules.pack import load_pack
from shield.store.base import Retention
from shield.store.batched import FLUSH_INTERVAL, REFRESH
from shield.store.connect import StoreOptions, open_redis
from shield.store.redis import RedisStore
from tests.fixtures.redis import RedisServer
from tests.store.conftest import SETTINGS
from tests.store.test_redis_cluster import stuffing

BUNDLED_READS = load_pack(Path(__file__).resolve().parents[2] / "shield" / "rules" / "bundled").rules.reads
# Every distinct set kept (ASN and country met by each observe for their sets), and the bundled
# rules' (country's row only read back, at most once per REFRESH).
RETENTIONS = {
    "all-sets": SETTINGS,
    "bundled": Retention(max_keys=SETTINGS.max_keys, history_size=SETTINGS.history_size, reads=BUNDLED_READS),
}


def _open(url: str, retention: Retention) -> RedisStore:
    parts = urlsplit(url)
    return open_redis(parts.scheme, parts, StoreOptions(), retention)


def attempt(i: int) -> Observation:
    ip = f"10.9.{i // 200}.{i % 200 + 1}"
    return Observation(
        route="login", ip=ip, subnet=ip.rsplit(".", 1)[0] + ".0/24", asn="64999", country="JP", account=f"u{i}"
    )


HOT_NAMES = ("site.attempts_5m", "site.failures_5m", "asn.attempts_1h", "asn.failures_1h", "country.attempts_1h")


@pytest.fixture(params=["redis", "cluster"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url"))


@pytest.mark.parametrize("kept", list(RETENTIONS))
async def test_a_workers_counts_reach_another_within_flush_and_refresh(url: str, kept: str) -> None:
    one, other = _open(url, RETENTIONS[kept]), _open(url, RETENTIONS[kept])
    now = FakeClock().now()
    try:
        before = (await other.observe(attempt(10_000), now)).counters  # `other` has read the totals
        assert [before[n] for n in HOT_NAMES] == [1, 0, 1, 0, 1]
        for i in range(20):
            await one.observe(attempt(i), now)
            await one.record_outcome(attempt(i), Outcome.FAILURE, familiar=False, now=now)
        # one sees its own traffic at once. Other's one attempt shows too if other's batch went out and a
        # flush reply of one's brought the totals back before this (40 calls can outlast FLUSH_INTERVAL
        # on a loaded machine): never less than one's own. On a Cluster each entity's totals come back
        # from its own master, so each may or may not show it yet.
        mine = (await one.observe(attempt(99), now)).counters
        assert [mine[n] for n in HOT_NAMES[1::2]] == [20, 20]
        assert all(mine[n] in (21, 22) for n in HOT_NAMES[::2])
        await asyncio.sleep(FLUSH_INTERVAL + 0.5)  # one's batch has gone out
        seen = (await other.observe(attempt(10_001), now + REFRESH)).counters  # other's totals are stale
        assert [seen[n] for n in HOT_NAMES] == [23, 20, 23, 20, 23]
        assert one._batched.flushes >= 1
    finally:
        await one.close()
        await other.close()


async def test_close_sends_the_counts_not_yet_flushed(url: str) -> None:
    one = _open(url, SETTINGS)
    one._batched.flush_interval = 60.0  # nothing goes out before close
    now = FakeClock().now()
    for i in range(5):
        await one.observe(attempt(i), now)
        await one.record_outcome(attempt(i), Outcome.SUCCESS, familiar=True, now=now)
    assert one._batched.flushes == 0  # nothing sent yet: the batch waits for its interval
    await one.close()
    fresh = _open(url, SETTINGS)
    try:
        counters = (await fresh.observe(attempt(100), now + 1)).counters
        assert counters["site.attempts_5m"] == counters["asn.attempts_1h"] == counters["country.attempts_1h"] == 6
        assert counters["site.successes_5m"] == counters["asn.successes_1h"] == counters["country.successes_1h"] == 5
        assert counters["site.unknown_5m"] == 6  # no account had succeeded before its attempt
    finally:
        await fresh.close()


async def test_a_wave_on_several_workers_adds_up_exactly(redis_cluster_url: str) -> None:
    """Three workers, concurrent: after their flushes the totals equal the traffic, per entity."""
    workers = [_open(redis_cluster_url, RETENTIONS["bundled"]) for _ in range(3)]
    now = FakeClock().now()
    try:
        for i in range(90):
            w = workers[i % 3]
            await w.observe(stuffing(i), now + i * 0.01)
            await w.record_outcome(stuffing(i), Outcome.FAILURE, familiar=False, now=now + i * 0.01)
        for w in workers:
            await w.flush()
        fresh = _open(redis_cluster_url, RETENTIONS["bundled"])
        try:
            counters = (await fresh.observe(stuffing(0), now + 2)).counters  # CN, 64560: 30 each before
            assert counters["site.attempts_5m"] == 91
            assert counters["site.failures_5m"] == 90
            assert counters["asn.attempts_1h"] == counters["country.attempts_1h"] == 31
            assert counters["asn.failures_1h"] == counters["country.failures_1h"] == 30
        finally:
            await fresh.close()
    finally:
        for w in workers:
            await w.close()


async def test_counts_of_a_failed_flush_are_sent_by_the_next(restartable_redis: RedisServer) -> None:
    one = _open(restartable_redis.url, SETTINGS)
    one._batched.flush_interval = 60.0  # only the explicit flushes below
    now = FakeClock().now()
    try:
        for i in range(3):
            await one.observe(attempt(i), now)
        restartable_redis.stop()
        await one.flush()  # Redis is down: the batch fails, its counts are kept
        assert one._batched.failures == 1
        restartable_redis.start()
        for _ in range(5):  # the pool's dead connections may fail a first try
            await one.flush()
            if not any(t.pending for t in one._batched.tallies.values()):
                break
        fresh = _open(restartable_redis.url, SETTINGS)
        try:
            counters = (await fresh.observe(attempt(100), now + 1)).counters
            # the restarted server kept nothing: these are exactly the three batched attempts, plus this one
            assert counters["asn.attempts_1h"] == counters["country.attempts_1h"] == counters["site.attempts_5m"] == 4
        finally:
            await fresh.close()
    finally:
        await one.close()
