"""The memory store's packed sampled sets (shield.store.packed_set) answer as the general one (shield.store.sampled).

Random members (some coming back, some sharing low bits, so the sampling level rises past CAP and falls
back to exact once empty), prunes at random horizons and late times: after every step the two sets hold
as many members at the same level and count the same per window.
"""

from __future__ import annotations

import random

import pytest

from shield.store.packed_set import PackedSet
from shield.store.sampled import CAP, SampledSet

LOW = (1 << 60) - 1


@pytest.mark.parametrize("seed", range(8))
def test_a_packed_set_counts_as_the_general_one(seed: int) -> None:
    rnd = random.Random(seed)
    packed, general = PackedSet(), SampledSet()
    pool = [rnd.getrandbits(60) for _ in range(rnd.choice([50, 400, 3_000]))]
    pool += [(m & ~0xFFFF) | 0x10000 for m in pool[:20]]  # shared low bits: sampled alike
    now, prunes, levels = 1_000.0, [0.05, 0.002][seed % 2], set()
    for step in range(4_000):
        now += rnd.choice([0.0, 0.1, 1.0, 30.0])
        member = rnd.choice(pool) if rnd.random() < 0.7 else rnd.getrandbits(60) & LOW
        seen = now - rnd.random() * 50 if rnd.random() < 0.05 else now  # a late write now and then
        assert packed.add(member, seen) == general.add(member, seen), step
        if rnd.random() < prunes:
            horizon = now - rnd.choice([10.0, 100.0, 1_000.0])
            assert packed.prune(horizon) == general.prune(horizon), step
        cutoffs = [now - 5.0, now - 60.0, now - 600.0]
        assert (len(packed), packed.level) == (len(general), general.level), step
        assert packed.counts_since(cutoffs) == general.counts_since(cutoffs), step
        assert len(packed) <= CAP
        levels.add(packed.level)
    if prunes < 0.01:
        assert max(levels) > 0  # sampled past CAP members


def test_a_member_straddling_two_others_is_not_found() -> None:
    # The packed bytes of two neighbours can contain a third member's bytes off a member boundary.
    packed = PackedSet()
    first, second = 0x1111111111111111, 0x2222222222222222
    packed.add(first, 1.0)
    packed.add(second, 2.0)
    straddling = int.from_bytes(packed.members[4:12], "little")
    assert packed.add(straddling, 3.0) == 1  # a new member, not the others seen again
    assert packed.counts_since([0.0]) == [3]
    assert packed.add(second, 4.0) == 0  # found on its boundary: moved to the back
    assert packed.counts_since([2.5]) == [2]
