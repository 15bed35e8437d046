"""Redis keys: every counter, distinct-set and HyperLogLog key expires; one hash per entity."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis

from shield.model import FakeClock, Observation, Outcome
from shield.store.connect import StoreOptions, open_redis
from shield.store.routing import entity_key
from tests.store.conftest import SETTINGS


def stuffing(i: int) -> Observation:
    ip = f"10.50.{i // 250}.{i % 250}"
    return Observation(
        route="login",
        ip=ip,
        subnet=ip.rsplit(".", 1)[0] + ".0/24",
        asn="64550",
        country="CN",
        account=f"victim-{i}",
        fp="fp-1",
        password=f"pw-{i}",
        pair=f"pair-{i}",
    )


async def test_every_key_but_the_ban_tables_expires(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    store = open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)
    now = FakeClock().now()
    try:
        for i in range(150):  # the asn, country and fp sets outgrow the exact limit: HyperLogLogs
            await store.observe(stuffing(i), now + i)
            await store.record_outcome(stuffing(i), Outcome.FAILURE, familiar=False, now=now + i)
        await store.record_outcome(stuffing(0), Outcome.SUCCESS, familiar=True, now=now + 200)
        await store.add_ban("ip", "10.50.0.1", ttl=60, reason="r", now=now)
    finally:
        await store.close()
    sync = redis.Redis.from_url(redis_url)
    keys = {k.decode() for k in sync.scan_iter("*")}
    assert {k for k in keys if sync.pttl(k) < 0} == {
        "{shield}:bans", "{shield}:offenses", "{shield}:banmeta", "{shield}:banlog", "{shield}:banexp"
    }
    assert any(k.startswith("{shield:asn:64550}:x:") for k in keys)  # the large set went HyperLogLog
    assert "{shield:ip:10.50.0.1}" in keys
    subnet = "{shield:subnet:10.50.0.0/24:2c25}"  # a /24's tag carries a digest (routing.SPREAD)
    assert subnet in keys
    assert entity_key("shield:", "subnet", "10.50.0.0/24") == subnet  # the router's key is the script's
    assert "{shield:account:victim-0}:h" in keys  # the history shares the account's slot
    assert len([k for k in keys if ":x:" not in k and not k.endswith(":h")]) < 150 * 6  # one hash per entity
    # Every field under Redis's 64-byte listpack limit: a bigger one makes the hash a hash table (2-3x)
    for key in ("{shield:ip:10.50.0.1}", "{shield:account:victim-0}", "{shield:asn:64550}", "{shield:site:0}"):
        assert sync.object("encoding", key) in (b"listpack", b"ziplist"), key
