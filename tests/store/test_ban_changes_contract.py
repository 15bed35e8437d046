"""Store.ban_changes, one contract for memory, a real redis-server and a real 3-master Cluster:
what the per-process ban cache (shield.store.bancache) reads every second instead of the whole table."""

from __future__ import annotations

from shield.model import FakeClock
from shield.store.base import Store


def addresses(n: int, first: int = 0) -> list[str]:
    return [f"10.50.{i // 256}.{i % 256}" for i in range(first, first + n)]


async def test_a_cursor_hands_over_only_the_bans_added_re_added_or_lifted_since(store: Store) -> None:
    now = FakeClock().now()
    for ip in addresses(200):
        await store.add_ban("ip", ip, ttl=600, reason="r", now=now)
    first = await store.ban_changes(None, now)
    assert (first.full, len(first.bans), first.lifted) == (True, 200, [])
    new = [await store.add_ban("ip", ip, ttl=600, reason="r", now=now + 1) for ip in addresses(3, 200)]
    again = await store.add_ban("ip", "10.50.0.7", ttl=600, reason="r", now=now + 1)  # escalated
    assert await store.remove_ban("ip", "10.50.0.9") is True
    changes = await store.ban_changes(first.cursor, now + 1)
    assert not changes.full
    assert sorted(changes.bans, key=lambda b: b.value) == sorted([*new, again], key=lambda b: b.value)
    assert changes.lifted == [("ip", "10.50.0.9")]
    quiet = await store.ban_changes(changes.cursor, now + 2)
    assert (quiet.full, quiet.bans, quiet.lifted, quiet.cursor) == (False, [], [], changes.cursor)


async def test_a_ban_changed_twice_is_handed_over_once_as_it_stands(store: Store) -> None:
    now = FakeClock().now()
    start = await store.ban_changes(None, now)
    for i in range(3):
        last = await store.add_ban("subnet", "10.50.1.0/24", ttl=60, reason="r", now=now + i)
    await store.add_ban("ip", "10.50.1.1", ttl=60, reason="r", now=now)
    await store.remove_ban("ip", "10.50.1.1")
    changes = await store.ban_changes(start.cursor, now + 3)
    assert (changes.full, changes.bans, changes.lifted) == (False, [last], [("ip", "10.50.1.1")])
    assert last.offenses == 3


async def test_a_cursor_of_another_table_or_ahead_of_this_one_reads_the_whole_table(store: Store) -> None:
    now = FakeClock().now()
    ban = await store.add_ban("ip", "10.50.2.1", ttl=60, reason="r", now=now)
    own = await store.ban_changes(None, now)
    for cursor in [("another", own.cursor[1]), (own.cursor[0], own.cursor[1] + 1000)]:
        answer = await store.ban_changes(cursor, now)
        assert (answer.full, answer.bans, answer.cursor) == (True, [ban], own.cursor)


async def test_expired_bans_are_neither_listed_nor_handed_over_as_bans(store: Store) -> None:
    now = FakeClock().now()
    start = await store.ban_changes(None, now)
    await store.add_ban("ip", "10.50.3.1", ttl=10, reason="r", now=now)
    lasting = await store.add_ban("ip", "10.50.3.2", ttl=100, reason="r", now=now)
    changes = await store.ban_changes(start.cursor, now + 20)
    assert changes.bans == [lasting]
    assert set(changes.lifted) <= {("ip", "10.50.3.1")}  # expiry needs no event: either is right
    assert (await store.ban_changes(None, now + 20)).bans == [lasting]
