"""Challenge costs: what a puzzle costs a client to solve and shield to issue and verify.

    .venv/bin/python bench/challenge.py [--seeds 20] [--browser]

Prints a table: Python client solve time per difficulty (median and p90 over random seeds),
shield's issue/verify rate on one core, and with --browser the challenge page's own solve
time in headless Chromium (Web Crypto, and its fallback SHA-256 with crypto.subtle removed).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from shield.challenge.client import solve
from shield.challenge.pow import Binding, issue, verify

SECRET = b"b" * 32
BIND = Binding("198.18.1.2", "login", "fp")


def solve_times(difficulty: int, seeds: int) -> tuple[float, float, float]:
    times = []
    for _ in range(seeds):
        challenge = issue(SECRET, binding=BIND, difficulty=difficulty, now=time.time(), ttl=300).as_json()
        start = time.perf_counter()
        solve(challenge)
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1], statistics.mean(times)


def rate(fn: object, seconds: float = 1.0) -> float:
    call = fn  # type: ignore[assignment]
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            call()  # type: ignore[operator]
        n += 200
    return n / (time.perf_counter() - start)


async def browser_solves(difficulties: tuple[int, ...], runs: int) -> dict[tuple[str, int], list[float]]:
    """Seconds from navigation to the page's 'solved' console line, per engine and difficulty."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer
    from playwright.async_api import async_playwright

    from shield.challenge.pages import challenge_response

    async def page(request: web.Request) -> web.Response:
        # A POST-style page: after solving it stays put (no reload), so one navigation = one solve.
        c = issue(SECRET, binding=BIND, difficulty=int(request.query["d"]), now=time.time(), ttl=300)
        return challenge_response(c, request_id="bench", accept="text/html", method="POST")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    out: dict[tuple[str, int], list[float]] = {}
    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
            for engine, init in (("webcrypto", None), ("js", "delete Crypto.prototype.subtle;")):
                tab = await browser.new_page()
                if init:
                    await tab.add_init_script(init)
                for d in difficulties:
                    for _ in range(runs):
                        start = time.perf_counter()
                        async with tab.expect_console_message(lambda m: "solved with" in m.text, timeout=300_000):
                            await tab.goto(str(server.make_url(f"/?d={d}")))
                        out.setdefault((engine, d), []).append(time.perf_counter() - start)
                await tab.close()
            await browser.close()
    finally:
        await server.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--browser-runs", type=int, default=8)
    args = parser.parse_args()
    print(f"Python client (shield.challenge.client.solve), {args.seeds} random seeds per difficulty")
    print(f"{'difficulty':>10}  {'median s':>9}  {'p90 s':>9}  {'mean s':>9}")
    for difficulty in (8, 12, 14, 16, 18, 20):
        med, p90, mean = solve_times(difficulty, args.seeds)
        print(f"{difficulty:>10}  {med:>9.4f}  {p90:>9.4f}  {mean:>9.4f}")
    challenge = issue(SECRET, binding=BIND, difficulty=16, now=time.time(), ttl=300)
    answer = solve(challenge.as_json())
    now = time.time()
    print("\nshield, one core")
    print(f"  issue:  {rate(lambda: issue(SECRET, binding=BIND, difficulty=16, now=now, ttl=300)):>10,.0f} /s")
    print(f"  verify: {rate(lambda: verify(SECRET, answer, binding=BIND, now=now)):>10,.0f} /s (valid solution)")
    print(f"  verify: {rate(lambda: verify(SECRET, 'A' * 300, binding=BIND, now=now)):>10,.0f} /s (oversized header)")
    if args.browser and Path("/usr/bin/chromium").exists():
        difficulties = (12, 16, 18)
        solves = asyncio.run(browser_solves(difficulties, args.browser_runs))
        print(f"\nheadless Chromium, the challenge page end to end (navigation to solved), {args.browser_runs} runs")
        print(f"{'engine':>10}  {'difficulty':>10}  {'median s':>9}  {'max s':>9}  {'hashes/s':>10}")
        for (engine, d), times in solves.items():
            rate_hs = 2**d / statistics.mean(times)  # expected tries are 2**d
            print(f"{engine:>10}  {d:>10}  {statistics.median(times):>9.3f}  {max(times):>9.3f}  {rate_hs:>10,.0f}")


if __name__ == "__main__":
    main()
