"""Store.count_attempt writes what observe writes: after any sequence of observes, outcomes and refusal
counts, an observe reads the same Signals whether the refusals were counted by observe or by
count_attempt (memory, a real redis-server, a real 3-master Cluster)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest

from shield.model import FakeClock, Observation, Outcome, Signals
from shield.store.base import Retention, Store
from shield.store.connect import StoreOptions, open_redis
from shield.store.memory import MemoryStore

SETTINGS = Retention(max_keys=100_000, history_days=90, history_size=3)
NETS = ("10.30.0", "10.30.1", "172.16.9")
Pair = tuple[Store, Store]


@pytest.fixture(params=["memory", "redis", "cluster"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    """Two empty stores of one kind: the reference (refusals observed) and the one under test."""
    if request.param == "memory":
        yield MemoryStore(SETTINGS), MemoryStore(SETTINGS)
        return
    url = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
    parts = urlsplit(url)
    if request.param == "cluster":  # a session-wide cluster: fresh prefixes, as keys from other tests stay
        tag = f"{random.getrandbits(32):08x}"
        a, b = f"ref{tag}", f"cnt{tag}"
    else:
        a, b = "ref", "cnt"
    ref = open_redis(parts.scheme, parts, StoreOptions(prefix=a), SETTINGS)
    new = open_redis(parts.scheme, parts, StoreOptions(prefix=b), SETTINGS)
    yield ref, new
    await ref.close()
    await new.close()


def refused(ip: str) -> Observation:
    return Observation(route="login", ip=ip, subnet=ip.rsplit(".", 1)[0] + ".0/24")


def attempt(ip: str, account: str) -> Observation:
    return Observation(
        route="login",
        ip=ip,
        subnet=ip.rsplit(".", 1)[0] + ".0/24",
        asn="64530",
        country="CN",
        account=account,
        fp="fp-" + account[-1],
        device=None,
        password="pw-" + account[-1],
        pair="pair-" + account,
        lat=1.0,
        lon=2.0,
    )


async def settle(store: Store) -> None:
    flush: Callable[[], object] | None = getattr(store, "flush", None)
    if flush is not None:
        await flush()  # type: ignore[misc]


def same(a: Signals, b: Signals) -> None:
    assert a.counters == b.counters
    assert a.history == b.history
    assert a.ban == b.ban


async def replay(ref: Store, new: Store, seed: int, steps: int) -> int:
    """A seeded random sequence on both stores; returns how many observes compared."""
    rng = random.Random(seed)
    ips = [f"{rng.choice(NETS)}.{rng.randrange(1, 40)}" for _ in range(6)]
    now = FakeClock().now() + rng.random() * 100
    compared = 0
    for _ in range(steps):
        r = rng.random()
        if r < 0.05:
            # across buckets of every window, and past the longest (a member back after a day)
            now += rng.choice((90.0, 700.0, 3700.0, 20_000.0, 90_000.0))
        elif r < 0.8:
            now += rng.choice((0.0, 0.0, 0.25, 1.0, 7.5))  # same stamps too (a count pending at that time)
        ip = rng.choice(ips)
        if rng.random() < 0.7:
            obs = refused(ip)
            await ref.observe(obs, now)
            new.count_attempt(obs, now)
            continue
        obs = attempt(ip, f"acct-{rng.randrange(3)}")
        await settle(ref)
        await settle(new)
        same(await ref.observe(obs, now), await new.observe(obs, now))
        compared += 1
        if rng.random() < 0.5:
            outcome, familiar = rng.choice((Outcome.FAILURE, Outcome.SUCCESS)), rng.random() < 0.5
            for s in (ref, new):
                await s.record_outcome(obs, outcome, familiar=familiar, now=now)
    for ip in ips:  # every entity read at the end, by an observe without an account
        await settle(ref)
        await settle(new)
        same(await ref.observe(refused(ip), now), await new.observe(refused(ip), now))
    return compared


@pytest.mark.parametrize("seed", range(4))
async def test_refusals_counted_without_reads_read_back_as_observed_ones(pair: Pair, seed: int) -> None:
    assert await replay(*pair, seed=seed, steps=160) > 10


async def test_a_flood_of_counts_on_one_address_reads_back_as_observed(pair: Pair) -> None:
    # More counts than an entity holds pending (lua/count.lua folds them), some at one time.
    ref, new = pair
    now = FakeClock().now() + 0.5
    for i in range(300):
        t = now + i * 0.004 if i < 250 else now + 1.5 + (i // 3) * 0.01  # 250 apart, then 3 at each time
        await ref.observe(refused("10.30.0.7"), t)
        new.count_attempt(refused("10.30.0.7"), t)
    await settle(ref)
    await settle(new)
    later = now + 30
    same(
        await ref.observe(attempt("10.30.0.7", "acct-1"), later),
        await new.observe(attempt("10.30.0.7", "acct-1"), later),
    )


async def test_an_observation_with_an_account_is_refused(pair: Pair) -> None:
    for s in pair:
        with pytest.raises(ValueError, match="count_attempt"):
            s.count_attempt(attempt("10.30.0.7", "acct-1"), FakeClock().now())


async def test_an_account_seen_again_after_a_day_counts_in_the_ip_distinct_set(pair: Pair) -> None:
    """Found by the equivalence above: on Redis, a member last seen a day or more ago and seen again was
    dropped as stale and not counted (lua/common.lua set_pass); the memory store counted it."""
    store = pair[0]
    t = FakeClock().now() + 0.5
    await store.observe(attempt("10.1.1.1", "acct-0"), t)
    await store.observe(attempt("10.1.1.1", "acct-1"), t + 10)
    counters = (await store.observe(attempt("10.1.1.1", "acct-0"), t + 90_000)).counters
    assert counters["ip.distinct_accounts_1m"] == 1
