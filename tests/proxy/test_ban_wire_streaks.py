"""The ban fast path's memory from one head to the next of a connection (a `Streak`), tested for staleness.

A connection's refusal is remembered so that the next head with the same target skips finding the
client, its ban and its route again. Whatever the remembered refusal depended on may change between
two heads of one keep-alive connection: the ban is lifted (the admin API) or ends, a harsher one
comes, the second turns, the folded line's summary is written, a trusted proxy starts naming a
client, the target changes. Each test changes one of them between two requests of one connection
and checks that the next answer and its records are what a fresh decision gives.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest

from shield.model import Ban
from shield.observe.ban_lines import FLUSH_AFTER_S
from shield.proxy import ban_refusal
from shield.proxy.early_answers import GATE_KEY
from tests.proxy import test_ban_wire
from tests.proxy.test_ban_wire import (
    ADMIN_TOKEN,
    BANNED,
    CLEAN,
    LOGIN,
    Answer,
    Shield,
    Start,
    exchange,
    read_answers,
    req,
)

start_shield = test_ban_wire.start_shield  # the fixture: a shield whose client is banned

PEER = "127.0.0.1"  # the client itself (no trusted proxy), so its refusals are remembered


class Conn:
    """One keep-alive connection, one request at a time, each answer read before the next request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.data = b""
        self.methods: list[str] = []

    @classmethod
    async def open(cls, shield: Shield) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", shield.port))

    async def ask(self, payload: bytes, method: str = "GET") -> Answer:
        self.writer.write(payload)
        await self.writer.drain()
        methods = [*self.methods, method]
        while len(answers := read_answers(self.data, methods, False)) < len(methods):
            chunk = await asyncio.wait_for(self.reader.read(65536), 3)
            assert chunk, "shield closed the connection"
            self.data += chunk
        self.methods = methods
        return answers[-1]

    def close(self) -> None:
        self.writer.close()


async def warm(shield: Shield, *, xff: str | None = None, n: int = ban_refusal.STORE_COUNTS_PER_SECOND + 5) -> None:
    """This second's own decision lines and store counts used up (a connection of its own)."""
    answers, _ = await exchange(shield.port, req("POST", "/api/login", xff=xff, body=LOGIN) * n, ["POST"] * n)
    assert [a.status for a in answers] == [403] * n


async def refused_early(shield: Shield, conn: Conn, payload: bytes, method: str = "GET") -> Answer:
    """A request on `conn` answered 403 by the fast path (no aiohttp request)."""
    before = shield.handled_by_aiohttp
    answer = await conn.ask(payload, method)
    assert answer.status == 403
    assert shield.handled_by_aiohttp == before
    return answer


