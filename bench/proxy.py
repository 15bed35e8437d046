"""Proxy benchmarks, all on loopback.

    ./dev bench proxy            the workloads of issue 14 as ratios to pass-through (bench/proxy_workloads.py)
    ./dev bench proxy --table    the per-target table below: [--duration 5] [--connections 16] [--rate 1000]

The table: pass-through, shield against a bare aiohttp proxy and nginx.

Starts a fast upstream (aiohttp, its own process), then one target at a time in front of it:
nginx (Debian nginx-light, 2 workers, upstream keep-alive), a bare aiohttp proxy (2 processes,
SO_REUSEPORT, one pooled ClientSession each), `shield run --workers 2` with no protected route,
and `shield run --workers 2` with the default protected route (POST /api/login buffered and
replayed). Each is driven by wrk (GET / and POST /api/login with a small JSON body), then by a
paced open-loop client at --rate requests/s (wrk 4 has no -R; latency is measured from each
request's scheduled send time, so queueing is not hidden) to give the added p99 latency over
calling the upstream directly: --paced-repeat runs, the median p50 and p99 of them reported (one
5-second run's p99 is its 50th-worst request, which a single scheduler hiccup on a shared 2-CPU
machine moves by a millisecond). Prints one table. Needs: wrk, nginx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIELD = [sys.executable, "-m", "shield.cli"]
LOGIN_BODY = b'{"username": "alice@example.com", "password": "not-the-password"}'
POST_LUA = f"""wrk.method = "POST"
wrk.body = '{LOGIN_BODY.decode()}'
wrk.headers["Content-Type"] = "application/json"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# -- the processes under test -------------------------------------------------------------------


def serve_upstream(port: int) -> None:
    import uvloop
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b'{"ok": true}', content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def serve_bare(port: int, upstream: str) -> None:
    """The minimal aiohttp reverse proxy a platform team would write in an afternoon."""
    import aiohttp
    import uvloop
    from aiohttp import web

    hop = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "proxy-connection"}

    async def on_startup(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())

    async def on_cleanup(app: web.Application) -> None:
        await app["session"].close()

    async def proxy(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        data = request.content if request.body_exists else None
        async with request.app["session"].request(
            request.method, upstream + request.raw_path, headers=headers, data=data, allow_redirects=False
        ) as up:
            out = web.StreamResponse(status=up.status)
            out.headers.update({k: v for k, v in up.headers.items() if k.lower() not in hop})
            await out.prepare(request)
            async for chunk in up.content.iter_chunked(65536):
                await out.write(chunk)
            await out.write_eof()
            return out

    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_route("*", "/{tail:.*}", proxy)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, reuse_port=True)


