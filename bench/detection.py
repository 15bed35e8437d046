"""Detection benchmark: every bundled campaign against shield (default rules) over a real-user population.

    .venv/bin/python bench/detection.py                       # all campaigns, prints the tables
    .venv/bin/python bench/detection.py --update docs/simulate.md --json bench-detection.json

Each campaign runs on its own (same population, same seed) twice: straight at a fresh demo app
(the baseline: what it would take without shield) and through shield. Prints the report and the
targets with the measured values beside them; --update rewrites the marked section of a Markdown file.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from shield.commands.simulate import write_outputs
from shield.sim import scenario as scenarios
from shield.sim.driver import Result
from shield.sim.events import LEGIT
from shield.sim.harness import with_shield
from shield.sim.plan import make_plan
from shield.sim.report import Report, build_report
from shield.sim.run import RunOptions, baseline_results
from shield.sim.table import render
from shield.sim.targets import Target, evaluate, targets_markdown, targets_table

BEGIN, END = "<!-- detection-benchmark:begin -->", "<!-- detection-benchmark:end -->"
AFTER_CAMPAIGN = 1800.0  # real users keep logging in for half an hour after the campaign ends


async def measure(
    names: list[str], *, users: int, seed: int, scale: float, seconds: float | None, progress: bool
) -> tuple[Report, list[Target]]:
    results: list[Result] = []
    baseline: list[Result] = []
    chosen = [scenarios.load(n).scaled(scale) for n in names]
    for s in chosen:
        plan = make_plan(users=users, seed=seed, duration=s.start + s.duration + AFTER_CAMPAIGN, scenarios=[s])
        print(f"{s.name}: {len(plan.events)} events over {plan.duration / 3600:.1f} simulated hours", file=sys.stderr)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--campaign", action="append", help="only these campaigns (repeatable; default: all bundled)")
    p.add_argument("--users", type=int, default=5000, help="accounts / real users (default 5000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=float, default=0.25, help="campaign list size factor (default 0.25)")
    p.add_argument(
        "--subprocess",
        type=float,
        metavar="SECONDS",
        help="run `shield run` in a subprocess, each campaign compressed into SECONDS of real time "
        "(default: in-process on a fake clock)",
    )
    p.add_argument("--json", type=Path, help="write the report as JSON (and the chart next to it)")
    p.add_argument("--update", type=Path, metavar="FILE.md", help="rewrite the benchmark section of this file")
    p.add_argument("--progress", action="store_true", help="progress bars even without a TTY")
    args = p.parse_args(argv)
    names = args.campaign or scenarios.bundled_names()
    mode = (
        f"shield run subprocess, {args.subprocess:.0f} s per campaign" if args.subprocess else "in-process, FakeClock"
    )
    started = time.monotonic()
    report, targets = asyncio.run(
        measure(
            names, users=args.users, seed=args.seed, scale=args.scale, seconds=args.subprocess, progress=args.progress
        )
    )
    took = time.monotonic() - started
    print(render(report))
    print()
    print(targets_table(targets))
    print(f"\n{mode}; {took:.0f} s")
    for path in write_outputs(report, json_path=args.json, chart_path=None, title="shield detection benchmark"):
        print(f"wrote {path}")
    if args.update:
        command = f"./dev bench detection --users {args.users} --seed {args.seed} --scale {args.scale}"
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = (
            f"Measured {stamp} with `{command}` ({mode}, {took:.0f} s):\n\n{targets_markdown(targets)}\n\n"
            f"```\n{render(report)}\n```"
        )
        update_section(args.update, body)
        print(f"updated {args.update}")
    return 0 if all(t.met is not False for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
