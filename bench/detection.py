"""Detection benchmark: every bundled campaign against shield (default rules) over a real-user population,
on simulator draws nobody tuned on (shield/sim/draws.py; the ranges are in docs/simulate.md).

    ./dev bench detection                                  # draws 1-5, two at a time: worst case and median
    ./dev bench detection --draw 0                         # one draw (0: the tuning draw), the full report
    ./dev bench detection --update docs/simulate.md --json bench-detection.json

Each campaign of a draw runs on its own over the draw's population, twice: straight at a fresh demo app
(the baseline: what it would take without shield) and through shield. Over several draws, each draw runs
in its own process (--jobs at a time) and the table gives, per target, the worst case (and the draw that
produced it) and the median; --update rewrites the marked section of a Markdown file. Exit 1 if a target
is missed in any draw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shield.commands.simulate import write_outputs
from shield.sim import scenario as scenarios
from shield.sim.draws import apply, draw, parse_draws
from shield.sim.driver import Result
from shield.sim.events import LEGIT
from shield.sim.harness import with_shield
from shield.sim.over_draws import HEADER, met_everywhere, summarize, summary_markdown, summary_rows
from shield.sim.plan import make_plan
from shield.sim.report import Report, build_report
from shield.sim.run import RunOptions, baseline_results
from shield.sim.table import grid, render
from shield.sim.targets import Target, evaluate, targets_markdown, targets_table

# Campaigns with no target, left out unless named with --campaign: the perfect bot pays for every
# puzzle up to its budget (20 bits, 18-22 over the draws), which is about a CPU-second of hashing
# in the benchmark per attempt it solves and would make one draw last most of an hour.
REPORT_ONLY = ("perfect-bot",)
BEGIN, END = "<!-- detection-benchmark:begin -->", "<!-- detection-benchmark:end -->"
AFTER_CAMPAIGN = 1800.0  # real users keep logging in for half an hour after the campaign ends


async def measure(
    names: list[str], *, number: int, users: int, scale: float, seconds: float | None, progress: bool
) -> tuple[Report, list[Target]]:
    d = draw(number)
    started = time.monotonic()
    results: list[Result] = []
    baseline: list[Result] = []
    chosen = [apply(scenarios.load(n).scaled(scale), d.campaigns) for n in names]
    for s in chosen:
        plan = make_plan(
            users=users, seed=d.seed, duration=s.start + s.duration + AFTER_CAMPAIGN, scenarios=[s], shape=d.population
        )
        print(f"draw {number}: {s.name}: {len(plan.events)} events over {plan.duration / 3600:.1f} simulated hours "
              f"(at {time.monotonic() - started:.0f} s)", file=sys.stderr)
        baseline += await baseline_results(plan, RunOptions(progress=progress))
        results += await with_shield(plan, in_process=seconds is None, seconds=seconds or 0.0, progress=progress)
    duration = max(s.start + s.duration + AFTER_CAMPAIGN for s in chosen)
    report = build_report(results, chosen, duration=duration, baseline=baseline)
    return report, evaluate(report.campaigns, [r for r in results if r.actor == LEGIT])


def update_section(path: Path, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    section = f"{BEGIN}\n{body}\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def _target(d: dict[str, Any]) -> Target:
    return Target(**d)


async def _child(cmd: list[str], limit: asyncio.Semaphore) -> int:
    async with limit:
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL)
        return await proc.wait()


def run_draws(numbers: list[int], argv: list[str], jobs: int) -> list[dict[str, Any]]:
    """Each draw in its own process (`jobs` at a time); their results, in draw order."""
    with tempfile.TemporaryDirectory(prefix="shield-detection-") as tmp:
        outs = [Path(tmp) / f"draw-{n}.json" for n in numbers]
        me = [sys.executable, __file__]
        cmds = [[*me, "--draw", str(n), "--emit", str(outs[i]), *argv] for i, n in enumerate(numbers)]

        async def all_draws() -> list[int]:
            limit = asyncio.Semaphore(jobs)
            return list(await asyncio.gather(*(_child(c, limit) for c in cmds)))

        codes = asyncio.run(all_draws())
        for cmd, code, out in zip(cmds, codes, outs, strict=True):
            if code != 0 or not out.exists():
                raise RuntimeError(f"a draw failed (exit {code}): {' '.join(cmd)}")
        return [json.loads(o.read_text(encoding="utf-8")) for o in outs]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--draws", default="1-5", help="draws to run, e.g. 1-5 or 1,3 (default 1-5)")
    p.add_argument("--draw", type=int, help="one draw only, with its full report (0: the tuning draw)")
    p.add_argument("--jobs", type=int, default=2, help="draws run at once, one process each (default 2)")
    p.add_argument("--campaign", action="append", help="only these campaigns (repeatable; default: all bundled)")
    p.add_argument("--users", type=int, default=5000, help="accounts / real users (default 5000)")
    p.add_argument("--scale", type=float, default=0.25, help="campaign list size factor (default 0.25)")
    p.add_argument(
        "--subprocess",
        type=float,
        metavar="SECONDS",
        help="run `shield run` in a subprocess, each campaign compressed into SECONDS of real time "
        "(default: in-process on a fake clock)",
    )
    p.add_argument("--json", type=Path, help="write the report as JSON (one draw: and the chart next to it)")
    p.add_argument("--update", type=Path, metavar="FILE.md", help="rewrite the benchmark section of this file")
    p.add_argument("--progress", action="store_true", help="progress bars even without a TTY")
    p.add_argument("--emit", type=Path, help=argparse.SUPPRESS)  # a child process's results, for the parent
    return p


def _common(args: argparse.Namespace) -> list[str]:
    out = ["--users", str(args.users), "--scale", str(args.scale)]
    for name in args.campaign or ():
        out += ["--campaign", name]
    if args.subprocess:
        out += ["--subprocess", str(args.subprocess)]
    return out


def _mode(args: argparse.Namespace) -> str:
    if args.subprocess:
        return f"shield run subprocess, {args.subprocess:.0f} s per campaign"
    return "in-process, FakeClock"


def one_draw(args: argparse.Namespace, names: list[str]) -> int:
    started = time.monotonic()
    report, targets = asyncio.run(
        measure(names, number=args.draw, users=args.users, scale=args.scale, seconds=args.subprocess,
                progress=args.progress)
    )
    took = time.monotonic() - started
    if args.emit:
        payload = {"draw": args.draw, "seconds": took, "targets": [asdict(t) for t in targets],
                   "report": report.as_json()}
        args.emit.write_text(json.dumps(payload), encoding="utf-8")
        return 0
    print(render(report))
    print()
    print(targets_table(targets))
    print(f"\ndraw {args.draw}; {_mode(args)}; {took:.0f} s")
    for path in write_outputs(report, json_path=args.json, chart_path=None, title="shield detection benchmark"):
        print(f"wrote {path}")
    if args.update:
        command = f"./dev bench detection --draw {args.draw} --users {args.users} --scale {args.scale}"
        body = (f"Measured {_stamp()} with `{command}` ({_mode(args)}, {took:.0f} s):\n\n"
                f"{targets_markdown(targets)}\n\n```\n{render(report)}\n```")
        update_section(args.update, body)
        print(f"updated {args.update}")
    return 0 if all(t.met is not False for t in targets) else 1


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def many_draws(args: argparse.Namespace, numbers: list[int]) -> int:
    started = time.monotonic()
    runs = run_draws(numbers, _common(args), max(1, args.jobs))
    took = time.monotonic() - started
    by_draw = {r["draw"]: [_target(t) for t in r["targets"]] for r in runs}
    summaries = summarize(by_draw)
    per_draw = ", ".join(f"draw {r['draw']} {r['seconds']:.0f} s" for r in runs)
    print(grid(HEADER, summary_rows(summaries), left=2))
    print(f"\ndraws {args.draws}; {_mode(args)}; {args.jobs} at a time; wall time {took:.0f} s ({per_draw})")
    if args.json:
        args.json.write_text(json.dumps({"draws": runs, "wall_s": took}), encoding="utf-8")
        print(f"wrote {args.json}")
    if args.update:
        command = f"./dev bench detection --draws {args.draws} --users {args.users} --scale {args.scale}"
        body = (f"Measured {_stamp()} with `{command}` ({_mode(args)}, {args.jobs} draws at a time on "
                f"{os.cpu_count()} CPUs, wall time {took:.0f} s; {per_draw}). Worst case over the draws, the draw "
                f"that produced it, and the median:\n\n{summary_markdown(summaries)}")
        update_section(args.update, body)
        print(f"updated {args.update}")
    return 0 if all(met_everywhere(s) is not False for s in summaries) else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = args.campaign or [n for n in scenarios.bundled_names() if n not in REPORT_ONLY]
    if args.draw is not None:
        return one_draw(args, names)
    try:
        numbers = parse_draws(args.draws)
    except ValueError as exc:
        print(f"bench detection: --draws: {exc}", file=sys.stderr)
        return 2
    return many_draws(args, numbers)


if __name__ == "__main__":
    sys.exit(main())