def decisions(shield: Shield, route: str) -> float:
    for line in shield.service.metrics.exposition().decode().splitlines():
        if line.startswith(f'shield_decisions_total{{action="ban",route="{route}",shadow="false"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_ban_lifted_through_the_admin_api_lets_the_connections_next_request_through(
    start_shield: Start,
) -> None:
    shield = await start_shield(trusted=False, admin=True)
    await warm(shield)
    conn = await Conn.open(shield)
    try:
        for _ in range(3):  # the second and third from the connection's memory
            await refused_early(shield, conn, req("GET", "/static/app.js", xff=None))
        async with aiohttp.ClientSession() as http, http.delete(
            f"http://127.0.0.1:{shield.admin_port}/decisions/ip/{PEER}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as lifted:
            assert lifted.status == 200
        async with asyncio.timeout(3):
            while len(shield.service.bans):  # noqa: ASYNC110 (the poke's refresh: nothing to wait on)
                await asyncio.sleep(0.01)
        answer = await conn.ask(req("GET", "/static/app.js", xff=None))
    finally:
        conn.close()
    assert answer.status == 200
    assert orjson.loads(answer.body)["path"] == "/static/app.js"


@pytest.mark.parametrize("ends", [0.75, 1.0], ids=["within a second", "at a second's start"])
async def test_a_ban_stops_refusing_the_connection_at_its_end(start_shield: Start, ends: float) -> None:
    shield = await start_shield(trusted=False)
    store, clock = shield.service.store, shield.clock
    await store.remove_ban("ip", PEER)
    clock.advance(0.25)  # t0 + 0.25, t0 a whole second
    ban = await store.add_ban("ip", PEER, ttl=1 + ends - 0.25, reason="test", now=clock.now(), source="admin")
    await shield.service.bans.refresh(clock.now())
    assert ban.expires_at == int(ban.expires_at) + ends % 1
    clock.advance(1.0)  # t0 + 1.25: the ban's last second when it ends within it
    await warm(shield)
    conn = await Conn.open(shield)
    try:
        await refused_early(shield, conn, req("GET", "/a", xff=None))
        clock.advance(ban.expires_at - clock.now() - 0.01)
        await refused_early(shield, conn, req("GET", "/a", xff=None))
        clock.advance(0.01)
        answer = await conn.ask(req("GET", "/a", xff=None))
    finally:
        conn.close()
    assert answer.status == 200


async def test_a_harsher_ban_that_comes_mid_connection_refuses_under_its_own_name(start_shield: Start) -> None:
    shield = await start_shield(trusted=False)
    await warm(shield)
    conn = await Conn.open(shield)
    try:
        await refused_early(shield, conn, req("GET", "/a", xff=None))
        now = shield.clock.now()
        await shield.service.store.add_ban("subnet", "127.0.0.0/24", ttl=6000, reason="harsher", now=now)
        await shield.service.bans.refresh(now)
        answer = await conn.ask(req("GET", "/a", xff=None))
    finally:
        conn.close()
    assert answer.status == 403
    # the subnet ban's first refusal in this second: a decision line of its own, under its name
    (line,) = [d for d in shield.lines() if d.get("request_id") == answer.request_id]
    assert (line["event"], line["ban_scope"], line["ban_reason"]) == ("decision", "subnet", "harsher")


async def test_the_first_refusal_of_the_next_second_on_a_connection_has_its_own_line(start_shield: Start) -> None:
    shield = await start_shield(trusted=False)
    await warm(shield)
    conn = await Conn.open(shield)
    try:
        await refused_early(shield, conn, req("GET", "/a", xff=None))
        shield.clock.advance(1)
        answer = await conn.ask(req("GET", "/a", xff=None))
    finally:
        conn.close()
    assert answer.status == 403
    (line,) = [d for d in shield.lines() if d.get("request_id") == answer.request_id]
    assert (line["event"], line["ban_scope"]) == ("decision", "ip")


async def test_a_refusal_after_its_seconds_summary_was_written_is_not_lost(start_shield: Start) -> None:
    """The fake clock stays in its second while the summary's timer (real time) writes the summary."""
    shield = await start_shield(trusted=False)
    await warm(shield)
    conn = await Conn.open(shield)
    try:
        first = await refused_early(shield, conn, req("GET", "/a", xff=None))
        await asyncio.sleep(FLUSH_AFTER_S + 0.3)
        summaries = [d for d in shield.lines() if d.get("event") == "decision.folded"]
        assert [s["last_request_id"] for s in summaries] == [first.request_id]
        late = await conn.ask(req("GET", "/a", xff=None))
        shield.clock.advance(1)
        await conn.ask(req("GET", "/a", xff=None))  # a later second: any summary of `late`'s is written
    finally:
        conn.close()
    assert late.status == 403
    lines = shield.lines()
    own = [d for d in lines if d.get("event") == "decision" and d["request_id"] == late.request_id]
    summed = [d for d in lines if d.get("event") == "decision.folded" and late.request_id in
              (d["first_request_id"], d["last_request_id"])]
    assert own or summed, "the refusal is on record"


async def test_refusals_of_one_connection_are_counted_under_each_ones_route(start_shield: Start) -> None:
    shield = await start_shield(trusted=False)
    await warm(shield)
    login, passthrough = decisions(shield, "login"), decisions(shield, "passthrough")
    conn = await Conn.open(shield)
    rounds = 5
    try:
        for _ in range(rounds):
            await refused_early(shield, conn, req("POST", "/api/login", xff=None, body=LOGIN), "POST")
            await refused_early(shield, conn, req("POST", "/api/login", xff=None, body=LOGIN), "POST")
            await refused_early(shield, conn, req("GET", "/static/app.js", xff=None))
            head = await refused_early(shield, conn, req("HEAD", "/static/app.js", xff=None), "HEAD")
            assert head.body == b""
    finally:
        conn.close()
    assert decisions(shield, "login") - login == 2 * rounds
    assert decisions(shield, "passthrough") - passthrough == 2 * rounds


async def test_a_trusted_proxy_refused_itself_may_name_a_client_next(start_shield: Start) -> None:
    """The peer is a trusted proxy and banned itself: without X-Forwarded-For the client is the peer."""
    shield = await start_shield(trusted=True)
    now = shield.clock.now()
    await shield.service.store.add_ban("ip", PEER, ttl=600, reason="test", now=now, source="admin")
    await shield.service.bans.refresh(now)
    await warm(shield, xff=None)
    conn = await Conn.open(shield)
    try:
        await refused_early(shield, conn, req("GET", "/a", xff=None))
        await refused_early(shield, conn, req("GET", "/a", xff=None, extra="X-Request-ID: lb-7\r\n"))
        clean = await conn.ask(req("GET", "/a", xff=CLEAN))
        banned = await conn.ask(req("GET", "/a", xff=BANNED))
        again = await refused_early(shield, conn, req("GET", "/a", xff=None, extra="X-Request-ID: lb-8\r\n"))
    finally:
        conn.close()
    assert clean.status == 200
    assert orjson.loads(clean.body)["path"] == "/a"
    assert banned.status == 403
    assert again.request_id == "lb-8"  # the trusted proxy's id, also from the connection's memory


async def test_a_ban_whose_store_count_starts_over_is_counted_again(
    start_shield: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_count` forgets every ban's count when it tracks too many: a remembered "not counted" is void."""
    shield = await start_shield(trusted=False)
    await warm(shield)
    refusals: Any = shield.service.proxy[GATE_KEY]._refusals  # type: ignore[attr-defined]
    route = shield.service.settings.routes[0]
    now = shield.clock.now()
    ban = refusals.find(PEER, now)
    streak = refusals.refuse_folded(ban, route, PEER, "r1", now)
    assert streak is not None
    assert refusals.again(streak, "r2", now)
    monkeypatch.setattr(ban_refusal, "_MAX_TRACKED", 1)
    other = Ban("ip", "192.0.2.1", "test", now, now + 600)
    assert refusals._count(other, now)  # the table was full: it starts over, this ban's count with it
    assert not refusals.again(streak, "r3", now)
    assert refusals.refuse_folded(ban, route, PEER, "r3", now) is None  # counted in the store again
