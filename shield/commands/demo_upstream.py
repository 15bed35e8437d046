"""`shield demo-upstream`: the bundled demo login app (what shield protects in the demo).

    shield demo-upstream --listen 127.0.0.1:8080 --users 2000 --seed 1

POST /api/login, POST /api/transfer, GET /, GET /_demo/stats[?detail=1], POST /_demo/reset.
Its user database is the simulator's for the same --users and --seed.
"""

from __future__ import annotations

import argparse
import sys

from aiohttp import web

from shield.sim.demo_app import UserDB, build_demo_app
from shield.sim.draws import draw
from shield.sim.plan import accounts_for


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo-upstream",
        help="serve the demo login app",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="default 127.0.0.1:8080")
    p.add_argument("--users", type=int, default=2000, help="accounts in the user database (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the user database (default 1)")
    p.add_argument("--draw", type=int, metavar="N", help="the users of `shield simulate --draw N` (sets the seed)")
    p.set_defaults(handler=run)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {value!r}: expected HOST:PORT such as 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", int(port)


def run(args: argparse.Namespace) -> int:
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"shield demo-upstream: {exc}", file=sys.stderr)
        return 2
    if args.users < 1 or (args.draw is not None and args.draw < 0):
        print("shield demo-upstream: --users must be at least 1, --draw not negative", file=sys.stderr)
        return 2
    if args.draw is not None:
        d = draw(args.draw)
        args.seed = d.seed
        accounts = accounts_for(args.users, d.seed, shape=d.population)
    else:
        accounts = accounts_for(args.users, args.seed)
    app = build_demo_app(UserDB(accounts))
    print(f"demo login app on http://{host}:{port} ({args.users} users, seed {args.seed})", file=sys.stderr)
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None)
    except OSError as exc:
        print(f"shield demo-upstream: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
