"""`shield demo`: the 2019 attack replayed against the demo login app, without shield and with it.

    shield demo

Nothing to configure: starts the demo login app and shield in front of it (default rules, demo
GeoIP) on free loopback ports, replays the overseas-stuffing campaign over a day of real users,
shows progress, and ends with the report and how many accounts the attack took with and without shield.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

from shield.commands.simulate import write_outputs
from shield.sim import scenario as scenarios
from shield.sim.harness import with_shield
from shield.sim.plan import Plan, make_plan
from shield.sim.report import Report, build_report
from shield.sim.run import RunOptions, baseline_results
from shield.sim.table import render

DEMO_DURATION = 6 * 3600.0
ATTACK_START = 3 * 3600.0
ATTACK_DURATION = 1800.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="see shield stop a credential-stuffing attack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--users", type=int, default=20000, help="accounts in the demo app (default 20000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the population (default 1)")
    p.add_argument("--attempts", type=int, default=6000, help="size of the leaked list (default 6000)")
    p.add_argument(
        "--subprocess",
        type=float,
        metavar="SECONDS",
        help="run `shield run` as a subprocess and spread the run over SECONDS of real time (default: in-process)",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    p.add_argument(
        "--log", type=Path, metavar="FILE", help="write shield's log (its decision lines) to FILE (in-process runs)"
    )
    p.add_argument(
        "--chart", type=Path, metavar="FILE.svg", default=Path("shield-demo.svg"), help="default shield-demo.svg"
    )
    p.set_defaults(handler=run)


def demo_plan(*, users: int, seed: int, attempts: int) -> Plan:
    attack = dataclasses.replace(
        scenarios.load("overseas-stuffing"), start=ATTACK_START, duration=ATTACK_DURATION, list_size=attempts
    )
    return make_plan(users=users, seed=seed, duration=DEMO_DURATION, scenarios=[attack])


async def demo(args: argparse.Namespace) -> Report:
    plan = demo_plan(users=args.users, seed=args.seed, attempts=args.attempts)
    print(
        f"demo: {args.users} accounts, {len(plan.events)} login attempts over {plan.duration / 3600:.0f} simulated "
        f"hours; overseas-stuffing ({args.attempts} leaked pairs) starts at hour {ATTACK_START / 3600:.0f}",
        file=sys.stderr,
    )
    base = await baseline_results(plan, RunOptions(progress=True))
    in_process = args.subprocess is None
    if args.log is not None and in_process:
        with args.log.open("w", encoding="utf-8") as log:
            results = await with_shield(plan, in_process=True, progress=True, log=log)
    else:
        results = await with_shield(plan, in_process=in_process, seconds=args.subprocess or 0.0, progress=True)
    return build_report(results, plan.campaigns, duration=plan.duration, baseline=base)


def run(args: argparse.Namespace) -> int:
    if args.users < 1 or args.attempts < 1 or (args.subprocess is not None and args.subprocess <= 0):
        print("shield demo: --users, --attempts and --subprocess must be positive", file=sys.stderr)
        return 2
    if args.log is not None and args.subprocess is not None:
        print("shield demo: --log is for the in-process run (a subprocess logs to a temporary file)", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(demo(args))
    except RuntimeError as exc:
        print(f"shield demo: {exc}", file=sys.stderr)
        return 1
    print(render(report))
    for path in write_outputs(
        report, json_path=args.json, chart_path=args.chart, title="shield demo: overseas-stuffing"
    ):
        print(f"wrote {path}")
    attack = report.campaigns[0]
    print(
        f"\nWithout shield the attack took over {attack.compromised_baseline} accounts; "
        f"with shield in front it took {attack.compromised}."
    )
    return 0