@contextmanager
def process(cmd: list[str], port: int, **kwargs: object) -> Iterator[list[int]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    try:
        wait_port(port)
        time.sleep(0.3)  # let every worker of a multi-process target bind
        yield [proc.pid]
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def bare_proxy(port: int, upstream: str) -> Iterator[list[int]]:
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--serve-bare", str(port), upstream],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        wait_port(port)
        time.sleep(0.3)
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


@contextmanager
def nginx(port: int, upstream_port: int, tmp: Path) -> Iterator[list[int]]:
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream app {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
""")
    with process([shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(tmp), "-c", str(conf)], port) as pids:
        yield pids


def shield_run(
    port: int, upstream: str, config: Path, *, admin: int | None = None, log_level: str = "info",
    env: dict[str, str] | None = None,
) -> AbstractContextManager[list[int]]:
    """`shield run` with 2 workers on `port` in front of `upstream` (a `process` context: yields pids)."""
    environ = {
        **os.environ,
        "SHIELD_SECRET": "bench-secret-0123456789abcdef",
        "SHIELD_LOG_FORMAT": "json",
        "SHIELD_LOG_LEVEL": log_level,
        **(env or {}),
    }
    cmd = [
        *SHIELD, "run", "--config", str(config), "--workers", "2", "--upstream", upstream,
        "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin or free_port()}",
    ]
    return process(cmd, port, env=environ, cwd=ROOT)


@contextmanager
def shield(port: int, upstream: str, tmp: Path, *, protected: bool, log_level: str = "info") -> Iterator[list[int]]:
    config = tmp / ("protected.yaml" if protected else "passthrough.yaml")
    config.write_text("" if protected else "routes: []\n")
    with shield_run(port, upstream, config, log_level=log_level) as pids:
        yield pids


# -- load ---------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float = 0.0  # CPU of the target's processes per request (paced runs)


def cpu_seconds(roots: list[int]) -> float:
    """utime + stime of these processes and all their descendants, from /proc."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    wanted, total = set(roots), 0.0
    for _ in range(3):  # supervisor -> workers, nginx master -> workers
        wanted |= {pid for pid, (ppid, _cpu) in stats.items() if ppid in wanted}
    for pid in wanted:
        total += stats.get(pid, (0, 0.0))[1]
    return total


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    return float(m[1]) * _UNITS[m[2]]


def run_wrk(url: str, *, post: bool, duration: int, connections: int, tmp: Path) -> Result:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if post:
        script = tmp / "post.lua"
        script.write_text(POST_LUA)
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    if "Non-2xx" in out or "Socket errors" in out:
        print(
            f"  note: {url}: "
            + " ".join(line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line),
            file=sys.stderr,
        )
    return Result(rps, p50, p99)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if m:
        await reader.readexactly(int(m[1]))
    elif b"chunked" in head.lower():
        await reader.readuntil(b"0\r\n\r\n")


async def _paced(port: int, rate: int, seconds: float, connections: int = 32) -> list[float]:
    """Open loop over keep-alive connections with a hand-written HTTP/1.1 client (cheap per request)."""
    request = (
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(LOGIN_BODY), LOGIN_BODY)
    )
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []

    async def one(at: float) -> None:
        conn = await pool.get()
        try:
            await _exchange(*conn, request)
        finally:
            pool.put_nowait(conn)
        latencies.append((time.perf_counter() - at) * 1000)

    for _ in range(200):  # warm up every layer's pools
        await one(time.perf_counter())
    latencies.clear()
    tasks = []
    start = time.perf_counter() + 0.05
    for i in range(int(rate * seconds)):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies


def paced(port: int, rate: int, seconds: float) -> Result:
    import uvloop

    lat = sorted(uvloop.run(_paced(port, rate, seconds)))
    return Result(len(lat) / seconds, statistics.median(lat), lat[int(len(lat) * 0.99) - 1])


# -- the run ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", action="store_true", help="the per-target table instead of the workload ratios")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, help="wrk connections (default 64, 16 with --table)")
    ap.add_argument("--repeat", type=int, default=3, help="wrk runs per cell; the best is reported")
    ap.add_argument("--replayed", action="store_true",
                    help="each wrk run of the rotating wave starts at the same request (wrk's random start is "
                    "unseeded), so later runs replay addresses banned by then: the wave of the first twelve passes' "
                    "numbers (default: each run goes on where the last ended, ever-new addresses as in an attack)")
    ap.add_argument("--fresh", action="store_true", help="the default wave, named (kept for older commands)")
    ap.add_argument("--rate", type=int, default=1000, help="paced requests/s for the added-latency run")
    ap.add_argument("--paced-seconds", type=float, default=5.0)
    ap.add_argument("--paced-repeat", type=int, default=5, help="paced runs per target; medians are reported")
    ap.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve-bare", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fresh and args.replayed:
        ap.error("--fresh and --replayed name different waves")
    args.fresh = not args.replayed
    if args.serve_upstream:
        return serve_upstream(args.serve_upstream)
    if args.serve_bare:
        return serve_bare(int(args.serve_bare[0]), args.serve_bare[1])

    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if not args.table:
        import proxy_workloads  # bench/proxy_workloads.py

        args.connections = args.connections or 64
        return proxy_workloads.run(args)
    args.connections = args.connections or 16
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    rows: list[tuple[str, str, Result]] = []
    with (
        tempfile.TemporaryDirectory() as d,
        process([sys.executable, __file__, "--serve-upstream", str(up_port)], up_port),
    ):
        tmp = Path(d)
        targets = {
            "upstream (direct)": lambda p: nullcontext([]),
            "nginx": lambda p: nginx(p, up_port, tmp),
            "bare aiohttp proxy": lambda p: bare_proxy(p, upstream),
            "shield pass-through": lambda p: shield(p, upstream, tmp, protected=False),
            "shield pass-through, no request log": lambda p: shield(
                p, upstream, tmp, protected=False, log_level="warning"
            ),
            "shield default route": lambda p: shield(p, upstream, tmp, protected=True),
        }
        for name, start in targets.items():
            port = up_port if name.startswith("upstream") else free_port()
            with start(port) as pids:
                base = f"http://127.0.0.1:{port}"
                for label, post, path in (("GET /", False, "/"), ("POST /api/login", True, "/api/login")):
                    # Best of --repeat: on a shared machine the best run is the one least disturbed.
                    runs = [
                        run_wrk(base + path, post=post, duration=args.duration, connections=args.connections, tmp=tmp)
                        for _ in range(args.repeat)
                    ]
                    res = max(runs, key=lambda r: r.rps)
                    rows.append((name, label, res))
                    print(f"  {name:36} {label:16} {res.rps:9.0f} req/s", file=sys.stderr)
                cpu0 = cpu_seconds(pids)
                runs = [paced(port, args.rate, args.paced_seconds) for _ in range(args.paced_repeat)]
                res = Result(
                    statistics.median(r.rps for r in runs),
                    statistics.median(r.p50_ms for r in runs),
                    statistics.median(r.p99_ms for r in runs),
                )
                sent = (args.rate * args.paced_seconds + 200) * args.paced_repeat
                res.cpu_us = (cpu_seconds(pids) - cpu0) / sent * 1e6
                rows.append((name, f"paced {args.rate}/s", res))
    print_table(rows, args)
    return None


def print_table(rows: list[tuple[str, str, Result]], args: argparse.Namespace) -> None:
    ref = {(n, label): r for n, label, r in rows}
    print(
        f"\nwrk -t1 -c{args.connections} -d{args.duration}s, best of {args.repeat}, on loopback, load average "
        f"before the run {args.load_before}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}\n"
    )
    print("| target | load | req/s | p50 ms | p99 ms | vs nginx | vs bare aiohttp |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, label, r in rows:
        if label.startswith("paced"):
            continue
        ng, bare = ref[("nginx", label)], ref[("bare aiohttp proxy", label)]
        print(
            f"| {name} | {label} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.rps / ng.rps:.2f} | {r.rps / bare.rps:.2f} |"
        )
    direct = next(r for n, label, r in rows if n.startswith("upstream") and label.startswith("paced"))
    print(
        f"\nPaced POST /api/login at {args.rate} req/s, {args.paced_repeat} runs of {args.paced_seconds:.0f}s "
        "(open loop; median p50 and p99 of the runs):\n"
    )
    print("| target | p50 ms | p99 ms | p99 added vs direct ms | target CPU per request |")
    print("|---|---:|---:|---:|---:|")
    for name, label, r in rows:
        if label.startswith("paced"):
            cpu = f"{r.cpu_us:.0f} us" if r.cpu_us else "-"
            print(f"| {name} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.p99_ms - direct.p99_ms:+.2f} | {cpu} |")


if __name__ == "__main__":
    main()
