"""What the rotating wave's protected answers are, round by round: blocks, new bans, refusals of bans in force.

    .venv/bin/python bench/ban_mix.py [--rounds 3] [--duration 10] [--replayed]

Runs `./dev bench proxy`'s protected memory load (nginx as the app, one shield with the bench's memory
config, wrk -c64 with the rotating-login script) and reads shield's Prometheus counters after each
round: its decisions by action and the bans it added. A ban decision that added no ban refused an
address banned earlier in the run. Each round starts where the last ended (new addresses until the
131k come round again); wrk's random start is unseeded, so with `--replayed` each round starts at the
same request and replays the last round's addresses (the wave of the first twelve passes' numbers).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proxy_workloads as pw
from proxy import free_port


def bans_added(admin: int) -> float:
    req = Request(f"http://127.0.0.1:{admin}/metrics", headers={"Authorization": f"Bearer {pw.ADMIN_TOKEN}"})
    text = urlopen(req, timeout=5).read().decode()
    return sum(float(m[1]) for m in re.finditer(r"^shield_bans_total\{[^}]*\} ([\d.e+]+)$", text, re.M))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per round (default 10)")
    ap.add_argument("--replayed", action="store_true", help="each round replays the last one's addresses")
    ap.add_argument("--fresh", action="store_true", help="the default wave, named (kept for older commands)")
    args = ap.parse_args()
    if args.fresh and args.replayed:
        ap.error("--fresh and --replayed name different waves")
    args.fresh = not args.replayed
    print("| round | req/s | requests | blocks | new bans | refusals of bans in force | other |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        origin = free_port()
        stack.enter_context(pw.nginx_origin(origin, tmp))
        port, admin = free_port(), free_port()
        config = pw.shield_config(tmp, "mem", protected=True)
        stack.enter_context(pw.shield_with(port, f"http://127.0.0.1:{origin}", config, admin))
        seen: dict[str, float] = {}
        start = 0
        added = 0.0
        for rnd in range(args.rounds):
            url = f"http://127.0.0.1:{port}/api/login"
            lua = pw.rotating_from(start) if args.fresh else pw.ROTATING_LUA
            rps, done = pw.wrk_rps(url, lua=lua, duration=args.duration, connections=64, tmp=tmp)
            start += done + 64
            counts, now_added = pw.decision_counts(admin), bans_added(admin)
            d = {a: n - seen.get(a, 0.0) for a, n in counts.items()}
            new = now_added - added
            other = sum(n for a, n in d.items() if a not in ("block", "ban"))
            total = sum(d.values()) or 1.0
            print(f"| {rnd + 1} | {rps:,.0f} | {done:,} | {d.get('block', 0) / total:.0%} | {new / total:.0%} "
                  f"| {(d.get('ban', 0) - new) / total:.0%} | {other / total:.0%} |")
            seen, added = counts, now_added


if __name__ == "__main__":
    main()
