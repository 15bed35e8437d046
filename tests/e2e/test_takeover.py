"""Account takeover: the app is told before it accepts the login, the SOC when it succeeded."""

from __future__ import annotations

from typing import Any

import aiohttp

RULES = """
policy:
  thresholds: {tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}
  takeover: {failures: 3, addresses: 3, window: 10m, wave_level: 2}
rules:
  - {id: tag_me, description: tag, when: 'account == "tag"', score: 30}
"""


async def login(s: aiohttp.ClientSession, stack: Any, ip: str, password: str) -> aiohttp.ClientResponse:
    resp = await s.post(stack.url + "/api/login", json={"username": "victim", "password": password},
                        headers={"X-Forwarded-For": ip})
    await stack.service.pipeline.drain()  # the outcome is recorded off the request path
    return resp


def upstream_reasons(stack: Any) -> list[str | None]:
    return [dict(r["headers"]).get("Shield-Reasons") for r in stack.upstream.requests if r["path"] == "/api/login"]


async def test_success_after_failures_from_many_addresses_is_tagged_and_alerted(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    async with aiohttp.ClientSession() as s:
        for ip in ("10.31.0.1", "10.32.0.2", "10.33.0.3"):
            assert (await login(s, stack, ip, "wrong")).status == 401
        assert (await login(s, stack, "10.34.0.4", "right")).status == 200
    assert upstream_reasons(stack) == [None, None, None, "takeover_risk"]
    (event,) = [line for line in stack.lines() if line["event"] == "takeover.suspected"]
    assert event["reason"] == "failures_from_many_addresses"
    assert (event["failures"], event["addresses"], event["client_ip"]) == (3, 4, "10.34.0.4")
    assert event["account_id"] == stack.decisions()[-1]["account_id"]
    assert "victim" not in str(event)
    metrics = stack.service.metrics.exposition().decode()
    assert 'shield_takeover_suspected_total{reason="failures_from_many_addresses"} 1.0' in metrics


async def test_the_owner_mistyping_from_one_address_is_not_a_takeover(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    async with aiohttp.ClientSession() as s:
        for _ in range(5):
            await login(s, stack, "10.31.0.1", "wrong")
        assert (await login(s, stack, "10.31.0.1", "right")).status == 200
    assert upstream_reasons(stack) == [None] * 6
    assert not [line for line in stack.lines() if line["event"] == "takeover.suspected"]


async def test_a_risky_attempt_that_fails_is_tagged_but_not_alerted(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    async with aiohttp.ClientSession() as s:
        for ip in ("10.31.0.1", "10.32.0.2", "10.33.0.3", "10.34.0.4"):
            await login(s, stack, ip, "wrong")
    assert upstream_reasons(stack)[-1] == "takeover_risk"
    assert not [line for line in stack.lines() if line["event"] == "takeover.suspected"]


async def test_the_risk_tag_joins_the_rules_reasons_on_a_tagged_request(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES.replace('account == "tag"', 'account == "victim"'))
    async with aiohttp.ClientSession() as s:
        for ip in ("10.31.0.1", "10.32.0.2", "10.33.0.3", "10.34.0.4"):
            await login(s, stack, ip, "right" if ip == "10.34.0.4" else "wrong")
    assert upstream_reasons(stack) == ["tag_me", "tag_me", "tag_me", "tag_me,takeover_risk"]
