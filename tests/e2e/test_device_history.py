"""Device identity and unconfirmed history, end to end: real shield, real upstream, real sockets.

A browser's first login gets shield's device cookie; the success must teach the account that
device, so the browser's next login (from anywhere) is a known device. A success that came with
crowd evidence teaches nothing until the app confirms it (or a quiet day passes).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from shield.settings.schema import LogSettings
from tests.fixtures.upstream import AppServers, free_port

PLAIN = """
rules:
  - {id: tag_me, description: tag, class: client, when: 'account == "tag"', score: 30}
"""
# Crowd evidence on every login of the account (class: crowd): its success is unconfirmed.
CROWD = """
rules:
  - {id: crowd_me, description: crowd, when: 'account == "victim"', score: 10, class: crowd}
"""
CHROME_131 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537"
CHROME_132 = CHROME_131.replace("131.0", "132.0")
LOGS = LogSettings(format="json", decision_facts="catalog")


async def login(s: aiohttp.ClientSession, stack: Any, ip: str, ua: str = CHROME_131) -> aiohttp.ClientResponse:
    resp = await s.post(
        stack.url + "/api/login", json={"username": "victim", "password": "right"},
        headers={"X-Forwarded-For": ip, "User-Agent": ua, "Accept-Language": "ja-JP"},
    )
    await resp.read()
    await stack.service.pipeline.drain()  # the outcome is recorded off the request path
    return resp


def last_facts(stack: Any) -> dict[str, Any]:
    facts: dict[str, Any] = stack.decisions()[-1]["facts"]["values"]
    return facts


async def test_the_first_logins_fresh_cookie_is_a_known_device_on_the_next_login(make_stack: Any) -> None:
    stack = await make_stack(rules_text=PLAIN, log=LOGS)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        first = await login(browser, stack, "10.50.0.5")
        assert first.status == 200
        assert "shield_device" in first.cookies
        assert last_facts(stack)["account.known"] is False
        stack.clock.advance(3600)
        # the same browser, updated, from a network the account never used
        assert (await login(browser, stack, "10.77.3.9", CHROME_132)).status == 200
    facts = last_facts(stack)
    assert facts["device.present"] is True
    assert facts["account.new_subnet"] is True
    assert facts["account.new_device"] is False
    assert facts["account.familiar"] is True


async def test_a_known_fingerprint_without_the_device_is_a_new_device(make_stack: Any) -> None:
    stack = await make_stack(rules_text=PLAIN, log=LOGS)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as owner:
        await login(owner, stack, "10.50.0.5")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as attacker:  # same browser build
        await login(attacker, stack, "10.66.0.7")
    facts = last_facts(stack)
    assert facts["account.new_fp"] is False
    assert facts["account.new_device"] is True
    assert facts["account.familiar"] is False


def confirming_app(confirm: list[bool]) -> web.Application:
    """A login app that answers 200 and, while confirm[0], tells shield it confirmed the user itself."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        resp = web.json_response({"ok": True})
        if confirm[0]:
            resp.headers["Shield-Confirm"] = "1"
        resp.headers["Shield-Internal"] = "app-note"
        return resp

    app = web.Application()
    app.router.add_post("/api/login", handle)
    return app


async def test_a_success_with_crowd_evidence_teaches_nothing_until_the_app_confirms(make_stack: Any) -> None:
    confirm = [False]
    async with AppServers() as servers:
        app_url = await servers.start(confirming_app(confirm), f"127.0.0.1:{free_port()}")
        stack = await make_stack(rules_text=CROWD, log=LOGS, upstream=app_url)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            assert (await login(browser, stack, "10.50.0.5")).status == 200
            stack.clock.advance(600)
            await login(browser, stack, "10.50.0.5")
            facts = last_facts(stack)
            assert (facts["account.known"], facts["account.unconfirmed"]) == (True, True)
            assert facts["account.new_device"] is True  # not learned: the success was unconfirmed
            assert facts["account.familiar"] is False
            confirm[0] = True
            confirmed = await login(browser, stack, "10.50.0.5")
            # security: the app's Shield-* answer headers are for shield, never for the client
            assert not [h for h in confirmed.headers if h.lower().startswith("shield-confirm")]
            assert "Shield-Internal" not in confirmed.headers
            stack.clock.advance(600)
            await login(browser, stack, "10.88.0.1")
    facts = last_facts(stack)
    assert facts["account.new_device"] is False
    assert facts["account.familiar"] is True


async def test_an_unconfirmed_success_is_learned_after_a_quiet_day(make_stack: Any) -> None:
    stack = await make_stack(rules_text=CROWD, log=LOGS)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        await login(browser, stack, "10.50.0.5")
        stack.clock.advance(86400 + 1)
        await login(browser, stack, "10.88.0.1")
    facts = last_facts(stack)
    assert facts["account.new_device"] is False
    assert facts["account.familiar"] is True
