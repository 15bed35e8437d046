"""The Python CPU of one refusal on the ban fast path, as a flood of logins from a banned address pays it.

    .venv/bin/python bench/ban_wire.py [--n 20000] [--rounds 7]

A whole worker's service (the demo world, the memory store, the bundled rules) behind its real
connection protocol (shield.proxy.client_limits.LimitedRequestHandler with its early answers), fed
`./dev bench proxy`'s "flood, banned" request (wrk's bytes of FLOOD_LUA: POST /api/login with a
JSON body, keep-alive) one read at a time, as wrk sends them, from an address that is banned. The
transport only counts what it is handed: no socket, no syscall, no event loop turn in the timing, so
what is left is the Python (and aiohttp's C parser) around each answer. Each round is one second of
a fake clock: its first refusals (their own decision lines, the store counts) go aiohttp's way
outside the timing, then `--n` refusals are timed. Prints microseconds of CPU per refusal, best of
`--rounds`, and the answers' bytes per refusal (they must not change).

Before/after in one sitting: export another tree's `shield/` (`git archive REV shield | tar -x -C
/tmp/base`) and run the same script with PYTHONPATH=/tmp/base, interleaved with a plain run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from typing import Any

import shield
from shield.model import FakeClock
from shield.observe.logs import configure_logging
from shield.proxy.listener import LimitedRunner
from shield.service import build_service
from shield.settings.schema import LogSettings, Settings
from shield.sim.world import demo_world

PEER = ("203.0.113.9", 40000)
FLOOD = (  # wrk -s FLOOD_LUA (bench/proxy_workloads.py), as it goes on the wire
    b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
    b"User-Agent: python-requests/2.31.0\r\nContent-Length: 65\r\n\r\n"
    b'{"username": "alice@example.com", "password": "not-the-password"}'
)


class Sink(asyncio.Transport):
    """A transport that keeps nothing: the bytes written are counted, the rest is a no-op."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def writelines(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return PEER if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def measure(n: int, rounds: int) -> tuple[float, float]:
    """(best us of CPU per refusal, bytes written per refusal)."""
    settings = demo_world(Settings(secret=secrets.token_bytes(32), store="memory://", trusted_proxies=()))
    clock = FakeClock()
    service = build_service(settings, clock=clock, with_admin=False)
    await service.store.add_ban("ip", PEER[0], ttl=86400, reason="bench", now=clock.now(), source="admin")
    await service.bans.refresh(clock.now())
    runner = LimitedRunner(service.proxy, limits=settings.limits, name="proxy", access_log=None, handle_signals=False)
    await runner.setup()
    assert runner.server is not None
    proto: Any = runner.server()
    sink = Sink()
    proto.connection_made(sink)
    best, per = float("inf"), 0.0
    try:
        for _ in range(rounds):
            clock.advance(1)
            early = proto._early.answered
            while proto._answered != proto._request_count or proto._messages or proto._early.answered == early:
                # this second's first refusals: aiohttp's path (a line of their own, a store count)
                if proto.idle():
                    proto.data_received(FLOOD)
                await asyncio.sleep(0)
            start, early = sink.written, proto._early.answered
            t0 = time.process_time()
            for _ in range(n):
                proto.data_received(FLOOD)
            spent = time.process_time() - t0
            assert proto._early.answered - early == n, "every timed refusal on the fast path"
            best, per = min(best, spent / n * 1e6), (sink.written - start) / n
    finally:
        proto.connection_lost(None)
        await runner.cleanup()
        await service.close()
    return best, per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="refusals timed per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    try:
        import uvloop  # the loop shield runs on
    except ImportError:  # pragma: no cover
        uvloop = None
    run = uvloop.run if uvloop is not None else asyncio.run
    with open(os.devnull, "w") as sink:  # the decision lines (the first of each second, the summaries)
        configure_logging(LogSettings(format="json"), stream=sink)
        us, size = run(measure(args.n, args.rounds))
    print(f"shield {shield.__file__}", file=sys.stderr)
    print(f"ban fast path: {us:.2f} us CPU per refusal ({size:.0f} bytes answered each), best of {args.rounds}")


if __name__ == "__main__":
    main()
