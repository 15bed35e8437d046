"""The decision core per protected request, step by step: gather, score, decide, evaluate_request.

    .venv/bin/python bench/decision.py [--n 2000] [--samples 7]

The inputs are the facts and store signals of N logins from rotating addresses, accounts and browsers
(as bench/pipeline.py), a quarter of them with a recorded outcome so histories and ratios move, read
once through the memory store; then each step runs over all of them, best of `samples` passes, in CPU
time (time.process_time: other processes on the machine do not count). Prints microseconds per request.
To compare two trees in one run, start it from outside the tree with PYTHONPATH=<other tree>.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from shield.decision.decide import decide
from shield.decision.evaluate import evaluate_request, gather
from shield.facts.build import FactBuilder, observation
from shield.facts.enrich.lists import load_list_folders
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.model import Facts, Outcome, Signals
from shield.rules.pack import load_pack
from shield.rules.score import RuleSet
from shield.service import retention
from shield.settings.schema import RouteSettings, Settings
from shield.sim.world import demo_world
from shield.store.connect import open_store

BROWSERS = [
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Version/17.4 Mobile/15E148 Safari/604.1",
    b"DemoPay/5.2.1 (Android 14; Pixel 8)",
    b"python-requests/2.31.0",
]
Request = tuple[Facts, Signals, float]


async def requests(n: int) -> tuple[Settings, RuleSet, RouteSettings, list[Request]]:
    settings = demo_world(Settings(secret=b"b" * 32, store="memory://"))
    lists = load_list_folders(settings.rules / "lists", settings.extra_lists)
    builder = FactBuilder.from_settings(
        settings, keyer=Keyer(settings.secret), lists=lists, ua_resolver=make_resolver()
    )
    store = open_store("memory://", retention(settings))
    ruleset = load_pack(settings.rules, extra_lists=settings.extra_lists, windows=settings.windows).rules
    route = settings.routes[0]
    out: list[Request] = []
    try:
        for i in range(n):
            headers = [(b"Host", b"shield"), (b"User-Agent", BROWSERS[i % len(BROWSERS)]), (b"Accept", b"*/*"),
                       (b"Content-Type", b"application/json")]
            body = b'{"username": "user%d@example.com", "password": "pw%d"}' % (i % 500, i % 300)
            # the demo world's foreign /40s, and every third from a few domestic documentation addresses
            ip = f"2001:db8:{30 + i % 13}{(i // 250) % 250:02x}::{i % 250:x}" if i % 3 else f"198.51.100.{i % 7}"
            rf = builder.build(request_id="b", route=route, method="POST", path="/api/login", query={},
                               raw_headers=headers, body=body, client_ip=ip, peer_trusted=True)
            now = 1_800_000_000.0 + i * 0.01
            signals = await store.observe(observation(rf), now)
            if i % 4 == 0:
                await store.record_outcome(observation(rf), Outcome.FAILURE if i % 8 else Outcome.SUCCESS,
                                           familiar=False, now=now, confirmed=i % 16 != 0)
            out.append((rf.facts, signals, now))
    finally:
        await store.close()
    return settings, ruleset, route, out


def best_us(step: Callable[[], int], samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.process_time()
        count = step()
        times.append((time.process_time() - start) / count * 1e6)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="requests")
    parser.add_argument("--samples", type=int, default=7, help="passes per step; the best counts")
    args = parser.parse_args()
    settings, ruleset, route, reqs = asyncio.run(requests(args.n))
    challenge, policy, windows = settings.challenge, ruleset.policy, ruleset.windows
    gathered = [gather(b, s, solved=False, passed=False, now=t, windows=windows) for b, s, t in reqs]
    verdicts = [ruleset.score(f, route.name) for f in gathered]

    def gather_step() -> int:
        for base, signals, now in reqs:
            gather(base, signals, solved=False, passed=False, now=now, windows=windows)
        return len(reqs)

    def score_step() -> int:
        for facts in gathered:
            ruleset.score(facts, route.name)
        return len(gathered)

    def decide_step() -> int:
        for verdict in verdicts:
            decide(verdict, route.name, policy, challenge=challenge)
        return len(verdicts)

    def whole() -> int:
        for base, signals, now in reqs:
            evaluate_request(ruleset, base, route, signals, challenge=challenge, now=now)
        return len(reqs)

    steps = {"gather": gather_step, "score": score_step, "decide": decide_step, "evaluate_request": whole}
    result = {name: best_us(step, args.samples) for name, step in steps.items()}
    hits = sum(len(v.hits) for v in verdicts) / len(verdicts)
    print(f"decision core, us per request (n={len(reqs)}, {len(gathered[0])} facts, {len(ruleset)} rules, "
          f"{hits:.1f} hits per request, best of {args.samples})")
    print("".join(f"{name:>18}" for name in result))
    print("".join(f"{us:>18.1f}" for us in result.values()))


if __name__ == "__main__":
    main()
