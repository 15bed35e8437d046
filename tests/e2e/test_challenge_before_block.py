"""Challenge before block, live: crowd evidence alone is challenged; a failed or refused puzzle blocks."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from shield.challenge.client import solve

RULES = """
policy:
  thresholds: {tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}
rules:
  - {id: crowd_wave, description: crowd evidence only, class: crowd, when: 'account == "crowd"', score: 95}
  - {id: challenge_failed, description: a solution that does not verify, class: client, when: challenge.failed,
     score: 30}
  - {id: challenge_refused_ip, description: puzzles left unsolved, class: client,
     when: ip.stopped_1h >= 2 and ip.stopped_1h > ip.failures_1h + ip.successes_1h, score: 30}
"""


async def post(s: aiohttp.ClientSession, stack: Any, **headers: str) -> aiohttp.ClientResponse:
    resp = await s.post(stack.url + "/api/login", json={"username": "crowd", "password": "right"}, headers=headers)
    await resp.read()
    return resp


async def test_a_solution_that_does_not_verify_turns_the_challenge_into_a_block(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    async with aiohttp.ClientSession() as s:
        first = await post(s, stack)
        forged = await post(s, stack, **{"Shield-Challenge-Response": "not-a-solution"})
    assert (first.status, first.headers["Shield-Mitigated"]) == (403, "challenge")
    assert forged.status == 403
    challenged, blocked = stack.decisions()
    assert (challenged["action"], challenged["score"], challenged["evidence"]) == ("challenge", 95, {"crowd": 95})
    assert blocked["challenge"].startswith("failed:")
    assert (blocked["action"], blocked["evidence"]) == ("block", {"crowd": 95, "client": 30})
    assert blocked["facts"]["values"]["challenge.failed"] is True


async def test_a_client_that_leaves_its_puzzles_unsolved_is_blocked(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    async with aiohttp.ClientSession() as s:
        for _ in range(3):
            await post(s, stack)
    actions = [(d["action"], d["facts"]["values"]["ip.stopped_1h"]) for d in stack.decisions()]
    assert actions == [("challenge", 0), ("challenge", 1), ("block", 2)]


async def test_a_client_that_solves_gets_through_and_the_app_is_told_why(make_stack: Any) -> None:
    stack = await make_stack(rules_text=RULES)
    async with aiohttp.ClientSession() as s:
        first = await post(s, stack)
        body = orjson.loads(await first.read())
        second = await post(s, stack, **{"Shield-Challenge-Response": solve(body["challenge"])})
    assert second.status == 200
    seen = {k.lower(): v for k, v in stack.upstream.requests[-1]["headers"]}
    assert (seen["shield-challenge"], seen["shield-reasons"]) == ("solved", "crowd_wave")
    assert [d["action"] for d in stack.decisions()] == ["challenge", "delay"]  # 95 - 40 (solve credit)
