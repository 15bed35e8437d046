"""Store benchmark: per-call cost, round trips, Redis CPU per request, memory, Cluster scaling.

    .venv/bin/python bench/store.py [--tracked 100000] [--calls 5000] [--cluster-requests 6000] [--all-sets]
                                    [--memory-only]

Starts its own redis-server (Debian's /usr/bin/redis-server) on a free port, no persistence.
Redis CPU is the server's own (INFO cpu: used_cpu_sys + used_cpu_user) over the timed calls,
divided by the calls; a protected request is one observe plus one record_outcome. The Cluster
table (bench/store_cluster.py) runs the same traffic on a 1-master and a 3-master Cluster.
Both stores keep the distinct sets the bundled rules read (as a deployment running them does;
--all-sets keeps every one). Traffic is credential stuffing as seen in the wild: every attempt from
a new IP (/24s of the demo CN/US/VN/BR/RU ranges) on a new account with a new password, a few
fingerprints.

The memory store's bytes per distinct attempt (issue 14's target: at most 300 B) are traced
(tracemalloc) over `--tracked` such attempts, each observed then recorded as a failed login, as
the proxy does; the key strings the store keeps alive (the attempt's IP, account, password and
pair ids) are shown apart from the store's own structures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import redis
from redis.asyncio import BlockingConnectionPool, Redis

from shield.model import Observation, Outcome
from shield.rules.pack import load_pack
from shield.store import memory as memory_module
from shield.store.base import Retention, Store
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore

COUNTRIES = (("CN", "64530", 30), ("US", "64531", 31), ("VN", "64532", 32), ("BR", "64533", 33), ("RU", "64534", 34))


BUNDLED = Path(__file__).resolve().parent.parent / "shield" / "rules" / "bundled"


def retention(all_sets: bool) -> Retention:
    """What the Redis store keeps: the distinct sets the bundled rules read (or every one)."""
    return Retention() if all_sets else Retention(reads=load_pack(BUNDLED).rules.reads)


def attempt(i: int) -> Observation:
    country, asn, octet = COUNTRIES[i % len(COUNTRIES)]
    n = i // len(COUNTRIES)
    ip = f"10.{octet}.{(n // 250) % 256}.{n % 250 + 1}"
    return Observation(
        route="login",
        ip=ip,
        subnet=ip.rsplit(".", 1)[0] + ".0/24",
        asn=asn,
        country=country,
        account=f"acct-{i:08x}",
        fp=f"fp-{i % 40}",
        device=None,
        password=f"pw-{i:08x}",
        pair=f"pair-{i:08x}",
        lat=39.9,
        lon=116.4,
    )


async def per_call_us(
    store: Store, calls: int, start: int, between: Callable[[], None] = lambda: None, *, at: float = 0.0
) -> tuple[float, float]:
    """Attempts `start`.., one per millisecond from `at` seconds into the run (a measured run starts
    after its warm-up: an earlier time would make every shared entity's write a late one)."""
    now = 1_700_000_000.0 + at - start * 0.001
    t0 = time.perf_counter()
    for i in range(start, start + calls):
        await store.observe(attempt(i), now + i * 0.001)
    observe = (time.perf_counter() - t0) / calls * 1e6
    await flush(store)
    between()
    t0 = time.perf_counter()
    for i in range(start, start + calls):
        await store.record_outcome(attempt(i), Outcome.FAILURE, familiar=False, now=now + i * 0.001)
    outcome = (time.perf_counter() - t0) / calls * 1e6
    await flush(store)
    return observe, outcome


async def flush(store: Store) -> None:
    """Send the Redis store's batched hot counts (shield.store.batched): their Redis CPU is counted."""
    if isinstance(store, RedisStore):
        await store.flush()


async def load(store: Store, count: int, start: int, concurrency: int = 1) -> float:
    """Observe `count` new attempts; observes per second."""
    now = 1_700_000_000.0
    t0 = time.perf_counter()
    for batch in range(start, start + count, concurrency):
        await asyncio.gather(*(store.observe(attempt(i), now + i * 0.001) for i in range(batch, batch + concurrency)))
    return count / (time.perf_counter() - t0)


async def bench_memory(tracked: int, calls: int, kept: Retention) -> dict[str, str]:
    store = MemoryStore(kept)
    await per_call_us(store, 500, 10_000_000)  # warm up
    observe, outcome = await per_call_us(store, calls, 0, at=10.5)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    await load(store, tracked, 20_000_000)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "observe_us": f"{observe:.0f}",
        "outcome_us": f"{outcome:.0f}",
        "round_trips": "0",
        "redis_cpu": "-",
        "per_s_64": "-",
        "mem_100k": f"{used * 100_000 / tracked / 2**20:.0f} MiB ({used / tracked:.0f} B/attempt, {len(store)} units)",
    }


MEMORY_TARGET = 300  # bytes per distinct attempt (issue 14)


async def memory_per_attempt(attempts: int, kept: Retention = Retention()) -> tuple[float, float, int]:  # noqa: B008
    """Traced bytes per distinct attempt (observe + failed outcome): the store's own, the key strings it
    keeps, and the units it holds."""
    store, now = MemoryStore(kept), 1_700_000_000.0
    for i in range(10_000_000, 10_000_500):  # warm up: the site entity, the shared dimensions
        obs = attempt(i)
        await store.observe(obs, now)
        await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=now)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(20_000_000, 20_000_000 + attempts):
        obs, t = attempt(i), now + (i - 20_000_000) * 0.001
        await store.observe(obs, t)
        await store.record_outcome(obs, Outcome.FAILURE, familiar=False, now=t)
    del obs
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    keys = sum(d.size_diff for d in after.compare_to(before, "filename") if d.traceback[0].filename == __file__)
    total = sum(d.size_diff for d in after.compare_to(before, "filename"))
    return (total - keys) / attempts, keys / attempts, len(store)


