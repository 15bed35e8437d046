"""The listener calls the proxy's handler without aiohttp's router (shield.proxy.dispatch): every
request shape gets the answer the router's way gives it, and the upstream reads the same."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from shield.observe.metrics import Metrics
from shield.proxy.app import build_app
from shield.proxy.dispatch import direct
from shield.proxy.listener import LimitedRunner
from shield.settings.schema import Settings
from tests.fixtures.upstream import AppServers, Upstream

SHAPES = [
    # (id, request bytes up to the end of the head, body)
    ("plain_get", b"GET /x HTTP/1.1\r\nHost: a\r\n", b""),
    ("login", b"POST /api/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n",
     b'{"username": "u@example.com", "password": "p"}'),
    ("encoded_newline", b"GET /a%0Ab HTTP/1.1\r\nHost: a\r\n", b""),
    ("encoded_newline_login", b"POST /api/login%0A HTTP/1.1\r\nHost: a\r\n", b"{}"),
    ("encoded_cr", b"GET /a%0Db HTTP/1.1\r\nHost: a\r\n", b""),
    ("encoded_slash", b"GET /a%2Fb HTTP/1.1\r\nHost: a\r\n", b""),
    ("asterisk", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n", b""),
    ("absolute_form", b"GET http://a/x HTTP/1.1\r\nHost: a\r\n", b""),
    ("expect_continue", b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n", b"hello"),
    ("expect_other", b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n", b"hello"),
    ("expect_empty", b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: \r\n", b"hello"),
]


async def answer(url: str, head: bytes, body: bytes) -> bytes:
    """The whole answer (status line, then every line but Date, X-Request-ID and the body's id)."""
    host, port = url.rsplit("/", 1)[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    length = b"Content-Length: %d\r\n" % len(body) if body else b""
    writer.write(head + length + b"Connection: close\r\n\r\n" + body)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    lines = data.split(b"\r\n")
    return lines[0]  # the status line: ids and dates differ from run to run


def handled(metrics: Metrics) -> dict[tuple[str, ...], float]:
    """The requests shield's handler answered, by route and status (the router's own 404s are not)."""
    metrics.flush()
    return {
        tuple(s.labels.values()): s.value
        for m in metrics.registry.collect() if m.name == "shield_requests"
        for s in m.samples if s.name == "shield_requests_total"
    }


@pytest.fixture
async def served(upstream: Upstream) -> Any:
    async with AppServers() as servers:
        settings = Settings(upstream=upstream.url)
        by_router, by_listener = Metrics(), Metrics()
        routed = await servers.start(build_app(settings, metrics=by_router))
        listened = await servers.start(
            build_app(settings, metrics=by_listener), runner_cls=LimitedRunner, limits=settings.limits, name="proxy"
        )
        yield (routed, by_router), (listened, by_listener)


@pytest.mark.parametrize(("head", "body"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
async def test_every_shape_gets_the_routers_answer(served: Any, upstream: Upstream, head: bytes, body: bytes) -> None:
    (routed, routed_metrics), (listened, listened_metrics) = served
    before = len(upstream.requests)
    by_router = await answer(routed, head, body)
    forwarded = len(upstream.requests) - before
    by_listener = await answer(listened, head, body)
    assert by_listener == by_router
    assert len(upstream.requests) - before == 2 * forwarded
    assert handled(listened_metrics) == handled(routed_metrics)  # the handler ran for the same requests


async def test_a_newline_in_the_path_goes_the_routers_way() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="direct")

    async def routed(request: Any) -> web.StreamResponse:
        return web.Response(text="routed")

    dispatch = direct(handler, routed)

    class Req:  # the raw target and headers in the parsed message; the router's decoded path in rel_url
        def __init__(self, target: str, path: str, headers: dict[str, str]) -> None:
            self._message = type("M", (), {"path": target, "headers": headers})()
            self.rel_url = type("U", (), {"path_safe": path})()
            self.headers = headers

    async def via(target: str, path: str | None = None, headers: dict[str, str] | None = None) -> str:
        resp = await dispatch(Req(target, target if path is None else path, headers or {}))  # type: ignore[arg-type]
        assert isinstance(resp, web.Response)
        return str(resp.text)

    assert await via("/api/login") == "direct"
    assert await via("/api/login?a=%0A", "/api/login") == "direct"
    assert await via("/a%0Ab", "/a\nb") == "routed"
    assert await via("/a\nb") == "routed"
    assert await via("*") == "routed"
    assert await via("") == "routed"
    assert await via("/x", headers={"Expect": "100-continue"}) == "routed"
