"""RedisStore's arguments and replies: what an observe sends per master, and its counters back.

An observe sends each master its entities' values (DIMENSIONS order), the owned flags (which of
them that master counts, a hot dimension's mode in place of its '1') and the reads mask (which
distinct sets the scripts count). Each master returns, per entity it counted, a packed row and the
entity's distinct counts (lua/observe.lua); `place` turns them into the counters by name, or, for a
hot entity, into its tally's new base (shield.store.batched). The site counters are the sum of the
site shards' buckets (one per master) as last read plus this worker's unsent counts.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from shield.facts.catalog import DIMENSIONS, DISTINCT
from shield.model import BAN_SCOPES, Observation
from shield.store.batched import Layout, Tally
from shield.store.layout import SITE_MEASURES, keeps
from shield.store.packed import RowReader
from shield.store.sliding import weights

# The hot, low-cardinality dimensions: counted by the worker and sent in batches (shield.store.batched),
# like the site; their distinct sets (when a rule reads one) are still counted by the observe script.
HOT = (DIMENSIONS.index("asn"), DIMENSIONS.index("country"))
_VALUES = operator.attrgetter(*DIMENSIONS)  # Observation.dimension of each, in one C call
# Per dimension, the dimensions whose values its distinct sets count (their members).
_MEMBERS = [frozenset(DIMENSIONS.index(o) for o in DISTINCT.get(d, {}).values()) for d in DIMENSIONS]
_BANNED = frozenset(DIMENSIONS.index(s) for s in BAN_SCOPES)
_NEEDED: dict[tuple[str, bool], tuple[str, ...]] = {}
# _STRICT: the zips below over one value per dimension (or per counter of a row) are equal by
# construction, and zip's strict= keyword alone costs ~1,000 instructions a call to parse (callgrind):
# ~20 zips an observe.
_HOT_OWNED: dict[tuple[str, tuple[tuple[int, str], ...]], str] = {}


def place(
    counters: dict[str, int],
    rows: Sequence[Any],
    owned: str,
    values: Sequence[str],
    now: float,
    weights_now: Sequence[float],
    hot: Mapping[int, tuple[str, Tally, int]],
    *,
    hot_layout: Layout,
    readers: Sequence[RowReader],
    kept_distinct: Sequence[Sequence[tuple[str, int]]],
    distinct_sizes: Sequence[int],
) -> None:
    """One call's entities, DIMENSIONS order, one flat list (lua/observe.lua): each one's packed row,
    then, when it was counted (not only read: 'r'), its `distinct_sizes[d]` distinct counts: the rows'
    window estimates and the kept distinct counts, by name. A hot entity's row is its stored total:
    the tally's new base (unless a flush of it has started since the read was sent). `readers`: per
    dimension, its row's reader, which estimates only the counters needed (shield.store.estimated) and
    names them."""
    pos = 0
    for d, value in enumerate(values):
        mode = owned[d]
        if not value or mode == "0":
            continue
        if d in hot:
            _, t, epoch = hot[d]
            if t.epoch == epoch and t.flying is None:
                stored = hot_layout.unpack(rows[pos])
                t.read(*(stored or (0.0, [0] * hot_layout.counts)), read_at=now)
        else:
            reader = readers[d]
            counters.update(zip(reader.names, reader.estimates(rows[pos], now, weights_now)))  # noqa: B905 (_STRICT)
        if mode == "r":  # the stored row only
            pos += 1
            continue
        for name, i in kept_distinct[d]:
            counters[name] = rows[pos + 1 + i]
        pos += 1 + distinct_sizes[d]


def site_sum(shards: Iterable[str], tally: Callable[[str], Tally], size: int, now: float) -> list[int]:
    """Every shard's buckets as last read plus this worker's counts, moved on to `now`, added up
    (`size` counters, two buckets each)."""
    total: list[int] | None = None
    for shard in shards:
        raw = tally(shard).rolled(now)  # a layout's counts, `size` pairs each
        total = list(raw) if total is None else list(map(operator.add, total, raw))
    return total if total is not None else [0] * (2 * size)


def site_estimates(raw: Sequence[int], now: float, *, widths: Sequence[float], names: Sequence[str]) -> dict[str, int]:
    """The site shards' summed buckets -> the site counters (per site window and measure)."""
    per_window = len(SITE_MEASURES)
    w = weights(now, widths)
    floor = math.floor  # sliding.estimate, inlined (a call per counter)
    return {
        name: raw[2 * i] + floor(p * w[i // per_window] + 0.5) if (p := raw[2 * i + 1]) else raw[2 * i]
        for i, name in enumerate(names)
    }


def reads_mask(windows: Sequence[str], reads: frozenset[str] | None) -> str:
    """Per distinct set (DISTINCT order), one '1'/'0' per window: the script counts the '1' ones."""
    return "".join(
        "1" if keeps(d, m, w, reads) else "0" for d in DIMENSIONS for m in DISTINCT.get(d, {}) for w in windows
    )


def hot_owned(owned: str, modes: Mapping[int, str]) -> str:
    """A call's owned flags with each hot dimension's mode in place of its '1'."""
    if not modes:
        return owned
    key = (owned, tuple(modes.items()))
    found = _HOT_OWNED.get(key)
    if found is None:  # one of at most a few hundred (owned flags, modes), kept
        found = _HOT_OWNED[key] = "".join(modes[d] if c == "1" and d in modes else c for d, c in enumerate(owned))
    return found


def needed(owned: str, *, bans: bool) -> tuple[str, ...]:
    """Per dimension, its flag in a master's observe block (lua/observe.lua): its `owned` mode where
    the master meets the entity, 'v' where the master only reads the value (a member of such an
    entity's distinct sets, or a ban scope where it reads the bans), else '0': no value sent (every
    argument is Redis CPU, parsed and made a Lua string, on every master an attempt reaches). One
    of at most a few hundred (owned, bans) pairs, kept."""
    codes = _NEEDED.get((owned, bans))
    if codes is None:
        met = [d for d, c in enumerate(owned) if c != "0"]
        wanted = set().union(*(_MEMBERS[d] for d in met)) | (_BANNED if bans else set())
        codes = tuple(c if c != "0" else ("v" if d in wanted else "0") for d, c in enumerate(owned))
        _NEEDED[(owned, bans)] = codes
    return codes


def observe_block(stamp: bytes, owned: str, site: str, bans: bool, values: Sequence[bytes]) -> list[bytes]:
    """One attempt's block for one master: now, its flags (per dimension, then site and bans), then
    the values its flags name (an absent value: '0', none sent)."""
    codes = needed(owned, bans=bans)
    flags = "".join([c if v else "0" for v, c in zip(values, codes)]) + site + ("1" if bans else "0")  # noqa: B905
    return [stamp, flags.encode(), *[v for v, c in zip(values, codes) if v and c != "0"]]  # noqa: B905 (_STRICT)


def number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def values_of(obs: Observation) -> Sequence[str]:
    """The observation's dimension values, DIMENSIONS order ("" for an absent one)."""
    return [v or "" for v in _VALUES(obs)]
