"""Rules change under live traffic: a broken file keeps the old rules, a good one takes effect,
and no request is dropped either way."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.conftest import TEST_RULES


async def traffic(url: str, stop: asyncio.Event, statuses: list[int]) -> None:
    async with aiohttp.ClientSession() as s:
        while not stop.is_set():
            async with s.post(url + "/api/login", json={"username": "newbie", "password": "right"}) as resp:
                await resp.read()
                statuses.append(resp.status)


async def wait_for(predicate: Any) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 (polling a log and a rule book: no event to wait on)
            await asyncio.sleep(0.05)


async def test_broken_file_keeps_old_rules_and_good_file_takes_effect_without_dropping_requests(
    make_stack: Any,
) -> None:
    stack = await make_stack(reload_rules=True)
    folder: Path = stack.service.settings.rules
    old_hash = stack.service.rules.current.hash
    stop, statuses = asyncio.Event(), []
    runner = asyncio.create_task(traffic(stack.url, stop, statuses))
    try:
        (folder / "broken.yaml").write_text(
            "rules:\n  - id: oops\n    description: d\n    class: client\n    when: ip.failure_10m > 1\n"
        )
        await wait_for(lambda: any(line["event"] == "rules.rejected" for line in stack.lines()))
        assert stack.service.rules.current.hash == old_hash
        (folder / "broken.yaml").unlink()
        (folder / "test.yaml").write_text(
            TEST_RULES
            + "  - {id: newbie_block, description: new rule, class: client, when: 'account == \"newbie\"', score: 95}\n"
        )
        await wait_for(lambda: stack.service.rules.current.hash != old_hash)
        await wait_for(lambda: bool(statuses) and statuses[-1] == 403)
    finally:
        stop.set()
        await runner
    rejected = next(line for line in stack.lines() if line["event"] == "rules.rejected")
    assert any("broken.yaml:5:11: unknown fact 'ip.failure_10m'" in e for e in rejected["errors"])
    assert set(statuses) <= {200, 403}  # every request answered: allowed before, blocked after
    hashes = [d["ruleset"] for d in stack.decisions()]
    assert hashes[0] == old_hash
    assert hashes[-1] == stack.service.rules.current.hash
