"""The build: setuptools (pyproject.toml) plus the hot modules compiled to C extensions with mypyc.

pyproject.toml's [tool.shield] `compiled` lists the modules; `pip install .` and `pip install -e .`
both compile them (the editable install puts each extension beside its .py). SHIELD_PURE_PYTHON=1
builds without compiling (debugging, a platform without a C compiler) and removes extensions an
earlier build left beside the sources, so the .py files are what runs.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent


def compiled_modules() -> list[str]:
    with (HERE / "pyproject.toml").open("rb") as f:
        modules: list[str] = tomllib.load(f)["tool"]["shield"]["compiled"]
    return modules


def remove_extensions(*, keep: list[str]) -> None:
    """Deletes the extensions beside the sources but those of `keep`: Python imports an extension before
    a .py, so one left by an earlier build (pure mode, a module taken off the list) would hide edits."""
    kept = {(HERE / module).with_suffix("") for module in keep}
    for extension in (HERE / "shield").rglob("*.so"):
        if extension.parent / extension.name.split(".")[0] not in kept:
            extension.unlink()
    if not keep:
        for library in HERE.glob("*__mypyc.*.so"):
            library.unlink()


# pip asks for the metadata first (egg_info/dist_info), in a process of its own: no extension needed
METADATA_ONLY = not {"bdist_wheel", "editable_wheel", "build_ext", "build", "install", "develop"} & set(sys.argv)

if os.environ.get("SHIELD_PURE_PYTHON") == "1":
    remove_extensions(keep=[])
    setup()
elif METADATA_ONLY:
    setup()
else:
    from mypyc.build import mypycify

    remove_extensions(keep=compiled_modules())
    setup(ext_modules=mypycify(compiled_modules(), opt_level="3", group_name="shield"))
