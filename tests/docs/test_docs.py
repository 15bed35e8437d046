"""The docs site and the README: generated references in step with the code, a strict build, links that resolve."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shield.cli import main
from shield.settings.load import SECRET_FILES, _leaf_paths, env_var
from shield.settings.reference import MEANINGS, markdown_table, reference_rows
from shield.settings.schema import PROJECT_DIR, Settings
from tests.docs.regenerate import COMMAND, GENERATED, Generated, current

README = PROJECT_DIR / "README.md"
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("generated", GENERATED, ids=[g.page for g in GENERATED])
def test_generated_reference_is_in_step_with_the_code(generated: Generated) -> None:
    assert current(generated) == generated.render(), f"docs/{generated.page} is out of step: run `{COMMAND}`"


def test_the_reference_lists_every_key_the_loader_reads() -> None:
    # the loader's own walk is the oracle: every key it reads from the environment, the secret files, and routes
    expected = set(_leaf_paths(Settings, "")) | set(SECRET_FILES) | {"routes"}
    rows = reference_rows()
    assert {r.key for r in rows} == expected
    assert {r.env for r in rows if r.key != "routes"} == {f"`{env_var(k)}`" for k in expected - {"routes"}}


def test_a_key_without_a_meaning_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(MEANINGS, "challenge.max_difficulty")
    with pytest.raises(ValueError, match=r"challenge\.max_difficulty"):
        reference_rows()


def test_the_reference_shows_the_challenge_limits() -> None:
    row = next(r for r in reference_rows() if r.key == "challenge.max_difficulty")
    assert row.default == "`20`"
    assert "at most 32" in row.meaning


def test_shield_config_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--markdown"]) == 0
    assert capsys.readouterr().out == markdown_table(reference_rows())


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )


def test_the_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    started = time.monotonic()
    built = _mkdocs(PROJECT_DIR / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert time.monotonic() - started < 20


def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    shutil.copy(PROJECT_DIR / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(PROJECT_DIR / "docs", tmp_path / "docs")
    with (tmp_path / "docs" / "index.md").open("a", encoding="utf-8") as page:
        page.write("\n[gone](no-such-page.md) and [nowhere](operate.md#no-such-section)\n")
    built = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-page.md" in built.stderr
    assert "no-such-section" in built.stderr


def _anchors(page: Path) -> set[str]:
    """The ids mkdocs gives a page's headings (python-markdown's toc slugify)."""
    from markdown.extensions.toc import slugify  # mkdocs' own dependency

    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {slugify(m[1].replace("`", ""), "-") for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_every_relative_link_in_the_readme_resolves() -> None:
    broken = []
    for target in _LINK.findall(README.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = README.parent / path if path else README
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file)):
            broken.append(target)
    assert not broken, f"README.md links to what does not exist: {broken}"


def test_the_readme_is_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines; the manual belongs in docs/"
