"""Per-request cost of identity + enrichment (FactBuilder.build), warm and cache-cold.

    .venv/bin/python bench/facts.py [--n 50000]

Uses the demo world (its GeoIP database and lists) and the bundled lists; prints one row per client kind
on a warm cache, then the cache-cold path of a credential-stuffing wave: every request a new address
(IPv4 in the demo JP mobile /16s, or IPv6 in its /40s), a new account and password, no device cookie
(so one is minted), the same few user agents.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from shield.facts.build import FactBuilder
from shield.facts.enrich.lists import load_list_folders
from shield.facts.enrich.useragent import UserAgentParser, make_resolver
from shield.facts.identity.keyed import Keyer
from shield.settings.schema import BUNDLED_RULES, DEFAULT_ROUTES, ClientSettings, RouteSettings, Settings
from shield.sim.world import demo_world

BODY = b'{"username": "Alice@Example.com", "password": "correct horse battery staple"}'
CLIENTS: dict[str, tuple[str, list[tuple[bytes, bytes]]]] = {
    "browser (Chrome 131, new device)": (
        "2001:db8:1004::5",
        [
            (b"Host", b"shop.example.jp"),
            (b"Connection", b"keep-alive"),
            (b"Content-Length", b"77"),
            (b"sec-ch-ua", b'"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
            (b"sec-ch-ua-mobile", b"?0"),
            (b"sec-ch-ua-platform", b'"Windows"'),
            (
                b"User-Agent",
                b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                b"Chrome/131.0.0.0 Safari/537.36",
            ),
            (b"Content-Type", b"application/json"),
            (b"Accept", b"*/*"),
            (b"Origin", b"https://shop.example.jp"),
            (b"Sec-Fetch-Site", b"same-origin"),
            (b"Sec-Fetch-Mode", b"cors"),
            (b"Sec-Fetch-Dest", b"empty"),
            (b"Referer", b"https://shop.example.jp/login"),
            (b"Accept-Encoding", b"gzip, deflate, br, zstd"),
            (b"Accept-Language", b"ja,en-US;q=0.9,en;q=0.8"),
        ],
    ),
    "app (DemoPay Android)": (
        "198.18.9.9",
        [
            (b"X-App-Version", b"5.2.1"),
            (b"X-Device-Id", b"3f2c9a1e-55aa-4b7d-9e0f-1c2d3e4f5a6b"),
            (b"Content-Type", b"application/json; charset=UTF-8"),
            (b"Content-Length", b"77"),
            (b"Host", b"api.example.jp"),
            (b"Connection", b"Keep-Alive"),
            (b"Accept-Encoding", b"gzip"),
            (b"User-Agent", b"DemoPay/5.2.1 (Android 14; Pixel 8)"),
        ],
    ),
    "curl (hosting)": (
        "198.51.100.2",
        [
            (b"Host", b"api.example.jp"),
            (b"User-Agent", b"curl/8.5.0"),
            (b"Accept", b"*/*"),
            (b"Content-Type", b"application/json"),
            (b"Content-Length", b"77"),
        ],
    ),
}


def measure(fn: Callable[[], object], n: int) -> float:
    """CPU microseconds per call: best of 5 runs (CPU time, so other processes' load counts less)."""
    runs = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(n):
            fn()
        runs.append((time.process_time() - start) / n * 1e6)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20000, help="calls per run (5 runs, best kept)")
    args = parser.parse_args()
    settings = demo_world(
        Settings(
            client=ClientSettings(
                app_ua_pattern=r"^DemoPay/",
                app_version_header="X-App-Version",
                device_header="X-Device-Id",
            )
        )
    )
    lists = load_list_folders(Path(BUNDLED_RULES) / "lists", settings.extra_lists)
    builder = FactBuilder.from_settings(settings, keyer=Keyer(b"bench-secret-0123456789abcdef"), lists=lists)
    route = DEFAULT_ROUTES[0]
    print(f"{'client':36} {'us/request':>10} {'requests/s':>12}")
    for name, (ip, headers) in CLIENTS.items():

        def call(ip: str = ip, headers: list[tuple[bytes, bytes]] = headers) -> object:
            return builder.build(
                request_id="bench",
                route=route,
                method="POST",
                path="/api/login",
                query={},
                raw_headers=headers,
                body=BODY,
                client_ip=ip,
                peer_trusted=True,
            )

        call()  # warm the caches
        us = measure(call, args.n)
        print(f"{name:36} {us:10.1f} {1e6 / us:12,.0f}")
    print_cold(builder, route, args.n)
    print_ua_cost(max(args.n // 20, 100))


COLD_UAS = [
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Version/17.4 Mobile/15E148 Safari/604.1",
    b"python-requests/2.31.0",
]


def cold_requests(n: int, run: int, *, v6: bool) -> list[tuple[str, list[tuple[bytes, bytes]], bytes]]:
    """n requests, each from an address, account and password no other run of this process used."""
    requests = []
    for i in range(n):
        k = run * n + i
        ip = f"2001:db8:{0x1000 + k % 0x300:x}:{k >> 8 & 0xFFFF:x}::{k & 0xFF:x}" if v6 else (
            f"198.{18 + (k >> 16) % 2}.{k >> 8 & 0xFF}.{k & 0xFF}"
        )
        headers = [
            (b"Host", b"shop.example.jp"),
            (b"User-Agent", COLD_UAS[i % len(COLD_UAS)]),
            (b"Accept", b"*/*"),
            (b"Content-Type", b"application/json"),
            (b"Content-Length", b"60"),
        ]
        body = b'{"username": "user%d@example.com", "password": "pw-%d-%d"}' % (k, k, run)
        requests.append((ip, headers, body))
    return requests


def print_cold(builder: FactBuilder, route: RouteSettings, n: int) -> None:
    """Cache-cold: new address, account, password and device per request (best of 5 runs, CPU us)."""
    n = min(n, 20000)  # stays under the per-address cache size: every run's addresses are new
    print(f"\n{'cache-cold (new ip/account/device)':36} {'us/request':>10} {'requests/s':>12}")
    for label, v6 in (("IPv4", False), ("IPv6", True)):
        runs = []
        for run in range(5):
            requests = cold_requests(n, run + (10 if v6 else 0), v6=v6)
            build = builder.build
            start = time.process_time()
            for ip, headers, body in requests:
                build(
                    request_id="bench",
                    route=route,
                    method="POST",
                    path="/api/login",
                    query={},
                    raw_headers=headers,
                    body=body,
                    client_ip=ip,
                    peer_trusted=True,
                )
            runs.append((time.process_time() - start) / n * 1e6)
        us = min(runs)
        print(f"{label:36} {us:10.1f} {1e6 / us:12,.0f}")


def print_ua_cost(n: int) -> None:
    """What the UA cache saves: a cold ua-parser (regex resolver) parse against a cache hit."""
    resolver = make_resolver()
    print(f"\n{'user agent parse':36} {'cold us':>10} {'cached us':>12}")
    for name, (_, headers) in CLIENTS.items():
        ua = dict(headers)[b"User-Agent"].decode()
        cold = UserAgentParser(app_pattern=None, cache_size=1, resolver=resolver)
        uas = [f"{ua} v{i}" for i in range(n)]  # all different: every parse misses the cache
        start = time.process_time()
        for text in uas:
            cold.parse(text)
        cold_us = (time.process_time() - start) / n * 1e6
        warm = UserAgentParser(app_pattern=None, resolver=resolver)
        warm.parse(ua)
        print(f"{name:36} {cold_us:10.1f} {measure(lambda p=warm, u=ua: p.parse(u), n * 20):12.2f}")


if __name__ == "__main__":
    main()
