"""The store under test: the same contract for memory, a real redis-server and a real cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from shield.store.base import Retention, Store
from shield.store.connect import StoreOptions, open_redis
from shield.store.memory import MemoryStore

SETTINGS = Retention(max_keys=100_000, history_days=90, history_size=3)


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh, empty store of each kind (bare RedisStore: errors are not hidden by failover)."""
    s: Store
    if request.param == "memory":
        s = MemoryStore(SETTINGS)
    else:
        url = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
        parts = urlsplit(url)
        s = open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)
    yield s
    await s.close()
