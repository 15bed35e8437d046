"""A frozen copy of the Lua library (tests/store/lua_reference/) loaded beside the current one.

The reference tests run both in one redis-server, each under its own key prefix ("{ref}:" and
"{new}:"), on the same calls: every reply and the final keyspace must match.
"""

from __future__ import annotations

from pathlib import Path

import redis

from shield.model import Window
from shield.store.base import Retention
from shield.store.layout import Plan
from shield.store.scripts import LuaCode, _prelude


def load_libraries(sync: redis.Redis, folder: Path, call: str) -> tuple[str, str]:
    """Load the reference in `folder` (common.lua and `call`.lua) and the current code: their `call` functions."""
    plan = Plan.build(Retention().windows)
    code = LuaCode.build(plan, prefix="{new}:", tag="new:", history_days=90, history_size=3, clustered=False)
    body = (folder / f"{call}.lua").read_text()
    reference = (
        f"#!lua name=shield_{call}_reference\n"
        + _prelude(plan, "{ref}:", "ref:", 90, 3)
        + (folder / "common.lua").read_text()
        + f"local function run_{call}(KEYS, ARGV)\nbegin(ARGV)\n{body}end\n"
        + f"redis.register_function('reference_{call}', run_{call})\n"
    )
    sync.function_load(reference, replace=True)
    sync.function_load(code.library_code, replace=True)
    return f"reference_{call}", f"{code.library}_{call}"


# The current library's common.lua with one test function: every key's pending outcome counts (the
# "+<j><j2><now>" fields lua/outcome.lua writes instead of reading the row) folded into its row, as
# the entity's next observe folds them. KEYS: the entities; ARGV[1]: a time (unused), then per key
# its frame ('5': an account's row, '3': another dimension's).
_FOLD = """
redis.register_function('fold_test', function(KEYS, ARGV)
  begin(ARGV)
  if not TTL_ARG then observe_strings() end
  local folded = 0
  for i = 1, #KEYS do
    local key, fr = KEYS[i], FRAMES[tonumber(ARGV[i + 1])]
    local s, arm, legacy = fold_key(key, fr)
    if NDEL > 0 then
      write_folded(key, fr, s, arm, legacy)
      folded = folded + 1
    end
  end
  return folded
end)
"""


def fold_pending(sync: redis.Redis, tag: str, windows: tuple[Window, ...] | None = None) -> int:
    """Every entity's pending outcome counts under `tag` (rows of `windows`, the default ones when
    None) folded into its row (lua/common.lua fold_key): the keyspace as a read sees it. Returns how
    many entities had some."""
    plan = Plan.build(Retention().windows if windows is None else windows)
    code = LuaCode.build(plan, prefix="{new}:", tag="new:", history_days=90, history_size=3, clustered=False)
    common = code.library_code.split("\n", 1)[1].split("local function run_")[0]
    sync.function_load(
        "#!lua name=shield_fold_test\n" + common + _FOLD,
        replace=True,
    )
    keys = [
        k
        for k in sync.scan_iter(match=f"{{{tag}*", count=1000)
        if sync.type(k) == b"hash" and any(f.startswith(b"+") for f in sync.hkeys(k))
    ]
    frames = ["5" if k.startswith(f"{{{tag}account:".encode()) else "3" for k in keys]
    return int(sync.fcall("fold_test", len(keys), *keys, "0", *frames)) if keys else 0


def keyspace(sync: redis.Redis, tag: str) -> dict[bytes, object]:
    """Every key under `tag` (the tag cut from its name): its type, value and whether it expires."""
    out: dict[bytes, object] = {}
    for key in sync.scan_iter(match=f"{{{tag}*", count=1000):
        kind = sync.type(key)
        value = sync.hgetall(key) if kind == b"hash" else sync.get(key)
        out[key.replace(tag.encode(), b"", 1)] = (kind, value, sync.pttl(key) > 0)
    return out
