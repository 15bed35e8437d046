"""The Lua code of the Redis store: one function library (FCALL) and the same code as scripts (EVALSHA).

lua/common.lua is shared; each lua/<name>.lua is one call's body, wrapped as
`local function run_<name>(KEYS, ARGV)` (a BATCHED one's body walks its argument blocks itself).
A generated prelude holds the configuration as Lua constants, so the code is generic and its
name (library) or SHA (scripts) is per configuration.
The library is loaded once per server (FUNCTION LOAD, Redis >= 7.0) and a call runs only its
function; a script runs its whole chunk (constants, tables, closures) on every call.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from shield.facts.catalog import DIMENSIONS, DISTINCT, SITE_WINDOWS
from shield.model import BAN_SCOPES, Window
from shield.store.layout import ACCOUNT_MEASURES, MEASURES, SITE_MEASURES, Plan
from shield.store.packed import Row
from shield.store.records import HISTORY_LISTS
from shield.store.routing import SPREAD

DISTINCT_EXACT = 64  # members counted exactly per distinct set; HyperLogLog above
HLL_REFRESH = 1.0  # seconds between full HyperLogLog merges of one set (cached counts in between)


class Script:
    """EVALSHA with a SCRIPT LOAD fallback, counting every command sent (the round trips)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


@dataclass(slots=True, frozen=True)
class LuaCode:
    scripts: dict[str, Script]
    library: str  # the library's name; function <library>_<call>
    library_code: str

    @classmethod
    def build(
        cls, plan: Plan, *, prefix: str, tag: str, history_days: int, history_size: int, clustered: bool
    ) -> LuaCode:
        prelude = _prelude(plan, prefix, tag, history_days, history_size)
        # security: on a Cluster, the per-master calls touch several slots of their own master
        # (never another's: Redis refuses non-local keys), which needs the flag (Redis >= 7.0).
        shebang = "#!lua flags=allow-cross-slot-keys\n" if clustered else ""
        common, bodies = _lua()
        scripts = {
            name: Script(
                (shebang if name in PER_MASTER else "") + prelude + common + body + f"return run_{name}(KEYS, ARGV)\n"
            )
            for name, body in bodies.items()
        }
        code = prelude + common + "".join(bodies.values())
        library = "shield_" + hashlib.sha1(code.encode(), usedforsecurity=False).hexdigest()[:16]
        registrations = "".join(
            f"redis.register_function{{function_name='{library}_{name}', callback=run_{name}"
            + (", flags={'allow-cross-slot-keys'}}\n" if name in PER_MASTER else "}\n")
            for name in bodies
        )
        return cls(scripts, library, f"#!lua name={library}\n" + code + registrations)


SCRIPTS = ("observe", "outcome", "hot", "count", "ban_add", "ban_list", "ban_remove", "claim")
PER_MASTER = ("observe", "outcome", "hot", "count")


# The calls that take several attempts (a loop turn's, merged by shield.store.pipelining): ARGV is
# this many arguments shared by the call (the same in every merged call), then the attempts' blocks
# back to back (each's length told by its own flags: lua/observe.lua); each block runs as one call
# would (at its own time), in order, and the reply is one flat list: per block its reply's length,
# then its reply's elements (shield.store.pipelining's split).
BATCHED = {"observe": 1}


def _lua() -> tuple[str, dict[str, str]]:
    """common.lua, and each script's body as `local function run_<name>(KEYS, ARGV)`."""
    lua = resources.files("shield.store") / "lua"
    return (lua / "common.lua").read_text(), {name: _wrap(name, (lua / f"{name}.lua").read_text()) for name in SCRIPTS}


def _wrap(name: str, body: str) -> str:
    if name not in BATCHED:
        return f"local function run_{name}(KEYS, ARGV)\nbegin(ARGV)\n{body}end\n"
    # A batched call's body walks its blocks itself (each at its own time: no begin) and answers one
    # flat list, per block its reply's length, then its reply (shield.store.pipelining splits it).
    return f"local function run_{name}(KEYS, ARGV)\n{body}end\n"


def _prelude(plan: Plan, prefix: str, tag: str, days: int, size: int) -> str:
    """The configuration as Lua constants: the scripts are generic, their SHA is per configuration."""
    index = {dim: i + 1 for i, dim in enumerate(DIMENSIONS)}
    distinct = ", ".join(
        "{" + ", ".join(f'{{"{m}", {index[o]}}}' for m, o in DISTINCT.get(dim, {}).items()) + "}" for dim in DIMENSIONS
    )
    rows = plan_rows(plan)
    rearm = plan.max_window / 24  # seconds between two PEXPIREs of a busy key
    ttl_ms = int((2 * plan.max_window + rearm) * 1000)  # the longest window's previous bucket, + rearm
    return "\n".join(
        (
            f'local P, T, B = "{prefix}", "{tag}", "{prefix}bans"',
            "local DIMS = {" + ", ".join(f'"{d}"' for d in DIMENSIONS) + "}",
            "local DW = {" + ", ".join(str(w.seconds) for w in plan.windows) + "}",
            "local SW = {" + ", ".join(str(w.seconds) for w in SITE_WINDOWS) + "}",
            f"local DISTINCT = {{{distinct}}}",
            "local DOFF = {" + ", ".join(str(o) for o in _distinct_offsets()) + "}",
            "local BAN_DIMS = {" + ", ".join(str(index[s]) for s in BAN_SCOPES) + "}",
            "local HISTORY = {" + ", ".join(f'{{"{k}", {index[d]}}}' for k, d in HISTORY_LISTS) + "}",
            f"local ACCOUNT, COUNTRY = {index['account']}, {index['country']}",
            "local SPREAD = {" + ", ".join(f"[{index[d]}] = true" for d in SPREAD) + "}",
            f"local MAXW = {max(w.seconds for w in plan.windows)}",
            f"local ROW3, ROW5, ROWSITE = {rows[0].lua()}, {rows[1].lua()}, {rows[2].lua()}",
            f"local NESTED = {'true' if _nested(plan.windows) else 'false'}",
            f"local TTL_MS, REARM = {ttl_ms}, {rearm!r}",
            f"local HDAYS, HSIZE, CAP, REFRESH = {days}, {size}, {DISTINCT_EXACT}, {HLL_REFRESH}",
            "",
        )
    )


def plan_rows(plan: Plan) -> tuple[Row, Row, Row]:
    """The packed rows: a dimension's, the account's (with its split failures), a site shard's."""
    widths = tuple(w.seconds for w in plan.windows)
    return (
        Row(widths, len(MEASURES)),
        Row(widths, len(MEASURES) + len(ACCOUNT_MEASURES)),
        Row(tuple(w.seconds for w in SITE_WINDOWS), len(SITE_MEASURES)),
    )


def _distinct_offsets() -> list[int]:
    """Per dimension, where its distinct sets start in the flat DISTINCT order (the reads mask)."""
    sizes = [len(DISTINCT.get(dim, {})) for dim in DIMENSIONS]
    return list(itertools.accumulate(sizes, initial=0))[:-1]


def _nested(windows: Sequence[Window]) -> bool:
    """Whether every window's buckets lie inside the next longer window's (sorted, each a multiple)."""
    seconds = [w.seconds for w in windows]
    return seconds == sorted(seconds) and all(b % a == 0 for a, b in itertools.pairwise(seconds))
