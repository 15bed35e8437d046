"""Entities whose distinct sets the previous layout wrote (one field per member) answer, once the
packed layout's code counts them, as the previous code would have: the frozen reference library
(tests/store/lua_reference/) writes a key space under "{new}:" for a while, then the current code
takes it over; a second copy of the reference runs the same calls throughout under "{ref}:".
Every reply of the second phase and the final sets (members and last seen) must match."""

from __future__ import annotations

import random

import redis

from shield.facts.catalog import DIMENSIONS
from shield.store.base import Retention
from shield.store.layout import Plan
from shield.store.pipelining import split
from shield.store.routing import shard_key
from shield.store.scripts import _prelude
from tests.store.reference_library import load_libraries
from tests.store.test_redis_observe_reference import REFERENCE, _args, _as_reference, _block, _keyspace, _masks

SUBNET = DIMENSIONS.index("subnet")


def _old_writer(sync: redis.Redis) -> str:
    """The reference library again, writing the current code's key space ("{new}:")."""
    plan = Plan.build(Retention().windows)
    body = (REFERENCE / "observe.lua").read_text()
    sync.function_load(
        "#!lua name=shield_observe_reference_new\n"
        + _prelude(plan, "{new}:", "new:", 90, 3)
        + (REFERENCE / "common.lua").read_text()
        + f"local function run_observe(KEYS, ARGV)\nbegin(ARGV)\n{body}end\n"
        + "redis.register_function('reference_observe_new', run_observe)\n",
        replace=True,
    )
    return "reference_observe_new"


def test_sets_of_the_previous_layout_count_on_as_before(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    reference, current = load_libraries(sync, REFERENCE, "observe")
    before = _old_writer(sync)
    rnd = random.Random(41)
    mask, now = _masks(rnd, len(Retention().windows))[0], 1_700_000_000.25
    for step in range(900):
        now += rnd.random() * 2
        args = _args(rnd, now, mask)
        args[5 + SUBNET] = ""  # a /24's key is named otherwise since (routing.SPREAD): it starts afresh
        want = sync.fcall(reference, 1, shard_key("ref:", 0), *args)
        if step < 450:  # the previous code writes the sets, one field per member
            assert sync.fcall(before, 1, shard_key("new:", 0), *args) == want
        else:
            got = split(sync.fcall(current, 1, shard_key("new:", 0), mask, *_block(args)), 1)
            assert got is not None, step
            assert [_as_reference(reply, args) for reply in got] == [want], step
    new, ref = _keyspace(sync, "new"), _keyspace(sync, "ref")
    assert {k: v[:2] for k, v in new.items()} == {k: v[:2] for k, v in ref.items()}

    def members_one_field_each(prefix: str) -> int:
        return sum(
            f[1:2] == b"|"
            for key in sync.scan_iter(match=f"{{{prefix}:*")
            if sync.type(key) == b"hash"
            for f in sync.hkeys(key)
        )

    # the previous layout's fields: everywhere under the reference, none left where the current code counted
    assert members_one_field_each("ref") > 100
    assert members_one_field_each("new") < members_one_field_each("ref") / 4
