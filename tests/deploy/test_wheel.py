"""The wheel ships what an installed shield needs: the rule pack and the demo world are package data.

Built from a copy of the files the Dockerfile copies (pyproject.toml, README.md, shield/), so no
build/ folder of the checkout can hide a missing glob; then installed into a folder of its own and
run from outside the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from shield.settings.schema import BUNDLED_RULES, DEMO_DATA, PACKAGE_DIR, PROJECT_DIR


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copy(PROJECT_DIR / "pyproject.toml", src)
    shutil.copy(PROJECT_DIR / "README.md", src)
    shutil.copytree(PACKAGE_DIR, src / "shield", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True, capture_output=True, cwd=src,
    )
    (built,) = out.glob("shield-*.whl")
    return built


def _shipped(folder: Path) -> set[str]:
    return {
        p.relative_to(PROJECT_DIR).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize("folder", [BUNDLED_RULES, DEMO_DATA], ids=["rule_pack", "demo_world"])
def test_the_wheel_holds_every_file_of_the_package_data(wheel: Path, folder: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _shipped(folder)
    assert len(expected) > 3
    assert expected - names == set()


def test_an_installed_wheel_checks_its_own_rules_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True, capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}  # the wheel's shield first, the venv's dependencies after
    result = subprocess.run(
        [sys.executable, "-c", "import shield.cli, sys; print(shield.cli.__file__); sys.exit(shield.cli.main())",
         "rules", "check"],
        capture_output=True, text=True, cwd=elsewhere, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr
    where, summary = result.stdout.splitlines()[:2]
    assert where.startswith(str(site))  # not the checkout's shield
    assert summary.startswith("ok: ")
    assert " rules " in summary
