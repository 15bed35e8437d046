"""End to end through real sockets: client -> shield -> real upstream -> back."""

from __future__ import annotations

import asyncio
import base64
import json
import tracemalloc
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from shield.model import Ban
from shield.proxy.forwarder import RequestContext
from shield.settings.schema import RouteSettings, UpstreamSettings
from tests.fixtures.upstream import Upstream, free_port
from tests.proxy.conftest import LogLines, Proxy, StartProxy


@pytest.fixture(params=["h1", "aiohttp"])
def proxy_client(request: pytest.FixtureRequest) -> str:
    """Both upstream clients pass the same forwarding contract."""
    client: str = request.param
    return client


def _headers(rec: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in rec["headers"]}


async def raw_request(url: str, data: bytes) -> bytes:
    """Send bytes as they are on a fresh connection; the whole answer until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(1 << 20), 5)
    finally:
        writer.close()


async def test_request_headers_arrive_unchanged_minus_hop_by_hop(proxy: Proxy, upstream: Upstream) -> None:
    sent = {
        "User-Agent": "DemoPay/5.2.1 (Android 14; Pixel 8)",
        "X-Device-Id": "dev-1",
        "Accept-Encoding": "gzip",
        "Cookie": "session=abc",
        "X-Custom": "kept",
        "Connection": "keep-alive, X-Drop-Me",
        "X-Drop-Me": "hop",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic eA==",
    }
    async with (
        aiohttp.ClientSession() as s,
        s.get(URL(f"{proxy.url}/echo/a%20b?x=1&y=%2F", encoded=True), headers=sent) as r,
    ):
        assert r.status == 200
        rec = await r.json()
    got = _headers(rec)
    for name in ("user-agent", "x-device-id", "accept-encoding", "cookie", "x-custom"):
        assert got[name] == sent[{k.lower(): k for k in sent}[name]]
    for name in ("x-drop-me", "keep-alive", "te", "proxy-authorization"):
        assert name not in got
    assert rec["raw_path"] == "/echo/a%20b?x=1&y=%2F"
    assert got["x-forwarded-for"] == "127.0.0.1"
    assert got["x-forwarded-proto"] == "http"
    assert got["x-forwarded-host"] == proxy.url.removeprefix("http://")
    assert len(got["x-request-id"]) == 24


@pytest.mark.parametrize("path", ["/echo/x", "/api/login"], ids=["passthrough", "protected"])
async def test_client_sent_shield_headers_never_reach_the_upstream(proxy: Proxy, upstream: Upstream, path: str) -> None:
    sent = {"Shield-Score": "0", "Shield-Action": "allow", "Shield-Pass": "p", "shield-challenge-response": "t.1"}
    async with aiohttp.ClientSession() as s, s.post(f"{proxy.url}{path}", data=b"{}", headers=sent) as r:
        await r.read()
    assert not [k for k, _ in upstream.requests[-1]["headers"] if k.lower().startswith("shield-")]


async def test_exchange_extra_headers_reach_the_upstream(start_proxy: StartProxy, upstream: Upstream) -> None:
    from shield.proxy.app import FORWARDER_KEY

    async def handler(
        request: web.Request, route: RouteSettings, body: bytes, ctx: RequestContext
    ) -> web.StreamResponse:
        fwd = request.app[FORWARDER_KEY]
        reply = await fwd.exchange(request, body, ctx, {"Shield-Score": "42"})
        assert reply.status == 401
        assert b"invalid_credentials" in reply.body
        return (await fwd.send(request, reply, {"X-Outcome": "failure"})).response

    p = await start_proxy(protected=handler)
    async with aiohttp.ClientSession() as s, s.post(f"{p.url}/api/login", json={"password": "no"}) as r:
        assert r.status == 401
        assert r.headers["X-Outcome"] == "failure"
        assert (await r.json())["error"] == "invalid_credentials"
    assert ["Shield-Score", "42"] in upstream.requests[-1]["headers"]


async def test_protected_requests_ask_the_upstream_for_an_uncompressed_answer(proxy: Proxy, upstream: Upstream) -> None:
    headers = {"Accept-Encoding": "gzip, br"}
    async with aiohttp.ClientSession() as s, s.post(f"{proxy.url}/api/login", json={}, headers=headers) as r:
        await r.read()
    assert "accept-encoding" not in _headers(upstream.requests[-1])


async def test_response_headers_come_back_including_repeated_set_cookie(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{proxy.url}/echo") as r:
        assert r.headers["X-Upstream"] == "echo"
        assert r.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]


async def test_upstream_cookies_are_not_kept_between_users(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{proxy.url}/echo"):  # upstream sets cookies a and b
        pass
    async with aiohttp.ClientSession() as s, s.get(f"{proxy.url}/echo") as r:
        assert "cookie" not in _headers(await r.json())


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/echo/upload", bytes(range(256)) * 1000, {"Content-Type": "application/octet-stream"}),
        ("/api/login", b'{"username": "alice", "password": "right"}', {"Content-Type": "application/json"}),
        ("/api/login", b"\x00\xff not json \r\n", {}),
        ("/echo/empty", b"", {}),
    ],
    ids=["passthrough_binary", "protected_json", "protected_binary", "passthrough_empty"],
)
async def test_request_body_arrives_byte_for_byte(
    proxy: Proxy, upstream: Upstream, path: str, body: bytes, headers: dict[str, str]
) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{proxy.url}{path}", data=body, headers=headers) as r:
        await r.read()
    assert base64.b64decode(upstream.requests[-1]["body"]) == body


async def test_chunked_request_body_streams_through(proxy: Proxy, upstream: Upstream) -> None:
    async def gen() -> Any:
        for i in range(50):
            yield bytes([i]) * 10_000

    async with aiohttp.ClientSession() as s, s.post(f"{proxy.url}/echo/chunked", data=gen()) as r:
        assert r.status == 200
    assert base64.b64decode(upstream.requests[-1]["body"]) == b"".join(bytes([i]) * 10_000 for i in range(50))


async def test_login_outcome_passes_through(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{proxy.url}/api/login", json={"username": "a", "password": "right"}) as r:
            assert r.status == 200
        async with s.post(f"{proxy.url}/api/login", json={"username": "a", "password": "wrong"}) as r:
            assert r.status == 401


@pytest.mark.slow
async def test_100mb_download_streams_without_memory_growth(proxy: Proxy) -> None:
    tracemalloc.start()
    try:
        total = 0
        async with aiohttp.ClientSession() as s, s.get(f"{proxy.url}/big?mb=100") as r:
            async for chunk in r.content.iter_chunked(1 << 16):
                total += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 100 * 1024 * 1024
    # client, proxy and upstream share this process: all three together stay far below the body size
    assert peak < 16 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n" + b"a" * 10,
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n" % 8192 + b"a" * 8192 + b"\r\n" for _ in range(9))
        + b"0\r\n\r\n",
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n"
        + b"a" * 65536
        + b"\r\n1\r\nb\r\n0\r\n\r\n",
    ],
    ids=["declared_too_large", "chunked_too_large", "chunked_one_over"],
)
async def test_protected_body_over_limit_is_413_with_request_id(proxy: Proxy, request_bytes: bytes) -> None:
    answer = await raw_request(proxy.url, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    payload = json.loads(body)
    assert payload["error"] == "body_too_large"
    assert payload["request_id"]


async def test_body_at_limit_is_accepted(start_proxy: StartProxy, upstream: Upstream) -> None:
    route = RouteSettings(name="login", path="/api/login", max_body=100)
    p = await start_proxy(routes=(route,))
    async with aiohttp.ClientSession() as s, s.post(f"{p.url}/api/login", data=b"x" * 100) as r:
        assert r.status == 401
    async with aiohttp.ClientSession() as s, s.post(f"{p.url}/api/login", data=b"x" * 101) as r:
        assert r.status == 413


async def test_unreachable_upstream_is_502_json_logged_and_counted(
    start_proxy: StartProxy, log_lines: LogLines
) -> None:
    p = await start_proxy(upstream=f"http://127.0.0.1:{free_port()}")
    async with aiohttp.ClientSession() as s, s.get(f"{p.url}/anything") as r:
        assert r.status == 502
        body = await r.json()
    assert body["error"] == "upstream_unreachable"
    assert r.headers["X-Request-ID"] == body["request_id"]
    events = [line["event"] for line in log_lines()]
    assert "upstream.unreachable" in events
    assert b'shield_upstream_errors_total{kind="unreachable"} 1.0' in p.metrics.exposition()


@pytest.mark.parametrize("path", ["/slow?s=2", "/api/login"], ids=["passthrough", "protected"])
async def test_slow_upstream_is_504(start_proxy: StartProxy, upstream: Upstream, path: str) -> None:
    route = RouteSettings(name="login", path="/slow", methods=frozenset({"POST"}))
    p = await start_proxy(upstream_options=UpstreamSettings(read_timeout=0.3), routes=(route,) if "api" in path else ())
    target = "/slow?s=2"
    async with aiohttp.ClientSession() as s, s.post(f"{p.url}{target}", data=b"x") as r:
        assert r.status == 504
        assert (await r.json())["error"] == "upstream_timeout"


async def test_websocket_upgrade_passes_through(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(f"{proxy.url}/ws", protocols=("echo",)) as ws:
        assert ws.protocol == "echo"
        await ws.send_str("hello")
        assert (await ws.receive()).data == "hello"
        await ws.send_bytes(b"\x00\x01")
        assert (await ws.receive()).data == b"\x00\x01"


XFF_CASES = [
    (
        "trusted_peer_xff_appended",
        ("127.0.0.1/32",),
        {"X-Forwarded-For": "198.51.100.9"},
        "198.51.100.9",
        "198.51.100.9, 127.0.0.1",
    ),
    ("untrusted_peer_xff_replaced", ("10.0.0.0/8",), {"X-Forwarded-For": "198.51.100.9"}, "127.0.0.1", "127.0.0.1"),
    ("no_xff", ("127.0.0.1/32",), {}, "127.0.0.1", "127.0.0.1"),
]


@pytest.mark.parametrize(
    ("trusted", "headers", "client", "upstream_xff"), [c[1:] for c in XFF_CASES], ids=[c[0] for c in XFF_CASES]
)
async def test_xff_through_the_proxy(
    start_proxy: StartProxy,
    log_lines: LogLines,
    trusted: tuple[str, ...],
    headers: dict[str, str],
    client: str,
    upstream_xff: str,
) -> None:
    import ipaddress

    p = await start_proxy(trusted_proxies=tuple(ipaddress.ip_network(n) for n in trusted))
    async with aiohttp.ClientSession() as s, s.get(f"{p.url}/echo", headers=headers) as r:
        rec = await r.json()
    assert _headers(rec)["x-forwarded-for"] == upstream_xff
    request_line = [x for x in log_lines() if x["event"] == "request"][-1]
    assert request_line["client_ip"] == client


@pytest.mark.parametrize(
    ("trusted", "incoming", "kept"),
    [(True, "abc-123", True), (False, "abc-123", False), (True, "bad id with spaces", False)],
    ids=["trusted_valid_kept", "untrusted_replaced", "invalid_replaced"],
)
async def test_request_id_kept_only_when_valid_and_trusted(
    start_proxy: StartProxy, trusted: bool, incoming: str, kept: bool
) -> None:
    import ipaddress

    nets = (ipaddress.ip_network("127.0.0.1/32"),) if trusted else ()
    p = await start_proxy(trusted_proxies=nets)
    async with aiohttp.ClientSession() as s, s.get(f"{p.url}/echo", headers={"X-Request-ID": incoming}) as r:
        got = _headers(await r.json())["x-request-id"]
    assert (got == incoming) is kept


async def test_protected_handler_receives_body_and_context(start_proxy: StartProxy) -> None:
    seen: list[tuple[str, bytes, RequestContext]] = []

    async def handler(request: web.Request, route: RouteSettings, body: bytes, ctx: RequestContext) -> web.Response:
        seen.append((route.name, body, ctx))
        return web.json_response({"handled": True})

    p = await start_proxy(protected=handler)
    async with aiohttp.ClientSession() as s, s.post(f"{p.url}/api/login", data=b'{"a":1}') as r:
        assert await r.json() == {"handled": True}
    name, body, ctx = seen[0]
    assert (name, body, ctx.client_ip, ctx.route) == ("login", b'{"a":1}', "127.0.0.1", "login")


async def test_handler_crash_is_500_json_without_traceback(start_proxy: StartProxy, log_lines: LogLines) -> None:
    async def handler(request: web.Request, route: RouteSettings, body: bytes, ctx: RequestContext) -> web.Response:
        raise RuntimeError("boom in pipeline")

    p = await start_proxy(protected=handler)
    async with aiohttp.ClientSession() as s, s.post(f"{p.url}/api/login", data=b"{}") as r:
        assert r.status == 500
        text = await r.text()
    assert "boom" not in text
    assert "Traceback" not in text
    assert json.loads(text)["error"] == "internal_error"
    failed = [x for x in log_lines() if x["event"] == "request.failed"]
    assert "boom in pipeline" in failed[0]["exception"]


async def test_ban_check_answers_before_forwarding(start_proxy: StartProxy, upstream: Upstream) -> None:
    class BanCheck:
        def banned(self, ctx: RequestContext) -> Ban | None:
            return Ban("ip", ctx.client_ip, "test", 0.0, 2e9) if ctx.client_ip == "127.0.0.1" else None

        async def refuse(
            self, request: web.Request, ctx: RequestContext, route: RouteSettings | None, ban: Ban
        ) -> web.StreamResponse:
            return web.json_response({"error": "banned"}, status=403)

    p = await start_proxy(ban_check=BanCheck())
    async with aiohttp.ClientSession() as s, s.get(f"{p.url}/echo") as r:
        assert r.status == 403
    assert upstream.requests == []


async def test_request_log_line_has_the_documented_fields(proxy: Proxy, log_lines: LogLines) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{proxy.url}/status/404") as r:
        await r.read()
    line = [x for x in log_lines() if x["event"] == "request"][-1]
    assert set(line) >= {
        "request_id",
        "client_ip",
        "method",
        "path",
        "route",
        "status",
        "upstream_status",
        "bytes",
        "duration_ms",
        "ts",
        "level",
    }
    assert (line["status"], line["upstream_status"], line["route"]) == (404, 404, "passthrough")
    assert line["ts"].endswith("Z")
    assert b'shield_requests_total{route="passthrough",status="404"} 1.0' in proxy.metrics.exposition()


async def test_exchange_inspects_the_start_and_streams_the_rest(start_proxy: StartProxy) -> None:
    from shield.proxy.app import FORWARDER_KEY

    inspected: list[tuple[int, bool]] = []

    async def handler(
        request: web.Request, route: RouteSettings, body: bytes, ctx: RequestContext
    ) -> web.StreamResponse:
        fwd = request.app[FORWARDER_KEY]
        reply = await fwd.exchange(request, body, ctx)
        inspected.append((len(reply.body), reply.complete))
        return (await fwd.send(request, reply)).response

    route = RouteSettings(name="big", path="/big", methods=frozenset({"GET"}))
    p = await start_proxy(
        protected=handler, routes=(route,), upstream_options=UpstreamSettings(max_response_inspect=1000)
    )
    async with aiohttp.ClientSession() as s, s.get(f"{p.url}/big?mb=2") as r:
        data = await r.read()
    assert len(data) == 2 * 1024 * 1024
    assert data[:512] == bytes(range(256)) * 2
    assert inspected == [(1000, False)]


async def test_a_client_gone_mid_upload_is_an_aborted_stream_not_a_failure(
    proxy: Proxy, log_lines: LogLines
) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /echo/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 100_000)
    await writer.drain()
    writer.close()  # a tenth of the declared body: the client is gone mid-upload

    def request_line() -> dict[str, Any] | None:
        return next((line for line in log_lines() if line["event"] == "request"), None)

    async with asyncio.timeout(10):
        while (line := request_line()) is None:  # noqa: ASYNC110 (polling a log file: no event to wait on)
            await asyncio.sleep(0.01)
    events = [line["event"] for line in log_lines()]
    # Nobody to answer and nothing wrong with shield or the upstream: no 500, no 502, no traceback.
    assert "stream.aborted" in events
    assert "request.failed" not in events
    assert "upstream.unreachable" not in events
    assert line["status"] == 499
