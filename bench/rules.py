"""Scoring cost per request: the bundled pack, and 1,000 generated rules. Prints a table.

    .venv/bin/python bench/rules.py [--rounds 2000]

The requests are the facts of the bundled pack's own test cases (shield/rules/bundled/tests/*.yaml: calm
users, travellers, carrier NAT, 7pay attackers), every counter present as in production.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Mapping, Sequence

from shield.decision.decide import decide
from shield.decision.ruletest import load_cases
from shield.facts.catalog import catalog
from shield.facts.enrich.lists import load_lists
from shield.model import EVIDENCE_CLASSES, FactValue
from shield.rules.load import load_rules, load_texts
from shield.rules.score import RuleSet
from shield.settings.schema import BUNDLED_RULES, ChallengeSettings

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
        score = rng.randint(5, 40)
        cls = EVIDENCE_CLASSES[i % len(EVIDENCE_CLASSES)]
        lines += [f"  - id: gen_{i}", "    description: generated", f"    class: {cls}", f'    when: "{when}"',
                  f"    score: {score}"]
    return "\n".join(lines) + "\n"


def per_request_us(ruleset: RuleSet, requests: Sequence[Mapping[str, FactValue]], rounds: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(rounds):
        for facts in requests:
            ruleset.score(facts, "login")
    return (time.perf_counter_ns() - start) / 1000 / (rounds * len(requests))


def with_decide_us(ruleset: RuleSet, requests: Sequence[Mapping[str, FactValue]], rounds: int) -> float:
    challenge = ChallengeSettings()
    start = time.perf_counter_ns()
    for _ in range(rounds):
        for facts in requests:
            decide(ruleset.score(facts, "login"), "login", ruleset.policy, challenge=challenge)
    return (time.perf_counter_ns() - start) / 1000 / (rounds * len(requests))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=300, help="passes over the requests per sample")
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    lists = load_lists(BUNDLED_RULES / "lists")
    pack = load_rules(BUNDLED_RULES, lists=lists)
    requests = [c.facts for c in load_cases(BUNDLED_RULES / "tests")]
    big = load_texts({"generated.yaml": generated_rules(1000)}, lists=lists)
    timings: dict[str, list[float]] = {"pack": [], "decide": [], "big": []}
    # interleaved samples: load from other processes hits every row alike
    for _ in range(args.samples):
        timings["pack"].append(per_request_us(pack, requests, args.rounds))
        timings["decide"].append(with_decide_us(pack, requests, args.rounds))
        timings["big"].append(per_request_us(big, requests, max(args.rounds // 5, 10)))
    rows = (
        ("default pack", len(pack), timings["pack"]),
        ("default pack + decide", len(pack), timings["decide"]),
        ("1,000 generated rules", len(big), timings["big"]),
    )
    print(f"{len(requests)} requests (the pack's test cases), {len(requests[0])} facts each, {args.samples} samples\n")
    print(f"{'rule set':<24} {'rules':>6} {'best us/req':>12} {'median us/req':>14}")
    for label, count, samples in rows:
        print(f"{label:<24} {count:>6} {min(samples):>12.1f} {statistics.median(samples):>14.1f}")
    print(f"\n1,000 rules / default pack: {min(timings['big']) / min(timings['pack']):.1f}x (best), "
          f"{statistics.median(timings['big']) / statistics.median(timings['pack']):.1f}x (median)")


if __name__ == "__main__":
    main()
