"""A path variant of a protected route is scored, and the upstream still gets the client's own target."""

from __future__ import annotations

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
