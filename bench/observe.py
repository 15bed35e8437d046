"""The observation cost of one protected request: its `decision` line, facts on record and metrics.

    .venv/bin/python bench/observe.py [--n 5000] [--rounds 7]

Builds real decided requests (rotating addresses, accounts and browsers, the bundled pack, the memory
store, as bench/pipeline.py), then times the real `Pipeline._observe` over them: the metrics, the
facts on record, the line's fields and its JSON written to a pipe (`--sink file`: a file). Prints
microseconds of CPU per request, best of `--rounds`, with prometheus-client's in-process values (one
worker) and with its multiprocess files (`workers > 1`), plus each part alone ("all metrics": every
metric a protected request adds, also those outside _observe). The requests cycle through `--distinct` (the requests
in flight), so their facts are as warm in the caches as in a loaded worker.

Before/after in one sitting: export another tree's `shield/` (`git archive REV shield | tar -x -C
/tmp/base`) and run the same script with PYTHONPATH=/tmp/base, interleaved with a plain run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import BROWSERS

import shield
from shield.decision.evaluate import evaluate_request
from shield.facts.build import FactBuilder, observation
from shield.facts.enrich.lists import load_list_folders
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.model import Outcome
from shield.observe import multiproc
from shield.observe.decision_log import Timings, decision_fields, request_fields
from shield.observe.fact_record import fact_record
from shield.observe.logs import RequestLines, configure_logging, reset_logging
from shield.observe.metrics import Metrics
from shield.proxy.pipeline import Handled, Pipeline
from shield.rules.pack import load_pack
from shield.service import retention
from shield.settings.schema import LogSettings, Settings
from shield.sim.world import demo_world
from shield.store.connect import open_store


async def decided(settings: Settings, n: int) -> list[Handled]:
    """n protected logins decided as the pipeline decides them (facts, store, rules, decide)."""
    pack = load_pack(settings.rules, extra_lists=settings.extra_lists, windows=settings.windows)
    lists = load_list_folders(settings.rules / "lists", settings.extra_lists)
    builder = FactBuilder.from_settings(settings, keyer=Keyer(settings.secret), lists=lists,
                                        ua_resolver=make_resolver())
    store = open_store("memory://", retention(settings))
    route = settings.routes[0]
    now = 1_800_000_000.0
    # shield.proxy.message.host reads the request's cache first
    request = SimpleNamespace(host="shop.example", _cache={"host": "shop.example"})
    out: list[Handled] = []
    try:
        for i in range(n):
            headers = [(b"Host", b"shield"), (b"User-Agent", BROWSERS[i % len(BROWSERS)]), (b"Accept", b"*/*"),
                       (b"Content-Type", b"application/json")]
            body = b'{"username": "user%d@example.com", "password": "pw%d"}' % (i % 5000, i % 300)
            ip = f"2001:db8:{30 + i % 13}{(i // 250) % 250:02x}::{i % 250:x}"
            rf = builder.build(request_id=f"r{i}", route=route, method="POST", path="/api/login", query={},
                               raw_headers=headers, body=body, client_ip=ip, peer_trusted=True)
            obs = observation(rf)
            t = now + i * 0.01
            signals = await store.observe(obs, t)
            ev = evaluate_request(pack.rules, rf.facts, route, signals, challenge=settings.challenge, now=t,
                                  mode="enforce", solved=False, passed=False, failed=False, degraded=False)
            out.append(Handled(
                request, route, body, None, rf, ev.facts, obs, ev.decision, None, pack,  # type: ignore[arg-type]
                timings=(0.3121, 0.1017), degraded=False, now=t, ban=signals.ban,
            ))
    finally:
        await store.close()
    return out


def best(fn: Callable[[], None], n: int, rounds: int) -> float:
    """CPU microseconds per item, best of `rounds`."""
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times) / n * 1e6


def parts(settings: Settings, metrics: Metrics, handled: list[Handled]) -> dict[str, Callable[[], None]]:
    owner: Any = SimpleNamespace(settings=settings, metrics=metrics)
    timings = Timings(0.3121, 0.1017, 1.2345, 2.0021)
    logs = settings.log

    def observe() -> None:
        for h in handled:
            Pipeline._observe(owner, h, "none", 200, 200, Outcome.FAILURE, timings)

    def metric_calls() -> None:
        for h in handled:
            d, route = h.decision, h.rf.attempt.route
            metrics.request(route, 200)
            metrics.decision(route, d.action.value, shadow=False)
            for hit in d.hits:
                metrics.rule_hit(hit.id, shadow=False)

    def request_metrics() -> None:  # every metric a protected request adds, _observe's and the others
        for h in handled:
            d, route = h.decision, h.rf.attempt.route
            metrics.store_time("observe", 0.0001)
            metrics.pipeline_time(route, 0.0003)
            metrics.login_outcome(route, "failure")
            metrics.upstream_time(route, 0.0012)
            metrics.request(route, 200)
            metrics.decision(route, d.action.value, shadow=False)
            for hit in d.hits:
                metrics.rule_hit(hit.id, shadow=False)

    def record() -> None:
        for h in handled:
            fact_record(h.facts, h.decision, reads=h.pack.rules.reads, scope=logs.decision_facts,
                        account_in_clear=False)

    def fields() -> None:
        for h in handled:
            f = decision_fields(h.rf.attempt, h.facts, h.decision, challenge="none", status=200, upstream_status=200,
                                outcome=Outcome.FAILURE, timings=timings, store_degraded=False,
                                account_in_clear=False, facts_record=None, ban=h.ban, now=h.now)
            f.update(request_fields(h.facts, host="shop.example"))

    return {
        "_observe": observe, "metrics": metric_calls, "all metrics": request_metrics, "fact_record": record,
        "fields": fields,
    }


def run(settings: Settings, handled: list[Handled], rounds: int, *, multiprocess: bool) -> dict[str, float]:
    folder = multiproc.start() if multiprocess else None
    try:
        metrics = Metrics(multiprocess_dir=folder)
        return {name: best(fn, len(handled), rounds) for name, fn in parts(settings, metrics, handled).items()}
    finally:
        if folder is not None:
            multiproc.stop(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="decided requests")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--distinct", type=int, default=64,
                        help="distinct requests cycled through (the requests in flight: wrk -c64 has 64)")
    parser.add_argument("--sink", choices=("pipe", "file"), default="pipe", help="where the lines go")
    args = parser.parse_args()
    settings = demo_world(Settings(secret=secrets.token_bytes(32), store="memory://"))
    some = asyncio.run(decided(settings, args.distinct))
    handled = [some[i % len(some)] for i in range(args.n)]
    with contextlib.ExitStack() as stack:
        if args.sink == "pipe":  # a container's stdout: a pipe its runtime drains
            reader = subprocess.Popen(["wc", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert reader.stdin is not None
            log: Any = stack.enter_context(io.TextIOWrapper(reader.stdin, encoding="utf-8"))
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            log = stack.enter_context(open(folder / "shield.log", "w", encoding="utf-8"))
        configure_logging(LogSettings(format="json"), stream=log)
        try:
            assert RequestLines.stream is not None
            rows = {mode: run(settings, handled, args.rounds, multiprocess=mode == "multiprocess")
                    for mode in ("in-process", "multiprocess")}
        finally:
            reset_logging()
        log.flush()
        if args.sink == "pipe":
            log.close()
            assert reader.stdout is not None
            written = int(reader.stdout.read())
            reader.wait()
        else:
            written = os.path.getsize(log.name)
    lines = written / (2 * args.rounds * args.n)
    names = list(next(iter(rows.values())))
    print(f"observation CPU per protected request, us (n={args.n} over {args.distinct} distinct, "
          f"best of {args.rounds}; lines of ~{lines:.0f} B to a {args.sink}; "
          f"shield from {Path(shield.__file__).parent})")
    print(f"{'metrics values':<16}" + "".join(f"{n:>13}" for n in names))
    for mode, row in rows.items():
        print(f"{mode:<16}" + "".join(f"{row[n]:>13.2f}" for n in names))


if __name__ == "__main__":
    main()
