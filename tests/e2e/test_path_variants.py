"""A path variant of a protected route is scored, and the upstream still gets the client's own target."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from yarl import URL


@pytest.mark.parametrize(
    "target",
    ["/API/Login.json;jsessionid=1", "/api%5Clogin", "/api\\login", "/api/x/..;/login", "/api/%6Cogin/"],
    ids=["case_format_params", "encoded_backslash", "backslash", "dotdot_params", "encoded_letter"],
)
async def test_a_variant_is_scored_and_the_upstream_gets_the_original_target(make_stack: Any, target: str) -> None:
    stack = await make_stack()
    body = {"username": "tag", "password": "x"}
    async with aiohttp.ClientSession() as s, s.post(URL(stack.url + target, encoded=True), json=body) as resp:
        await resp.read()
    (line,) = stack.decisions()
    assert (line["route"], line["action"]) == ("login", "tag")
    assert stack.upstream.requests[-1]["raw_path"] == target


async def test_an_absolute_form_target_is_scored(make_stack: Any) -> None:
    # `POST http://host/api/login HTTP/1.1`: servers route the path part; shield must score it the same.
    stack = await make_stack()
    host, port = stack.url.removeprefix("http://").split(":")
    body = b'{"username": "tag", "password": "x"}'
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST http://shop.example/api/login HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(1 << 16), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401")
    (line,) = stack.decisions()
    assert (line["route"], line["action"]) == ("login", "tag")
