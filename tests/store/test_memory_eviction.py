"""MemoryStore evicts junk before protection: a flood past memory.max_keys keeps an attacked account's lockout."""

from __future__ import annotations

import pytest

from shield.model import FakeClock, Observation, Outcome
from shield.store.base import Retention
from shield.store.memory import MemoryStore

MAX_KEYS = 3_000
FLOOD = MAX_KEYS  # junk attempts: each makes about 8 new keys, so the budget is crossed about 8 times over


def junk(i: int) -> Observation:
    """A one-off attempt: a fresh address, subnet, account, password and device each time (two ASNs, one country)."""
    ip = f"10.{100 + i // 62500}.{(i // 250) % 250}.{i % 250}"
    return Observation(
        route="login", ip=ip, subnet=f"{ip}/32", asn=str(64600 + i % 2), country="US",
        account=f"junk-{i}", fp=f"junk-fp-{i}", device=f"junk-dev-{i}", password=f"junk-pw-{i}", pair=f"junk-pair-{i}",
    )


def guess(i: int) -> Observation:
    """One guess on the victim's account from a rotating address (a distributed brute force)."""
    ip = f"172.16.{i // 250}.{i % 250}"
    return Observation(
        route="login", ip=ip, subnet=ip.rsplit(".", 1)[0] + ".0/24", asn="64999", country="CN",
        account="victim", password=f"guess-{i}", pair=f"victim-guess-{i}",
    )


@pytest.mark.parametrize("junk_fails", [True, False], ids=["junk_logins_that_fail", "junk_without_outcome"])
async def test_a_flood_past_max_keys_keeps_the_attacked_accounts_failures(junk_fails: bool) -> None:
    store = MemoryStore(Retention(max_keys=MAX_KEYS))
    clock = FakeClock()
    for i in range(12):
        await store.observe(guess(i), clock.now())
        await store.record_outcome(guess(i), Outcome.FAILURE, familiar=False, now=clock.now())
        clock.advance(1.0)
    for i in range(FLOOD):  # security: every junk attempt makes new keys, far past the budget
        await store.observe(junk(i), clock.now())
        if junk_fails:
            await store.record_outcome(junk(i), Outcome.FAILURE, familiar=False, now=clock.now())
        clock.advance(0.01)
    assert len(store) <= MAX_KEYS
    counters = (await store.observe(guess(12), clock.now())).counters
    # both lockout rules (>= 6 and >= 12 unfamiliar failures in an hour) still hold for the next guess
    assert counters["account.failures_unfamiliar_1h"] == 12
    assert counters["account.attempts_1h"] == 13


async def test_junk_goes_before_an_entry_that_has_failed_once() -> None:
    store = MemoryStore(Retention(max_keys=MAX_KEYS))
    clock = FakeClock()
    await store.observe(guess(0), clock.now())
    await store.record_outcome(guess(0), Outcome.FAILURE, familiar=False, now=clock.now())
    for i in range(FLOOD):
        await store.observe(junk(i), clock.now())
        clock.advance(0.01)
    counters = (await store.observe(guess(1), clock.now())).counters
    assert counters["account.failures_1h"] == 1
