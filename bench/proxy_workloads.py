"""The issue-14 workloads: shield's protected path and refusals as ratios to its own pass-through.

    ./dev bench proxy                     (this run; --table for the older per-target table)

One run starts every target at once in front of one nginx origin (2 workers, GET / answers 200,
POST /api/login answers 401 like a failed login), then measures them interleaved: round after
round, every workload once with `wrk -t1 -c64`, the best of --repeat rounds kept per workload, so
a neighbour's load on this shared machine hits every workload alike and the ratios of one run
compare like with like.

- bare aiohttp proxy, GET /: the anchor (uvloop, one pooled ClientSession per process, no cookie
  jar, SO_REUSEPORT, 2 processes);
- shield pass-through, GET / (`routes: []`, 2 workers): the denominator of every other ratio;
- protected logins, memory store and Redis store (a redis-server on a free port): POST /api/login
  with the default pack and the demo GeoIP, every request from another Japanese mobile address
  (X-Forwarded-For from 127.0.0.1, a trusted proxy by default) and for another account: the
  cache-cold path of a credential-stuffing wave;
- naive flood: POST /api/login from one address for one account, which the default rules block
  and then ban (after the first round, almost every request is a ban refusal).

Each row also gives the share of answers shield itself gave (blocked, challenged, banned), read
from the target's metrics, so a ratio is never a refusal rate passed off as forwarding speed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

from proxy import bare_proxy, cpu_seconds, free_port, process, shield_run  # bench/proxy.py

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "shield" / "sim" / "data"

ADMIN_TOKEN = "bench-admin-token-0123456789"
TARGETS = {  # the targets: ratio to shield pass-through (bare: pass-through over bare)
    "protected, memory": 0.6,
    "protected, redis": 0.5,
    "flood, banned": 3.0,
    "pass-through / bare aiohttp": 1.0,
}

# Every request: another address in the demo world's Japanese mobile /16s (198.18.0.0/15, 131,072
# addresses, a /24 revisited every 512 requests) and another account. `math.random` looks like a random
# start, but wrk's LuaJIT generator is unseeded: every run starts at the same request (see rotating_from).
ROTATING_LUA = r"""
local i = math.random(0, 1000000)
request = function()
  i = i + 1
  local a = i % 2
  local b = math.floor(i / 2) % 256
  local c = math.floor(i / 512) % 256
  local body = '{"username": "user' .. i .. '@example.com", "password": "pw' .. (i % 997) .. '"}'
  return wrk.format("POST", "/api/login", {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
    ["X-Forwarded-For"] = "198." .. (18 + a) .. "." .. b .. "." .. c,
  }, body)
end
"""



WAVES = ("replayed (each run from the same start)", "fresh (each run goes on where the last ended)")


def rotating_from(start: int) -> str:
    """ROTATING_LUA starting at request `start`. wrk's LuaJIT random generator is unseeded, so every wrk
    run of ROTATING_LUA starts at the same request and replays the last run's addresses, banned by
    then; a run started where the last one ended sends addresses not yet seen in the benchmark (until
    the 131,072 come round again)."""
    lua = ROTATING_LUA.replace("math.random(0, 1000000)", str(start))
    assert lua != ROTATING_LUA
    return lua


FLOOD_LUA = r"""
wrk.method = "POST"
wrk.body = '{"username": "alice@example.com", "password": "not-the-password"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "python-requests/2.31.0"
"""


@dataclass(slots=True)
class Workload:
    name: str
    port: int
    path: str
    lua: str | None
    admin: int | None = None  # the target's admin port, to read its decisions
    pids: list[int] = field(default_factory=list)  # the target's processes (their CPU per request)
    extra_pids: list[int] = field(default_factory=list)  # and its Redis


def nginx_origin(port: int, tmp: Path) -> Any:
    """nginx as the app: GET answers 200, POST /api/login 401 (a failed login), both small JSON."""
    conf = tmp / "origin.conf"
    conf.write_text(f"""
