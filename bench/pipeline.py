"""Shield's own work per protected request, step by step, without HTTP.

    ./dev bench pipeline            (or .venv/bin/python bench/pipeline.py [--n 20000])

Replays logins from rotating addresses, accounts and browsers (an attack's worst case for
caches) through the same steps as shield.proxy.pipeline: facts (identity + enrichment), the one store
call, history and site facts, scoring with the bundled pack, decide. Prints microseconds per
request for each step, for the memory store and for a real redis-server started here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from shield.decision.evaluate import evaluate, gather
from shield.facts.build import FactBuilder, observation
from shield.facts.enrich.lists import load_list_folders
from shield.facts.enrich.useragent import make_resolver
from shield.facts.identity.keyed import Keyer
from shield.rules.pack import load_pack
from shield.service import retention
from shield.settings.schema import Settings
from shield.sim.world import demo_world
from shield.store.base import Store
from shield.store.connect import open_store
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore
from shield.store.resilient import ResilientStore

BROWSERS = [
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Version/17.4 Mobile/15E148 Safari/604.1",
    b"DemoPay/5.2.1 (Android 14; Pixel 8)",
    b"python-requests/2.31.0",
]


@dataclass
class Steps:
    totals: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t0


async def replay(store: Store, settings: Settings, builder: FactBuilder, n: int) -> Steps:
    ruleset = load_pack(settings.rules, extra_lists=settings.extra_lists, windows=settings.windows).rules
    route = settings.routes[0]
    steps = Steps()
    now = 1_800_000_000.0
    for i in range(n):
        ua = BROWSERS[i % len(BROWSERS)]
        headers = [(b"Host", b"shield"), (b"User-Agent", ua), (b"Accept", b"*/*"),
                   (b"Content-Type", b"application/json")]
        body = b'{"username": "user%d@example.com", "password": "pw%d"}' % (i % 5000, i % 300)
        # the demo world's foreign residential and hosting /40s (and two outside it), 250 /48s each
        ip = f"2001:db8:{30 + i % 13}{(i // 250) % 250:02x}::{i % 250:x}"
        with steps.time("facts"):
            rf = builder.build(request_id="b", route=route, method="POST", path="/api/login", query={},
                               raw_headers=headers, body=body, client_ip=ip,
                               peer_trusted=True)
            obs = observation(rf)
        with steps.time("store"):
            signals = await store.observe(obs, now + i * 0.01)
        with steps.time("history+site"):  # the decision core's two steps, timed apart
            facts = gather(rf.facts, signals, solved=False, passed=False, now=now)
        with steps.time("rules+decide"):
            evaluate(ruleset, facts, route, challenge=settings.challenge)
    return steps


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
                                stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


async def measure(url: str, n: int, resolver: object) -> dict[str, float]:
    settings = demo_world(Settings(secret=secrets.token_bytes(32), store=url))
    lists = load_list_folders(settings.rules / "lists", settings.extra_lists)
    builder = FactBuilder.from_settings(settings, keyer=Keyer(settings.secret), lists=lists, ua_resolver=resolver)
    store = open_store(url, retention(settings))
    # as a worker's stores do (shield.service): keep the distinct sets and estimate the counters the pack needs
    reads = load_pack(settings.rules, extra_lists=settings.extra_lists, windows=settings.windows).rules.reads
    for one in (store.primary, store.fallback) if isinstance(store, ResilientStore) else (store,):
        if isinstance(one, RedisStore | MemoryStore):
            one.follow(lambda: reads)
    try:
        await replay(store, settings, builder, min(n, 2000))  # warm the caches and connections
        steps = await replay(store, settings, builder, n)
    finally:
        await store.close()
    return {k: v / n * 1e6 for k, v in steps.totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="requests per store")
    args = parser.parse_args()
    resolver = make_resolver()
    rows: dict[str, dict[str, float]] = {"memory": asyncio.run(measure("memory://", args.n, resolver))}
    with redis_server() as url:
        if url:
            rows["redis"] = asyncio.run(measure(url, args.n, resolver))
    names = ["facts", "store", "history+site", "rules+decide"]
    print(f"shield's own work per protected request, us (n={args.n}, rotating IPs/accounts/UAs)")
    print(f"{'store':<8}" + "".join(f"{n:>14}" for n in names) + f"{'total':>10}")
    for store, row in rows.items():
        print(f"{store:<8}" + "".join(f"{row[n]:>14.1f}" for n in names) + f"{sum(row.values()):>10.1f}")


if __name__ == "__main__":
    main()