async def memory_table(tracked: int, kept: Retention) -> list[str]:
    own, keys, units = await memory_per_attempt(tracked, kept)
    sets = "every distinct set" if kept.reads is None else "the distinct sets the bundled rules read"
    # tracemalloc charges what compiled code allocates to the Python frame that called it (this file's):
    # the total is right either way, the split only when the store runs from source.
    split = not memory_module.__file__ or memory_module.__file__.endswith(".py")
    parts = f"{own:.0f} | {keys:.0f}" if split else "- | - (compiled store: SHIELD_PURE_PYTHON=1 for the split)"
    return [
        f"memory store, {tracked} distinct attempts (observe + failed outcome each), {sets}, tracemalloc:",
        "| bytes per attempt | store structures | key strings kept | units held | target |",
        "|---|---|---|---|---|",
        f"| {own + keys:.0f} | {parts} | {units} | <= {MEMORY_TARGET} |",
    ]


async def bench_redis(port: int, tracked: int, calls: int, kept: Retention) -> dict[str, str]:
    pool = BlockingConnectionPool.from_url(f"redis://127.0.0.1:{port}/0", max_connections=64, timeout=5)
    store = RedisStore(Redis(connection_pool=pool), kept)
    await store.load_scripts()
    await per_call_us(store, 500, 10_000_000)
    await flush(store)
    sync = redis.Redis(port=port)
    sync.flushall()
    store.round_trips = 0
    marks = [redis_cpu(sync)]

    def redis_cpu_per_call() -> None:
        marks.append(redis_cpu(sync))

    observe, outcome = await per_call_us(store, calls, 0, redis_cpu_per_call)
    redis_cpu_per_call()
    cpu = [(b - a) / calls * 1e6 for a, b in itertools.pairwise(marks)]
    trips = store.round_trips / (2 * calls)
    rate = await load(store, min(tracked, 20_000), 30_000_000, concurrency=64)
    sync.flushall()
    before = int(sync.info("memory")["used_memory"])
    await load(store, tracked, 20_000_000, concurrency=64)
    used = int(sync.info("memory")["used_memory"]) - before
    # The first loaded attempt's IP: its hash (the only key named by its tag while its sets are small)
    match = "{shield:ip:" + attempt(20_000_000).ip + "}*"
    one_ip = sum(int(sync.memory_usage(k) or 0) for k in sync.scan_iter(match=match))
    keys = int(sync.dbsize())
    await store.close()
    return {
        "observe_us": f"{observe:.0f}",
        "outcome_us": f"{outcome:.0f}",
        "round_trips": f"{trips:.2f}",
        "redis_cpu": f"{cpu[0]:.0f} / {cpu[1]:.0f} / {sum(cpu):.0f}",
        "per_s_64": f"{rate:.0f}",
        "mem_100k": f"{used * 100_000 / tracked / 2**20:.0f} MiB ({used / tracked:.0f} B/attempt, {keys} keys, "
        f"one IP's hash: {one_ip} B)",
    }


def redis_cpu(sync: redis.Redis) -> float:
    """The server's CPU seconds so far (user + system)."""
    info = sync.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*args, "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            redis.Redis(port=port).ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


async def main() -> None:
    from store_cluster import cluster_table  # bench/store_cluster.py (it imports this module's traffic)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracked", type=int, default=100_000, help="attempts (new IP + account each) to load")
    parser.add_argument("--calls", type=int, default=5_000, help="sequential calls timed per store")
    parser.add_argument("--cluster-requests", type=int, default=6_000, help="protected requests per Cluster run")
    parser.add_argument("--all-sets", action="store_true", help="keep every distinct set, not only those read")
    parser.add_argument("--memory-only", action="store_true", help="only the memory store's bytes per attempt")
    args = parser.parse_args()
    kept = retention(args.all_sets)
    if args.memory_only:
        print("\n".join(await memory_table(args.tracked, kept)))
        return
    rows = {"memory": await bench_memory(args.tracked, args.calls, kept)}
    with tempfile.TemporaryDirectory() as tmp:
        process, port = start_redis(Path(tmp))
        try:
            rows["redis"] = await bench_redis(port, args.tracked, args.calls, kept)
        finally:
            process.kill()
            process.wait()
    print(
        f"store bench: {args.calls} sequential calls, {args.tracked} tracked attempts, "
        f"python {sys.version.split()[0]}, distinct sets kept: "
        + ("all" if args.all_sets else "those the bundled rules read")
    )
    print(
        "| store | observe (us) | record_outcome (us) | round trips / call "
        "| Redis CPU (us, INFO cpu): observe / outcome / protected request "
        "| observes/s (64 in flight) | memory per 100k tracked attempts |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['observe_us']} | {r['outcome_us']} | {r['round_trips']} | {r['redis_cpu']} "
            f"| {r['per_s_64']} | {r['mem_100k']} |"
        )
    print()
    print("\n".join(await memory_table(args.tracked, kept)))
    print()
    print("\n".join(await cluster_table(args.cluster_requests, 64, kept)))


if __name__ == "__main__":
    asyncio.run(main())
