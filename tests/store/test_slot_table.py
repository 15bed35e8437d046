"""The memory store's tables of columns (shield.store.slot_table): found by key as a dict would, slots reused.

Keys crowd into a few positions so that runs wrap around the index and deletions shift them back; the
table must answer as a dict after every insert and removal, and grow.
"""

from __future__ import annotations

import random

import pytest

from shield.store.slot_table import CHUNK, Table


@pytest.mark.parametrize("seed", range(6))
def test_a_table_finds_what_a_dict_holds(seed: int) -> None:
    rnd = random.Random(seed)
    table, truth = Table("ip"), {}
    crowd = [rnd.getrandbits(44) * 2**4 * 3**6 + rnd.choice([3, 4, 7]) for _ in range(200)]  # few homes while small
    spread = [rnd.getrandbits(60) for _ in range(2_000)]
    for step in range(6_000):
        key = rnd.choice(crowd if rnd.random() < 0.5 else spread)
        slot = table.find(key)
        assert slot == truth.get(key, 0), step
        if slot:
            if rnd.random() < 0.6:
                table.remove(slot)
                del truth[key]
        else:
            truth[key] = table.insert(key)
        assert len(table) == len(truth)
        assert 3 * len(table) <= 2 * len(table.index)
    for key, slot in truth.items():
        assert table.find(key) == slot
        assert table.keys[slot] == key
    assert len(set(truth.values())) == len(truth)


def test_freed_slots_are_reused_and_forget_their_entry() -> None:
    table = Table("account")
    table.members(1)
    slots = [table.insert(key) for key in range(100, 110)]
    table.refs[slots[3]], table.firsts[0][slots[3]] = b"counts", 42
    table.flat[slots[3]] = (0, 1, 2.0)
    table.remove(slots[3])
    assert table.find(103) == 0
    again = table.insert(999)
    assert again == slots[3]
    assert (table.refs[again], table.firsts[0][again], again in table.flat) == (None, 0, False)
    assert len(table.keys) == CHUNK + 2  # no column grew


def test_a_run_that_wraps_around_the_index_closes_up_after_a_removal() -> None:
    table = Table("ip")  # 8 positions: 5 keys before it grows
    keys = [8 * i + 7 for i in range(5)]  # all at home 7: the run wraps to positions 0-3
    slots = [table.insert(key) for key in keys]
    assert len(table.index) == 8
    table.remove(slots[0])
    assert [table.find(key) for key in keys] == [0, *slots[1:]]
    table.remove(slots[2])
    assert [table.find(key) for key in keys] == [0, slots[1], 0, slots[3], slots[4]]
