"""`shield replay` speed: lines per second over a generated log of decision lines. Prints a table.

    .venv/bin/python bench/replay.py [--lines 200000] [--jobs N]

The log holds real `decision` lines (decision_fields + the facts on record, scope `rules`) of
the bundled pack's test cases (calm users, travellers, carrier NAT, 7pay attackers) with their
counters varied, interleaved with one `request` line in ten; the candidate is the bundled pack
with `hosting_asn` scored 40 instead of 20.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from shield.decision.evaluate import evaluate
from shield.decision.ruletest import load_cases
from shield.facts.enrich.lists import load_lists
from shield.model import Attempt, Outcome
from shield.observe.decision_log import Timings, decision_fields
from shield.observe.fact_record import fact_record
from shield.replay.files import candidate_rules, replay_logs
from shield.rules.load import load_rules
from shield.settings.schema import BUNDLED_RULES, RouteSettings, Settings


def write_log(path: Path, lines: int, seed: int = 1) -> None:
    ruleset = load_rules(BUNDLED_RULES, lists=load_lists(BUNDLED_RULES / "lists"))
    cases = load_cases(BUNDLED_RULES / "tests")
    rnd = random.Random(seed)
    settings = Settings()
    with path.open("wb") as out:
        for n in range(lines):
            if n % 10 == 9:
                request = {"request_id": f"{n:024x}", "client_ip": "10.0.0.1", "method": "GET", "path": "/",
                           "route": "passthrough", "status": 200, "event": "request"}
                out.write(orjson.dumps(request) + b"\n")
                continue
            case = rnd.choice(cases)
            facts = {k: (v + rnd.randrange(3) if type(v) is int and "_" in k else v) for k, v in case.facts.items()}
            route = RouteSettings(name=case.route, path="/")
            d = evaluate(ruleset, facts, route, challenge=settings.challenge)
            attempt = Attempt(f"{n:024x}", case.route, "10.40.0.9", "10.40.0.0/24", None, "aZSaAxXlvk76l0f9R0t81Q",
                              None, None, "2ddb5b452585", None, False)
            line = decision_fields(
                attempt, facts, d, challenge="none", status=200, upstream_status=200, outcome=Outcome.FAILURE,
                timings=Timings(1.2, 0.4, 3.1, 4.9), store_degraded=False, account_in_clear=False,
                facts_record=fact_record(facts, d, reads=ruleset.reads, scope="rules", account_in_clear=False),
            )
            line |= {"event": "decision", "level": "info", "ts": "2026-12-06T16:27:51.569893Z"}
            out.write(orjson.dumps(line) + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log, candidate = Path(tmp) / "shield.log", Path(tmp) / "rules"
        write_log(log, args.lines)
        shutil.copytree(BUNDLED_RULES, candidate)
        geo = candidate / "geo.yaml"
        geo.write_text(geo.read_text().replace("when: ip.hosting\n    score: 20", "when: ip.hosting\n    score: 40"))
        settings = Settings(rules=candidate)
        ruleset = candidate_rules(settings)
        size = log.stat().st_size
        print(f"{args.lines} lines, {size / args.lines:.0f} bytes each on average, candidate rule set {ruleset.hash}")
        print(f"{'jobs':>4}  {'seconds':>8}  {'lines/s':>9}  {'cpu s':>6}  changed")  # cpu s: this process only
        for jobs in sorted({1, args.jobs}):
            cpu, wall = time.process_time(), time.perf_counter()
            diff = replay_logs(ruleset, settings, [str(log)], jobs=jobs)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{jobs:>4}  {wall:8.2f}  {args.lines / wall:9.0f}  {cpu:6.2f}  {len(diff.changes)}")


if __name__ == "__main__":
    main()
