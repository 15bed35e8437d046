"""`log.format: ecs` and `log.requests: false` through a whole shield in front of the real upstream."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from shield.settings.schema import LogSettings
from tests.observe.test_ecs import ecs_fixture, leaf_keys


async def test_ecs_decision_and_request_lines(make_stack: Any) -> None:
    stack = await make_stack(log=LogSettings(format="ecs"))
    async with aiohttp.ClientSession() as s:
        await s.post(stack.url + "/api/login", json={"username": "alice", "password": "right"},
                     headers={"X-Forwarded-For": "10.31.0.7", "User-Agent": "curl/8.5.0"})
        await s.get(stack.url + "/home")
    lines = [orjson.loads(raw) for raw in stack.logs.getvalue().splitlines()]
    by_event = {line["message"]: line for line in lines}
    decision, request = by_event["decision"], by_event["request"]
    assert decision["source"]["ip"] == "10.31.0.7"
    assert decision["event"]["outcome"] == "success"
    assert decision["http"]["request"]["method"] == "POST"
    assert decision["url"]["path"] == "/api/login"
    assert decision["user_agent"]["original"] == "curl/8.5.0"
    assert request["url"]["path"] == "/home"
    assert request["http"]["response"]["status_code"] == 200
    _, names = ecs_fixture()
    for line in lines:
        assert {k for k in leaf_keys(line) if k not in names and not k.startswith("shield.")} == set()


async def test_requests_false_keeps_decisions_and_drops_pass_through_lines(make_stack: Any) -> None:
    stack = await make_stack(log=LogSettings(format="json", requests=False))
    async with aiohttp.ClientSession() as s:
        await s.get(stack.url + "/home")
        await s.post(stack.url + "/api/login", json={"username": "alice", "password": "right"})
        await s.get(stack.url + "/home")
    events = [line["event"] for line in stack.lines()]
    assert "request" not in events
    assert events.count("decision") == 1
