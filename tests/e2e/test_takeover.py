"""Account takeover: the app is told before it accepts the login, the SOC when it succeeded."""

from __future__ import annotations

from typing import Any

import aiohttp

RULES = """
policy:
  thresholds: {tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}
  takeover: {failures: 3, addresses: 3, window: 10m, wave_level: 2}
rules:
  - {id: tag_me, description: tag, class: client, when: 'account == "tag"', score: 30}
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


async def test_new_device_and_new_country_during_a_wave(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    owner = {
        "X-Forwarded-For": "2001:db8:1000::5", "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5) Safari/604.1"
    }
    thief = {"X-Forwarded-For": "2001:db8:3400::9", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"}
    async with aiohttp.ClientSession() as s:  # the owner's phone, at home in Japan (demo world: documentation ranges)
        assert (await s.post(stack.url + "/api/login", json={"username": "victim", "password": "right"},
                             headers=owner)).status == 200
        await stack.service.pipeline.drain()
    async with aiohttp.ClientSession() as calm:  # the same new device abroad, before any wave: a traveller
        await calm.post(stack.url + "/api/login", json={"username": "victim", "password": "right"}, headers=thief)
        await stack.service.pipeline.drain()
    assert upstream_reasons(stack) == [None, None]
    stack.clock.advance(3600)  # the traveller's success ages out of the 5-minute site window
    async with aiohttp.ClientSession() as wave:  # a leaked list: 60 failed logins on 60 accounts
        for n in range(60):
            await wave.post(stack.url + "/api/login", json={"username": f"user{n}", "password": "guess"},
                            headers={"X-Forwarded-For": f"2001:db8:40{n:02x}::1"})
        await stack.service.pipeline.drain()
    async with aiohttp.ClientSession() as s:  # a new device from Vietnam, during the wave
        thief = {"X-Forwarded-For": "2001:db8:3200::9", "User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0"}
        assert (await s.post(stack.url + "/api/login", json={"username": "victim", "password": "right"},
                             headers=thief)).status == 200
        await stack.service.pipeline.drain()
    assert stack.decisions()[-1]["client_ip"] == "2001:db8:3200::9"
    assert upstream_reasons(stack)[-1] == "takeover_risk"
    (event,) = [line for line in stack.lines() if line["event"] == "takeover.suspected"]
    assert event["reason"] == "new_device_new_country_in_wave"
    assert (event["country"], event["new_device"], event["new_country"]) == ("VN", True, True)
    assert event["attack_level"] >= 2
