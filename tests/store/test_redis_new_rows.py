"""A new entity's counter row is written field by field as its frame cuts it, whatever the windows."""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

import pytest
import redis

from shield.model import DEFAULT_WINDOWS, FakeClock, Observation, Outcome, Window
from shield.store.base import Retention
from shield.store.connect import StoreOptions, open_redis
from shield.store.layout import Plan
from shield.store.memory import MemoryStore
from shield.store.packed import Row
from shield.store.scripts import plan_rows
from tests.store.reference_library import fold_pending

ONE_WINDOW = (Window("1h", 3600),)  # rows of one hash field each (lua/common.lua's frame: no tail)


def login(ip: str) -> Observation:
    return Observation(
        route="login",
        ip=ip,
        subnet="10.81.0.0/24",
        asn="64581",
        country="NL",
        account=f"acct-{ip}",
        fp="fp-81",
        device="dev-81",
        password="pw-81",
        pair=f"pair-{ip}",
    )


@pytest.mark.parametrize("windows", [ONE_WINDOW, DEFAULT_WINDOWS], ids=["one-field", "several-fields"])
async def test_new_entities_count_as_the_memory_store_does(redis_url: str, windows: tuple[Window, ...]) -> None:
    retention = Retention(windows=windows)
    parts = urlsplit(redis_url)
    store, memory = open_redis(parts.scheme, parts, StoreOptions(), retention), MemoryStore(retention)
    now = FakeClock().now()
    try:
        for i in range(6):  # new ips, accounts and pairs on every attempt; the others counted again
            obs = login(f"10.81.0.{i + 1}")
            got, want = await store.observe(obs, now + i), await memory.observe(obs, now + i)
            assert got.counters == want.counters, i
            await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=now + i)
            await memory.record_outcome(obs, Outcome.FAILURE, familiar=False, now=now + i)
        again = login("10.81.0.6")
        assert (await store.observe(again, now + 7)).counters == (await memory.observe(again, now + 7)).counters
    finally:
        await store.close()
    dims, account = plan_rows(Plan.build(windows))[:2]
    sync = redis.Redis.from_url(redis_url)
    assert fold_pending(sync, "shield:", windows) > 0  # the outcomes' counts, as the next observe folds them
    for key, row in (("{shield:ip:10.81.0.1}", dims), ("{shield:account:acct-10.81.0.1}", account)):
        stored = cast(dict[bytes, bytes], sync.hgetall(key))
        assert sorted(f for f in stored if f.startswith(b"c")) == [c[0].encode() for c in row.chunks()]
        _assert_row(stored, row, now)
        assert sync.pttl(key) > 0


def _assert_row(stored: dict[bytes, bytes], row: Row, now: float) -> None:
    """The fields joined are the row: the first write's time and its expiry's, one attempt and one failure."""
    joined = b"".join(stored[name.encode()] for name, _, _ in row.chunks())
    values = row.codec().unpack(joined)
    assert values[:2] == (now, now)  # its only attempt: last write and expiry armed then
    assert values[2] == values[4] == 1  # the window's current attempts and failures
