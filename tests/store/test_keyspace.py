"""The memory store's key space: what goes first when the budget is reached."""

from __future__ import annotations

from dataclasses import dataclass

from shield.store.keyspace import Keyspace


@dataclass
class Item:
    touched: float
    hits: int = 0
    units: int = 1

    def expired(self, now: float, ttl: float) -> bool:
        return now - self.touched >= ttl


def space(max_units: int) -> Keyspace:
    return Keyspace(("ip", "account"), max_units=max_units, ttl=1e9)


def keys(ks: Keyspace) -> set[str]:
    return {key for tier in (ks.junk, ks.kept) for lru in tier.values() for key in lru}


def test_junk_goes_before_older_kept_entries() -> None:
    ks = space(3)
    ks.add("account", "victim", Item(0.0, hits=5), 0.0)
    ks.add("ip", "junk-1", Item(1.0), 1.0)
    ks.add("ip", "junk-2", Item(2.0), 2.0)
    ks.add("ip", "junk-3", Item(3.0), 3.0)
    assert keys(ks) == {"victim", "junk-2", "junk-3"}


def test_kept_entries_with_fewest_outcomes_go_first() -> None:
    ks = space(3)
    ks.add("account", "victim", Item(0.0, hits=12), 0.0)
    ks.add("account", "once", Item(1.0, hits=1), 1.0)
    ks.add("ip", "twice", Item(2.0, hits=2), 2.0)
    ks.add("ip", "new", Item(3.0, hits=1), 3.0)
    assert keys(ks) == {"victim", "twice", "new"}


def test_the_entry_being_written_is_never_evicted_under_its_writer() -> None:
    ks = space(1)
    ks.add("account", "victim", Item(0.0, hits=3), 0.0)
    fresh = Item(1.0)
    ks.add("ip", "fresh", fresh, 1.0)  # the only junk entry, and the one being written
    assert keys(ks) == {"fresh"}
    assert ks.units == 1


def test_junk_of_the_request_being_counted_is_not_taken_for_old_junk() -> None:
    ks = space(3)
    ks.add("account", "old", Item(0.0, hits=1), 0.0)
    ks.add("ip", "a", Item(5.0), 5.0)  # the same request (now = 5) makes two new entries
    ks.add("account", "b", Item(5.0), 5.0)
    ks.add("ip", "c", Item(5.0), 5.0)
    assert keys(ks) == {"a", "b", "c"}  # the kept single-outcome entry went, not this request's counters


def test_promotion_moves_an_entry_to_the_kept_tier() -> None:
    ks = space(10)
    item = Item(0.0)
    ks.add("ip", "x", item, 0.0)
    item.hits += 1
    ks.promote("ip", "x", item)
    assert "x" in ks.kept["ip"]
    assert "x" not in ks.junk["ip"]
    ks.drop("ip", "x")
    assert (ks.units, ks.entries) == (0, 0)
