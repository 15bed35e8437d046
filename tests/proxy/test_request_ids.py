"""Request ids: 24 hex digits from the system's random source, never repeated across batches."""

from __future__ import annotations

import re

from shield.proxy.app import RequestIds


def test_request_ids_are_24_hex_digits_and_unique_across_batches() -> None:
    ids = RequestIds()
    seen = [ids.next() for _ in range(256 * 3 + 5)]  # three batches and a bit
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in seen)
    assert len(set(seen)) == len(seen)


def test_two_generators_do_not_share_ids() -> None:
    assert len({RequestIds().next() for _ in range(50)}) == 50
