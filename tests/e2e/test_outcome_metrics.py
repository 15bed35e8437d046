"""Protected requests count their login outcome and time their one store call."""

from __future__ import annotations

from typing import Any

import aiohttp


async def test_login_outcomes_and_store_latency_are_counted(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        for password in ("wrong", "wrong", "right"):
            async with s.post(stack.url + "/api/login", json={"username": "alice", "password": password}) as r:
                await r.read()
        async with s.post(stack.url + "/api/login", json={"username": "block", "password": "x"}) as r:
            assert r.status == 403  # answered by shield: no outcome to read
    text = stack.service.metrics.exposition().decode()
    assert 'shield_login_outcomes_total{outcome="failure",route="login"} 2.0' in text
    assert 'shield_login_outcomes_total{outcome="success",route="login"} 1.0' in text
    assert 'shield_store_seconds_count{op="observe"} 4.0' in text
