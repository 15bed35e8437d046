"""Slow-client benchmark: what 2,000 slow clients cost a normal login through shield.

    ./dev bench slowclients [--slow 2000] [--seconds 10] [--rate 40] [--workers 1]

Starts a real upstream (aiohttp in its own process: POST /api/login, GET /big streaming 32 MiB with a
256 KiB send buffer, as an upstream on its own host keeps its buffers out of shield's kernel)
and `shield run` in front of it (default limits, one worker unless told), all on loopback. Then:

1. a paced login client (POST /api/login with a right password, a fresh account and client IP
   per request through X-Forwarded-For from the trusted loopback) for --seconds, latency taken
   from each request's scheduled send time, so queueing is not hidden: the baseline;
2. the same while another process holds --slow slow clients open: half send 30 KB of headers
   (as heavy as a head may be) and trickle one more line every 2 s (cut by
   limits.header_read_timeout, they reconnect), half start a 32 MiB download and read nothing
   (cut by limits.client_write_timeout, they reconnect);
3. the same after they are gone; then 2. and 3. again, a second wave, to show RSS stays put.

Prints p50/p99/max, errors and shield's RSS at the end of each phase. The
attack process is bounded (--slow connections, --seconds) and stops by itself. Target: under
50 ms added to the login p99, RSS bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIELD = [sys.executable, "-m", "shield.cli"]
CHUNK = 64 * 1024
# 30 KB of headers, just under limits.max_head_bytes: each trickled head is as heavy as allowed
HEAVY = b"".join(b"X-Heavy-%02d: %b\r\n" % (i, b"h" * 1900) for i in range(16))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the upstream (its own process) --------------------------------------------------------------


def serve_upstream(port: int) -> None:
    from aiohttp import web

    async def login(request: web.Request) -> web.Response:
        body = await request.json()
        ok = body.get("password") == "right"
        return web.json_response({"ok": ok}, status=200 if ok else 401)

    async def big(request: web.Request) -> web.StreamResponse:
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:  # an upstream on its own host keeps its send buffers in its own kernel
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        resp = web.StreamResponse()
        await resp.prepare(request)
        block = b"x" * CHUNK
        for _ in range(32 * 1024 * 1024 // CHUNK):
            await resp.write(block)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/api/login", login)
    app.router.add_get("/big", big)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # the aborted downloads' resets
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- the slow clients (their own process) --------------------------------------------------------


async def trickler(port: int, stop: float, opened: list[int]) -> None:
    """A head one header line every 2 s; reconnects when shield cuts it."""
    while time.monotonic() < stop:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(1)
            continue
        opened[0] += 1
        try:
            writer.write(b"GET /slow HTTP/1.1\r\nHost: bench\r\n" + HEAVY)
            while time.monotonic() < stop:
                await asyncio.sleep(2)
                writer.write(b"X-Trickle: 1\r\n")
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


async def nonreader(port: int, stop: float, opened: list[int]) -> None:
    """A 32 MiB download whose bytes are never read; reconnects when shield cuts it."""
    while time.monotonic() < stop:
        sock = socket.socket()
        # a phone on a slow link: a small receive window, so the bytes in flight stay few
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=CHUNK)
        except OSError:
            sock.close()
            await asyncio.sleep(1)
            continue
        opened[0] += 1
        try:
            writer.write(b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n")
            await writer.drain()
            while time.monotonic() < stop and not reader.at_eof():
                await asyncio.sleep(1)
                if writer.is_closing() or reader.exception() is not None:
                    break
        except (OSError, ConnectionError):
            pass
        finally:
            writer.close()


async def attack(port: int, n: int, seconds: float) -> None:
    raise_fd_limit()
    stop = time.monotonic() + seconds
    opened = [0]
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task((trickler if i % 2 else nonreader)(port, stop, opened)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # a ramp, not a SYN flood
    print("ready", flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    print(f"opened {opened[0]}", flush=True)


# -- the login client ----------------------------------------------------------------------------


async def logins(url: str, rate: float, seconds: float) -> tuple[list[float], int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def one(i: int, due: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            headers = {"X-Forwarded-For": f"198.51.100.{i % 250 + 1}"}
            body = {"username": f"user{i}@example.com", "password": "right"}
            try:
                async with session.post(url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as r:
                    await r.read()
                    statuses[r.status] += 1
                    if r.status != 200:
                        errors += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            latencies.append((time.monotonic() - due) * 1000)

        t0 = time.monotonic() + 0.1
        n = int(rate * seconds)
        await asyncio.gather(*(one(i, t0 + i / rate) for i in range(n)))
    if errors:
        print(f"  login answers: {dict(statuses)}", flush=True)
    return latencies, errors


def summary(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    import urllib.request

    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"shield exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("shield did not become ready")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slow", type=int, default=2000, help="slow clients held open at once")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each login phase")
    ap.add_argument("--rate", type=float, default=40.0, help="logins per second")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--attack", nargs=3, type=float, metavar=("PORT", "N", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    if args.attack:
        port, n, seconds = args.attack
        asyncio.run(attack(int(port), int(n), seconds))
        return
    fds = raise_fd_limit()
    if fds < args.slow * 2 + 512:
        sys.exit(f"the file-handle limit is {fds}: raise it (ulimit -n) above {args.slow * 2 + 512}")
    up, port, admin = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "shield.log"
        try:
            procs.append(subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(up)]))
            with log.open("wb") as out:
                shield = subprocess.Popen(
                    [*SHIELD, "run", "--upstream", f"http://127.0.0.1:{up}", "--listen", f"127.0.0.1:{port}",
                     "--admin-listen", f"127.0.0.1:{admin}", "--workers", str(args.workers)],
                    stdout=out, stderr=out, cwd=ROOT,
                    # shadow: every login is scored in full and forwarded (in enforce mode the rules
                    # rightly block one client that logs in to thousands of accounts)
                    env={**os.environ, "SHIELD_LOG_LEVEL": "warning", "SHIELD_LOG_FORMAT": "json",
                         "SHIELD_MODE": "shadow"},
                )
            procs.append(shield)
            wait_ready(f"http://127.0.0.1:{admin}/healthz", shield)
            run(args, shield, port, log)
        finally:
            for proc in reversed(procs):
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def run(args: argparse.Namespace, shield: subprocess.Popen[bytes], port: int, log: Path) -> None:
    url = f"http://127.0.0.1:{port}/api/login"
    pids = _worker_pids(shield.pid, args.workers)
    rss = lambda: sum(rss_mib(p) for p in pids)  # noqa: E731
    asyncio.run(logins(url, args.rate, 2))  # warm-up: rules, GeoIP, the pool
    rows: list[tuple[str, list[float], int, float]] = []
    opened: list[str] = []

    def phase(name: str) -> None:
        lat, errors = asyncio.run(logins(url, args.rate, args.seconds))
        rows.append((name, lat, errors, rss()))

    phase("no slow clients")
    for wave in (1, 2):  # a second wave: RSS must not climb again (bounded, not leaking)
        attack_seconds = args.seconds + 15
        attacker = subprocess.Popen(
            [sys.executable, __file__, "--attack", str(port), str(args.slow), str(attack_seconds)],
            stdout=subprocess.PIPE, text=True,
        )
        assert attacker.stdout is not None
        attacker.stdout.readline()  # "ready": every slow client started
        time.sleep(5)  # let them connect, fill their buffers and meet the first deadlines
        phase(f"{args.slow} slow clients #{wave}")
        attacker.wait(attack_seconds + 30)
        opened.append(attacker.stdout.read().strip().removeprefix("opened "))
        time.sleep(2)
        phase(f"after wave #{wave}")
    print(f"\nshield: {args.workers} worker(s), default limits, shadow mode; logins at {args.rate:.0f}/s for "
          f"{args.seconds:.0f} s per phase; slow clients: {args.slow} at once per wave "
          f"({' and '.join(opened)} connections opened in all)\n")
    print(f"| {'phase':<24} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} | {'errors':>6} | {'RSS MiB':>7} |")
    print(f"|{'-' * 26}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 9}|")
    for name, lat, errors, mem in rows:
        p50, p99, mx = summary(lat)
        print(f"| {name:<24} | {p50:7.1f} | {p99:7.1f} | {mx:7.1f} | {errors:6d} | {mem:7.0f} |")
    calm = [summary(rows[i][1])[1] for i in (0, 2, 4)]
    busy = [summary(rows[i][1])[1] for i in (1, 3)]
    added = statistics.mean(busy) - statistics.median(calm)
    print(f"\nadded login p99 with slow clients: {added:+.1f} ms (mean p99 of the waves minus the median "
          f"p99 without; target < 50 ms)")
    limited = [line for line in log.read_text().splitlines() if '"clients.limited"' in line]
    print(f"clients.limited lines: {len(limited)}")


def _worker_pids(pid: int, workers: int) -> list[int]:
    if workers == 1:
        return [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


if __name__ == "__main__":
    main()
