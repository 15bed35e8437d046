"""Instructions per protected request in one live shield worker, counted by callgrind.

    .venv/bin/python bench/worker_instructions.py [--duration 15] [--load rotating|flood|none]

Starts nginx as the app and one shield worker (memory store, default pack) under valgrind's callgrind
with instrumentation off, seeds a ban with a short flood (a ban in force, as during an attack), warms up
on the workload, then counts instructions only while wrk drives it. Prints shield's decisions over the
run and the instructions per request. Counts do not depend on the host's speed or load (only on what the
requests are: compare runs with the same ban/block mix), so two builds can be compared on a busy machine;
`callgrind_annotate --inclusive=yes <file>` gives the per-function split. Needs valgrind (apt).
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
from proxy import free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
LOADS = {"rotating": pw.ROTATING_LUA, "flood": pw.FLOOD_LUA, "none": None}


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
                lua = LOADS[args.load]
                url = f"http://127.0.0.1:{port}{'/' if lua is None else '/api/login'}"
                login = f"http://127.0.0.1:{port}/api/login"
                pw.wrk_rps(login, lua=pw.FLOOD_LUA, duration=8, connections=8, tmp=tmp)  # a ban in force
                pw.wrk_rps(url, lua=lua, duration=5, connections=args.connections, tmp=tmp)  # warm
                control = ["callgrind_control"]
                before = pw.decision_counts(admin)  # the seeding flood's ban refusals are not the counted run's
                subprocess.run([*control, "-i", "on", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
                rps, done = pw.wrk_rps(url, lua=lua, duration=args.duration, connections=args.connections, tmp=tmp)
                subprocess.run([*control, "-i", "off", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
                subprocess.run([*control, "-d", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
                time.sleep(1)
                decisions = pw.share_text(pw.decision_counts(admin), before)
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
    print(f"shield's decisions over the counted run: {decisions}")
    per = total / max(done, 1) / 1e3
    print(f"{done} requests counted ({rps:.0f} req/s under callgrind): {per:.1f}k instructions per request")
    if args.out:
        print("callgrind files: " + " ".join(files))


if __name__ == "__main__":
    main()
