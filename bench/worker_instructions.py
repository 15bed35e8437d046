"""Instructions per protected request in one live shield worker, counted by callgrind.

    .venv/bin/python bench/worker_instructions.py [--duration 15] [--load rotating|banning|flood|none]

Starts nginx as the app and one shield worker (memory store, default pack) under valgrind's callgrind
with instrumentation off, seeds a ban with a short flood (a ban in force, as during an attack), warms up
on the workload, then counts instructions only while wrk drives it. Prints shield's decisions over the
run and the instructions per request. Counts depend on what the requests are (compare runs with the same
ban/block mix) and little on the host's speed or load (but see the once-a-second work below), so two
builds can be compared on a busy machine; `callgrind_annotate --inclusive=yes <file>` gives the
per-function split. Needs valgrind (apt).

Loads: `rotating` is `./dev bench proxy`'s wave at callgrind's rate (~90 req/s on a quiet host, 10-20
on a busy one), where it only ever blocks: the wave bans once a password of its 997 has been tried on
10 accounts (password_spray_1h: 40 credential points on top of the crowd rules' 120 and
header_inconsistency's 20, score 180 >= 150), ~10k requests in, seconds at full speed and minutes
under callgrind. `banning` is the same wave with 20 passwords, so the same rules fire after ~200
requests: the warm-up goes on until they do, and the counted run is new bans, as most of the timed
wave's first round is (bench/ban_mix.py). Both print the counted run's decisions and the share of them
that added a ban (shield_bans_total). The worker's once-a-second work (the ban cache's refresh over
every ban) is shared by the second's requests: compare runs at similar rates.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proxy_workloads as pw
from ban_mix import bans_added
from proxy import free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
# the wave with 20 passwords, not 997: password_spray_1h fires after ~200 requests, not ~10k
BANNING_LUA = pw.ROTATING_LUA.replace("(i % 997)", "(i % 20)")
assert BANNING_LUA != pw.ROTATING_LUA
LOADS = {"rotating": pw.ROTATING_LUA, "banning": BANNING_LUA, "flood": pw.FLOOD_LUA, "none": None}
_START = "local i = math.random(0, 1000000)"


class Wave:
    """wrk runs of one load. wrk's LuaJIT is not seeded: every run's math.random draws the same start,
    so each run of the wave would replay the last run's addresses, now banned. The banning load's runs
    go on where the last one ended instead (`rotating` is left as its recorded numbers were made)."""

    def __init__(self, url: str, load: str, connections: int, tmp: Path) -> None:
        self.url, self.load, self.connections, self.tmp = url, load, connections, tmp
        self.lua, self.start = LOADS[load], 0

    def run(self, duration: int) -> tuple[float, int]:
        lua = self.lua
        if self.load == "banning" and lua is not None:
            assert _START in lua
            lua = lua.replace(_START, f"local i = {self.start}")
        rps, done = pw.wrk_rps(self.url, lua=lua, duration=duration, connections=self.connections, tmp=self.tmp)
        self.start += done + self.connections  # and the requests in flight when wrk stopped
        return rps, done


def warm_until_banning(wave: Wave, admin: int) -> None:
    """More warm-up, 5 s at a time (at most 2 minutes), until half of a stretch's decisions added a ban:
    how many requests the warm-up took depends on the host's speed under valgrind."""
    for _ in range(24):
        before, added = sum(pw.decision_counts(admin).values()), bans_added(admin)
        wave.run(5)
        if bans_added(admin) - added >= 0.5 * (sum(pw.decision_counts(admin).values()) - before):
            return
    print("  note: the warm-up never reached the wave's bans", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=15, help="seconds counted (default 15)")
    ap.add_argument("--load", choices=sorted(LOADS), default="rotating", help="wrk's workload (default rotating)")
    ap.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    ap.add_argument("--out", default=None, help="callgrind output file prefix (default: a temporary file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out = args.out or str(tmp / "callgrind")
        origin = free_port()
        with pw.nginx_origin(origin, tmp):
            config = pw.shield_config(tmp, "mem", protected=True)
            port, admin = free_port(), free_port()
            env = {**os.environ, "SHIELD_SECRET": "bench-secret-0123456789abcdef", "SHIELD_LOG_FORMAT": "json",
                   "SHIELD_LOG_LEVEL": "info", "SHIELD_ADMIN_TOKEN": pw.ADMIN_TOKEN}
            cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p",
                   sys.executable, "-m", "shield.cli", "run", "--config", str(config), "--workers", "1",
                   "--upstream", f"http://127.0.0.1:{origin}", "--listen", f"127.0.0.1:{port}",
                   "--admin-listen", f"127.0.0.1:{admin}"]
            proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_port(port, timeout=600)
                time.sleep(2)
                url = f"http://127.0.0.1:{port}{'/' if LOADS[args.load] is None else '/api/login'}"
                wave = Wave(url, args.load, args.connections, tmp)
                login = f"http://127.0.0.1:{port}/api/login"
                pw.wrk_rps(login, lua=pw.FLOOD_LUA, duration=8, connections=8, tmp=tmp)  # a ban in force
                wave.run(5)  # warm
                if args.load == "banning":
                    warm_until_banning(wave, admin)
                control = ["callgrind_control"]
                before = pw.decision_counts(admin)  # the seeding flood's ban refusals are not the counted run's
                added = bans_added(admin)
                subprocess.run([*control, "-i", "on", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
                rps, done = wave.run(args.duration)
                subprocess.run([*control, "-i", "off", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
                subprocess.run([*control, "-d", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
                time.sleep(1)
                after = pw.decision_counts(admin)
                decisions = pw.share_text(after, before)
                counted = sum(after.values()) - sum(before.values())
                new_bans = (bans_added(admin) - added) / max(counted, 1.0)
            finally:
                proc.terminate()
                proc.wait(60)
            total = 0
            files = sorted(glob.glob(f"{out}.*"))
            for name in files:
                with open(name, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        if line.startswith(("summary:", "totals:")):
                            total = max(total, int(line.split()[1]))
    print(f"shield's decisions over the counted run: {decisions}; new bans {new_bans:.0%}")
    per = total / max(done, 1) / 1e3
    print(f"{done} requests counted ({rps:.0f} req/s under callgrind): {per:.1f}k instructions per request")
    if args.out:
        print("callgrind files: " + " ".join(files))


if __name__ == "__main__":
    main()
