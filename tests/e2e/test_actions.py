"""Every action end to end: real client, real shield, real upstream, real sockets."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from shield.challenge.client import solve

LOGIN = "/api/login"
FOREIGN = {"X-Forwarded-For": "2001:db8:3100::7", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"}


async def login(
    session: aiohttp.ClientSession, stack: Any, account: str, password: str = "wrong", **headers: str
) -> aiohttp.ClientResponse:
    resp = await session.post(
        stack.url + LOGIN, json={"username": account, "password": password}, headers={**FOREIGN, **headers}
    )
    await resp.read()
    return resp


async def test_allowed_login_reaches_the_upstream_and_is_logged_once(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "alice", "right")
    assert resp.status == 200
    assert stack.upstream.requests[-1]["path"] == LOGIN
    (line,) = stack.decisions()
    assert (line["action"], line["status"], line["upstream_status"], line["outcome"]) == ("allow", 200, 200, "success")


async def test_tag_adds_risk_headers_upstream_and_strips_client_sent_ones(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "tag", **{"Shield-Score": "-1000", "Shield-Action": "allow"})
    assert resp.status == 401  # the upstream's own answer: wrong password
    seen = {k.lower(): v for k, v in stack.upstream.requests[-1]["headers"]}
    assert (seen["shield-score"], seen["shield-action"], seen["shield-reasons"]) == ("30", "tag", "tag_me")


async def test_delay_holds_the_request_then_forwards_it(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        t0 = time.monotonic()
        resp = await login(s, stack, "delay")
        held = time.monotonic() - t0
    assert resp.status == 401
    assert stack.upstream.requests
    assert held >= 0.2  # the policy's delay_seconds: a lower bound, not a speed claim
    assert resp.headers["Shield-Delayed"] == "0.2"
    assert stack.decisions()[-1]["action"] == "delay"


async def test_block_is_403_json_and_never_reaches_the_upstream(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "block")
        body = await resp.json()
    assert resp.status == 403
    assert resp.headers["Shield-Mitigated"] == "block"
    assert body == {"error": "blocked", "request_id": body["request_id"]}
    assert body["request_id"]
    assert stack.upstream.requests == []


async def test_rate_caused_block_is_429_with_retry_after(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        statuses = [(await login(s, stack, "rate")).status for _ in range(3)]
        resp = await login(s, stack, "rate")
    assert statuses[:2] == [401, 401]
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "30"


async def test_challenge_solved_by_the_reference_client_passes_and_earns_a_pass(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        first = await login(s, stack, "challenge", "right")
        body = await first.json()
        assert first.status == 403
        assert first.headers["Shield-Mitigated"] == "challenge"
        assert body["error"] == "challenge_required"
        assert body["challenge"]["type"] == "pow"
        answer = solve(body["challenge"])
        second = await login(s, stack, "challenge", "right", **{"Shield-Challenge-Response": answer})
        assert second.status == 200
        assert second.headers["Shield-Pass"]
        # the same solution again is a replay: refused, and challenged anew
        replay = await login(s, stack, "challenge", "right", **{"Shield-Challenge-Response": answer})
    assert replay.status == 403
    assert replay.headers["Shield-Mitigated"] == "challenge"
    states = [d["challenge"] for d in stack.decisions()]
    assert states == ["issued", "solved", "issued"]
    assert any(line.get("event") == "challenge.failed" and line.get("reason") == "replayed" for line in stack.lines())


async def test_after_a_solved_challenge_the_app_is_told_why_it_was_asked(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        first = await login(s, stack, "challenge", "right")
        answer = solve((await first.json())["challenge"])
        second = await login(s, stack, "challenge", "right", **{"Shield-Challenge-Response": answer})
    assert second.status == 200
    (passed,) = stack.upstream.requests  # the challenged attempt itself never reached the app
    seen = {k.lower(): v for k, v in passed["headers"]}
    assert (seen["shield-challenge"], seen["shield-reasons"]) == ("solved", "challenge_me")
    assert seen["shield-action"] == stack.decisions()[-1]["action"]


async def test_a_client_that_solved_and_is_then_tagged_still_carries_the_solved_header(make_stack: Any) -> None:
    from tests.e2e.conftest import TEST_RULES

    hard = "  - {id: challenge_hard, description: hard, class: client, when: 'account == \"hard\"', score: 75}\n"
    stack = await make_stack(rules_text=TEST_RULES + hard)
    async with aiohttp.ClientSession() as s:
        first = await login(s, stack, "hard", "right")
        answer = solve((await first.json())["challenge"])
        await login(s, stack, "hard", "right", **{"Shield-Challenge-Response": answer})
    assert stack.decisions()[-1]["action"] == "tag"  # 75 - solve credit 40 = 35: tagged
    seen = {k.lower(): v for k, v in stack.upstream.requests[-1]["headers"]}
    assert (seen["shield-action"], seen["shield-challenge"]) == ("tag", "solved")


async def test_an_allowed_login_carries_no_risk_headers(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        await login(s, stack, "alice", "right")
    assert not any(k.lower().startswith("shield-") for k, _ in stack.upstream.requests[-1]["headers"])


async def test_a_forged_solution_is_refused(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        body = await (await login(s, stack, "challenge")).json()
        token = body["challenge"]["token"]
        resp = await login(s, stack, "challenge", **{"Shield-Challenge-Response": token[:-4] + "AAAA.1"})
    assert resp.status == 403
    assert resp.headers["Shield-Mitigated"] == "challenge"
    assert stack.decisions()[-1]["challenge"] == "issued"


async def test_a_pass_lowers_the_score_of_the_next_request(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        body = await (await login(s, stack, "challenge")).json()
        solved = await login(s, stack, "challenge", **{"Shield-Challenge-Response": solve(body["challenge"])})
        again = await login(s, stack, "challenge", **{"Shield-Pass": solved.headers["Shield-Pass"]})
    assert again.status == 401  # forwarded: 60 - pass credit 40 = 20
    assert stack.decisions()[-1]["challenge"] == "pass"


async def test_a_pass_earned_on_one_account_gives_no_credit_on_another(make_stack: Any) -> None:
    # security: a stuffing crew that solves one puzzle must not try its next accounts at a discount
    # on the pass its address and browser earned.
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        body = await (await login(s, stack, "challenge")).json()
        solved = await login(s, stack, "challenge", **{"Shield-Challenge-Response": solve(body["challenge"])})
        other = await login(s, stack, "challenge2", **{"Shield-Pass": solved.headers["Shield-Pass"]})
        again = await login(s, stack, "challenge", **{"Shield-Pass": solved.headers["Shield-Pass"]})
    assert other.status == 403
    assert other.headers["Shield-Mitigated"] == "challenge"
    assert again.status == 401  # the account it was earned on keeps its credit


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
async def test_ban_refuses_every_route_until_it_expires(make_stack: Any, store_kind: str, request: Any) -> None:
    store = None
    if store_kind == "redis":
        from shield.store.connect import open_store

        store = open_store(request.getfixturevalue("redis_url"))
    stack = await make_stack(store=store)
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "ban")
        assert resp.status == 403
        assert resp.headers["Shield-Mitigated"] == "ban"
        other = await s.get(stack.url + "/static/app.js", headers=FOREIGN)
        assert other.status == 403
        assert other.headers["Shield-Mitigated"] == "ban"
        innocent = await login(s, stack, "alice", "right")  # the ban is the address's, whatever the account
        assert innocent.status == 403
        stack.clock.advance(10 * 60 + 1)
        await stack.service.bans.refresh(stack.clock.now())
        after = await s.get(stack.url + "/static/app.js", headers=FOREIGN)
        assert after.status == 200
        assert (await login(s, stack, "alice", "right")).status == 200
    assert any(line.get("event") == "ban.added" for line in stack.lines())


async def test_failures_told_by_the_upstream_lock_out_unfamiliar_contexts(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        for _ in range(3):
            assert (await login(s, stack, "victim", "wrong")).status == 401
            await stack.service.pipeline.drain()
        locked = await login(s, stack, "victim", "right")
    assert locked.status == 403
    outcomes = [d["outcome"] for d in stack.decisions()]
    assert outcomes == ["failure", "failure", "failure", "unknown"]
    assert stack.decisions()[-1]["rules"] == [{"id": "unfamiliar_lockout", "score": 95}]


async def test_global_shadow_mode_decides_and_logs_but_lets_everything_through(make_stack: Any) -> None:
    stack = await make_stack(mode="shadow")
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "block")
    assert resp.status == 401  # the upstream answered
    line = stack.decisions()[-1]
    assert (line["action"], line["enforced"]) == ("block", False)


async def test_a_shadow_rule_is_logged_but_never_changes_the_action(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "shadow")
    assert resp.status == 401
    line = stack.decisions()[-1]
    assert line["action"] == "allow"
    assert line["shadow_action"] == "block"
    assert line["shadow_rules"] == [{"id": "shadow_me", "score": 95}]


async def test_unreachable_upstream_is_a_502_with_its_decision_line(make_stack: Any) -> None:
    from tests.fixtures.upstream import free_port

    stack = await make_stack(upstream=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "alice", "right")
        body = await resp.json()
    assert resp.status == 502
    assert body == {"error": "upstream_unreachable", "request_id": body["request_id"]}
    line = stack.decisions()[-1]
    assert (line["status"], line["upstream_status"], line["outcome"]) == (502, None, "unknown")
    assert any(entry["event"] == "upstream.unreachable" for entry in stack.lines())
