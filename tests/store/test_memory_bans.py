"""The memory store's ban table: a new ban costs O(1) however many bans are active (amortised)."""

from __future__ import annotations

import pytest

from shield.model import Ban, FakeClock
from shield.store.memory import MemoryStore

ACTIVE = 3_000  # a rotating-address attack: thousands of addresses banned at once


@pytest.fixture
def active_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a ban's expiry is checked (the real Ban.active, counted)."""
    calls = [0]
    real = Ban.active

    def counted(ban: Ban, now: float) -> bool:
        calls[0] += 1
        return real(ban, now)

    monkeypatch.setattr(Ban, "active", counted)
    return calls


async def test_a_new_ban_does_not_scan_the_active_ones(active_calls: list[int]) -> None:
    store, clock = MemoryStore(), FakeClock()
    for i in range(ACTIVE):
        await store.add_ban("ip", f"10.50.{i // 250}.{i % 250}", ttl=3600, reason="r", now=clock.now())
        clock.advance(0.01)
    active_calls[0] = 0
    for i in range(1_000):
        await store.add_ban("ip", f"10.60.{i // 250}.{i % 250}", ttl=3600, reason="r", now=clock.now())
        clock.advance(0.01)
    # security: scanning every ban on every add made each ban of a rotating attack cost O(bans)
    assert active_calls[0] <= 2 * 1_000


async def test_expired_bans_and_offenses_leave_the_table() -> None:
    store, clock = MemoryStore(), FakeClock()
    for i in range(20_000):
        await store.add_ban("ip", f"10.70.{i // 250 % 256}.{i % 250}", ttl=1, reason="r", now=clock.now(), max_ttl=5)
        clock.advance(1.0)
    assert len(await store.bans(clock.now())) == 0
    assert store.ban_entries() <= 2 * 1024  # bans and remembered offenses, with a few seconds' worth kept
