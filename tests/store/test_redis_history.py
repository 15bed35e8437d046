"""The Redis account history: a record written before pending entries reads and is updated in place,
and the JSON outcome.lua writes is the shape shield.store.records writes (the memory store's)."""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
import redis

from shield.model import FakeClock, Observation, Outcome
from shield.store.connect import StoreOptions, open_redis
from shield.store.records import updated_record
from tests.store.conftest import SETTINGS

OBS = Observation(route="login", ip="10.9.0.1", subnet="10.9.0.0/24", asn="64999", country="US", account="acct",
                  fp="fp2", device="c:new", lat=40.5, lon=-74.25)
KEY = "{shield:account:acct}:h"


async def test_an_old_record_reads_and_gains_pending_entries(redis_url: str) -> None:
    now = FakeClock().now()
    old = {"c": [["JP", now - 100]], "a": [["64510", now - 100]], "d": [["c:dev", now - 100]],
           "f": [["fp", now - 100]], "s": [["10.0.0.0/24", now - 100]], "t": now - 100, "lat": 35.5, "lon": 139.5,
           "cc": "JP"}
    sync = redis.Redis.from_url(redis_url)
    sync.set(KEY, orjson.dumps(old))
    parts = urlsplit(redis_url)
    store = open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)
    try:
        before = (await store.observe(OBS, now)).history
        assert before is not None
        assert before.devices == ("c:dev",)
        await store.record_outcome(OBS, Outcome.SUCCESS, familiar=False, now=now, confirmed=False)
        after = (await store.observe(OBS, now + 1)).history
    finally:
        await store.close()
    assert after is not None
    assert (after.devices, after.unconfirmed_at) == (("c:dev",), now)
    written = orjson.loads(sync.get(KEY) or b"{}")
    expected = updated_record(old, OBS, now, days=SETTINGS.history_days, size=SETTINGS.history_size,
                              confirmed=False, confirm_after=SETTINGS.confirm_after)
    assert written == expected


async def test_the_history_holds_the_values_under_any_prefix(redis_url: str) -> None:
    """outcome.lua gets the entities' keys and reads the values back out of them: whatever the prefix."""
    now = FakeClock().now()
    parts = urlsplit(redis_url)
    store = open_redis(parts.scheme, parts, StoreOptions(prefix="a-much.longer_prefix"), SETTINGS)
    try:
        await store.observe(OBS, now)
        await store.record_outcome(OBS, Outcome.SUCCESS, familiar=False, now=now, confirmed=True)
        await store.record_outcome(OBS, Outcome.SUCCESS, familiar=False, now=now + 1, confirmed=False)
    finally:
        await store.close()
    written = orjson.loads(redis.Redis.from_url(redis_url).get("{a-much.longer_prefix:account:acct}:h") or b"{}")
    days, size, after = SETTINGS.history_days, SETTINGS.history_size, SETTINGS.confirm_after
    first = updated_record(None, OBS, now, days=days, size=size, confirmed=True, confirm_after=after)
    assert written == updated_record(first, OBS, now + 1, days=days, size=size, confirmed=False, confirm_after=after)
    assert written["c"] == [["US", now]]
    assert written["p"][0]["s"] == "10.9.0.0/24"
