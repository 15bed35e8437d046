"""Redis calls: concurrent outcomes share commands, and the script fallback (Redis < 7.0) agrees."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from shield.model import FakeClock, Outcome
from shield.store.connect import StoreOptions, open_redis
from shield.store.redis import RedisStore
from tests.store.conftest import SETTINGS
from tests.store.test_redis_cluster import stuffing


def _open(url: str, prefix: str = "shield") -> RedisStore:
    parts = urlsplit(url)
    return open_redis(parts.scheme, parts, StoreOptions(prefix=prefix), SETTINGS)


async def test_concurrent_outcomes_are_batched_into_few_commands(redis_url: str) -> None:
    store = _open(redis_url)
    now = FakeClock().now()
    try:
        await store.observe(stuffing(1), now)
        before = store.commands
        await asyncio.gather(
            *(store.record_outcome(stuffing(1), Outcome.FAILURE, familiar=False, now=now) for _ in range(50))
        )
        assert store.commands - before <= 3  # the first alone, the other 49 in one or two batches
        counters = (await store.observe(stuffing(1), now + 1)).counters
        assert counters["ip.failures_1m"] == counters["account.failures_unfamiliar_1h"] == 50
        assert counters["site.failures_5m"] == 50
    finally:
        await store.close()


async def test_scripts_without_functions_answer_like_the_function_library(redis_url: str) -> None:
    functions, scripts = _open(redis_url, "f"), _open(redis_url, "s")
    # The worker-batched site/country/ASN counts go out on the loop's clock, not the test's jumping one: a
    # flush landing between different calls of the two stores would file them in different buckets.
    for store in (functions, scripts):
        store._batched.flush_interval = 600.0
    scripts._functions = False  # what a Redis < 7.0 (no FCALL) makes the store do
    now = FakeClock().now()
    try:
        for i in range(40):
            obs = stuffing(i % 12)
            got, want = await scripts.observe(obs, now + i * 11), await functions.observe(obs, now + i * 11)
            assert got == want
            for store in (scripts, functions):
                await store.record_outcome(obs, Outcome.SUCCESS if i % 4 else Outcome.FAILURE, familiar=True, now=now)
        assert await scripts.claim_once("n", ttl=5, now=now) is True
        assert await scripts.claim_once("n", ttl=5, now=now + 1) is False
    finally:
        await functions.close()
        await scripts.close()
