"""The request's path, query and host read from aiohttp's parsed message (shield.proxy.message) are
aiohttp's own answers, for every target shape a client may send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.http_parser import HttpRequestParser
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_request import Request

from shield.proxy.message import host, path_and_query, plain_target

TARGETS = [
    "/api/login", "/", "/a/../b", "/a/./b", "//x/y", "/a//b", "/a+b", "/a;b", "/a%2Fb", "/%41", "/a/..",
    "/~x@y:z!$&'()*,=", "/a?x=1", "/a?", "/a#f", "/a?x=1&x=2#f", "/a%3Fb", "/%2e%2e/x", "http://h/a?b=c", "*",
]


def parsed(target: str, host_line: str = "Host: shield:8080\r\n") -> web.Request:
    class Protocol:
        def pause_reading(self, **_: Any) -> None: ...
        def resume_reading(self, **_: Any) -> None: ...

    parser = HttpRequestParser(Protocol(), asyncio.get_running_loop(), 2**16)
    method = "OPTIONS" if target == "*" else "GET"
    version = "1.1" if host_line else "1.0"  # HTTP/1.1 requires a Host
    (msg, payload), *_ = parser.feed_data(f"{method} {target} HTTP/{version}\r\n{host_line}\r\n".encode())[0]
    # the request as aiohttp's server builds it (its protocol is only read for the peer and TLS)
    proto: Any = type("P", (), {"ssl_context": None, "peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)})()
    return Request(msg, payload, proto, None, None, asyncio.get_running_loop())  # type: ignore[arg-type]


@pytest.mark.parametrize("target", TARGETS)
async def test_path_and_query_are_the_requests_own(target: str) -> None:
    request = parsed(target)
    path, query = path_and_query(request)
    assert path == parsed(target).path
    assert list(query.items()) == list(parsed(target).query.items())


@pytest.mark.parametrize("target", ["/api/login", "/a/../b", "//x/y", "/a;b+c"])
def test_a_plain_target_is_read_as_it_is(target: str) -> None:
    assert plain_target(target)


@pytest.mark.parametrize("target", ["/a%2Fb", "/a?x=1", "/a#f", "http://h/a", "*", ""])
def test_a_target_yarl_would_decode_or_split_is_not_plain(target: str) -> None:
    assert not plain_target(target)


@pytest.mark.parametrize(("target", "host_line"), [
    ("/a", "Host: shield:8080\r\n"), ("/a", ""), ("http://other:81/a", "Host: shield\r\n"),
], ids=["header", "no_header", "absolute_form"])
async def test_host_is_the_requests_own(target: str, host_line: str) -> None:
    assert host(parsed(target, host_line)) == parsed(target, host_line).host


def test_host_of_a_clone_with_its_own_host() -> None:
    request = make_mocked_request("GET", "/a", headers={"Host": "shield"}).clone(host="elsewhere")
    assert host(request) == "elsewhere"
