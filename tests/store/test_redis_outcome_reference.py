"""The outcome script answers and writes exactly as it did before its CPU cuts (issue 14).

tests/store/lua_reference/outcome/ holds lua/common.lua and lua/outcome.lua as they were (main 830fb68,
before a row's count unpacked and packed only the values it changes): both libraries run in one
redis-server, each under its own key prefix, on the same random batches of outcomes (repeated
entities, successes confirmed or not, failures familiar or not, time jumps across bucket edges and
past the re-arm period, late outcomes, times near the epoch, rows of the previous layout and of
another length, absent dimensions): every reply and, at the end, every key (fields, values,
whether it expires) must match. The reference takes the entries it took then (every key, then lat,
lon, confirmed, ripe); the current code takes each entry as shield.store.redis_outcomes.outcome_entry
builds it (only the keys this master reads): `_as_current` converts one into the other.
The current code does not read an entity's row: it leaves each count pending in a field of the
entity's hash, which the entity's next observe folds into the row (in the order they were written);
the keyspace compares after the same fold (reference_library.fold_pending).
"""

from __future__ import annotations

import random
from pathlib import Path

import redis

from shield.facts.catalog import DIMENSIONS
from shield.store.redis_outcomes import outcome_entry
from shield.store.routing import entity_key, shard_key
from tests.store.reference_library import fold_pending, keyspace, load_libraries

REFERENCE = Path(__file__).parent / "lua_reference" / "outcome"
STEPS = 3_000
POOLS = {"ip": 8, "subnet": 3, "asn": 2, "country": 2, "account": 12, "fp": 4, "device": 3, "password": 10, "pair": 10}


def _outcome(rnd: random.Random, now: float, tag: str, values: list[str]) -> list[str]:
    keys = [entity_key(tag, d, v) if v else "" for d, v in zip(DIMENSIONS, values, strict=True)]
    owned = "".join(rnd.choice("1110") for _ in DIMENSIONS)
    located = rnd.random() < 0.7
    return [
        repr(now),
        rnd.choice("sff"),
        rnd.choice("01"),
        owned,
        rnd.choice("01"),
        *keys,
        "39.9" if located else "",
        "116.4" if located else "",
        rnd.choice("01"),
        repr(now - rnd.choice((0.0, 30.0, 3600.0))),
    ]


def _as_current(entry: list[str]) -> list[str]:
    """A reference entry in the current code's form (outcome_entry's; the site flag kept as sent)."""
    now, measure, familiar, owned, site = entry[:5]
    keys, learn = entry[5 : 5 + len(DIMENSIONS)], entry[5 + len(DIMENSIONS) :]
    current = outcome_entry(now, measure, familiar, owned, keys, learn)
    current[1] = current[1][:-1] + site
    return current


def _values(rnd: random.Random) -> list[str]:
    return ["" if rnd.random() < 0.1 else f"{d}-{rnd.randrange(POOLS[d])}" for d in DIMENSIONS]


def test_outcome_answers_and_writes_as_the_reference(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    reference, current = load_libraries(sync, REFERENCE, "outcome")
    rnd = random.Random(1414)
    now = 1_700_000_000.25
    for step in range(STEPS):
        r = rnd.random()
        now += rnd.choice((61.0, 601.0, 3601.0, 86_401.0)) if r < 0.03 else (-7.5 if r < 0.06 else rnd.random() * 4)
        if rnd.random() < 0.01:  # an entity of the previous layout, one of another row length
            # (written over the row as a read sees it: a count still pending would outlive it)
            fold_pending(sync, "new:")
            for tag in ("ref:", "new:"):
                sync.hset(entity_key(tag, "ip", f"ip-{step % 8}"), mapping={"n": "x" * 16, "1": "y" * 24})
                sync.hset(entity_key(tag, "fp", f"fp-{step % 4}"), mapping={"c1": "z" * 40})
        # 1-4 outcomes per call, near the epoch now and then (rows armed at 0)
        batch = []
        for _ in range(rnd.choice((1, 1, 2, 4))):
            at = rnd.random() * 1000 if rnd.random() < 0.01 else now + rnd.choice((0.0, 0.0, -3.0, 0.5))
            batch.append((at, _values(rnd), rnd.getstate()))
        calls = []
        for tag in ("ref:", "new:"):
            args: list[str] = []
            for at, values, state in batch:
                rnd.setstate(state)  # both libraries get the same flags
                entry = _outcome(rnd, at, tag, values)
                args += entry if tag == "ref:" else _as_current(entry)
            calls.append(args)
        want = sync.fcall(reference, 1, shard_key("ref:", 0), *calls[0])
        got = sync.fcall(current, 1, shard_key("new:", 0), *calls[1])
        assert got == want, (step, calls[1])
    # The current code leaves an entity's counts pending ("+..." fields, folded into its row by its
    # next observe): folded here, every key reads as the reference wrote it.
    assert fold_pending(sync, "new:") > 0
    # (and numbers them per node, in the order written: the site shard's ":q" counter, not a count)
    new = keyspace(sync, "new:")
    assert new.pop(shard_key("", 0).encode() + b":q")[0] == b"string"
    assert new == keyspace(sync, "ref:")
