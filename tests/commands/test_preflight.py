"""`shield run` refuses to start on problems every worker would hit, and says where they are."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shield.commands import preflight as preflight
from shield.settings.schema import BUNDLED_RULES, DEMO_LISTS, GeoipSettings, Settings


def test_bundled_defaults_have_no_problem() -> None:
    assert preflight.problems(Settings()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"secret": b"short"}, "secret: 5 bytes; use at least 16"),
        ({"store": "postgres://db"}, "store: store 'postgres://db': unknown scheme"),
        ({"rules": Path("/nonexistent/rules")}, "rules: /nonexistent/rules: not a folder"),
    ],
    ids=["short-secret", "unknown-store", "missing-rules"],
)
def test_problem_is_reported(changes: dict[str, object], expected: str) -> None:
    found = preflight.problems(dataclasses.replace(Settings(), **changes))  # type: ignore[arg-type]
    assert any(p.startswith(expected) for p in found), found


def test_broken_rule_file_stops_shield_run_with_its_place(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(BUNDLED_RULES, rules)
    (rules / "zz_broken.yaml").write_text(
        "rules:\n  - id: typo\n    description: d\n    when: ip.failure_10m >= 20\n    score: 10\n    class: client\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "shield.cli", "run", "--rules", str(rules), "--listen", "127.0.0.1:1"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "zz_broken.yaml:4:11: unknown fact 'ip.failure_10m' (did you mean 'ip.failures_10m'?)" in proc.stderr


@pytest.mark.parametrize(
    ("store", "workers", "expect_workers", "warns"),
    [("memory://", 0, 1, False), ("memory://", 3, 3, True), ("redis://r:6379/0", 0, 0, False)],
    ids=["memory-default-one", "memory-many-warns", "redis-untouched"],
)
def test_memory_store_defaults_to_one_worker(store: str, workers: int, expect_workers: int, warns: bool) -> None:
    settings, warning = preflight.worker_count(dataclasses.replace(Settings(), store=store, workers=workers))
    assert settings.workers == expect_workers
    assert (warning is not None) == warns


@pytest.mark.parametrize(
    ("country", "asn", "expected"),
    [
        (None, None, ["geoip.country and geoip.asn", "ip.country", "ip.asn, ip.hosting", "MaxMind, IPinfo or DB-IP"]),
        (Path("/x/City.mmdb"), None, ["(geoip.asn)", "ip.asn, ip.hosting are absent"]),
        (None, Path("/x/ASN.mmdb"), ["(geoip.country)", "ip.country, ip.overseas"]),
    ],
    ids=["none", "country-only", "asn-only"],
)
def test_a_start_without_geoip_says_what_is_missing(
    country: Path | None, asn: Path | None, expected: list[str]
) -> None:
    warning = preflight.geoip_warning(Settings(geoip=GeoipSettings(country=country, asn=asn)))
    assert warning is not None
    for part in expected:
        assert part in warning


def test_a_start_with_both_databases_says_nothing() -> None:
    # a configured file that is missing is the reader's own warning (it loads the file when it appears)
    assert preflight.geoip_warning(Settings(geoip=GeoipSettings(Path("/x/c.mmdb"), Path("/x/a.mmdb")))) is None


def test_extra_lists_are_checked_before_start(tmp_path: Path) -> None:
    (tmp_path / "hosting_asns.txt").write_text("# kind: int\nAS64500\n")
    found = preflight.problems(dataclasses.replace(Settings(), extra_lists=(tmp_path, tmp_path / "nope")))
    assert f"{tmp_path / 'hosting_asns.txt'}:2: 'AS64500' is not an integer" in found
    assert f"{tmp_path / 'nope'}:0: extra_lists: not a folder" in found
    assert preflight.problems(dataclasses.replace(Settings(), extra_lists=(DEMO_LISTS,))) == []
