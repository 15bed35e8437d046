"""A frozen copy of the Lua library (tests/store/lua_reference/) loaded beside the current one.

The reference tests run both in one redis-server, each under its own key prefix ("{ref}:" and
"{new}:"), on the same calls: every reply and the final keyspace must match.
"""

from __future__ import annotations

from pathlib import Path

import redis

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
