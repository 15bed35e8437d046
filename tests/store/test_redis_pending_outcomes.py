"""An outcome's counts wait in the entity's hash and its next observe folds them in: every answer as before.

lua/outcome.lua no longer reads an entity's row to count an outcome: it writes the count as a pending
field ("+<measure><measure 2><now>" -> its sequence number on the node), and the entity's next
observe counts the pending ones into the row (in the order they were written) before its own. The
library before (tests/store/lua_reference/eager/: main 304125b's common.lua, observe.lua and
outcome.lua, which read and wrote the row on every outcome) and the current one run in one
redis-server, each under its own key prefix, on the same interleaved observes and outcomes (late
outcomes, several outcomes of one entity between two observes, two at the same time, time jumps
across bucket edges): every observe's reply must match, and at the end every key once the counts
still pending are folded (reference_library.fold_pending). The first steps run the library before
on both prefixes (a rolling upgrade's old workers): the current one then takes over the rows it wrote.
"""

from __future__ import annotations

import random
from pathlib import Path

import redis

from shield.facts.catalog import DIMENSIONS, DISTINCT
from shield.store.base import Retention
from shield.store.layout import Plan
from shield.store.redis_outcomes import outcome_entry
from shield.store.redis_replies import HOT
from shield.store.routing import entity_key, shard_key
from shield.store.scripts import _prelude
from tests.store.reference_library import fold_pending, keyspace, load_libraries

EAGER = Path(__file__).parent / "lua_reference" / "eager"
STEPS = 2_500
OLD_STEPS = 400  # the first steps: the library before writes both keyspaces
POOLS = {"ip": 6, "subnet": 3, "asn": 2, "country": 2, "account": 10, "fp": 3, "device": 3, "password": 8, "pair": 8}
SETS = sum(len(DISTINCT.get(d, {})) for d in DIMENSIONS)


def _values(rnd: random.Random) -> list[str]:
    return ["" if rnd.random() < 0.1 else f"{d}-{rnd.randrange(POOLS[d])}" for d in DIMENSIONS]


def _block(rnd: random.Random, now: float, values: list[str]) -> list[str]:
    """An attempt's observe block (lua/observe.lua): the cold entities counted ('1'), the hot ones
    counted in their sets ('d') or read ('r': their rows the worker counts, no outcome counts them)."""
    flags = "".join(
        "0" if not v else (rnd.choice("dr0") if d in HOT else rnd.choice("1111v")) for d, v in enumerate(values)
    )
    sent = [v for v, c in zip(values, flags, strict=True) if c != "0"]
    return [repr(now), flags + rnd.choice("01r") + rnd.choice("01"), *sent]


def _entry(rnd: random.Random, now: float, tag: str, values: list[str]) -> list[str]:
    """An outcome's entry as shield.store.redis_outcomes builds it (the hot dimensions not counted)."""
    keys = [entity_key(tag, d, v) if v else "" for d, v in zip(DIMENSIONS, values, strict=True)]
    owned = "".join("0" if d in HOT else rnd.choice("1111110") for d in range(len(DIMENSIONS)))
    located = rnd.random() < 0.7
    learn = ("39.9", "116.4") if located else ("", "")
    ripe = repr(now - rnd.choice((0.0, 30.0, 3600.0)))
    return outcome_entry(repr(now), rnd.choice("sff"), rnd.choice("01"), owned, keys, (*learn, rnd.choice("01"), ripe))


def _old_library(sync: redis.Redis, tag: str) -> tuple[str, str]:
    """The library before, its keys under `tag` (an old worker's): its observe and outcome functions."""
    plan = Plan.build(Retention().windows)
    name = "eager_" + tag.strip(":")
    code = f"#!lua name={name}\n" + _prelude(plan, "{" + tag + "}", tag, 90, 3) + (EAGER / "common.lua").read_text()
    code += f"local function run_observe(KEYS, ARGV)\n{(EAGER / 'observe.lua').read_text()}end\n"
    code += f"local function run_outcome(KEYS, ARGV)\nbegin(ARGV)\n{(EAGER / 'outcome.lua').read_text()}end\n"
    code += f"redis.register_function('{name}_observe', run_observe)\n"
    code += f"redis.register_function('{name}_outcome', run_outcome)\n"
    sync.function_load(code, replace=True)
    return f"{name}_observe", f"{name}_outcome"


