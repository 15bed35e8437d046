"""Every refusal on record: a request refused by a ban writes its decision line, counts, has a request id."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp

from shield.model import Observation
from shield.proxy.ban_refusal import STORE_COUNTS_PER_SECOND
from shield.settings.schema import LogSettings
from tests.e2e.test_actions import FOREIGN, login

ATTACKER = FOREIGN["X-Forwarded-For"]


async def banned_stack(make_stack: Any, **changes: Any) -> Any:
    """A stack whose FOREIGN client was just banned by the `ban_me` rule (10 min, scope ip)."""
    stack = await make_stack(**changes)
    async with aiohttp.ClientSession() as s:
        assert (await login(s, stack, "ban")).status == 403
    assert len(stack.service.bans) == 1  # the fast path's cache knows it from now on
    return stack


async def test_a_ban_refusal_on_a_protected_route_writes_a_decision_line_with_its_request_id(
    make_stack: Any,
) -> None:
    stack = await banned_stack(make_stack)
    stack.clock.advance(60)
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "alice", "right")
        body = await resp.json()
    assert (resp.status, resp.headers["Shield-Mitigated"]) == (403, "ban")
    assert body["request_id"] != "-"
    assert resp.headers["X-Request-ID"] == body["request_id"]
    (line,) = [d for d in stack.decisions() if d["request_id"] == body["request_id"]]
    assert (line["route"], line["client_ip"], line["action"], line["status"]) == ("login", ATTACKER, "ban", 403)
    assert (line["ban_scope"], line["ban_reason"]) == ("ip", "ban_me")
    assert line["ban_ttl_s"] == 540  # the ban's remaining time, not its original ttl
    assert line["upstream_status"] is None
    assert line["ruleset"] == stack.service.rules.current.hash
    # schema 2's request fields are on the fast path's line too, so the SOC can filter every decision alike
    assert (line["method"], line["path"], line["schema"]) == ("POST", "/api/login", 3)
    assert line["user_agent"]


async def test_a_ban_refusal_on_an_unprotected_path_writes_a_decision_line_too(make_stack: Any) -> None:
    stack = await banned_stack(make_stack)
    async with aiohttp.ClientSession() as s:
        resp = await s.get(stack.url + "/static/app.js", headers=FOREIGN)
        body = await resp.json()
    assert resp.status == 403
    (line,) = [d for d in stack.decisions() if d["request_id"] == body["request_id"]]
    assert (line["route"], line["action"], line["ban_scope"]) == ("passthrough", "ban", "ip")


async def test_ban_refusals_on_a_protected_route_count_in_the_store_and_metrics(make_stack: Any) -> None:
    stack = await banned_stack(make_stack)
    async with aiohttp.ClientSession() as s:
        for _ in range(3):
            assert (await login(s, stack, "alice")).status == 403
        await s.get(stack.url + "/static/app.js", headers=FOREIGN)  # unprotected: never counted in the store
    probe = Observation(route="login", ip=ATTACKER, subnet="10.31.0.0/24")
    signals = await stack.service.store.observe(probe, stack.clock.now())
    assert signals.counters["ip.attempts_1m"] == 1 + 3 + 1  # the ban's own login, 3 refused, this probe
    exposition = stack.service.metrics.exposition().decode()
    assert 'shield_decisions_total{action="ban",route="login",shadow="false"} 4.0' in exposition
    assert 'shield_decisions_total{action="ban",route="passthrough",shadow="false"} 1.0' in exposition


async def test_a_flood_from_one_ban_is_folded_into_a_summary_line_never_dropped(make_stack: Any) -> None:
    stack = await banned_stack(make_stack, log=LogSettings(format="json", ban_lines_per_second=2))
    stack.clock.advance(1)
    async with aiohttp.ClientSession() as s:
        ids = []
        for _ in range(10):
            resp = await login(s, stack, "alice")
            ids.append((await resp.json())["request_id"])
        stack.clock.advance(1)  # a new second: the previous second's summary is written first
        await s.get(stack.url + "/static/app.js", headers=FOREIGN)
    refused = [d for d in stack.decisions() if d["request_id"] in ids]
    assert [d["request_id"] for d in refused] == ids[:2]
    (summary,) = [line for line in stack.lines() if line.get("event") == "decision.folded"]
    assert (summary["count"], summary["ban_scope"], summary["ban_value"]) == (8, "ip", ATTACKER)
    assert (summary["first_request_id"], summary["last_request_id"]) == (ids[2], ids[-1])
    assert summary["action"] == "ban"
    assert stack.decisions()[-1]["route"] == "passthrough"  # the new second's first refusal has its line


async def test_a_folded_summary_is_written_after_a_second_even_when_the_flood_stops(make_stack: Any) -> None:
    stack = await banned_stack(make_stack, log=LogSettings(format="json", ban_lines_per_second=1))
    stack.clock.advance(1)
    async with aiohttp.ClientSession() as s:
        for _ in range(4):
            await login(s, stack, "alice")
    await asyncio.sleep(1.3)
    (summary,) = [line for line in stack.lines() if line.get("event") == "decision.folded"]
    assert summary["count"] == 3


async def test_folding_is_off_with_zero_every_refusal_gets_its_own_line(make_stack: Any) -> None:
    stack = await banned_stack(make_stack, log=LogSettings(format="json", ban_lines_per_second=0))
    async with aiohttp.ClientSession() as s:
        for _ in range(30):
            await login(s, stack, "alice")
    assert len([d for d in stack.decisions() if d["action"] == "ban"]) == 31


async def test_a_ban_found_by_the_store_says_its_reason_and_remaining_ttl(make_stack: Any) -> None:
    """The pipeline path (a ban the fast path does not know yet, e.g. added by another replica)."""
    stack = await make_stack()
    await stack.service.store.add_ban("ip", ATTACKER, ttl=300, reason="incident 7", now=stack.clock.now(),
                                      source="admin")
    stack.clock.advance(100)
    async with aiohttp.ClientSession() as s:
        resp = await login(s, stack, "alice")
    assert resp.status == 403
    line = stack.decisions()[-1]
    assert (line["action"], line["ban_scope"], line["ban_reason"]) == ("ban", "ip", "incident 7")
    assert (line["ban_source"], line["ban_ttl_s"]) == ("admin", 200)


async def test_a_too_large_body_leaves_a_request_line_with_its_request_id(make_stack: Any) -> None:
    stack = await make_stack()
    route = dataclasses.replace(stack.service.settings.routes[0], max_body=64)
    stack = await make_stack(routes=(route,))
    async with aiohttp.ClientSession() as s:
        resp = await s.post(stack.url + "/api/login", data=b"{" + b" " * 200 + b"}", headers=FOREIGN)
        body = await resp.json()
    assert resp.status == 413
    assert body["request_id"] != "-"
    (line,) = [x for x in stack.lines() if x.get("request_id") == body["request_id"]]
    assert (line["event"], line["status"]) == ("request", 413)


async def test_every_refusal_answers_a_request_id_that_is_on_a_log_line(make_stack: Any) -> None:
    """block, rate limit, challenge, a forged solution, an upstream that is down, a ban: each on record."""
    from tests.fixtures.upstream import free_port

    stack = await make_stack()
    down = await make_stack(upstream=f"http://127.0.0.1:{free_port()}")
    answers = []
    async with aiohttp.ClientSession() as s:
        answers.append(await login(s, stack, "block"))
        for _ in range(3):
            rated = await login(s, stack, "rate")
        answers.append(rated)
        answers.append(await login(s, stack, "challenge"))
        answers.append(await login(s, stack, "challenge", **{"Shield-Challenge-Response": "AAAA.1"}))
        answers.append(await login(s, down, "alice"))
        answers.append(await login(s, stack, "ban"))
        answers.append(await login(s, stack, "alice"))  # refused on the ban fast path
        bodies = [await r.json() for r in answers]
    assert [r.status for r in answers] == [403, 429, 403, 403, 502, 403, 403]
    logged = {line.get("request_id") for line in stack.lines() + down.lines()}
    for resp, body in zip(answers, bodies, strict=True):
        assert body["request_id"] not in ("", "-")
        assert body["request_id"] in logged, (resp.status, body)


async def _raw_exchange(stack: Any, head: bytes) -> tuple[bytes, bool]:
    """Send a head (and a few body bytes of a huge body) from the banned address; the answer, and
    whether shield closed the connection within 2 s without waiting for the rest of the body."""
    host, port = stack.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + b'{"username": "alice", "pass')
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b'"}'), 2)
        try:
            closed = await asyncio.wait_for(reader.read(1), 2) == b""
        except TimeoutError:
            closed = False
        return answer, closed
    finally:
        writer.close()


async def test_a_banned_client_is_refused_before_its_huge_body_is_read_and_not_lingered_on(
    make_stack: Any,
) -> None:
    stack = await banned_stack(make_stack)
    head = (
        f"POST /api/login HTTP/1.1\r\nHost: shield\r\nX-Forwarded-For: {ATTACKER}\r\n"
        "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    ).encode()
    answer, closed = await _raw_exchange(stack, head)
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"\r\nShield-Mitigated: ban\r\n" in answer
    assert b"\r\nConnection: close\r\n" in answer
    # security: shield neither reads the 50 MB nor holds the socket for aiohttp's lingering read of it
    assert closed


async def test_a_banned_client_whose_body_arrived_keeps_its_connection(make_stack: Any) -> None:
    stack = await banned_stack(make_stack)
    host, port = stack.url.removeprefix("http://").rsplit(":", 1)
    body = b'{"username": "alice", "password": "x"}'
    head = (
        f"POST /api/login HTTP/1.1\r\nHost: shield\r\nX-Forwarded-For: {ATTACKER}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for _ in range(2):  # the same keep-alive connection answers twice
            writer.write(head + body)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b'"}'), 2)
            assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
            assert b"Connection: close" not in answer
    finally:
        writer.close()


async def test_a_flood_from_one_ban_is_counted_in_the_store_up_to_a_rate_per_second(make_stack: Any) -> None:
    stack = await banned_stack(make_stack)
    stack.clock.advance(1)
    limit = STORE_COUNTS_PER_SECOND
    async with aiohttp.ClientSession() as s:
        for _ in range(limit + 5):  # all within one second of the (fake) clock
            assert (await login(s, stack, "alice")).status == 403
        stack.clock.advance(1)
        assert (await login(s, stack, "alice")).status == 403  # a new second counts again
    probe = Observation(route="login", ip=ATTACKER, subnet="10.31.0.0/24")
    signals = await stack.service.store.observe(probe, stack.clock.now())
    assert signals.counters["ip.attempts_1m"] == 1 + limit + 1 + 1  # the ban's login, a second's cap, one, probe
    exposition = stack.service.metrics.exposition().decode()  # every refusal is in the metrics all the same
    # the ban's own decision and every refusal
    assert f'shield_decisions_total{{action="ban",route="login",shadow="false"}} {1 + limit + 6}.0' in exposition
