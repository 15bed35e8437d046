"""The per-process ban cache's refresh (shield.store.bancache) at a rotating-address wave's ban table.

    .venv/bin/python bench/ban_refresh.py [--store memory|redis] [--bans 130000] [--churn 4000] [--refreshes 10]

Fills a store (a MemoryStore, or a RedisStore on a redis-server started here, no persistence) with
`--bans` active IP bans, loads a BanCache from it, then runs `--refreshes` rounds: `--churn` new bans
(a wave adds ~4,000 a second; the cache refreshes once a second), then one timed `BanCache.refresh`.
Prints per refresh the worker's CPU (process time: on Redis it leaves out the wait for the answer)
and wall time, and on Redis the server's CPU (INFO cpu, a pair of INFO calls' own cost taken off),
the scripts' time (INFO commandstats usec of FCALL/EVALSHA) and the commands run per refresh.
Median and range over the rounds.

Uses only BanCache.refresh and Store.add_ban, so another tree can run it: `cd /other/tree &&
.venv/bin/python /this/tree/bench/ban_refresh.py` (run timed comparisons under the bench lock).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import redis

from shield.store.bancache import BanCache
from shield.store.base import Retention, Store
from shield.store.connect import StoreOptions, open_redis
from shield.store.memory import MemoryStore

T0 = 1_700_000_000.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def address(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


async def add(store: Store, first: int, count: int, now: float) -> None:
    for batch in range(first, first + count, 500):
        await asyncio.gather(
            *(
                store.add_ban("ip", address(i), ttl=3600, reason="score", now=now + (i - first) * 1e-5)
                for i in range(batch, min(batch + 500, first + count))
            )
        )


def commandstats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    stats: dict[str, Any] = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


def server_cpu(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def run(store: Store, args: argparse.Namespace, client: redis.Redis | None) -> dict[str, list[float]]:
    await add(store, 0, args.bans, T0)
    cache = BanCache(store)
    now = T0 + 10
    await cache.refresh(now)
    assert len(cache) == args.bans, (len(cache), args.bans)
    rows: dict[str, list[float]] = {"worker cpu ms": [], "wall ms": []}
    info_cost = 0.0
    if client is not None:
        rows |= {"redis cpu ms": [], "script ms": [], "commands": []}
        pairs = [server_cpu(client) for _ in range(21)]
        info_cost = statistics.median(b - a for a, b in pairwise(pairs))
    first = args.bans
    for _ in range(args.refreshes):
        now += 1.0
        await add(store, first, args.churn, now - 0.5)
        first += args.churn
        before = commandstats(client) if client is not None else {}
        cpu0 = server_cpu(client) if client is not None else 0.0
        p0, w0 = time.process_time(), time.perf_counter()
        await cache.refresh(now)
        p1, w1 = time.process_time(), time.perf_counter()
        if client is not None:
            cpu1 = server_cpu(client)
            after = commandstats(client)
            delta = {k: (c - before.get(k, (0, 0))[0], u - before.get(k, (0, 0))[1]) for k, (c, u) in after.items()}
            rows["redis cpu ms"].append(1000 * (cpu1 - cpu0 - info_cost))
            rows["script ms"].append(sum(u for k, (_, u) in delta.items() if k in ("fcall", "evalsha")) / 1000)
            rows["commands"].append(sum(c for k, (c, _) in delta.items() if k != "info"))
        rows["worker cpu ms"].append(1000 * (p1 - p0))
        rows["wall ms"].append(1000 * (w1 - w0))
    assert len(cache) == first, (len(cache), first)
    await cache.close()
    return rows


def report(rows: dict[str, list[float]]) -> None:
    for name, values in rows.items():
        print(f"  {name:14} median {statistics.median(values):9.2f}   range {min(values):.2f}-{max(values):.2f}")


def with_redis(body: Callable[[str, redis.Redis], None]) -> None:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(200):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            body(f"redis://127.0.0.1:{port}/0?socket_timeout=30", client)  # a whole read of 130k takes >1 s
        finally:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["memory", "redis"], default="memory")
    parser.add_argument("--bans", type=int, default=130_000)
    parser.add_argument("--churn", type=int, default=4000, help="new bans before each refresh")
    parser.add_argument("--refreshes", type=int, default=10)
    args = parser.parse_args()
    print(f"{args.store}: {args.bans} bans, {args.churn} new before each of {args.refreshes} refreshes")
    if args.store == "memory":
        report(asyncio.run(run(MemoryStore(Retention(max_keys=10_000_000)), args, None)))
        return

    def body(url: str, client: redis.Redis) -> None:
        async def go() -> dict[str, list[float]]:
            store = open_redis("redis", urlsplit(url), StoreOptions(), Retention())
            try:
                return await run(store, args, client)
            finally:
                await store.close()

        report(asyncio.run(go()))

    with_redis(body)


if __name__ == "__main__":
    main()
