"""`shield rules check|test|schema` through the real command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shield.cli import main
from shield.settings.schema import BUNDLED_RULES


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_check_bundled_pack_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["rules", "check"], capsys)
    assert (status, err) == (0, "")
    assert out.startswith("ok: ")
    assert "rules (0 shadow), 5 lists, rule set " in out


def test_test_bundled_pack_passes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["rules", "test", "-q"], capsys)
    assert status == 0
    assert out.splitlines()[-1].split(" passed, ")[1].startswith("0 failed")


def test_a_failing_case_exits_1_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(BUNDLED_RULES, tmp_path / "rules")
    (tmp_path / "rules" / "tests" / "extra.yaml").write_text(
        "cases:\n  - name: tor is blocked\n    facts: {ip.tor: true}\n    expect: {action: block}\n"
    )
    status, out, _ = run(["rules", "test", "-q", str(tmp_path / "rules")], capsys)
    assert status == 1
    assert f"FAIL {tmp_path}/rules/tests/extra.yaml:2 tor is blocked: tag (score 40) -- expected block, got tag " \
           "[matched: tor_exit +40]" in out.splitlines()
    assert "1 failed" in out.splitlines()[-1]


def test_a_broken_case_file_is_reported_with_its_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(BUNDLED_RULES, tmp_path / "rules")
    (tmp_path / "rules" / "tests" / "extra.yaml").write_text(
        "cases:\n  - name: typo\n    facts: {ip.torr: true, ip.asn: AS1}\n    expect: {action: nope}\n"
    )
    status, _, err = run(["rules", "test", str(tmp_path / "rules")], capsys)
    where = f"{tmp_path}/rules/tests/extra.yaml"
    assert status == 1
    assert err.splitlines() == [
        f"{where}:3:13: unknown fact 'ip.torr'",
        f"{where}:3:36: ip.asn must be a whole number, not 'AS1'",
        f"{where}:4:22: expect.action must be one of allow, tag, delay, challenge, block, ban",
    ]


def test_schema_is_json_schema_2020_12(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["rules", "schema"], capsys)
    schema = json.loads(out)
    assert status == 0
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["$defs"]["rule"]["properties"]) >= {"id", "description", "when", "score", "action", "mode"}


def test_check_reports_errors_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: x\n    description: d\n    when: ip.tor >= 1\n    score: 1\n    class: client\n"
    )
    status, out, err = run(["rules", "check", str(tmp_path)], capsys)
    assert (status, out) == (1, "")
    assert err == f"{tmp_path}/r.yaml:4:11: '>=' compares numbers, but ip.tor is a true/false value\n1 error\n"


def test_check_rejects_unknown_route_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: x\n    description: d\n    when: ip.tor\n    score: 1\n    class: client\n    routes: [pay]\n"
    )
    status, _, err = run(["rules", "check", "--routes", "login,reset", str(tmp_path)], capsys)
    assert status == 1
    assert "unknown route 'pay' (configured: login, reset)" in err

