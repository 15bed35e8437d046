"""A ban refusal's store count: observe (the old way) against count_attempt (write-only), per refusal.

    .venv/bin/python bench/refusal_count.py [--n 20000] [--redis-port PORT]

Memory store: the time per call of the refusal's store count (the rotating wave's shape: a new address
per refusal, a few /24s, 20 % repeats), best of 5 rounds each, in this process. Redis (a redis-server
of its own on a free port): INFO commandstats per refusal (calls and usec by command) and the server's
CPU per refusal, each way, over the same refusals.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from shield.model import FakeClock, Observation
from shield.store.base import Retention
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proxy_workloads as pw
from proxy import free_port


def refusals(n: int, seed: int = 1) -> list[Observation]:
    rng = random.Random(seed)
    out: list[Observation] = []
    for i in range(n):
        if out and rng.random() < 0.2:
            out.append(rng.choice(out))
            continue
        a, b = divmod(i, 250)
        ip = f"10.{a % 200}.{b}.{rng.randrange(1, 255)}"
        out.append(Observation(route="login", ip=ip, subnet=ip.rsplit(".", 1)[0] + ".0/24"))
    return out


async def memory(n: int) -> None:
    obs = refusals(n)
    for way in ("observe", "count_attempt"):
        best = float("inf")
        for _ in range(5):
            store, now = MemoryStore(Retention()), FakeClock().now()
            t0 = time.perf_counter()
            if way == "observe":
                for i, o in enumerate(obs):
                    await store.observe(o, now + i * 0.0005)
            else:
                for i, o in enumerate(obs):
                    store.count_attempt(o, now + i * 0.0005)
            best = min(best, time.perf_counter() - t0)
        print(f"memory {way:14s} {best / n * 1e6:6.2f} us per refusal (best of 5, {n} refusals)")


def commandstats(r: Redis) -> dict[str, tuple[int, int]]:
    info = r.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in info.items()}


def server_cpu(r: Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def redis(n: int, port: int) -> None:
    obs = refusals(n)
    r = Redis(port=port)
    for way in ("observe", "count_attempt"):
        r.flushall()
        store = RedisStore(AsyncRedis(port=port), Retention(), prefix=way)
        await store.load_scripts()
        now = FakeClock().now()
        r.config_resetstat()
        cpu0, t0 = server_cpu(r), time.perf_counter()
        if way == "observe":
            await asyncio.gather(*(store.observe(o, now + i * 0.0005) for i, o in enumerate(obs)))
        else:
            for i, o in enumerate(obs):
                store.count_attempt(o, now + i * 0.0005)
                if i % 32 == 31:
                    await asyncio.sleep(0)  # a loop turn, as requests take (the queue is bounded)
        await store.flush()
        wall, cpu = time.perf_counter() - t0, server_cpu(r) - cpu0
        if way == "count_attempt":
            print(f"    (counts dropped past the queue's bound: {store._counts.dropped})")
        stats = commandstats(r)
        calls = sum(c for name, (c, _) in stats.items() if name not in ("config|resetstat", "info"))
        print(
            f"redis {way:14s} server CPU {cpu / n * 1e6:6.1f} us/refusal, commands {calls / n:5.2f}/refusal, "
            f"worker wall {wall / n * 1e6:6.1f} us/refusal"
        )
        print(
            "    "
            + ", ".join(
                f"{k} {c / n:.2f} ({u / n:.1f} us)"
                for k, (c, u) in sorted(stats.items())
                if k not in ("config|resetstat", "info", "flushall")
            )
        )
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--redis-port", type=int, default=0)
    args = ap.parse_args()
    asyncio.run(memory(args.n))
    if args.redis_port:
        asyncio.run(redis(args.n, args.redis_port))
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, pw.redis_server(port, Path(tmp)):
        asyncio.run(redis(args.n, port))

if __name__ == "__main__":
    main()
