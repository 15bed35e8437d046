"""`shield report`: the summary of recorded decision lines, and its SVG chart."""

from __future__ import annotations

import argparse
import gzip
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest

from shield.commands.report import add_arguments, run
from shield.observe.ecs import to_ecs
from shield.observe.logsummary import summarize


def decision(ts: str, action: str, *rules: str, outcome: str = "unknown") -> dict[str, Any]:
    return {"event": "decision", "ts": ts, "action": action, "outcome": outcome,
            "rules": [{"id": r, "score": 10} for r in rules]}


LINES = [
    decision("2026-11-24T20:00:05Z", "allow", outcome="success"),
    decision("2026-11-24T20:00:50Z", "block", "hosting_asn", "automation_ua"),
    decision("2026-11-24T20:02:10.5Z", "challenge", "hosting_asn"),
    decision("2026-11-24T20:02:59Z", "allow", outcome="failure"),
    {"event": "takeover.suspected", "ts": "2026-11-24T20:03:00Z", "reason": "x"},
    {"event": "request", "ts": "2026-11-24T20:03:00Z"},
    decision("not a time", "allow"),
]


def test_summary_bins_actions_per_minute_and_ranks_rules() -> None:
    s = summarize(LINES)
    assert s.decisions == 4
    assert s.skipped == 1
    assert s.per_bin["allow"] == (1, 0, 1)
    assert s.per_bin["block"] == (1, 0, 0)
    assert s.per_bin["challenge"] == (0, 0, 1)
    assert s.top_rules == (("hosting_asn", 2), ("automation_ua", 1))
    assert s.outcomes == {"success": 1, "unknown": 2, "failure": 1}
    assert s.takeovers == 1


def test_ecs_lines_summarise_the_same() -> None:
    assert summarize([to_ecs(dict(line)) for line in LINES]).as_json() == summarize(LINES).as_json()


def test_an_empty_log_is_an_empty_summary() -> None:
    s = summarize([])
    assert (s.decisions, s.top_rules, s.actions) == (0, (), {})


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    first, second = tmp_path / "a.log", tmp_path / "b.log.gz"
    first.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in LINES[:3]) + b"console text\n")
    second.write_bytes(gzip.compress(b"".join(orjson.dumps(line) + b"\n" for line in LINES[3:])))
    return [first, second]


def test_report_prints_a_summary_and_draws_the_svg(logs: list[Path], tmp_path: Path) -> None:
    out, svg = io.StringIO(), tmp_path / "r.svg"
    assert run(parse(*map(str, logs), "--svg", str(svg)), out=out) == 0
    text = out.getvalue()
    assert text.startswith("4 decisions (1 without a time skipped) from 2026-11-24 20:00 UTC over 3 x 60s")
    assert "actions:   allow 2, challenge 1, block 1" in text
    assert "       2  hosting_asn" in text
    root = ET.fromstring(svg.read_text())  # well-formed SVG
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"hosting_asn", "automation_ua", "d0 20:01", "decisions per 60s by action"} <= set(labels)
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") == "#d7191c"]
    assert len(bars) == 2  # the block legend swatch and one block bar


def test_report_json(logs: list[Path]) -> None:
    out = io.StringIO()
    assert run(parse(*map(str, logs), "--json"), out=out) == 0
    assert orjson.loads(out.getvalue())["top_rules"] == [["hosting_asn", 2], ["automation_ua", 1]]


def test_a_missing_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    err = io.StringIO()
    assert run(parse(str(tmp_path / "nope.log")), out=io.StringIO(), err=err) == 1
    assert err.getvalue() == f"shield report: cannot read {tmp_path / 'nope.log'}: No such file or directory\n"
