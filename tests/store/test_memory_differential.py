"""The memory store counts exactly as it did before it was split and tuned (tests/store/memory_reference.py).

Random traffic mixes new and repeated values in every dimension, absent dimensions, time jumps across
bucket edges and past expiry, late writes, outcomes of every kind, bans, claims and a key budget small
enough to evict: every counter, history, ban and the units in use must match after each call.
"""

from __future__ import annotations

import random

import pytest

from shield.model import BanScope, Observation, Outcome
from shield.store.base import Retention
from shield.store.memory import MemoryStore
from tests.store.memory_reference import MemoryStore as ReferenceStore

STEPS = 1_500
POOLS = ("ip", "account", "password", "fp", "device", "asn", "country")


def traffic(rnd: random.Random, step: int, pools: dict[str, list[str]]) -> Observation:
    def pick(dim: str, fresh: float = 0.5) -> str:
        return f"{dim}-new-{step}" if rnd.random() < fresh else rnd.choice(pools[dim])

    ip = pick("ip")
    account = pick("account") if rnd.random() < 0.9 else None
    password = pick("password") if account else None
    return Observation(
        route="login",
        ip=ip,
        subnet=ip[:6] + "/24",
        asn=pick("asn", 0.05) if rnd.random() < 0.9 else None,
        country=pick("country", 0.02) if rnd.random() < 0.9 else None,
        account=account,
        fp=pick("fp", 0.1) if rnd.random() < 0.8 else None,
        device=pick("device") if rnd.random() < 0.3 else None,
        password=password,
        pair=f"{account}:{password}" if account and password else None,
        lat=1.0,
        lon=2.0,
    )


@pytest.mark.parametrize("seed", range(6))
async def test_the_store_counts_as_the_reference_did(seed: int) -> None:
    rnd = random.Random(seed)
    retention = Retention(max_keys=[100, 2_000, 1_000_000][seed % 3])
    store, reference = MemoryStore(retention), ReferenceStore(retention)
    now = 1_700_000_000.0 + rnd.random() * 1_000
    pools = {dim: [f"{dim}-{i}" for i in range(rnd.choice([3, 30, 300, 3_000]))] for dim in POOLS}
    for step in range(STEPS):
        if rnd.random() < 0.3:
            now += rnd.choice([0.001, 0.01, 0.5, 3, 30, 400, 5_000, 90_000])
        now += 0.001
        t = now - (rnd.random() * 20 if rnd.random() < 0.05 else 0)  # a late write now and then
        obs = traffic(rnd, step, pools)
        got, want = await store.observe(obs, t), await reference.observe(obs, t)
        assert dict(got.counters) == dict(want.counters), (step, got.counters, want.counters)
        assert (got.history, got.ban) == (want.history, want.ban), step
        assert len(store) == len(reference), step
        if rnd.random() < 0.8:
            outcome = rnd.choice([Outcome.FAILURE, Outcome.FAILURE, Outcome.SUCCESS, Outcome.UNKNOWN])
            familiar, confirmed, later = rnd.random() < 0.5, rnd.random() < 0.7, t + rnd.choice([0, 0, 0.01, 1, 70])
            await store.record_outcome(obs, outcome, familiar=familiar, now=later, confirmed=confirmed)
            await reference.record_outcome(obs, outcome, familiar=familiar, now=later, confirmed=confirmed)
        if rnd.random() < 0.02:
            scope: BanScope = rnd.choice(["ip", "account", "fp"])
            value = getattr(obs, scope) or "x"
            ttl, escalate = rnd.choice([1, 60, 600]), rnd.random() < 0.7
            bans = [
                await s.add_ban(scope, value, ttl=ttl, reason="r", now=t, escalate=escalate, max_ttl=1_200)
                for s in (store, reference)
            ]
            assert bans[0] == bans[1]
        if rnd.random() < 0.005:
            assert await store.bans(t) == await reference.bans(t)
        if rnd.random() < 0.01:
            key = f"claim-{rnd.randrange(50)}"
            assert await store.claim_once(key, ttl=30, now=t) == await reference.claim_once(key, ttl=30, now=t)
