"""Scoring cost per request: the bundled pack, and 1,000 generated rules. Prints a table.

    .venv/bin/python bench/rules.py [--rounds 2000]

The requests are the facts of the bundled pack's own test cases (rules/tests/*.yaml: calm
users, travellers, carrier NAT, 7pay attackers), every counter present as in production.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Mapping, Sequence

from shield.decide import decide
from shield.enrich.lists import load_lists
from shield.facts import catalog
from shield.model import FactValue
from shield.rules.load import load_rules, load_texts
from shield.rules.ruletest import load_cases
from shield.rules.score import RuleSet
from shield.settings import BUNDLED_RULES, ChallengeSettings

TEMPLATES = (
    "{c} >= {n}",
    "{c} >= {n} and not ip.asn in lists.hosting_asns",
    "{c} > 0.8 * {c2} and {c2} >= {n}",
    "ip.overseas and {c} >= {n}",
    "site.attack_level >= 2 and (ip.overseas or not account.familiar) and {c} > {n}",
    "ip.country in ['CN', 'RU', 'VN'] and {c} >= {n}",
    "not ua.app and {c} >= {n}",
    "account.known and account.new_country and {c} >= {n}",
)


def generated_rules(count: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    counters = [name for name, spec in catalog().items() if spec.source == "signals" and spec.type == "int"]
    lines = ["rules:"]
    for i in range(count):
        when = rng.choice(TEMPLATES).format(c=rng.choice(counters), c2=rng.choice(counters), n=rng.randint(3, 500))
        lines += [f"  - id: gen_{i}", "    description: generated", f'    when: "{when}"', f"    score: {rng.randint(5, 40)}"]
    return "\n".join(lines) + "\n"


def per_request_us(ruleset: RuleSet, requests: Sequence[Mapping[str, FactValue]], rounds: int) -> list[float]:
    samples = []
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(rounds):
            for facts in requests:
                ruleset.score(facts, "login")
        samples.append((time.perf_counter_ns() - start) / 1000 / (rounds * len(requests)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    lists = load_lists(BUNDLED_RULES / "lists")
    pack = load_rules(BUNDLED_RULES, lists=lists)
    requests = [c.facts for c in load_cases(BUNDLED_RULES / "tests")]
    big = load_texts({"generated.yaml": generated_rules(1000)}, lists=lists)
    rows = []
    for label, rs, rounds in (("default pack", pack, args.rounds), ("1,000 generated rules", big, args.rounds // 10)):
        samples = per_request_us(rs, requests, max(rounds, 20))
        rows.append((label, len(rs), statistics.median(samples), min(samples)))
    challenge = ChallengeSettings()
    start = time.perf_counter_ns()
    n = args.rounds
    for _ in range(n):
        for facts in requests:
            decide(pack.score(facts, "login"), "login", pack.policy, challenge=challenge)
    full = (time.perf_counter_ns() - start) / 1000 / (n * len(requests))
    print(f"{len(requests)} distinct requests (the pack's test cases), {len(requests[0])} facts each\n")
    print(f"{'rule set':<24} {'rules':>6} {'median us/req':>14} {'best us/req':>12}")
    for label, count, median, best in rows:
        print(f"{label:<24} {count:>6} {median:>14.1f} {best:>12.1f}")
    print(f"{'default pack + decide':<24} {len(pack):>6} {full:>14.1f} {'':>12}")
    print(f"\nratio 1,000 rules / default pack: {rows[1][2] / rows[0][2]:.1f}x")


if __name__ == "__main__":
    main()
