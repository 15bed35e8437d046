"""The ban list on Redis: read every second (shield.store.bancache), parsed only where it changed."""

from __future__ import annotations

from shield.model import FakeClock
from tests.store.test_redis_calls import _open


async def test_a_ban_listed_again_is_the_same_ban_and_a_changed_one_is_read_anew(redis_url: str) -> None:
    store = _open(redis_url)
    now = FakeClock().now()
    try:
        await store.add_ban("ip", "10.70.0.1", ttl=60, reason="r", now=now)
        await store.add_ban("ip", "10.70.0.2", ttl=60, reason="r", now=now)
        first = {b.value: b for b in await store.bans(now)}
        again = await store.add_ban("ip", "10.70.0.2", ttl=60, reason="r", now=now + 1)  # escalated
        second = {b.value: b for b in await store.bans(now + 1)}
        assert second["10.70.0.1"] is first["10.70.0.1"]  # unchanged JSON: not parsed again
        assert second["10.70.0.2"] == again != first["10.70.0.2"]
        assert (second["10.70.0.2"].offenses, second["10.70.0.2"].expires_at) == (2, again.expires_at)
        await store.remove_ban("ip", "10.70.0.1")
        assert [b.value for b in await store.bans(now + 2)] == ["10.70.0.2"]
        assert len(store._listed) == 1  # only what the last list held is kept
    finally:
        await store.close()
