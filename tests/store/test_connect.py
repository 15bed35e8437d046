"""Store URLs: every form opens a working store; a bad one gets a clear error, never a traceback."""

from __future__ import annotations

import pytest

from shield.model import FakeClock, Observation
from shield.store.connect import StoreURLError, open_store
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore
from shield.store.resilient import ResilientStore

OBS = Observation(route="login", ip="10.30.0.7", subnet="10.30.0.0/24", account="acct-1")


async def test_memory_url_opens_the_memory_store() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)


@pytest.mark.parametrize("fixture", ["redis_url", "redis_cluster_url", "redis_sentinel_url"])
async def test_redis_urls_open_a_resilient_redis_store_that_counts(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(fixture)
    store = open_store(url + "?max_connections=8&prefix=tenant-a")
    try:
        assert isinstance(store, ResilientStore)
        assert isinstance(store.primary, RedisStore)
        now = FakeClock().now()
        await store.observe(OBS, now)
        signals = await store.observe(OBS, now)
        assert store.degraded is False
        assert signals.counters["ip.attempts_1m"] == 2
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/0", "unknown scheme 'mysql'"),
        ("redis://h:6379/0?max_connections=lots", "max_connections='lots' is not a number"),
        ("redis://h:6379/0?call_timeout=0", "call_timeout must be positive"),
        ("redis+sentinel://h:26379", "redis+sentinel://host:26379,host2:26379/<master>/<db>"),
        ("redis+sentinel://h:26379/m/x", "redis+sentinel://host:26379,host2:26379/<master>/<db>"),
        ("redis+cluster://h:7000,h", "'h' is not host:port"),
        ("redis+cluster://u:secret@h:7000?socket_timeout=1", "accepts only shield's query parameters"),
        ("redis://h:6379/0?prefix=a}b", "store prefix 'a}b'"),
    ],
    ids=[
        "scheme",
        "not_a_number",
        "not_positive",
        "sentinel_no_master",
        "sentinel_bad_db",
        "cluster_no_port",
        "cluster_foreign_query",
        "prefix_breaks_hash_tag",
    ],
)
def test_bad_store_url_is_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        open_store(url)
    assert message in str(info.value)
    assert "secret" not in str(info.value)
    assert isinstance(info.value, StoreURLError) or "prefix" in message
