"""Redis Cluster: entities spread over the masters, and the answers equal a single server's."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import redis

from shield.model import FakeClock, Observation, Outcome
from shield.store.connect import StoreOptions, open_redis
from shield.store.redis import RedisStore
from tests.fixtures.redis import RedisClusterServers
from tests.store.conftest import SETTINGS


def stuffing(i: int) -> Observation:
    """A wave: new address and account each time, a few subnets, ASNs, fingerprints, passwords."""
    ip = f"10.60.{i // 50}.{i % 50 + 1}"
    return Observation(
        route="login",
        ip=ip,
        subnet=ip.rsplit(".", 1)[0] + ".0/24",
        asn=f"6456{i % 3}",
        country=("CN", "US", "BR")[i % 3],
        account=f"victim-{i}",
        fp=f"fp-{i % 7}",
        device=f"dev-{i % 11}" if i % 2 else None,
        password=f"pw-{i % 90}",
        pair=f"pair-{i}",
        lat=39.9,
        lon=116.4,
    )


def _open(url: str) -> RedisStore:
    parts = urlsplit(url)
    return open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)


async def test_no_master_holds_more_than_60_percent_of_the_keys(
    redis_cluster_url: str, redis_cluster: RedisClusterServers
) -> None:
    store = _open(redis_cluster_url)
    now = FakeClock().now()
    try:
        for i in range(300):
            await store.observe(stuffing(i), now + i * 0.1)
            await store.record_outcome(stuffing(i), Outcome.FAILURE, familiar=False, now=now + i * 0.1)
    finally:
        await store.close()
    per_master = [int(redis.Redis(port=n.port).dbsize()) for n in redis_cluster.nodes]
    assert sum(per_master) > 1000
    assert max(per_master) <= 0.6 * sum(per_master), per_master


async def test_cluster_answers_equal_a_single_servers(redis_cluster_url: str, redis_url: str) -> None:
    cluster, single = _open(redis_cluster_url), _open(redis_url)
    # The worker-batched site/country/ASN counts go out on the loop's clock, not the test's jumping one: a
    # flush landing between different calls of the two stores would file them in different buckets.
    for store in (cluster, single):
        store._batched.flush_interval = 600.0
    now = FakeClock().now()
    try:
        for i in range(200):
            t = now + i * 7.3  # crosses 1m and 10m buckets
            obs = stuffing(i % 60)  # entities come back: counters, distinct sets and windows slide
            got, want = await cluster.observe(obs, t), await single.observe(obs, t)
            assert got == want, i
            outcome = (Outcome.FAILURE, Outcome.SUCCESS, Outcome.UNKNOWN)[i % 3]
            for store in (cluster, single):
                await store.record_outcome(obs, outcome, familiar=i % 2 == 0, now=t)
        await cluster.add_ban("subnet", stuffing(5).subnet or "", ttl=600, reason="r", now=now + 1500)
        await single.add_ban("subnet", stuffing(5).subnet or "", ttl=600, reason="r", now=now + 1500)
        got, want = await cluster.observe(stuffing(5), now + 1501), await single.observe(stuffing(5), now + 1501)
        assert got.ban is not None
        assert got == want
    finally:
        await cluster.close()
        await single.close()


async def test_one_observe_is_one_round_trip_on_a_cluster(redis_cluster_url: str) -> None:
    store = _open(redis_cluster_url)
    try:
        await store.observe(stuffing(1), FakeClock().now())
        trips, commands = store.round_trips, store.commands
        await store.observe(stuffing(2), FakeClock().now())
        assert store.round_trips - trips == 1
        assert store.commands - commands == 3  # one script call per master, sent together
    finally:
        await store.close()


async def test_neighbouring_subnets_spread_over_the_masters(
    redis_cluster_url: str, redis_cluster: RedisClusterServers
) -> None:
    """CRC16 (the Cluster's slot hash) is linear: values that differ in a few digits, like the /24s
    of one attack (10.30-34.0-4.0/24, the benchmark's), had their slots in one small subspace, all
    25 on the first master (which did every attempt's subnet work: 1.6x the others' CPU)."""
    store = _open(redis_cluster_url)
    now = FakeClock().now()
    subnets = [f"10.{a}.{b}" for a in range(30, 35) for b in range(5)]
    try:
        for i, net in enumerate(subnets):
            await store.observe(_at(stuffing(i), net), now + i)
    finally:
        await store.close()
    per_master = [
        sum(1 for k in redis.Redis(port=n.port).scan_iter(match="{shield:subnet:*", count=1000) if k.endswith(b"}"))
        for n in redis_cluster.nodes
    ]
    assert sum(per_master) == len(subnets)
    assert max(per_master) <= 0.6 * len(subnets), per_master


def _at(obs: Observation, net: str) -> Observation:
    """`obs` from address .1 of the /24 `net`."""
    return dataclasses.replace(obs, ip=net + ".1", subnet=net + ".0/24")