def test_observes_and_outcomes_answer_as_the_library_before(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    _, new_observe = load_libraries(sync, EAGER, "observe")
    _, new_outcome = load_libraries(sync, EAGER, "outcome")
    old_observe, old_outcome = _old_library(sync, "ref:")
    upgraded_observe, upgraded_outcome = _old_library(sync, "new:")  # until the current one takes over
    rnd = random.Random(1415)
    mask = "".join(rnd.choice("011") for _ in range(SETS * len(Retention().windows)))
    now = 1_700_000_000.25
    waiting: list[tuple[float, list[str]]] = []  # attempts observed, their outcomes not yet sent
    pending_seen = same_time = 0
    for step in range(STEPS):
        r = rnd.random()
        now += rnd.choice((61.0, 601.0, 3601.0, 86_401.0)) if r < 0.02 else (-7.5 if r < 0.05 else rnd.random() * 3)
        current = step >= OLD_STEPS
        observe, outcome = (new_observe, new_outcome) if current else (upgraded_observe, upgraded_outcome)
        if rnd.random() < 0.5:  # a loop turn's observes (1-3 attempts)
            attempts = []
            for _ in range(rnd.choice((1, 1, 2, 3))):
                values = _values(rnd)
                attempts.append((now, values, rnd.getstate()))
                waiting.append((now, values))
            blocks: list[str] = []  # (values, not keys: the same for both prefixes)
            for at, values, state in attempts:
                rnd.setstate(state)
                blocks += _block(rnd, at, values)
            want = sync.fcall(old_observe, 1, shard_key("ref:", 0), mask, *blocks)
            got = sync.fcall(observe, 1, shard_key("new:", 0), mask, *blocks)
            assert got == want, (step, blocks)
        elif waiting:  # a batch of outcomes: some of the waiting ones, in any order, now and then twice
            rnd.shuffle(waiting)
            batch, waiting = waiting[: rnd.choice((1, 2, 4))], waiting[4:]
            if rnd.random() < 0.05:
                batch.append(batch[0])  # the same outcome again (the same entities, the same time)
                same_time += 1
            entries = []
            for at, values in batch:
                entries.append((rnd.choice((at, at, now)), values, rnd.getstate()))
            calls = []
            for tag in ("ref:", "new:"):
                args: list[str] = []
                for at, values, state in entries:
                    rnd.setstate(state)
                    args += _entry(rnd, at, tag, values)
                calls.append(args)
            want = sync.fcall(old_outcome, 1, shard_key("ref:", 0), *calls[0])
            got = sync.fcall(outcome, 1, shard_key("new:", 0), *calls[1])
            assert got == want, (step, calls[1])
            pending_seen += current and any(
                f.startswith(b"+") for k in sync.scan_iter(match="{new:ip*") for f in sync.hkeys(k)
            )
    assert pending_seen > 100  # the cases this test is for did occur
    assert same_time > 10
    assert fold_pending(sync, "new:") > 0
    new = keyspace(sync, "new:")
    assert new.pop(shard_key("", 0).encode() + b":q")[0] == b"string"
    assert new == keyspace(sync, "ref:")


def test_pending_counts_fold_in_the_order_written_in_a_hash_table(redis_url: str) -> None:
    """A hash Redis keeps as a hash table (a value over 64 bytes, or over 128 fields) returns its
    fields in no kept order: the pending counts fold by their sequence numbers, so outcomes that
    arrive out of time order across a bucket edge (the later one first: the earlier one then counts
    as a late write, in the later one's buckets) count as the library before counted them."""
    sync = redis.Redis.from_url(redis_url)
    _, new_observe = load_libraries(sync, EAGER, "observe")
    _, new_outcome = load_libraries(sync, EAGER, "outcome")
    old_observe, old_outcome = _old_library(sync, "ref:")
    rnd = random.Random(9)
    mask = "1" * SETS * len(Retention().windows)
    ip = DIMENSIONS.index("ip")
    values = ["" for _ in DIMENSIONS]
    values[ip] = "ip-big"
    flags = "0" * ip + "1" + "0" * (len(DIMENSIONS) - ip - 1)
    edge = 1_700_006_400.0  # a multiple of 86,400: every window's bucket edge
    for turn in range(4):
        for tag, observe in (("ref:", old_observe), ("new:", new_observe)):
            sync.fcall(observe, 1, shard_key(tag, 0), mask, repr(edge - 200), flags + "00", "ip-big")
            sync.hset(entity_key(tag, "ip", "ip-big"), "zz", "x" * 100)  # a hash table from now on
        assert sync.object("encoding", entity_key("new:", "ip", "ip-big")) == b"hashtable"
        times = [edge + rnd.uniform(-100, 100) for _ in range(40)]
        for t in times:
            for tag, outcome in (("ref:", old_outcome), ("new:", new_outcome)):
                keys = [entity_key(tag, "ip", "ip-big") if d == ip else "" for d in range(len(DIMENSIONS))]
                entry = outcome_entry(repr(t), "f", "0", flags, keys, ("", "", "0", repr(t)))
                sync.fcall(outcome, 1, shard_key(tag, 0), *entry)
        want = sync.fcall(old_observe, 1, shard_key("ref:", 0), mask, repr(edge + 150), flags + "00", "ip-big")
        got = sync.fcall(new_observe, 1, shard_key("new:", 0), mask, repr(edge + 150), flags + "00", "ip-big")
        assert got == want, turn
        edge += 86_400.0


def test_an_old_worker_leaves_pending_counts_to_the_next_new_observe(redis_url: str) -> None:
    """A rolling upgrade: an old worker's observe (the library before) does not see an outcome's
    pending count (its answer lacks it), keeps its field, and the next new observe counts it: the
    row is then as the library before would have left it (no bucket edge between them)."""
    sync = redis.Redis.from_url(redis_url)
    _, new_observe = load_libraries(sync, EAGER, "observe")
    _, new_outcome = load_libraries(sync, EAGER, "outcome")
    ref_observe, ref_outcome = _old_library(sync, "ref:")
    old_observe, _ = _old_library(sync, "new:")
    mask = "1" * SETS * len(Retention().windows)
    ip = DIMENSIONS.index("ip")
    flags = "0" * ip + "1" + "0" * (len(DIMENSIONS) - ip - 1)
    now = 1_700_000_010.0

    def observe(function: str, tag: str, at: float) -> list[object]:
        return list(sync.fcall(function, 1, shard_key(tag, 0), mask, repr(at), flags + "00", "ip-1"))

    def outcome(function: str, tag: str, at: float) -> None:
        keys = [entity_key(tag, "ip", "ip-1") if d == ip else "" for d in range(len(DIMENSIONS))]
        sync.fcall(function, 1, shard_key(tag, 0), *outcome_entry(repr(at), "f", "0", flags, keys, ()))

    assert observe(new_observe, "new:", now) == observe(ref_observe, "ref:", now)
    outcome(new_outcome, "new:", now)
    outcome(ref_outcome, "ref:", now)
    assert observe(old_observe, "new:", now + 1) != observe(ref_observe, "ref:", now + 1)  # one failure short
    assert any(f.startswith(b"+") for f in sync.hkeys(entity_key("new:", "ip", "ip-1")))  # kept
    assert observe(new_observe, "new:", now + 2) == observe(ref_observe, "ref:", now + 2)
    assert not any(f.startswith(b"+") for f in sync.hkeys(entity_key("new:", "ip", "ip-1")))


def test_a_pending_field_that_is_not_one_is_dropped(redis_url: str) -> None:
    """security: a "+..." field no outcome wrote (too short, no time, a measure out of range) is
    deleted by the entity's next observe and counts nothing; the observe answers as without it."""
    sync = redis.Redis.from_url(redis_url)
    _, new_observe = load_libraries(sync, EAGER, "observe")
    ref_observe, _ = _old_library(sync, "ref:")
    mask = "1" * SETS * len(Retention().windows)
    ip = DIMENSIONS.index("ip")
    flags = "0" * ip + "1" + "0" * (len(DIMENSIONS) - ip - 1) + "00"
    for tag, observe in (("ref:", ref_observe), ("new:", new_observe)):
        sync.fcall(observe, 1, shard_key(tag, 0), mask, "1700000010.0", flags, "ip-1")
    sync.hset(entity_key("new:", "ip", "ip-1"), mapping={"+": "1", "+2": "2", "+20x": "3", "+90170000001": "4"})
    want = sync.fcall(ref_observe, 1, shard_key("ref:", 0), mask, "1700000011.0", flags, "ip-1")
    assert sync.fcall(new_observe, 1, shard_key("new:", 0), mask, "1700000011.0", flags, "ip-1") == want
    assert not any(f.startswith(b"+") for f in sync.hkeys(entity_key("new:", "ip", "ip-1")))


def test_an_outcome_for_an_entity_key_gone_leaves_it_an_expiry(redis_url: str) -> None:
    """An entity's key gone between its observe and its outcome (evicted, flushed, lost in a
    failover) is made again by the outcome's pending count: with an expiry, as the library before
    left it, never a key that outlives every TTL (a never-seen-again address would stay for good,
    and a volatile-* eviction policy could never drop it)."""
    sync = redis.Redis.from_url(redis_url)
    _, new_observe = load_libraries(sync, EAGER, "observe")
    _, new_outcome = load_libraries(sync, EAGER, "outcome")
    ref_observe, ref_outcome = _old_library(sync, "ref:")
    mask = "1" * SETS * len(Retention().windows)
    ip = DIMENSIONS.index("ip")
    flags = "0" * ip + "1" + "0" * (len(DIMENSIONS) - ip - 1)
    now = 1_700_000_010.0
    for tag, observe, outcome in (("ref:", ref_observe, ref_outcome), ("new:", new_observe, new_outcome)):
        key = entity_key(tag, "ip", "ip-gone")
        sync.fcall(observe, 1, shard_key(tag, 0), mask, repr(now), flags + "00", "ip-gone")
        sync.delete(key)
        sync.fcall(outcome, 1, shard_key(tag, 0), *outcome_entry(repr(now + 1), "f", "0", flags, [
            key if d == ip else "" for d in range(len(DIMENSIONS))
        ], ()))
        assert sync.exists(key)
        assert sync.pttl(key) > 0, tag
