"""Summarise shield's logs: decisions per action, top rules, outcomes; --svg draws it per minute.

    shield report /var/log/shield.log                      # a text summary
    shield report shield-*.log --svg report.svg           # + actions per minute and top rules
    shield report shield.log --json                        # the summary as JSON

Reads shield's JSON and `log.format: ecs` lines (a `.gz` file too); other lines are skipped. The
chart reuses the simulator's SVG code (shield/sim/chart.py): no plotting dependency.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from shield.observe.logsummary import ACTIONS, LogSummary, summarize
from shield.observe.logview import parse_line
from shield.sim.chart import LEFT, PANEL_H, TOP, WIDTH, bar_list, stacked_bars, text, time_axis

ACTION_COLORS = {
    "allow": "#1a9641", "tag": "#a6d96a", "delay": "#fdae61", "challenge": "#f28e2b", "block": "#d7191c",
    "ban": "#7b0d0f",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("logs", nargs="+", type=Path, help="shield log files (JSON or ECS lines; .gz is read too)")
    p.add_argument("--svg", type=Path, help="write actions per minute and top rules as an SVG chart here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--bin", type=int, default=60, help="seconds per bar (default 60: actions per minute)")
    p.add_argument("--top", type=int, default=10, help="how many rules to show (default 10)")


def read_lines(paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            for raw in f:
                if (line := parse_line(raw)) is not None:
                    yield line


def render_text(s: LogSummary) -> str:
    lines = [f"{s.decisions} decisions" + (f" ({s.skipped} without a time skipped)" if s.skipped else "")]
    if s.decisions:
        start = datetime.fromtimestamp(s.t0, UTC).strftime("%Y-%m-%d %H:%M")
        lines[0] += f" from {start} UTC over {len(next(iter(s.per_bin.values())))} x {s.bin_s}s"
    lines.append("actions:   " + ", ".join(f"{a} {s.actions[a]}" for a in ACTIONS if a in s.actions))
    lines.append("outcomes:  " + ", ".join(f"{k} {v}" for k, v in sorted(s.outcomes.items())))
    lines.append(f"takeover.suspected: {s.takeovers}")
    lines.append("top rules:")
    lines += [f"  {n:>8}  {rule}" for rule, n in s.top_rules] or ["  (none matched)"]
    return "\n".join(lines)


def render_svg(s: LogSummary, *, title: str) -> str:
    rules_h = 50 + 20 * max(len(s.top_rules), 1)
    height = TOP + PANEL_H + 30 + rules_h
    day0 = s.t0 // 86400 * 86400  # the axis counts days from the first line's day (d0), in UTC
    layers = [(ACTION_COLORS.get(a, "#999"), s.per_bin[a]) for a in ACTIONS if a in s.per_bin]
    bins = max((len(v) for v in s.per_bin.values()), default=0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        text(LEFT, 28, title, size=18, weight="bold"),
        *_legend(52),
        *stacked_bars(layers, TOP, title=f"decisions per {s.bin_s}s by action"),
        *time_axis(TOP + PANEL_H - 40, t0=s.t0 - day0, bin_s=s.bin_s, bins=bins, plot_w=WIDTH - LEFT - 250),
        *bar_list(list(s.top_rules), TOP + PANEL_H + 30, title="top rules", color="#2b83ba"),
        *(text(WIDTH - 220, TOP + 34 + 16 * k, line) for k, line in enumerate(_side(s))),
        "</svg>",
    ]
    return "\n".join(out)


def _side(s: LogSummary) -> list[str]:
    lines = [f"{s.decisions} decisions"]
    lines += [f"{a}: {s.actions[a]}" for a in ACTIONS if a in s.actions]
    lines.append(f"takeover suspected: {s.takeovers}")
    return lines


def _legend(y: float) -> list[str]:
    out, x = [], LEFT
    for action in ACTIONS:
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{ACTION_COLORS[action]}"/>')
        out.append(text(x + 16, y, action, size=12))
        x += 30 + 8 * len(action)
    return out


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    stdout, stderr = out or sys.stdout, err or sys.stderr
    if args.bin < 1 or args.top < 1:
        stderr.write("shield report: --bin and --top must be at least 1\n")
        return 2
    try:
        summary = summarize(read_lines(args.logs), bin_s=args.bin, top=args.top)
    except OSError as exc:
        stderr.write(f"shield report: cannot read {exc.filename}: {exc.strerror}\n")
        return 1
    stdout.write((orjson.dumps(summary.as_json()).decode() if args.json else render_text(summary)) + "\n")
    if args.svg is not None:
        start = datetime.fromtimestamp(summary.t0, UTC).strftime("%Y-%m-%d")
        args.svg.write_text(render_svg(summary, title=f"shield report (d0 = {start} UTC)"), encoding="utf-8")
    return 0
