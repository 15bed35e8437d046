"""Estimating only the counters something reads (shield.store.estimated) changes no decision and no fact read.

Simulator traffic (the bundled scenarios, one draw) goes through the pipeline's steps (facts, the store's
observe, gather + evaluate, the outcome, the ban) twice in lockstep, on two real stores of one kind that
keep the same distinct sets: one estimating every counter (follow(every=True), as under a decision log
that records the whole catalog), one only the counters needed. Every decision, every fact the rules read
and every fact the takeover policy reads must be the same on every request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest

from shield.decision.evaluate import evaluate_request
from shield.decision.takeover import takeover_risk
from shield.facts.build import FactBuilder, observation
from shield.facts.enrich.lists import load_list_folders
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.model import Facts, Observation, Outcome
from shield.rules.pack import load_pack
from shield.rules.score import RuleSet
from shield.service import retention
from shield.settings.schema import Settings
from shield.sim import scenario as scenarios
from shield.sim.draws import draw
from shield.sim.plan import plan_for_draw
from shield.sim.world import demo_world
from shield.store import estimated as estimated_module
from shield.store.connect import StoreOptions, open_redis
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore

REQUESTS = 2_500
T0 = 1_800_000_000.0


@dataclass(frozen=True)
class Request:
    facts: Facts
    obs: Observation
    now: float
    valid: bool


@cache
def world() -> tuple[Settings, RuleSet, list[Request]]:
    """The settings, the bundled rules and a stream of requests as the pipeline's fact step builds them."""
    settings = demo_world(Settings(secret=b"d" * 32, store="memory://"))
    lists = load_list_folders(settings.rules / "lists", settings.extra_lists)
    builder = FactBuilder.from_settings(
        settings, keyer=Keyer(settings.secret), lists=lists, ua_resolver=make_resolver()
    )
    ruleset = load_pack(settings.rules, extra_lists=settings.extra_lists, windows=settings.windows).rules
    bundled = [scenarios.load(n) for n in scenarios.bundled_names()]
    plan = plan_for_draw(draw(1), users=2000, duration=3600.0, scenarios=bundled)
    passwords = {a.username: a.password for a in plan.accounts}
    events = [*plan.history[-1000:], *plan.events][:REQUESTS]
    out = []
    for k, e in enumerate(events):
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in e.headers]
        headers.append((b"Content-Type", b"application/json"))
        body = json.dumps({"username": e.username, "password": e.password}).encode()
        rf = builder.build(
            request_id=str(k), route=settings.routes[0], method="POST", path="/api/login", query={},
            raw_headers=headers, body=body, client_ip=e.client_ip, peer_trusted=False,
        )
        out.append(Request(rf.facts, observation(rf), T0 + e.t, passwords.get(e.username) == e.password))
    return settings, ruleset, out


async def run(
    store: Any, settings: Settings, ruleset: RuleSet, requests: list[Request], seen: set[str]
) -> list[tuple[Any, ...]]:
    """Each request's decision and the facts the rules and the takeover policy read; `seen`: the counter
    names the store's answers held."""
    route, policy = settings.routes[0], ruleset.policy.takeover
    read = sorted(ruleset.reads | {f"account.failures_{policy.window}", f"account.distinct_ips_{policy.window}"})
    out = []
    for r in requests:
        signals = await store.observe(r.obs, r.now)
        seen.update(signals.counters)
        ev = evaluate_request(ruleset, r.facts, route, signals, challenge=settings.challenge, now=r.now)
        d = ev.decision
        if signals.ban is None and d.action.value in ("allow", "tag"):
            outcome = Outcome.SUCCESS if r.valid else Outcome.FAILURE
            await store.record_outcome(r.obs, outcome, familiar=False, now=r.now)
        if d.action.value == "ban" and d.ban_scope:
            value = getattr(r.obs, d.ban_scope) or "x"
            await store.add_ban(d.ban_scope, value, ttl=d.ban_ttl, reason="r", now=r.now)
        facts = ev.facts
        out.append((
            d.action, d.score, d.hits, d.shadow_hits, d.reasons, d.ban_scope, d.ban_ttl,
            [(n, facts.get(n)) for n in read], takeover_risk(facts, policy),
        ))
    return out


async def both(make: Callable[[str], Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], set[str]]:
    """The stream through a store estimating every counter and one estimating those needed; the names the
    second's answers held."""
    settings, ruleset, requests = world()
    full, needed = make("full"), make("needed")
    full.follow(lambda: ruleset.reads, every=True)
    needed.follow(lambda: ruleset.reads)
    seen: set[str] = set()
    try:
        a = await run(full, settings, ruleset, requests, set())
        return a, await run(needed, settings, ruleset, requests, seen), seen
    finally:
        await full.close()
        await needed.close()


def same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    """Every request's answer alike; else the first that differs, by the names of the facts that do."""
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            facts = [(n, u, v) for (n, u), (_, v) in zip(x[7], y[7], strict=True) if u != v]
            raise AssertionError(f"request {k}: facts {facts}, answers {x[:7]} {y[:7]}")


def memory_store(_: str) -> MemoryStore:
    return MemoryStore(retention(world()[0]))


async def test_memory_needed_only_decides_as_full() -> None:
    full, needed, seen = await both(memory_store)
    same(full, needed)
    assert {a for a, *_ in full} >= {a for a, *_ in needed}
    assert len({a for a, *_ in full}) >= 3  # the stream is no single kind of answer
    assert len(seen) < 100  # of ~190 counters: the rest were not estimated


async def test_redis_needed_only_decides_as_full(redis_url: str) -> None:
    def make(prefix: str) -> RedisStore:
        parts = urlsplit(redis_url)
        return open_redis(parts.scheme, parts, StoreOptions(prefix=prefix), retention(world()[0]))

    full, needed, seen = await both(make)
    same(full, needed)
    assert len(seen) < 120  # the hot dimensions' and the site's are written whole


async def test_leaving_out_stopped_inputs_changes_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The differential sees a needed input dropped (here ip/device.stopped_<w>'s)."""
    monkeypatch.setattr(estimated_module, "STOPPED_DIMENSIONS", ())
    full, needed, _ = await both(memory_store)
    with pytest.raises(AssertionError, match="stopped"):
        same(full, needed)
