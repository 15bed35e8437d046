"""An observe's arguments go out as UTF-8 bytes (encoded by the store, not redis-py): a non-ASCII
value is counted under the same key, and answered the same, as a str argument would be."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis

from shield.model import FakeClock, Observation, Outcome
from shield.store.connect import StoreOptions, open_redis
from shield.store.routing import entity_key
from tests.store.conftest import SETTINGS

ACCOUNT = "josé@例え.jp"


def attempt(i: int) -> Observation:
    return Observation(
        route="login", ip=f"10.60.0.{i + 1}", subnet="10.60.0.0/24", account=ACCOUNT, fp="ü-fp", password=f"pw-{i}"
    )


async def test_a_non_ascii_value_is_counted_under_its_utf8_key(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    store = open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)
    now = FakeClock().now()
    try:
        signals = [await store.observe(attempt(i), now + i) for i in range(3)]
    finally:
        await store.close()
    assert [s.counters["account.attempts_1m"] for s in signals] == [1, 2, 3]
    assert [s.counters["fp.attempts_1m"] for s in signals] == [1, 2, 3]
    keys = set(redis.Redis.from_url(redis_url).scan_iter("*"))
    assert entity_key("shield:", "account", ACCOUNT).encode() in keys
    assert entity_key("shield:", "fp", "ü-fp").encode() in keys


async def test_a_non_ascii_outcome_is_counted_under_its_utf8_key(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    store = open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)
    now = FakeClock().now()
    try:
        for i in range(2):
            await store.observe(attempt(i), now + i)
            await store.record_outcome(attempt(i), Outcome.FAILURE, familiar=False, now=now + i)
        signals = await store.observe(attempt(2), now + 2)
    finally:
        await store.close()
    assert signals.counters["account.failures_1m"] == 2
    assert signals.counters["fp.failures_1m"] == 2
