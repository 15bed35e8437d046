"""The observe script answers and writes exactly as it did before its CPU cuts (issue 14).

tests/store/lua_reference/ holds lua/common.lua and lua/observe.lua as they were (main 0358b29;
since, the arguments go as a call's reads mask and per attempt a block of only the values flagged,
and the reply is one flat list, the distinct counts inline: the comparison converts both, _block
and _as_reference):
both libraries run in one redis-server, each under its own key prefix, on the same random calls
(owned, read-only and distinct-only entities, absent values, every reads mask change, members
repeating past the exact sets' cap into HyperLogLogs, time jumps across bucket edges and past the
longest window, late writes, times near the epoch, rows of the previous layout): every reply and, at the end, every key
(fields, values, whether it expires) must match. The distinct sets are packed now (a few fields per
set, not one per member): they compare as their members and last seen (tests/store/packed_sets.py).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import redis

from shield.facts.catalog import DIMENSIONS, DISTINCT
from shield.store.base import Retention
from shield.store.pipelining import split
from shield.store.routing import shard_key
from tests.store.packed_sets import logical
from tests.store.reference_library import load_libraries

REFERENCE = Path(__file__).parent / "lua_reference"
STEPS = 2_500
SETS = sum(len(DISTINCT.get(d, {})) for d in DIMENSIONS)


def _masks(rnd: random.Random, windows: int) -> list[str]:
    every, none = "1" * SETS * windows, "0" * SETS * windows
    sparse = "".join(rnd.choice("0001") for _ in range(SETS * windows))
    return [every, none, sparse, "".join(rnd.choice("01") for _ in range(SETS * windows))]


def _args(rnd: random.Random, now: float, mask: str) -> list[str]:
    pools = {"ip": 12, "subnet": 3, "asn": 3, "country": 2, "account": 180, "fp": 5, "device": 4, "password": 40}
    values = []
    for d in DIMENSIONS:
        if d == "pair" or rnd.random() < 0.1:
            values.append("")
        elif d == "ip" and rnd.random() < 0.5:
            values.append("ip-hot")  # its distinct accounts outgrow the exact set
        else:
            values.append(f"{d}-{rnd.randrange(pools[d])}")
    values[DIMENSIONS.index("pair")] = f"{values[4]}:{values[7]}" if values[4] and values[7] else ""
    owned = "".join(rnd.choice("1111rd0") for _ in DIMENSIONS)
    return [repr(now), owned, rnd.choice("01r"), rnd.choice("01"), mask, *values]


def _block(args: list[str]) -> list[str]:
    """The reference's arguments (now, owned, site, bans, reads, one value per dimension) as the current
    code's block (the reads mask goes once per call, before the blocks): now, flags (per dimension
    its owned mode, 'v' for a value it only reads, '0' for an absent one; then site and bans), then
    the values flagged. Every value the reference got is sent, so both can read the same."""
    now, owned, site, bans, _, *values = args
    flags = "".join("0" if not v else (c if c != "0" else "v") for c, v in zip(owned, values, strict=True))
    return [now, flags + site + bans, *[v for v in values if v]]


def _as_reference(reply: list[object], args: list[str]) -> list[object]:
    """The current code's reply to the reference's arguments `args` (one flat list: history, ban,
    site counters or None, then per entity met its row, and when counted its distinct counts, one
    per set and window the reads mask counts, window-major: a list each in a reply costs Redis a
    table's conversion, a value ~550 instructions) in the reference's shape: [rows and lists of
    counts (-1 where the mask counts nothing), history, ban, site counters or []]. Every element is
    compared, and none is left over."""
    hist, ban, site, *flat = reply
    _, owned, _, _, mask, *values = args
    windows, rows, pos = len(Retention().windows), list[object](), 0
    offset = 0  # the dimension's first set in the mask (set-major, a character per window)
    for d, (mode, value) in enumerate(zip(owned, values, strict=True)):
        sets = len(DISTINCT.get(DIMENSIONS[d], {}))
        first, offset = offset, offset + sets
        if not value or mode == "0":
            continue
        row, pos = flat[pos], pos + 1
        counts: list[object] = []
        if mode != "r":
            for w in range(windows):
                for k in range(sets):
                    if mask[(first + k) * windows + w] == "1":
                        counts.append(flat[pos])
                        pos += 1
                    else:
                        counts.append(-1)
        rows += [row, counts]
    assert pos == len(flat), (pos, flat)
    return [rows, hist, ban, [] if site is None else site]


def _keyspace(sync: redis.Redis, prefix: str) -> dict[bytes, object]:
    out: dict[bytes, object] = {}
    for key in sync.scan_iter(match=f"{{{prefix}*", count=1000):
        kind = sync.type(key)
        # a hash's distinct sets compare as members and last seen (packed now, one field each before)
        value = logical(sync.hgetall(key)) if kind == b"hash" else sync.get(key)
        name = key.replace(prefix.encode(), b"", 1)
        if prefix == "new":  # a subnet's tag now ends in 4 hex digits of its SHA-1 (routing.SPREAD)
            name = re.sub(rb"^(\{:subnet:.*):[0-9a-f]{4}\}", rb"\1}", name)
        out[name] = (kind, value, sync.pttl(key) > 0)
    return out


def test_observe_answers_and_writes_as_the_reference(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    reference, current = load_libraries(sync, REFERENCE, "observe")
    rnd = random.Random(14)
    windows = len(Retention().windows)
    masks = _masks(rnd, windows)
    mask, now = masks[0], 1_700_000_000.25
    sync.hset("{ref}:bans", "ip:ip-3", '{"e": 1700090000, "s": "ip"}')
    sync.hset("{new}:bans", "ip:ip-3", '{"e": 1700090000, "s": "ip"}')
    for step in range(STEPS):
        r = rnd.random()
        now += rnd.choice((61.0, 601.0, 3601.0, 86_401.0)) if r < 0.02 else (-7.5 if r < 0.05 else rnd.random() * 2)
        if rnd.random() < 0.01:
            mask = rnd.choice(masks)
        if rnd.random() < 0.005:  # an entity of the previous layout
            for prefix in ("ref", "new"):
                sync.hset(f"{{{prefix}:ip:ip-{step % 12}}}", mapping={"n": "x" * 16, "1": "y" * 24})
        # now and then a time before the first expiry rearm (REARM after the epoch): rows armed at 0
        # the current code takes the attempts of one loop turn in one call (shield.store.pipelining):
        # 1-3 at a time here, each answered as the reference answers it alone
        sizes = rnd.choice((1, 1, 2, 3))
        batch = [_args(rnd, rnd.random() * 1000 if rnd.random() < 0.01 else now, mask) for _ in range(sizes)]
        want = [sync.fcall(reference, 1, shard_key("ref:", 0), *args) for args in batch]
        flat = sync.fcall(current, 1, shard_key("new:", 0), mask, *[a for args in batch for a in _block(args)])
        got = split(flat, len(batch))  # one flat list: per attempt its reply's length, then its reply
        assert got is not None, (step, flat)
        assert [_as_reference(reply, args) for reply, args in zip(got, batch, strict=True)] == want, (step, batch)
    new, ref = _keyspace(sync, "new"), _keyspace(sync, "ref")
    assert {k: v[:2] for k, v in new.items()} == {k: v[:2] for k, v in ref.items()}
    # Whether each key expires: as the reference, but for keys it left without an expiry, which the
    # packed sets keep: the reference deleted a present but stale member's field, the entity's last,
    # and wrote it again in the same call (the key went and came back without its expiry).
    lost = {k for k, v in ref.items() if new[k][2] and not v[2]}
    assert all(new[k][2] for k, v in ref.items() if v[2])
    assert lost
    assert all(k.startswith(b"{:") and new[k][0] == b"hash" for k in lost), lost


def test_attempts_straddling_bucket_edges_count_as_the_reference(redis_url: str) -> None:
    """A call's attempts reuse the window starts of the one before while every window stays in its
    bucket (lua/common.lua set_now): times a hair's breadth from an edge of every window (a day's,
    so every window's), on either side, in one call, answer as the reference's exact arithmetic."""
    sync = redis.Redis.from_url(redis_url)
    reference, current = load_libraries(sync, REFERENCE, "observe")
    rnd = random.Random(7)
    mask = "1" * SETS * len(Retention().windows)
    edge = 1_700_006_400.0  # a multiple of 86,400: every window's bucket edge
    ulp = 2.0**-22  # edge's float spacing
    for turn in range(6):
        times = [edge - ulp, edge, edge + ulp, edge - 0.001, edge + 0.003, edge - 0.0035, edge + 0.0034, edge + 30]
        rnd.shuffle(times)
        batch = [_args(rnd, t, mask) for t in sorted(times, key=lambda t: rnd.random())]
        want = [sync.fcall(reference, 1, shard_key("ref:", 0), *args) for args in batch]
        flat = sync.fcall(current, 1, shard_key("new:", 0), mask, *[a for args in batch for a in _block(args)])
        got = split(flat, len(batch))
        assert got is not None
        assert [_as_reference(reply, args) for reply, args in zip(got, batch, strict=True)] == want, turn
        edge += 86_400.0


def test_a_reply_carries_only_the_distinct_counts_the_mask_counts(redis_url: str) -> None:
    """Per counted entity its row, then one count per set and window the reads mask counts (every
    value in a reply is Redis CPU on every attempt): none for a window no rule reads."""
    sync = redis.Redis.from_url(redis_url)
    _, current = load_libraries(sync, REFERENCE, "observe")
    windows = len(Retention().windows)
    account = DIMENSIONS.index("account")
    first = sum(len(DISTINCT.get(d, {})) for d in DIMENSIONS[:account])  # the account's first set in the mask
    for kept in ((), (0,), (0, windows - 1), tuple(range(windows))):
        mask = ["0"] * SETS * windows
        for w in kept:  # account.distinct_ips (the account's first set) in these windows
            mask[first * windows + w] = "1"
        flags = "0" * account + "1" + "0" * (len(DIMENSIONS) - account - 1) + "00"
        args = ["1700000000.5", flags, f"acct-{len(kept)}"]
        got = split(sync.fcall(current, 1, shard_key("new:", 0), "".join(mask), *args), 1)
        assert got is not None
        hist, ban, site, row, *counts = got[0]
        assert (hist, ban, site, len(row)) == (None, None, None, 176)
        assert counts == [0] * len(kept)  # the attempt carries no IP: none seen
