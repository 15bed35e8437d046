"""`shield facts`: the catalog as a table (the docs' copy is kept in step by tests/docs/test_docs.py)."""

from __future__ import annotations

import re

import orjson
import pytest

from shield.cli import main
from shield.facts.catalog import catalog
from shield.facts.table import fact_rows
from shield.model import DEFAULT_WINDOWS, Window


def test_every_fact_is_in_exactly_one_row() -> None:
    names = set()
    for row in fact_rows():
        spelled = [row.name.replace("<w>", w) for w in row.windows] or [row.name]
        assert not names & set(spelled)
        names |= set(spelled)
    assert names == set(catalog())


def test_windowed_facts_list_the_configured_windows() -> None:
    windows = (Window("5m", 300), Window("1h", 3600))
    row = next(r for r in fact_rows(windows) if r.name == "ip.failures_<w>")
    assert (row.windows, row.type, row.description) == (("5m", "1h"), "int", "failures by the client IP, last <w>")
    ratio = next(r for r in fact_rows(DEFAULT_WINDOWS) if r.name == "site.failure_ratio_5m")
    assert ratio.windows == ()


@pytest.mark.parametrize("flag", [[], ["--markdown"], ["--json"]], ids=["text", "markdown", "json"])
def test_the_command_prints_the_catalog(flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["facts", *flag]) == 0
    out = capsys.readouterr().out
    if flag == ["--json"]:
        assert {f["name"] for f in orjson.loads(out)} == set(catalog())
    else:
        assert re.search(r"ip\.failures_<w>.*1m, 10m, 1h, 24h", out)
