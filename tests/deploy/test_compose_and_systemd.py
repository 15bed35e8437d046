"""deploy/compose.yaml against the compose spec schema; deploy/systemd/shield.service through systemd-analyze."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CHECK_JSONSCHEMA = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    if not Path(CHECK_JSONSCHEMA).exists():
        pytest.skip("check-jsonschema is not installed (part of the test extra)")
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )


def test_compose_file_matches_the_compose_spec() -> None:
    result = _check_compose(DEPLOY / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text((DEPLOY / "compose.yaml").read_text().replace("    depends_on:", "    depend_on:", 1))
    assert _check_compose(broken).returncode != 0


def test_compose_runs_shield_redis_and_the_demo_app_hardened() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = doc["services"]
    assert set(services) == {"shield", "redis", "app"}
    assert services["shield"]["environment"]["SHIELD_STORE"].startswith("redis://redis:")
    assert services["app"]["command"][:2] == ["shield", "demo-upstream"]
    assert "ports" not in services["app"]  # only shield reaches the app
    for name, svc in services.items():
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name


def _unit_for_verify(tmp_path: Path) -> Path:
    """The unit as installed, with ExecStart pointing at this venv's shield (verify checks it exists)."""
    shield = Path(sys.executable).parent / "shield"
    unit = tmp_path / "shield.service"
    unit.write_text((DEPLOY / "systemd" / "shield.service").read_text().replace("/opt/shield/bin/shield", str(shield)))
    return unit


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd); the unit is not verified")
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    result = _verify(_unit_for_verify(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shield.service" not in result.stderr, result.stderr  # no warning about this unit either


def test_systemd_verify_catches_an_unknown_directive(tmp_path: Path) -> None:
    unit = _unit_for_verify(tmp_path)
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=strict\nProtectEverything=yes"))
    result = _verify(unit)
    assert "ProtectEverything" in result.stderr


def test_systemd_unit_is_hardened() -> None:
    text = (DEPLOY / "systemd" / "shield.service").read_text()
    for line in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                 "PrivateTmp=yes", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text, line
