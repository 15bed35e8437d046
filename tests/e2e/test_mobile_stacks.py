"""A mobile app on its stack's default user agent is not delayed as a bot, and the missing app pattern is said once."""

from __future__ import annotations

from typing import Any

import aiohttp

from shield.settings.schema import ClientSettings

# The bundled pack's automation rule (shield/rules/bundled/client.yaml), at the delay threshold.
RULES = """
policy:
  thresholds: {tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}
  delay_seconds: 0.2
rules:
  - {id: automation_ua, description: automation, class: client, when: ua.automation and not ua.app, score: 50}
"""
EVENT = "config.app_ua_pattern_missing"
OKHTTP = "okhttp/4.12.0"
CFNETWORK = "MyApp/5 CFNetwork/1490.0.4 Darwin/23.2.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


async def login(stack: Any, ua: str) -> int:
    async with aiohttp.ClientSession() as s:
        resp = await s.post(
            stack.url + "/api/login", json={"username": "alice", "password": "right"}, headers={"User-Agent": ua}
        )
        return resp.status


def warnings(stack: Any) -> list[dict[str, Any]]:
    return [line for line in stack.lines() if line["event"] == EVENT]


async def test_okhttp_default_user_agent_is_not_delayed_as_automation(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    assert await login(stack, OKHTTP) == 200
    assert await login(stack, "python-requests/2.32.3") == 200
    okhttp, script = stack.decisions()
    assert (okhttp["score"], okhttp["action"], okhttp["rules"]) == (0, "allow", [])
    assert (script["action"], script["rules"]) == ("delay", [{"id": "automation_ua", "score": 50}])


async def test_the_first_mobile_stack_without_an_app_pattern_is_said_once(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    assert await login(stack, CHROME) == 200
    assert warnings(stack) == []
    for ua in (CFNETWORK, OKHTTP, CFNETWORK, OKHTTP):
        assert await login(stack, ua) == 200
    (line,) = warnings(stack)
    assert line["level"] == "warning"
    assert (line["trigger"], line["setting"], line["route"]) == ("traffic", "client.app_ua_pattern", "login")
    assert (line["stack"], line["user_agent"]) == ("CFNetwork", CFNETWORK)
    assert "client.app_ua_pattern" in line["message"]
    assert line["docs"] == "docs/apps.md#name-your-app"


async def test_no_warning_once_the_app_pattern_is_set(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES, client=ClientSettings(app_ua_pattern=r"^MyApp/"))
    for ua in (CFNETWORK, OKHTTP):
        assert await login(stack, ua) == 200
    assert warnings(stack) == []
    # the named app is allowed; a bare stack default that is not it is scored as automation again
    assert [(d["action"], d["rules"]) for d in stack.decisions()] == [
        ("allow", []), ("delay", [{"id": "automation_ua", "score": 50}]),
    ]


async def test_scripts_and_browsers_do_not_warn(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    for ua in (CHROME, "curl/8.5.0", "python-requests/2.32.3 okhttp/4.12.0", ""):
        await login(stack, ua)
    assert warnings(stack) == []


async def test_an_app_header_without_an_app_pattern_is_said_at_start(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES, client=ClientSettings(device_header="X-Device-Id"))
    (line,) = warnings(stack)  # before any request
    assert (line["trigger"], line["setting"], line["configured"]) == (
        "config", "client.app_ua_pattern", ["client.device_header=X-Device-Id"],
    )
    assert await login(stack, OKHTTP) == 200
    assert [w["trigger"] for w in warnings(stack)] == ["config", "traffic"]
