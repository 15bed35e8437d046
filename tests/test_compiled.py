"""The modules listed as compiled run as their mypyc extensions, never from a stale or missing build.

An extension is imported before its .py, so an extension older than its source would run yesterday's
code; a module imported from source would run without its speed-up. ./dev rebuilds both cases first
(ensure_compiled); this test catches a pytest run that skipped it. SHIELD_PURE_PYTHON=1 is the
opposite promise: every listed module runs from its .py (no extension left beside it).
"""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
with (ROOT / "pyproject.toml").open("rb") as f:
    COMPILED: list[str] = tomllib.load(f)["tool"]["shield"]["compiled"]
PURE = os.environ.get("SHIELD_PURE_PYTHON") == "1"


def test_the_list_names_existing_modules() -> None:
    assert COMPILED
    for path in COMPILED:
        assert (ROOT / path).is_file(), path


@pytest.mark.parametrize("path", COMPILED)
def test_each_listed_module_runs_as_its_up_to_date_extension(path: str) -> None:
    source = ROOT / path
    module = importlib.import_module(".".join(Path(path).with_suffix("").parts))
    loaded = Path(module.__file__ or "")
    if PURE:
        assert loaded == source, f"{loaded}: SHIELD_PURE_PYTHON=1 but an extension was imported"
        return
    assert loaded.suffix == ".so", f"{path} runs from source: run ./dev (it compiles), or SHIELD_PURE_PYTHON=1"
    assert loaded.parent == source.parent
    assert loaded.stat().st_mtime >= source.stat().st_mtime, f"{loaded} is older than {path}: rebuild (./dev)"


def test_no_extension_is_left_beside_a_module_off_the_list() -> None:
    # a module taken off the list keeps its old extension beside it unless the build removes it: that
    # extension, imported before the .py, would hide every later edit
    listed = {(ROOT / path).with_suffix("") for path in COMPILED} if not PURE else set()
    strays = [e for e in (ROOT / "shield").rglob("*.so") if e.parent / e.name.split(".")[0] not in listed]
    assert strays == [], "rebuild: ./dev (or pip install -e .)"
