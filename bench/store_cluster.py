"""Redis CPU per protected request and Redis Cluster scaling (part of `./dev bench store`).

    .venv/bin/python bench/store_cluster.py [--requests 6000] [--concurrency 64] [--all-sets] [--instructions]

A protected request is one observe (before the decision) and one record_outcome (after it).
Starts real redis-server Clusters here (1 master, then 3 masters; no persistence), drives
credential-stuffing traffic through RedisStore with `concurrency` requests in flight, and reads
each master's INFO cpu (used_cpu_sys + used_cpu_user) before and after. Prints per cluster:
protected req/s achieved by this one Python client, Redis CPU per request (all masters, and the
busiest one, and each), the Redis-bound capacity (1 s / the busiest master's CPU per request: what
the masters could serve with enough shield workers) and each master's share of the keys.

On a small machine the client, not Redis, bounds the achieved req/s: the capacity column is the
scaling measure (it is what more shield workers would reach).

With --instructions each redis-server runs under valgrind's callgrind (instrumented after the warm-up)
and the costs are user-space instructions per request instead of CPU time: slow (use --requests 1500),
but the same from run to run on a machine shared with other work, where CPU time per request moves by
10-20% between runs. It leaves out the kernel's share (system calls) and what cache misses cost.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from store import attempt, free_port, retention

from shield.model import Outcome
from shield.store.base import Retention
from shield.store.redis import RedisStore

SLOTS = 16384
WARM_UP = 2000  # attempts before the measured run (scripts, connections, slot table)
WARM_UP_S = WARM_UP * 0.001 + 10.0  # the measured run starts 10 s after the warm-up's last attempt


def start_cluster(
    masters: int, workdir: Path, wrap: Sequence[str] = ()
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """`masters` cluster-enabled redis-servers (each run by the `wrap` command, if any), the slots
    split evenly (CLUSTER ADDSLOTSRANGE)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    procs, ports = [], []
    for _ in range(masters):
        port = free_port()
        while port + 10000 > 65535:
            port = free_port()
        args = [*wrap, binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf", "--dir", str(workdir)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ports.append(port)
    for port in ports:
        _wait(lambda p=port: redis.Redis(port=p).ping())
    for i, port in enumerate(ports):
        r = redis.Redis(port=port)
        r.execute_command("CLUSTER", "ADDSLOTSRANGE", i * SLOTS // masters, (i + 1) * SLOTS // masters - 1)
        if i:
            r.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0])
    _wait(lambda: all(b"cluster_state:ok" in redis.Redis(port=p).execute_command("CLUSTER", "INFO") for p in ports))
    return procs, ports


def _wait(ready: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError("redis cluster did not start")


def callgrind(workdir: Path) -> list[str]:
    """The command that runs a redis-server under callgrind, not instrumented until `instructions` starts it."""
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={workdir}/callgrind.%p"]


def instructions(pid: int, workdir: Path, *, start: bool = False) -> int:
    """Start counting (start), or dump and return the instructions counted since."""
    if start:
        subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True, capture_output=True)
        return 0
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    counted = 0
    for name in glob.glob(f"{workdir}/callgrind.{pid}.*"):
        for line in Path(name).read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                counted = max(counted, int(line.split()[1]))
    return counted


def cpu(port: int) -> float:
    info = redis.Redis(port=port).info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def protected(store: RedisStore, requests: int, start: int, concurrency: int, *, at: float = 0.0) -> float:
    """`requests` protected requests (observe, then record_outcome), `concurrency` in flight; req/s.
    Attempts `start`.. (their entities), one per millisecond from `at` seconds into the run: a measured
    run starts after its warm-up's last attempt (an earlier time would make every shared entity's
    write a late one and keep the warm-up's set members forever fresh, a path no wave takes)."""
    now = 1_700_000_000.0 + at

    async def one(i: int) -> None:
        t = now + (i - start) * 0.001
        await store.observe(attempt(i), t)
        await store.record_outcome(attempt(i), Outcome.FAILURE, familiar=False, now=t)

    t0 = time.perf_counter()
    for batch in range(start, start + requests, concurrency):
        await asyncio.gather(*(one(i) for i in range(batch, min(batch + concurrency, start + requests))))
    return requests / (time.perf_counter() - t0)


async def run_cluster(
    masters: int, requests: int, concurrency: int, kept: Retention, *, counted: bool = False
) -> dict[str, str]:
    """One cluster's row; `counted`: costs in thousands of instructions per request, not CPU us."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        procs, ports = start_cluster(masters, workdir, callgrind(workdir) if counted else ())
        try:
            client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports], max_connections=256)
            store = RedisStore(client, kept, concurrency=256)
            await protected(store, WARM_UP, 50_000_000, concurrency)  # warm up: scripts, connections, slot table
            await store.flush()  # the batched hot counts (shield.store.batched) of the warm-up
            for proc in procs if counted else ():
                instructions(proc.pid, workdir, start=True)
            before = [cpu(p) for p in ports]
            rate = await protected(store, requests, 0, concurrency, at=WARM_UP_S)
            await store.flush()  # their Redis CPU counts too
            used = [(cpu(p) - b) / requests * 1e6 for p, b in zip(ports, before, strict=True)]
            if counted:
                used = [instructions(proc.pid, workdir) / requests / 1000 for proc in procs]
            keys = [int(redis.Redis(port=p).dbsize()) for p in ports]
            await store.close()
        finally:
            for p in procs:
                p.kill()
                p.wait()
    return {
        "rate": f"{rate:.0f}",
        "cpu_total": f"{sum(used):.0f}",
        "cpu_max": f"{max(used):.0f}",
        "cpu_each": " / ".join(f"{u:.0f}" for u in used),
        "capacity": f"{1e6 / max(used):.0f}",
        "keys": " / ".join(f"{k / sum(keys):.0%}" for k in keys),
    }


async def cluster_table(requests: int, concurrency: int, kept: Retention, *, counted: bool = False) -> list[str]:
    rows = {n: await run_cluster(n, requests, concurrency, kept, counted=counted) for n in (1, 3)}
    one, three = float(rows[1]["capacity"]), float(rows[3]["capacity"])
    cost, capacity = ("k instructions", "(req per 10^9 instructions)") if counted else ("Redis CPU us", "(req/s)")
    lines = [
        f"cluster scaling: {requests} protected requests (observe + record_outcome), {concurrency} in flight",
        f"| masters | protected req/s (this client) | {cost}/request: all masters / busiest "
        f"| Redis-bound capacity {capacity} | {cost}/request per master | keys per master |",
        "|---|---|---|---|---|---|",
    ]
    for n, r in rows.items():
        cpu_ = f"{r['cpu_total']} / {r['cpu_max']}"
        lines.append(f"| {n} | {r['rate']} | {cpu_} | {r['capacity']} | {r['cpu_each']} | {r['keys']} |")
    unit = " in instructions" if counted else ""
    lines.append(f"3 masters / 1 master, Redis-bound capacity{unit}: {three / one:.2f}x")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--all-sets", action="store_true", help="keep every distinct set, not only those read")
    parser.add_argument("--instructions", action="store_true", help="count instructions (callgrind), not CPU time")
    args = parser.parse_args()
    kept = retention(args.all_sets)
    lines = asyncio.run(cluster_table(args.requests, args.concurrency, kept, counted=args.instructions))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
