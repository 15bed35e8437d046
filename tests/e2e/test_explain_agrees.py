"""`shield explain` and the live pipeline agree on the same request: bans, credits and counters included.

Each request goes through a real shield on a real socket, written byte for byte so that explain
can be given exactly the same headers (the fingerprint, and so a pass's binding, hangs on their
names and order). Then the admin route POST /explain, served from the same service's rule pack,
fact builder and store, explains it with the counters the pipeline saw (from the decision line's
facts on record), and must give the same action, score and rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shield.admin.explain import explain_routes
from shield.challenge.client import solve
from shield.facts.catalog import counter_names
from shield.facts.identity.credentials import normalise_account
from shield.settings.schema import FieldRef, LogSettings, RouteSettings
from shield.store.connect import open_store
from shield.store.resilient import ResilientStore
from tests.e2e.conftest import Stack

CLIENT = "2001:db8:3100::7"
HEADERS = (
    ("Host", "shield.test"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"),
    ("Accept", "application/json"),
    ("Accept-Language", "en-GB,en;q=0.8"),
    ("X-Forwarded-For", CLIENT),
    ("Content-Type", "application/json"),
    ("Connection", "close"),  # one request per connection: the answer ends at EOF
)


@dataclass(slots=True, frozen=True)
class Sent:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    line: dict[str, Any]  # the request's decision line


class Live:
    """One stack and its explain endpoint."""

    def __init__(self, stack: Stack, explain_url: str, session: aiohttp.ClientSession) -> None:
        self.stack, self.explain_url, self.session = stack, explain_url, session

    async def send(self, account: str, *extra: tuple[str, str]) -> Sent:
        """POST /api/login with exactly HEADERS + extra, and the decision line it wrote."""
        body = orjson.dumps({"username": account, "password": "wrong"})
        status, answer, payload = await _raw_post(self.stack.url, "/api/login", (*HEADERS, *extra), body)
        await self.stack.service.pipeline.drain()  # outcomes recorded before the next request counts
        return Sent(status, answer, payload, self.stack.decisions()[-1])

    async def explain(self, account: str, line: dict[str, Any], *extra: tuple[str, str]) -> dict[str, Any]:
        """The admin explanation of the same request, with the counters the pipeline saw."""
        counters = set(counter_names(self.stack.service.settings.windows))
        seen = {k: v for k, v in line["facts"]["values"].items() if k in counters}
        description = {
            "method": "POST", "path": "/api/login", "client_ip": CLIENT,
            "headers": [list(h) for h in (*HEADERS, *extra)],
            "body": orjson.dumps({"username": account, "password": "wrong"}).decode(), "counters": seen,
        }
        async with self.session.post(self.explain_url, json=description) as resp:
            assert resp.status == 200, await resp.text()
            result: dict[str, Any] = await resp.json()
        return result


async def _raw_post(
    url: str, path: str, headers: tuple[tuple[str, str], ...], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in (*headers, ("Content-Length", str(len(body)))))
    writer.write(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head_part, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    answer = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    assert "chunked" not in answer.get("transfer-encoding", ""), "shield's own answers have a length"
    return int(lines[0].split()[1]), answer, payload


def same(line: dict[str, Any], explained: dict[str, Any]) -> None:
    live = (line["action"], line["score"], sorted(r["id"] for r in line.get("rules") or ()), line["evidence"])
    said = (explained["action"], explained["score"], sorted(r["id"] for r in explained["rules"]), explained["evidence"])
    assert said == live


@asynccontextmanager
async def explained(stack: Stack) -> AsyncIterator[Live]:
    """The stack with its admin explain route served from the same rule book, fact builder and store."""
    service = stack.service
    store = service.store
    degraded = (lambda: store.degraded) if isinstance(store, ResilientStore) else (lambda: False)
    app = web.Application()
    app.add_routes(explain_routes(service.settings, facts=service.facts, rules=service.rules, store=store,
                                  clock=stack.clock, degraded=degraded))
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        yield Live(stack, str(server.make_url("/explain")), session)


# every fact on record, so explain can be given every counter the pipeline saw
LOGS = LogSettings(format="json", decision_facts="catalog")


@pytest.fixture
async def live(make_stack: Any) -> AsyncIterator[Live]:
    async with explained(await make_stack(log=LOGS)) as it:
        yield it


@pytest.mark.parametrize("account", ["alice", "tag", "delay", "challenge", "block", "crowd", "shadow"])
async def test_explain_gives_the_live_action_score_and_rules(live: Live, account: str) -> None:
    sent = await live.send(account)
    same(sent.line, await live.explain(account, sent.line))


async def test_explain_counts_the_counters_the_pipeline_saw(live: Live) -> None:
    for _ in range(3):
        sent = await live.send("rate")
    assert sent.line["action"] == "block"  # rate_me needs ip.attempts_1m > 2: the counters decided it
    same(sent.line, await live.explain("rate", sent.line))


async def test_explain_gives_the_solve_and_pass_credits_the_pipeline_gives(live: Live) -> None:
    issued = await live.send("challenge")
    assert (issued.status, issued.line["action"]) == (403, "challenge")
    solution = ("Shield-Challenge-Response", solve(orjson.loads(issued.body)["challenge"]))
    solved = await live.send("challenge", solution)
    assert (solved.status, solved.line["challenge"]) == (401, "solved")  # forwarded: 60 - the solve credit
    same(solved.line, await live.explain("challenge", solved.line, solution))
    carried = ("Shield-Pass", solved.headers["shield-pass"])
    passed = await live.send("challenge", carried)
    assert (passed.status, passed.line["challenge"]) == (401, "pass")  # 60 - the pass credit
    same(passed.line, await live.explain("challenge", passed.line, carried))


async def test_explain_sees_an_account_ban_the_pipeline_enforces(live: Live) -> None:
    service, now = live.stack.service, live.stack.clock.now()
    account_id = service.keyer.account_id(normalise_account("mallory"))
    await service.store.add_ban("account", account_id, ttl=600, reason="test", now=now, source="admin")
    sent = await live.send("mallory")
    assert (sent.status, sent.line["action"]) == (403, "ban")
    explained = await live.explain("mallory", sent.line)
    same(sent.line, explained)
    assert "banned:account" in explained["reasons"]


async def test_explain_sees_an_address_ban_the_fast_path_enforces(live: Live) -> None:
    before = await live.explain("ban", {"facts": {"values": {}}})
    first = await live.send("ban")  # ban_me: the client's address, 10 minutes
    assert (first.status, first.line["action"]) == (403, "ban")
    same(first.line, before)  # explained before it was sent: the rule bans
    refused = await live.send("alice")
    assert (refused.status, refused.line["action"], refused.line["score"]) == (403, "ban", 0)
    explained = await live.explain("alice", {"facts": {"values": {}}})
    same({**refused.line, "rules": []}, explained)
    assert "banned:ip" in explained["reasons"]


async def test_explain_applies_the_routes_store_outage_policy_as_the_pipeline_does(
    make_stack: Any, restartable_redis: Any
) -> None:
    route = RouteSettings(name="login", path="/api/login", account=FieldRef("json", "username"),
                          password=FieldRef("json", "password"), on_store_error="challenge")
    store = open_store(restartable_redis.url + "?probe_interval=5&call_timeout=0.2")
    stack = await make_stack(store=store, routes=(route,), log=LOGS)
    restartable_redis.stop()
    async with explained(stack) as live:
        sent = await live.send("alice")
        assert (sent.line["action"], sent.line["store_degraded"]) == ("challenge", True)
        explained_ = await live.explain("alice", sent.line)
    same(sent.line, explained_)
    assert "store_unavailable" in explained_["reasons"]
