"""`shield simulate`: drive a running shield (or any URL) with real users and attack campaigns.

    shield simulate --target http://127.0.0.1:8000 --scenario overseas-stuffing --baseline --json out.json

The target's app must hold the same user database: `shield demo-upstream --users N --seed S`
with the same N and S. Results: a table on the terminal, `--json` and an SVG chart (`--chart`,
by default next to the JSON file).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

from shield.sim import scenario as scenarios
from shield.sim.chart import write_svg
from shield.sim.draws import draw
from shield.sim.plan import make_plan, plan_for_draw
from shield.sim.report import Report
from shield.sim.run import RunOptions, simulate
from shield.sim.table import render

DEFAULT_USERS = 2000
DEFAULT_SEED = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="replay real users and attack campaigns against a URL",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--target", required=True, metavar="URL", help="shield (or the app itself), e.g. http://127.0.0.1:8000"
    )
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME|FILE",
        help=f"campaign to run (repeatable; bundled: {', '.join(scenarios.bundled_names())})",
    )
    p.add_argument(
        "--users", type=int, default=DEFAULT_USERS, help=f"size of the user database (default {DEFAULT_USERS})"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the population (default 1)")
    p.add_argument(
        "--draw",
        type=int,
        metavar="N",
        help="draw N of the population's shares and the campaigns' parameters from their documented ranges "
        "(docs/simulate.md; 0: the tuning values); it sets the seed too, so --seed is ignored",
    )
    p.add_argument(
        "--duration", default="2d", help="simulated time of normal traffic (default 2d; campaigns extend it)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiply every campaign's list size (e.g. 0.1)")
    p.add_argument(
        "--speed", type=float, help="simulated seconds per real second (default: as fast as the target answers)"
    )
    p.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    p.add_argument("--baseline", action="store_true", help="also run the same traffic at a fresh in-process demo app")
    p.add_argument("--baseline-target", metavar="URL", help="run the baseline at this app instead")
    p.add_argument(
        "--history-days",
        type=float,
        default=0.0,
        metavar="DAYS",
        help="first replay DAYS of the real users' earlier logins, as fast as the target answers, so "
        "the shield knows their devices and networks (default 0: a shield deployed today). On a real "
        "clock the replay also lands in the last hour's and day's counters: compare runs that use "
        "the same setting",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    p.add_argument("--chart", type=Path, metavar="FILE.svg", help="write the chart (default: next to --json)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a TTY")
    p.set_defaults(handler=run)


def write_outputs(report: Report, *, json_path: Path | None, chart_path: Path | None, title: str) -> list[str]:
    written = []
    if json_path:
        json_path.write_bytes(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2))
        written.append(str(json_path))
        chart_path = chart_path or json_path.with_suffix(".svg")
    if chart_path:
        write_svg(report, chart_path, title=title)
        written.append(str(chart_path))
    return written


def run(args: argparse.Namespace) -> int:
    try:
        duration = scenarios.parse_duration(args.duration)
        chosen = [scenarios.load(n).scaled(args.scale) for n in (args.scenario or ["overseas-stuffing"])]
    except (scenarios.ScenarioError, ValueError) as exc:
        print(f"shield simulate: {exc}", file=sys.stderr)
        return 2
    bad = args.users < 1 or args.concurrency < 1 or (args.speed is not None and args.speed <= 0)
    if bad or args.history_days < 0 or (args.draw is not None and args.draw < 0):
        print(
            "shield simulate: --users, --concurrency and --speed must be positive, --history-days and --draw "
            "not negative",
            file=sys.stderr,
        )
        return 2
    if args.draw is not None:
        plan = plan_for_draw(
            draw(args.draw), users=args.users, duration=duration, scenarios=chosen, history_days=args.history_days
        )
    else:
        plan = make_plan(
            users=args.users, seed=args.seed, duration=duration, scenarios=chosen, history_days=args.history_days
        )
    options = RunOptions(concurrency=args.concurrency, speed=args.speed, progress=args.progress)
    report = asyncio.run(
        simulate(plan, args.target, options, baseline=args.baseline, baseline_target=args.baseline_target)
    )
    print(render(report))
    title = "shield simulate: " + ", ".join(s.name for s in chosen)
    for path in write_outputs(report, json_path=args.json, chart_path=args.chart, title=title):
        print(f"wrote {path}")
    return 0
