"""A worker's batched counts go out `flush_interval` after the first unsent one (shield.store.batched),
its own setting per Batched (a test stepping a fake clock sets it long): not before, and not never."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shield.store.batched import Batched, Item, Layout
from shield.store.packed import Row


async def test_counts_go_out_after_the_flush_interval_not_before() -> None:
    sent: list[list[Item]] = []

    async def send(items: list[Item]) -> Sequence[bytes | None]:
        sent.append(items)
        return [None] * len(items)

    batched = Batched(send, flush_interval=1.0)
    batched.add(batched.tally("{shield:asn:64500}", Layout("d", Row((60, 3600), 3))), 1_700_000_000.0, (0,))
    await asyncio.sleep(0.5)
    assert sent == []  # the default interval (0.25 s) would have sent it by now
    for _ in range(60):  # then within the interval (a loaded machine's loop may run it late)
        if sent:
            break
        await asyncio.sleep(0.05)
    assert [key for _, key, _ in sent[0]] == ["{shield:asn:64500}"]
    await batched.close()