worker_processes 2;
daemon off;
pid {tmp}/origin.pid;
error_log {tmp}/origin-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/obody; proxy_temp_path {tmp}/oproxy;
  fastcgi_temp_path {tmp}/ofcgi; uwsgi_temp_path {tmp}/ouwsgi; scgi_temp_path {tmp}/oscgi;
  keepalive_requests 1000000;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port};
    location = /api/login {{ return 401 '{{"ok": false}}'; }}
    location / {{ return 200 '{{"ok": true}}'; }}
  }}
}}
""")
    return process([shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(tmp), "-c", str(conf)], port)


@contextmanager
def redis_server(port: int, tmp: Path) -> Iterator[tuple[str, list[int]]]:
    cmd = [
        shutil.which("redis-server") or "redis-server",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp),
    ]
    with process(cmd, port) as pids:
        yield f"redis://127.0.0.1:{port}/0", pids


def shield_config(tmp: Path, name: str, *, protected: bool, store: str = "memory://") -> Path:
    path = tmp / f"{name}.yaml"
    lines = [f"store: {store!r}"]
    if not protected:
        lines.append("routes: []")
    else:  # the demo world: its GeoIP database and lists, so the addresses are Japanese mobile ones
        lines += [
            f"geoip: {{country: {str(DEMO / 'demo.mmdb')!r}, asn: {str(DEMO / 'demo.mmdb')!r}}}",
            f"extra_lists: [{str(DEMO / 'demo-lists')!r}]",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def shield_with(port: int, upstream: str, config: Path, admin: int) -> Any:
    return shield_run(port, upstream, config, admin=admin, env={"SHIELD_ADMIN_TOKEN": ADMIN_TOKEN})


def wrk_rps(url: str, *, lua: str | None, duration: int, connections: int, tmp: Path) -> tuple[float, int]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    if lua is not None:
        script = tmp / f"load-{abs(hash(lua))}.lua"
        script.write_text(lua)
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Socket errors" in out:
        print(f"  note: {url}: " + next(x.strip() for x in out.splitlines() if "Socket errors" in x), file=sys.stderr)
    done = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]), done  # type: ignore[index]


def decision_counts(admin: int) -> dict[str, float]:
    """Shield's enforced decisions on the protected route so far, by action, from its Prometheus text."""
    req = Request(f"http://127.0.0.1:{admin}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    text = urlopen(req, timeout=5).read().decode()
    counts: dict[str, float] = {}
    for m in re.finditer(r"^shield_decisions_total\{([^}]*)\} ([\d.e+]+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m[1]))
        if labels.get("shadow") == "false":
            counts[labels["action"]] = counts.get(labels["action"], 0.0) + float(m[2])
    return counts


def share_text(counts: dict[str, float], before: dict[str, float] | None = None) -> str:
    """`counts` (less `before`'s, when given: one stretch of a run) as shares by action."""
    if before is not None:
        counts = {a: n - before.get(a, 0.0) for a, n in counts.items()}
    total = sum(counts.values()) or 1.0
    return ", ".join(f"{a} {n / total:.0%}" for a, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n)


def refused_share(admin: int) -> str:
    """How shield decided on the protected route, by action, over its whole run."""
    return share_text(decision_counts(admin))


def run(args: Any) -> None:
    """Start everything, measure interleaved, print the table and the ratios."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        origin_port = free_port()
        stack.enter_context(nginx_origin(origin_port, tmp))
        origin = f"http://127.0.0.1:{origin_port}"
        redis, redis_pids = stack.enter_context(redis_server(free_port(), tmp))
        loads: list[Workload] = []

        def start(name: str, config: Path | None, path: str, lua: str | None, extra: list[int] | None = None) -> None:
            port, admin = free_port(), None
            if config is None:
                pids = stack.enter_context(bare_proxy(port, origin))
            else:
                admin = free_port()
                pids = stack.enter_context(shield_with(port, origin, config, admin))
            loads.append(Workload(name, port, path, lua, admin, pids, extra or []))

        start("bare aiohttp", None, "/", None)
        start("pass-through", shield_config(tmp, "pass", protected=False), "/", None)
        start("protected, memory", shield_config(tmp, "mem", protected=True), "/api/login", ROTATING_LUA)
        start(
            "protected, redis",
            shield_config(tmp, "redis", protected=True, store=redis),
            "/api/login",
            ROTATING_LUA,
            redis_pids,
        )
        start("flood, banned", shield_config(tmp, "flood", protected=True), "/api/login", FLOOD_LUA)
        best: dict[str, float] = {}
        cpu: dict[str, tuple[float, float]] = {}  # the least CPU per request over the rounds: target's, Redis's
        starts: dict[str, int] = {}  # --fresh: where each target's rotating wave goes on
        for rnd in range(args.repeat):
            for w in loads:
                cpu0, extra0 = cpu_seconds(w.pids), cpu_seconds(w.extra_pids) if w.extra_pids else 0.0
                lua = w.lua
                if args.fresh and lua is ROTATING_LUA:
                    lua = rotating_from(starts.setdefault(w.name, 0))
                rps, done = wrk_rps(
                    f"http://127.0.0.1:{w.port}{w.path}",
                    lua=lua,
                    duration=args.duration,
                    connections=args.connections,
                    tmp=tmp,
                )
                if w.name in starts:
                    starts[w.name] += done + args.connections  # and the requests in flight at the end
                used = (cpu_seconds(w.pids) - cpu0) / done * 1e6
                extra = ((cpu_seconds(w.extra_pids) if w.extra_pids else 0.0) - extra0) / done * 1e6
                best[w.name] = max(best.get(w.name, 0.0), rps)
                if w.name not in cpu or used < cpu[w.name][0]:
                    cpu[w.name] = (used, extra)
                print(f"  round {rnd + 1}: {w.name:20} {rps:9.0f} req/s {used:6.0f} us CPU/request", file=sys.stderr)
        shares = {w.name: refused_share(w.admin) for w in loads if w.admin is not None and w.lua is not None}
    print_ratios(best, cpu, shares, args)


def print_ratios(
    best: dict[str, float], cpu: dict[str, tuple[float, float]], shares: dict[str, str], args: Any
) -> None:
    passthrough, bare = best["pass-through"], best["bare aiohttp"]
    print(
        f"\nwrk -t1 -c{args.connections} -d{args.duration}s, best of {args.repeat} interleaved rounds, nginx origin, "
        f"rotating wave {WAVES[bool(args.fresh)]}, "
        f"2 workers or processes per target; load average before {args.load_before}, after "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n"
    )
    print("| workload | req/s | ratio | of | target | met | CPU/request | shield's decisions (whole run) |")
    print("|---|---:|---:|---|---:|---|---:|---|")
    print(f"| bare aiohttp proxy, GET / | {bare:,.0f} | | | | | {cpu['bare aiohttp'][0]:.0f} us | |")
    rows = [("shield pass-through, GET /", passthrough, bare, "bare aiohttp", "pass-through / bare aiohttp", "")]
    names = {"shield pass-through, GET /": "pass-through"}
    for name, label in (
        ("protected, memory", "protected logins, memory store"),
        ("protected, redis", "protected logins, Redis store"),
        ("flood, banned", "naive flood, one address (blocked, then banned)"),
    ):
        rows.append((label, best[name], passthrough, "pass-through", name, shares.get(name, "")))
        names[label] = name
    for label, rps, base, of, key, share in rows:
        ratio, target = rps / base, TARGETS[key]
        used, extra = cpu[names[label]]
        cost = f"{used:.0f} us" + (f" + Redis {extra:.0f} us" if extra else "")
        print(
            f"| {label} | {rps:,.0f} | {ratio:.2f} | {of} | >= {target} | {'yes' if ratio >= target else 'no'} "
            f"| {cost} | {share} |"
        )
    print(
        "\nCPU/request: user+system time of the target's processes (and of redis-server) over a round, divided by "
        "its requests; the least of the rounds. wrk and the origin are not counted."
    )
