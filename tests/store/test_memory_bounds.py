"""MemoryStore's memory stays bounded whatever an attacker rotates."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest

from shield.model import FakeClock, Observation, Outcome
from shield.rules.pack import load_pack
from shield.store.base import Retention
from shield.store.memory import MemoryStore
from shield.store.sampled import CAP

BUNDLED = Path(__file__).resolve().parents[2] / "shield" / "rules" / "bundled"


def store_with(max_keys: int) -> MemoryStore:
    return MemoryStore(Retention(max_keys=max_keys))


def rotating(i: int) -> Observation:
    ip = f"10.{30 + i % 5}.{(i // 250) % 250}.{i % 250}"
    return Observation(
        route="login",
        ip=ip,
        subnet=ip.rsplit(".", 1)[0] + ".0/24",
        asn=str(64530 + i % 5),
        country="CN",
        account=f"victim-{i}",
        fp=f"fp-{i % 50}",
        device=f"dev-{i}",
        password=f"pw-{i}",
        pair=f"pair-{i}",
    )


@pytest.mark.parametrize("max_keys", [200, 5_000], ids=["tiny", "small"])
async def test_rotating_ips_and_accounts_never_exceed_the_key_cap(max_keys: int) -> None:
    store, clock = store_with(max_keys), FakeClock()
    for i in range(4_000):
        obs = rotating(i)
        await store.observe(obs, clock.now())
        await store.record_outcome(
            obs, Outcome.SUCCESS if i % 10 == 0 else Outcome.FAILURE, familiar=False, now=clock.now()
        )
        await store.claim_once(f"nonce-{i}", ttl=300, now=clock.now())
        assert len(store) <= max_keys
        clock.advance(0.01)


async def test_recent_keys_survive_eviction_of_old_ones() -> None:
    store, clock = store_with(20_000), FakeClock()
    for i in range(3_000):
        await store.observe(rotating(i), clock.now())
    hot = Observation(route="login", ip="10.10.0.1", subnet="10.10.0.0/24", account="alice")
    await store.observe(hot, clock.now())
    for i in range(10_000, 10_040):
        await store.observe(rotating(i), clock.now())
    counters = (await store.observe(hot, clock.now())).counters
    assert counters["ip.attempts_1m"] == 2
    assert counters["site.attempts_5m"] == 3_042  # the site entry is touched by every attempt


async def test_expired_entries_are_dropped_as_new_ones_arrive() -> None:
    store, clock = store_with(100_000), FakeClock()
    for i in range(1_000):
        await store.observe(rotating(i), clock.now())
    busy = len(store)
    clock.advance(2 * 86400 + 1)  # past the longest window's previous bucket
    for i in range(1_000, 1_200):
        await store.observe(rotating(i), clock.now())
    assert len(store) < busy / 2


async def test_large_distinct_sets_are_sampled_in_bounded_memory() -> None:
    store, clock = store_with(100_000), FakeClock()
    for i in range(5_000):
        obs = Observation(route="login", ip="10.40.0.1", subnet="10.40.0.0/24", account=f"victim-{i}")
        signals = await store.observe(obs, clock.now())
    # 3.4 standard errors of the sampled estimate (see shield.store.sampled)
    assert abs(signals.counters["ip.distinct_accounts_1h"] - 5_000) < 5_000 * 0.3
    # per account: its entry and one distinct_ips member; ip and subnet: an entry and at most CAP members each
    assert len(store) <= 5_000 * 2 + 2 * (CAP + 1) + 1


async def test_a_busy_entity_counts_past_a_byte() -> None:
    # Counters start as bytes and widen at 254: the count must go on, exactly.
    store, clock = store_with(100_000), FakeClock()
    for _ in range(600):
        signals = await store.observe(rotating(7), clock.now())
        await store.record_outcome(rotating(7), Outcome.FAILURE, familiar=False, now=clock.now())
    assert signals.counters["ip.attempts_1m"] == 600
    assert signals.counters["ip.failures_1m"] == 599
    assert signals.counters["site.attempts_24h"] == 600


async def test_columns_stay_bounded_as_entries_are_evicted_and_their_slots_reused() -> None:
    # security: a rotating attack past max_keys must not grow the tables' columns or indexes with it
    max_keys = 2_000
    store, clock = store_with(max_keys), FakeClock()
    tables = store._keys.tables.values()
    for i in range(30_000):
        obs = rotating(i)
        await store.observe(obs, clock.now())
        await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=clock.now())
        clock.advance(0.01)
    assert len(store) <= max_keys
    assert sum(len(table) for table in tables) <= max_keys
    for table in tables:
        assert table.size <= max_keys + 2  # slots handed out: never more than were live at once
        assert len(table.index) <= 4 * max_keys


def stuffing(i: int) -> Observation:
    """bench/store.py's traffic: a new IP, account, password and pair each time; /24s, ASNs, fingerprints shared."""
    ip = f"10.{30 + i % 5}.{(i // 1250) % 256}.{(i // 5) % 250 + 1}"
    return Observation(
        route="login", ip=ip, subnet=ip.rsplit(".", 1)[0] + ".0/24", asn=str(64530 + i % 5), country="CN",
        account=f"acct-{i:08x}", fp=f"fp-{i % 40}", password=f"pw-{i:08x}", pair=f"pair-{i:08x}",
    )  # fmt: skip


async def test_a_novel_attempt_costs_at_most_300_bytes() -> None:
    # issue 14: bytes per distinct attempt (observe and its failed outcome), as bench/store.py --memory-only
    store, now = MemoryStore(Retention(reads=load_pack(BUNDLED).rules.reads)), 1_700_000_000.0
    for i in range(500):
        await store.observe(stuffing(i), now)
        await store.record_outcome(stuffing(i), Outcome.FAILURE, familiar=False, now=now)
    observations = [stuffing(i) for i in range(500, 12_500)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i, obs in enumerate(observations):
        t = now + i * 0.001
        await store.observe(obs, t)
        await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=t)
    del obs
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert used / len(observations) <= 300
