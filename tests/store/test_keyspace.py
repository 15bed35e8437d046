"""The memory store's key space: what goes first when the budget is reached.

Both key spaces: the one the store runs on (LinkedKeyspace, behind the reference's interface: Slots) and
the one the frozen reference store of test_memory_differential.py runs on (Keyspace)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from shield.store.linked_keyspace import JUNK, KEPT, LinkedKeyspace, Table, entries
from tests.store.keyspace_reference import Keyspace


@dataclass
class Item:
    touched: float
    hits: int = 0
    units: int = 1

    def expired(self, now: float, ttl: float) -> bool:
        return now - self.touched >= ttl


class Slots:
    """LinkedKeyspace behind the reference's interface: named keys and items, as slots of its tables."""

    def __init__(self, kinds: tuple[str, ...], *, max_units: int, ttl: float) -> None:
        self.ks = LinkedKeyspace([Table(kind) for kind in kinds], max_units=max_units, ttl=ttl)
        self.names: dict[int, str] = {}

    def _slot(self, kind: str, key: str) -> tuple[Table, int]:
        table = self.ks.tables[kind]
        return table, table.find(hash(key) & (2**60 - 1))

    def add(self, kind: str, key: str, item: Item, now: float) -> None:
        self.names[hash(key) & (2**60 - 1)] = key
        self.ks.add(self.ks.tables[kind], hash(key) & (2**60 - 1), now, t=item.touched, born=now, hits=item.hits)

    def refresh(self, kind: str, key: str, item: Item) -> None:
        self.ks.refresh(*self._slot(kind, key))

    def promote(self, kind: str, key: str, item: Item) -> None:
        table, slot = self._slot(kind, key)
        table.hits[slot] = item.hits
        self.ks.promote(table, slot)

    def drop(self, kind: str, key: str) -> None:
        self.ks.drop(*self._slot(kind, key))

    def charge(self, units: int) -> None:
        self.ks.charge(units)

    def listed(self, kind: str, head: int) -> list[str]:
        table = self.ks.tables[kind]
        return [self.names[table.keys[slot]] for slot in entries(table, head, 1_000)]

    @property
    def units(self) -> int:
        return self.ks.units

    @property
    def entries(self) -> int:
        return self.ks.entries

    @property
    def max_units(self) -> int:
        return self.ks.max_units

    @max_units.setter
    def max_units(self, value: int) -> None:
        self.ks.max_units = value


Space = Keyspace | Slots


@pytest.fixture(params=[Slots, Keyspace], ids=["LinkedKeyspace", "Keyspace"])
def space(request: pytest.FixtureRequest) -> Any:
    def make(max_units: int) -> Space:
        kind: type[Space] = request.param
        return kind(("ip", "account"), max_units=max_units, ttl=1e9)

    return make


def keys(ks: Space) -> set[Any]:
    if isinstance(ks, Slots):
        return {key for kind in ("ip", "account") for head in (JUNK, KEPT) for key in ks.listed(kind, head)}
    return {key for tier in (ks.junk, ks.kept) for lru in tier.values() for key in lru}


def kept(ks: Space, kind: str) -> set[Any]:
    if isinstance(ks, Slots):
        return set(ks.listed(kind, KEPT))
    return set(ks.kept[kind])


def junk(ks: Space, kind: str) -> set[Any]:
    if isinstance(ks, Slots):
        return set(ks.listed(kind, JUNK))
    return set(ks.junk[kind])


def test_junk_goes_before_older_kept_entries(space: Any) -> None:
    ks = space(3)
    ks.add("account", "victim", Item(0.0, hits=5), 0.0)
    ks.add("ip", "junk-1", Item(1.0), 1.0)
    ks.add("ip", "junk-2", Item(2.0), 2.0)
    ks.add("ip", "junk-3", Item(3.0), 3.0)
    assert keys(ks) == {"victim", "junk-2", "junk-3"}


def test_kept_entries_with_fewest_outcomes_go_first(space: Any) -> None:
    ks = space(3)
    ks.add("account", "victim", Item(0.0, hits=12), 0.0)
    ks.add("account", "once", Item(1.0, hits=1), 1.0)
    ks.add("ip", "twice", Item(2.0, hits=2), 2.0)
    ks.add("ip", "new", Item(3.0, hits=1), 3.0)
    assert keys(ks) == {"victim", "twice", "new"}


def test_the_entry_being_written_is_never_evicted_under_its_writer(space: Any) -> None:
    ks = space(1)
    ks.add("account", "victim", Item(0.0, hits=3), 0.0)
    fresh = Item(1.0)
    ks.add("ip", "fresh", fresh, 1.0)  # the only junk entry, and the one being written
    assert keys(ks) == {"fresh"}
    assert ks.units == 1


def test_junk_of_the_request_being_counted_is_not_taken_for_old_junk(space: Any) -> None:
    ks = space(3)
    ks.add("account", "old", Item(0.0, hits=1), 0.0)
    ks.add("ip", "a", Item(5.0), 5.0)  # the same request (now = 5) makes two new entries
    ks.add("account", "b", Item(5.0), 5.0)
    ks.add("ip", "c", Item(5.0), 5.0)
    assert keys(ks) == {"a", "b", "c"}  # the kept single-outcome entry went, not this request's counters


def test_promotion_moves_an_entry_to_the_kept_tier(space: Any) -> None:
    ks = space(10)
    item = Item(0.0)
    ks.add("ip", "x", item, 0.0)
    item.hits += 1
    ks.promote("ip", "x", item)
    assert "x" in kept(ks, "ip")
    assert "x" not in junk(ks, "ip")
    ks.drop("ip", "x")
    assert (ks.units, ks.entries) == (0, 0)


def test_a_refreshed_entry_goes_to_the_back_of_its_list_and_its_neighbours_close_up(space: Any) -> None:
    ks = space(10)
    a, b, c = Item(0.0), Item(1.0), Item(2.0)
    for key, item in (("a", a), ("b", b), ("c", c)):
        ks.add("ip", key, item, item.touched)
    ks.refresh("ip", "a", a)
    order = ks.listed("ip", JUNK) if isinstance(ks, Slots) else list(ks.junk["ip"])
    assert order == ["b", "c", "a"]
    ks.max_units = 2
    ks.charge(0)  # over budget: the oldest junk ("b") goes
    assert keys(ks) == {"c", "a"}
