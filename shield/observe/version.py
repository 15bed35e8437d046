"""Shield's version, from the installed package's metadata (pyproject.toml is the one place it is written)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _package_version

UNKNOWN = "0+unknown"  # run from a source tree that was never installed


def shield_version() -> str:
    try:
        return _package_version("shield")
    except PackageNotFoundError:
        return UNKNOWN


def python_version() -> str:
    return platform.python_version()
