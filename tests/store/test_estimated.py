"""shield.store.estimated: the counters needed are those the rules and the derived facts read, and a
reload that starts reading a counter sees its true value on the very next request, on both stores."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from shield.decision import stopped
from shield.decision.evaluate import gather
from shield.decision.takeover import event_fields, takeover_risk
from shield.facts.catalog import counter_names
from shield.model import DEFAULT_WINDOWS, FakeClock, Observation, Outcome, Signals, TakeoverPolicy
from shield.rules.pack import load_pack
from shield.service import build_service
from shield.settings.schema import LogSettings, Settings
from shield.store.base import Retention, Store
from shield.store.connect import StoreOptions, open_redis
from shield.store.estimated import STOPPED_DIMENSIONS, estimated
from shield.store.memory import MemoryStore

WINDOWS = [w.name for w in DEFAULT_WINDOWS]
BUNDLED = load_pack(Settings().rules, windows=DEFAULT_WINDOWS).rules.reads


def test_the_stopped_dimensions_are_the_decision_cores() -> None:
    assert STOPPED_DIMENSIONS == stopped.STOPPED_DIMENSIONS


def test_none_estimates_everything_and_the_bundled_rules_need_a_third() -> None:
    assert estimated(None, WINDOWS) is None
    needed = estimated(BUNDLED, WINDOWS)
    assert needed is not None
    counters = set(counter_names())
    assert len(needed & counters) < len(counters) / 2, len(needed & counters)
    assert {"ip.stopped_1h", "device.stopped_1h"} <= BUNDLED
    assert {"ip.attempts_1h", "device.failures_1h", "device.successes_1h"} <= needed  # stopped's inputs
    assert "ip.attempts_10m" not in needed


READS = [
    BUNDLED,
    frozenset(),
    frozenset({"ip.shared"}),
    frozenset({"ip.attempts_1m"}),  # an attempts count without its outcomes: no stopped_1m is made of it
    *(frozenset({f"{d}.stopped_{w}"}) for d in ("ip", "device") for w in WINDOWS),
]


@pytest.mark.parametrize("reads", READS, ids=[",".join(sorted(r))[:40] or "none" for r in READS])
def test_every_fact_made_from_the_needed_counters_is_the_one_made_from_all(reads: frozenset[str]) -> None:
    """gather over the counters needed and over every counter: every fact the first makes is the second's
    (none made wrong from a missing input), and every fact read is made."""
    needed = estimated(reads, WINDOWS)
    assert needed is not None
    rnd = random.Random(7)
    for _ in range(200):
        small = rnd.random() < 0.5  # near the shared and site thresholds too
        full = {n: rnd.randrange(0, 8 if small else 400) for n in counter_names()}
        part = {n: v for n, v in full.items() if n in needed}
        base = {"ip.carrier": rnd.random() < 0.3}
        a = gather(base, Signals(full, None, None), solved=False, passed=False, now=0.0)
        b = gather(base, Signals(part, None, None), solved=False, passed=False, now=0.0)
        assert {n: v for n, v in a.items() if n in b} == b
        assert {n: a.get(n) for n in reads} == {n: b.get(n) for n in reads}
        for w in WINDOWS:
            policy = TakeoverPolicy(failures=2, addresses=2, window=w, wave_level=1)
            assert (takeover_risk(a, policy), event_fields("x", a, policy)) == (
                takeover_risk(b, policy), event_fields("x", b, policy),
            )


def login(ip: str) -> Observation:
    return Observation(
        route="login", ip=ip, subnet="10.70.0.0/24", asn="64570", country="CN", account="acct-1", fp="fp-1",
        device="dev-1", password="pw-1", pair="pair-1",
    )


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    s: Store
    if request.param == "memory":
        s = MemoryStore(Retention())
    else:
        parts = urlsplit(request.getfixturevalue("redis_url"))
        s = open_redis(parts.scheme, parts, StoreOptions(), Retention())
    yield s
    await s.close()


async def test_a_counter_a_reload_reads_has_its_true_value_on_the_next_request(store: Store) -> None:
    live = [frozenset({"ip.attempts_1m"})]
    store.follow(lambda: live[0])  # type: ignore[attr-defined]
    now = FakeClock().now()
    for i in range(5):
        counters = (await store.observe(login(f"10.70.0.{i % 2}"), now + i)).counters
        await store.record_outcome(login(f"10.70.0.{i % 2}"), Outcome.FAILURE, familiar=False, now=now + i)
    assert counters["ip.attempts_1m"] == 3
    for name in ("device.attempts_10m", "subnet.failures_1h", "account.failures_unfamiliar_24h"):
        assert name not in counters, name  # not needed: not estimated
    live[0] = frozenset(
        {"ip.attempts_1m", "device.attempts_10m", "subnet.failures_1h", "account.failures_unfamiliar_24h"}
    )
    counters = (await store.observe(login("10.70.0.9"), now + 5)).counters
    assert counters["device.attempts_10m"] == 6
    assert counters["subnet.failures_1h"] == 5
    assert counters["account.failures_unfamiliar_24h"] == 5


@pytest.mark.parametrize(("scope", "every"), [("rules", False), ("catalog", True), ("off", False)])
async def test_a_worker_estimates_every_counter_only_when_every_fact_goes_on_record(scope: str, every: bool) -> None:
    """shield.service wires the store to the rule book: the counters needed, all with log.decision_facts: catalog."""
    settings = replace(Settings(secret=b"s" * 32), log=LogSettings(decision_facts=scope))  # type: ignore[arg-type]
    store = MemoryStore(Retention())
    service = build_service(settings, clock=FakeClock(), with_admin=False, store=store)
    try:
        counters = (await store.observe(login("10.70.0.1"), FakeClock().now())).counters
    finally:
        await service.close()
    assert ("device.attempts_10m" in counters) is every
    assert counters["ip.failures_10m"] == 0  # a bundled rule reads it: present at 0 either way
