"""Learned shared addresses with the bundled pack: a gateway's employees are not list-driven stuffing.

Real shield, real upstream (an app where each account has its own password), real sockets. An office
egress gateway puts many accounts behind one address and nearly all of them log in; a stuffing run
from one address fails nearly everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from shield.settings.schema import BUNDLED_RULES, LogSettings
from tests.fixtures.upstream import AppServers, free_port

GATEWAY = "10.70.0.1"
LOGS = LogSettings(format="json", decision_facts="catalog")
BROWSER = {
    "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Accept-Language": "ja-JP,ja;q=0.9",
    "Accept-Encoding": "gzip, deflate, br",
    "Accept": "application/json",
}


def own_passwords_app() -> web.Application:
    """Every account's password is `pw-<account>`."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("password") == f"pw-{body.get('username')}":
            return web.json_response({"ok": True})
        return web.json_response({"ok": False}, status=401)

    app = web.Application()
    app.router.add_post("/api/login", handle)
    return app


@pytest.fixture
async def app_url() -> AsyncIterator[str]:
    async with AppServers() as servers:
        yield await servers.start(own_passwords_app(), f"127.0.0.1:{free_port()}")


async def login(s: aiohttp.ClientSession, stack: Any, account: str, *, right: bool) -> int:
    password = f"pw-{account}" if right else f"guess-{account}"
    resp = await s.post(stack.url + "/api/login", json={"username": account, "password": password},
                        headers={"X-Forwarded-For": GATEWAY, **BROWSER})
    await resp.read()
    await stack.service.pipeline.drain()
    return resp.status


async def test_a_gateway_where_most_accounts_succeed_is_shared_and_not_stuffing(make_stack: Any, app_url: str) -> None:
    stack = await make_stack(rules=BUNDLED_RULES, log=LOGS, upstream=app_url)
    async with aiohttp.ClientSession() as s:
        for n in range(24):  # a morning at the office: employees log in, one mistypes now and then
            await login(s, stack, f"employee{n}", right=n % 8 != 0)
            stack.clock.advance(60)
        assert await login(s, stack, "employee99", right=True) == 200
    line = stack.decisions()[-1]
    assert (line["action"], line.get("rules")) == ("allow", [])
    facts = line["facts"]["values"]
    assert facts["ip.distinct_accounts_1h"] >= 20
    assert facts["ip.shared"] is True


async def test_a_stuffing_run_from_one_address_is_not_shared(make_stack: Any, app_url: str) -> None:
    stack = await make_stack(rules=BUNDLED_RULES, log=LOGS, upstream=app_url)
    async with aiohttp.ClientSession() as s:
        for n in range(24):  # a leaked list: one pair in twelve is valid
            await login(s, stack, f"user{n}", right=n % 12 == 0)
            stack.clock.advance(60)
        await login(s, stack, "user99", right=False)
    line = stack.decisions()[-1]
    assert line["facts"]["values"]["ip.shared"] is False
    assert line["action"] != "allow"
    assert "ip_distinct_accounts_1h" in {h["id"] for h in line["rules"]}
