"""The memory store's compact one-off entities (shared counter shapes, bare first members) count exactly."""

from __future__ import annotations

import gc
import weakref

from shield.model import Observation, Outcome
from shield.store.counters import LOW
from shield.store.memory import NARROW_MAX, MemoryStore

T0 = 600.0 * 2_833_334 + 10  # 10 s into a 1m and a 10m bucket


def one_off(ip: str, *, account: str = "acct", password: str = "pw") -> Observation:
    return Observation(
        route="login", ip=ip, subnet="10.0.0.0/24", account=account, password=password, pair=f"{account}:{password}"
    )


async def test_an_outcome_that_rolls_a_bucket_is_not_taken_from_one_that_did_not() -> None:
    store = MemoryStore()
    same, later = one_off("10.0.0.1"), one_off("10.0.0.2")
    await store.observe(same, T0)
    await store.record_outcome(same, Outcome.FAILURE, familiar=False, now=T0)  # no bucket rolls
    await store.observe(later, T0)
    # 115 s later: the 1m window has rolled twice over (the failure is gone), the 10m window not at all.
    await store.record_outcome(later, Outcome.FAILURE, familiar=False, now=T0 + 115)
    counters = (await store.observe(later, T0 + 115)).counters
    assert (counters["ip.attempts_1m"], counters["ip.failures_1m"]) == (1, 1)
    assert (counters["ip.attempts_10m"], counters["ip.failures_10m"]) == (2, 1)
    counters = (await store.observe(same, T0 + 1)).counters
    assert (counters["ip.attempts_1m"], counters["ip.failures_1m"]) == (2, 1)


async def test_an_outcome_one_bucket_later_weighs_the_previous_bucket() -> None:
    store = MemoryStore()
    obs = one_off("10.0.0.3")
    await store.observe(obs, T0)
    await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=T0 + 60)  # the next 1m bucket
    counters = (await store.observe(obs, T0 + 60)).counters
    # The first attempt is in the previous 1m bucket, weighed 1 - 10/60: it rounds to one.
    assert (counters["ip.attempts_1m"], counters["ip.failures_1m"]) == (2, 1)


async def test_outcomes_past_a_byte_on_a_one_off_entity_are_counted_exactly() -> None:
    store = MemoryStore()
    obs = one_off("10.0.0.4")
    await store.observe(obs, T0)
    for _ in range(NARROW_MAX + 47):
        await store.record_outcome(obs, Outcome.FAILURE, familiar=True, now=T0)
    counters = (await store.observe(obs, T0)).counters
    assert counters["ip.failures_1m"] == NARROW_MAX + 47
    assert counters["account.failures_familiar_24h"] == NARROW_MAX + 47
    assert counters["ip.attempts_1m"] == 2


async def test_first_members_keep_the_time_of_the_first_attempt_not_of_the_outcome() -> None:
    store = MemoryStore()
    first = one_off("10.0.0.5", account="alice", password="shared")
    await store.observe(first, T0)
    await store.record_outcome(first, Outcome.FAILURE, familiar=False, now=T0 + 100)
    counters = (await store.observe(one_off("10.0.0.5", account="bob", password="shared"), T0 + 120)).counters
    # alice was last seen with the password 120 s ago: out of its 1m window, inside its 10m one.
    assert (counters["password.distinct_accounts_1m"], counters["password.distinct_accounts_10m"]) == (1, 2)
    assert (counters["password.distinct_ips_1m"], counters["password.distinct_ips_10m"]) == (1, 1)
    assert (counters["ip.distinct_accounts_1m"], counters["ip.distinct_accounts_10m"]) == (1, 2)


async def test_an_absent_member_of_a_first_attempt_is_not_counted() -> None:
    store = MemoryStore()
    bare = Observation(route="login", ip="10.0.0.6", subnet="10.0.0.0/24", account="carol", asn=None, fp="fp-1")
    await store.observe(bare, T0)
    counters = (await store.observe(bare, T0 + 1)).counters
    assert counters["account.distinct_ips_1m"] == 1
    assert counters["account.distinct_fps_1m"] == 1
    assert counters["account.distinct_asns_1m"] == 0
    assert counters["account.distinct_countries_1m"] == 0


async def test_one_off_entities_of_the_same_history_share_their_counters() -> None:
    store = MemoryStore()
    for i in range(3):
        obs = one_off(f"10.0.1.{i}", account=f"acct-{i}", password=f"pw-{i}")
        await store.observe(obs, T0)
        await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=T0 + i * 0.001)
    ips = store._keys.tables["ip"]
    shapes = {id(ips.refs[ips.find(hash(f"10.0.1.{i}") & LOW)]) for i in range(3)}
    assert len(shapes) == 1


class Value(str):
    """A str that can be weakly referenced: whether the store keeps it alive."""


async def test_the_store_keeps_no_one_off_value_alive_but_counts_it_again() -> None:
    store = MemoryStore()
    ip, account, password, pair = Value("10.0.2.1"), Value("dave"), Value("pw-d"), Value("dave:pw-d")
    obs = Observation(route="login", ip=ip, subnet="10.0.2.0/24", account=account, password=password, pair=pair)
    await store.observe(obs, T0)
    await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=T0)
    alive = [weakref.ref(v) for v in (ip, account, password, pair)]
    del obs, ip, account, password, pair
    gc.collect()
    assert [ref() for ref in alive] == [None] * 4
    again = one_off("10.0.2.1", account="dave", password="pw-d")  # equal values, new strings
    counters = (await store.observe(again, T0 + 1)).counters
    assert (counters["ip.attempts_1m"], counters["ip.failures_1m"], counters["ip.distinct_accounts_1m"]) == (2, 1, 1)
    assert (counters["account.attempts_1m"], counters["account.distinct_ips_1m"]) == (2, 1)
    assert (counters["password.attempts_1m"], counters["password.distinct_accounts_1m"]) == (2, 1)
    assert (counters["pair.attempts_1m"], counters["pair.distinct_ips_1m"]) == (2, 1)
