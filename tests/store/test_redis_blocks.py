"""What one attempt sends each master: only what that master reads (issue 14, Cluster scaling).

Every argument of a call is parsed by Redis and made a Lua string, on every master an attempt
reaches: an observe block carries the values of the entities its master meets, of their distinct
sets' members and (on the ban table's master) of the ban scopes; an outcome entry the keys its
master counts, and every key with the history's values only on the account's master. A ragged
block or entry refuses the whole call (nothing is read past its end, nothing is written)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import redis
from redis import exceptions as rexc

from shield.facts.catalog import DIMENSIONS
from shield.model import FakeClock
from shield.store.connect import StoreOptions, open_redis
from shield.store.redis_outcomes import outcome_entry
from shield.store.redis_replies import observe_block
from shield.store.routing import entity_key
from tests.store.conftest import SETTINGS

VALUES = {"ip": "10.1.2.3", "subnet": "10.1.2.0/24", "asn": "64500", "country": "JP", "account": "acct",
          "fp": "fp-1", "device": "", "password": "pw", "pair": "pair"}  # fmt: skip
ENCODED = [VALUES[d].encode() for d in DIMENSIONS]


def _owning(*dims: str, mode: str = "1") -> str:
    return "".join(mode if d in dims else "0" for d in DIMENSIONS)


def _sent(block: list[bytes]) -> tuple[str, set[str]]:
    return block[1].decode(), {v.decode() for v in block[2:]}


@pytest.mark.parametrize(
    ("owned", "bans", "values"),
    [
        (_owning("pair"), False, {"pair", "10.1.2.3"}),  # pair.distinct_ips counts addresses
        (_owning("ip", "password"), False, {"10.1.2.3", "pw", "acct"}),  # their sets count accounts (and ips)
        (_owning("account"), False, {"acct", "10.1.2.3", "64500", "JP", "fp-1"}),  # ips, asns, countries, fps
        (_owning(), True, {"10.1.2.3", "10.1.2.0/24", "64500", "acct", "fp-1"}),  # the ban scopes only
        (_owning("device", "pair"), False, {"pair", "10.1.2.3", "acct"}),  # absent device: flag '0', no value
    ],
    ids=["pair", "ip_and_password", "account", "bans_only", "absent"],
)
def test_an_observe_block_carries_only_the_values_its_master_reads(owned: str, bans: bool, values: set[str]) -> None:
    block = observe_block(b"1700000000.5", owned, "r", bans, ENCODED)
    flags, sent = _sent(block)
    assert block[0] == b"1700000000.5"
    assert sent == values
    assert flags[-2:] == "r" + ("1" if bans else "0")
    # one value per flag that is not '0', in DIMENSIONS order
    assert [VALUES[d] for d, c in zip(DIMENSIONS, flags, strict=False) if c != "0"] == [v.decode() for v in block[2:]]
    assert all(flags[i] == ("v" if c == "0" else c) for i, c in enumerate(owned) if flags[i] != "0")


KEYS = [entity_key("shield:", d, v) if v else "" for d, v in VALUES.items()]
LEARN = ("39.9", "116.4", "1", "1699999000.0")


def test_an_outcome_entry_on_another_master_carries_only_its_keys() -> None:
    entry = outcome_entry("1700000000.5", "f", "0", _owning("ip", "pair"), KEYS, LEARN)
    assert entry[:2] == ["1700000000.5", "100000001" + "f00"]
    assert entry[2:] == [KEYS[0], KEYS[8]]  # no other key, no lat, lon, confirmed, ripe


def test_an_outcome_entry_on_the_accounts_master_carries_what_the_history_learns() -> None:
    entry = outcome_entry("1700000000.5", "s", "1", _owning("account", "password"), KEYS, LEARN)
    assert entry[1] == "kkkk1k01k" + "s10"  # the device is absent
    assert entry[2:] == [k for k in KEYS if k] + list(LEARN)


async def test_a_ragged_outcome_entry_refuses_the_call(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    store = open_redis(parts.scheme, parts, StoreOptions(), SETTINGS)
    now = repr(FakeClock().now())
    fcall = f"{store._library}_outcome"
    whole = outcome_entry(now, "f", "0", _owning("ip"), KEYS, LEARN)
    short = outcome_entry(now, "f", "0", _owning("ip", "pair"), KEYS, LEARN)[:-1]
    try:
        await store.load_scripts()
        for ragged in ([*whole, *short], [*whole, now], [*whole, now, "1"]):
            with pytest.raises(rexc.ResponseError, match="ragged entry"):
                await store._client.fcall(fcall, 1, "{shield:site:0}", *ragged)
        assert not redis.Redis.from_url(redis_url).exists(KEYS[0])  # the whole entry before it did not run
        assert await store._client.fcall(fcall, 1, "{shield:site:0}", *whole) == 1
        assert redis.Redis.from_url(redis_url).exists(KEYS[0])
    finally:
        await store.close()
