"""The ban fast path below aiohttp (shield.proxy.ban_wire, early_answers), tested as an attacker would.

A whole shield served by its own listener (LimitedRunner) on a real socket, the client banned.
Raw bytes in, and the answers read back with h11 as the oracle parser: one well-formed HTTP/1.1
answer per request, in order. Every hostile shape is also sent to the same shield without the fast
path: the answers must be the same, request ids and dates aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import orjson
import pytest
from aiohttp import web
from aiohttp.http_parser import HttpRequestParser
from aiohttp.test_utils import make_mocked_request

from shield.facts.address import subnet_of
from shield.model import Ban, FakeClock, Observation
from shield.observe.logs import configure_logging
from shield.proxy.ban_refusal import STORE_COUNTS_PER_SECOND
from shield.proxy.early_answers import GATE_KEY, head_size
from shield.proxy.forwarder import RequestContext
from shield.proxy.listener import LimitedRunner
from shield.service import Service, build_service
from shield.settings.schema import AdminSettings, LimitsSettings, LogSettings
from tests.e2e.conftest import rules_dir, stack_settings
from tests.fixtures.upstream import Upstream, free_port

BANNED = "203.0.113.9"  # behind the trusted proxy (127.0.0.1): in X-Forwarded-For
CLEAN = "198.51.100.4"


@dataclass
class Shield:
    port: int
    service: Service
    clock: FakeClock
    runner: web.AppRunner
    logs: io.BytesIO
    admin_port: int | None = None

    @property
    def handled_by_aiohttp(self) -> int:
        assert self.runner.server is not None
        return self.runner.server.requests_count

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.logs.getvalue().splitlines() if line.startswith(b"{")]


Start = Callable[..., Any]
ADMIN_TOKEN = "admin-token-for-the-ban-wire-tests"


@pytest.fixture
async def start_shield(upstream: Upstream, tmp_path: Path) -> AsyncIterator[Start]:
    """start_shield(fast=True, trusted=True, admin=False, **settings) -> a Shield whose client is banned:
    the peer 127.0.0.1 itself when `trusted` is False (no trusted proxy), else BANNED in X-Forwarded-For.
    `admin`: its admin listener served too (ADMIN_TOKEN), and its ban cache refreshed as in production."""
    runners: list[web.AppRunner] = []
    services: list[Service] = []

    async def start(*, fast: bool = True, trusted: bool = True, admin: bool = False, **changes: Any) -> Shield:
        logs = io.BytesIO()
        log = changes.pop("log", LogSettings(format="json", ban_lines_per_second=1))
        configure_logging(dataclasses.replace(log, level="debug"), stream=logs)  # type: ignore[arg-type]
        if not trusted:
            changes["trusted_proxies"] = ()
        if admin:
            changes["admin"] = AdminSettings(token=ADMIN_TOKEN)
        settings = stack_settings(upstream, rules_dir(tmp_path / f"s{len(runners)}"), log=log, **changes)
        clock = FakeClock()
        service = build_service(settings, clock=clock, with_admin=admin)
        if not fast:
            del service.proxy[GATE_KEY]
        runner = LimitedRunner(service.proxy, limits=settings.limits, name="proxy", access_log=None,
                               handle_signals=False)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ip = BANNED if trusted else "127.0.0.1"
        await service.store.add_ban("ip", ip, ttl=600, reason="test", now=clock.now(), source="admin")
        await service.bans.refresh(clock.now())
        admin_port = None
        if service.admin is not None:
            admin_runner = web.AppRunner(service.admin, access_log=None, handle_signals=False)
            await admin_runner.setup()
            runners.append(admin_runner)
            admin_port = free_port()
            await web.TCPSite(admin_runner, "127.0.0.1", admin_port).start()
            service.bans.start(clock.now)  # an admin lift pokes it
            services.append(service)
        return Shield(port, service, clock, runner, logs, admin_port)

    yield start
    for service in services:
        await service.bans.close()
    for runner in reversed(runners):
        await runner.cleanup()


@dataclass(frozen=True)
class Answer:
    status: int
    version: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @property
    def request_id(self) -> str:
        return dict(self.headers)[b"x-request-id"].decode()

    def normalised(self) -> tuple[int, bytes, tuple[tuple[bytes, bytes], ...], bytes]:
        """Without what differs from one answer to the next: Date, the request id."""
        rid = dict(self.headers).get(b"x-request-id", b"-")
        headers = tuple((k, b"RID" if k == b"x-request-id" else v) for k, v in self.headers if k != b"date")
        return self.status, self.version, headers, self.body.replace(rid, b"RID")


def read_answers(data: bytes, methods: list[str], closed: bool) -> list[Answer]:
    """The answers in `data` to requests of these methods, parsed by h11; an error if malformed."""
    conn = h11.Connection(h11.CLIENT)
    answers: list[Answer] = []
    if data:  # h11 takes b"" for the end of the connection
        conn.receive_data(data)
    if closed:
        conn.receive_data(b"")
    for method in methods:
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "shield")]))
        conn.send(h11.EndOfMessage())
        head: h11.Response | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return answers
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert head is not None
        answers.append(Answer(head.status_code, head.http_version, tuple(head.headers), body))
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            return answers
        conn.start_next_cycle()
    return answers


async def exchange(port: int, payload: bytes, methods: list[str], *, wait: float = 1.0) -> tuple[list[Answer], bool]:
    """Send `payload` at once; the answers read back (until all came or `wait` passed without a byte),
    and whether shield closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data, closed = b"", False
    try:
        writer.write(payload)
        await writer.drain()
        while not closed:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), wait)
            except TimeoutError:
                break
            data += chunk
            closed = not chunk
            if len(read_answers(data, methods, closed)) == len(methods):
                with contextlib.suppress(TimeoutError):  # all there: does shield keep the connection?
                    closed = await asyncio.wait_for(reader.read(1), 0.3) == b""
                break
    except ConnectionResetError:
        closed = True
    finally:
        writer.close()
    return read_answers(data, methods, closed), closed


def req(method: str, path: str, *, xff: str | None = BANNED, body: bytes | None = None, version: str = "1.1",
        extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/{version}\r\nHost: shield\r\nUser-Agent: flood/1\r\n"
    if xff is not None:
        head += f"X-Forwarded-For: {xff}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + extra + "\r\n").encode() + (body or b"")


LOGIN = b'{"username": "alice", "password": "hunter2"}'
CHUNKED = (b"POST /upload HTTP/1.1\r\nHost: shield\r\nX-Forwarded-For: " + BANNED.encode()
           + b"\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n")
MIXED = [
    (req("GET", "/static/app.js"), "GET"),
    (req("POST", "/api/login", body=LOGIN), "POST"),
    (CHUNKED, "POST"),
    (req("HEAD", "/static/app.js"), "HEAD"),
    (req("GET", "/api/login?next=%2F"), "GET"),
    (req("DELETE", "/account", body=b"x" * 3000), "DELETE"),
]


async def warm(shield: Shield, n: int = STORE_COUNTS_PER_SECOND + 5) -> None:
    """Use up this second's own decision lines and store counts, so what follows may take the fast path."""
    payload = b"".join(req("POST", "/api/login", body=LOGIN) for _ in range(n))
    answers, _ = await exchange(shield.port, payload, ["POST"] * n)
    assert [a.status for a in answers] == [403] * n


async def test_pipelined_refusals_are_well_formed_in_order_and_answered_below_aiohttp(start_shield: Start) -> None:
    shield = await start_shield()
    await warm(shield)
    before = shield.handled_by_aiohttp
    rounds = 8
    payload = b"".join(p for p, _ in MIXED) * rounds
    methods = [m for _, m in MIXED] * rounds
    answers, closed = await exchange(shield.port, payload, methods)
    assert len(answers) == len(methods)
    assert not closed  # every body was whole: the connection stays
    for answer, method in zip(answers, methods, strict=True):
        assert (answer.status, answer.version) == (403, b"1.1")
        assert dict(answer.headers)[b"shield-mitigated"] == b"ban"
        if method == "HEAD":
            assert answer.body == b""
        else:
            assert orjson.loads(answer.body) == {"error": "blocked", "request_id": answer.request_id}
    assert len({a.request_id for a in answers}) == len(answers)
    assert shield.handled_by_aiohttp == before  # no Request was built for any of them


SHAPES = {
    "pipelined mixed": (b"".join(p for p, _ in MIXED), [m for _, m in MIXED]),
    "http/1.0 closes": (req("GET", "/", version="1.0") + req("GET", "/", version="1.0"), ["GET", "GET"]),
    "http/1.0 keep-alive": (req("GET", "/", version="1.0", extra="Connection: keep-alive\r\n") * 2, ["GET", "GET"]),
    "connection close mid-pipeline": (req("GET", "/", extra="Connection: close\r\n") + req("GET", "/"), ["GET"] * 2),
    "body not yet in": (req("POST", "/api/login", body=LOGIN)[:-10] + b"", ["POST"]),
    "huge body announced": (req("GET", "/a") + req("POST", "/api/login", extra="Content-Length: 50000000\r\n")
                            + b'{"user', ["GET", "POST"]),
    "chunked body not yet in": (CHUNKED[: CHUNKED.index(b"hello") + 2], ["POST"]),
    "transfer coding under chunked": (req("POST", "/x", extra="Transfer-Encoding: gzip, chunked\r\n")
                                      + b"0\r\n\r\n", ["POST"]),
    "connection names content-length": (req("GET", "/a") + req("GET", "/b", extra="Connection: content-length\r\n"),
                                        ["GET", "GET"]),
    "content-length and chunked": (req("POST", "/x", extra="Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")
                                   + b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", ["POST", "GET"]),
    "garbage after a request": (req("GET", "/a") + b"NOT HTTP\r\n\r\n", ["GET", "GET"]),
    "websocket upgrade": (req("GET", "/ws", extra="Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
                          + req("GET", "/a"), ["GET", "GET"]),
    "head too large": (req("GET", "/a") + req("GET", "/b", extra="".join(f"X-H{i}: {'v' * 900}\r\n" for i in range(12)))
                       + req("GET", "/c"), ["GET"] * 3),
    "request id from the trusted proxy": (req("GET", "/a", extra="X-Request-ID: lb-42\r\n"), ["GET"]),
    "forged request id": (req("GET", "/a", extra="X-Request-ID: a\"b\r\n"), ["GET"]),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_hostile_shapes_get_the_same_answers_with_and_without_the_fast_path(
    start_shield: Start, shape: str
) -> None:
    payload, methods = SHAPES[shape]
    limits = LimitsSettings(max_head_bytes=8192)
    results = []
    for fast in (True, False):
        shield = await start_shield(fast=fast, limits=limits)
        await warm(shield)
        results.append(await exchange(shield.port, payload, methods))
    (fast_answers, fast_closed), (slow_answers, slow_closed) = results
    assert [a.normalised() for a in fast_answers] == [a.normalised() for a in slow_answers]
    assert fast_closed == slow_closed
    assert fast_answers, "every shape gets at least one answer"


async def test_a_head_too_large_that_began_in_an_earlier_read_is_refused_as_too_large(start_shield: Start) -> None:
    """The fast path knows a head's size from the bytes read since the last head, without measuring
    it, only when they are few: this head's last read alone is under the limit, the head is not."""
    limits = LimitsSettings(max_head_bytes=8192)
    big = req("GET", "/b", extra="".join(f"X-H{i}: {'v' * 900}\r\n" for i in range(9)))
    assert len(big) > 8192 > len(big) - 5000
    results = []
    for fast in (True, False):
        shield = await start_shield(fast=fast, limits=limits)
        await warm(shield)
        reader, writer = await asyncio.open_connection("127.0.0.1", shield.port)
        data = b""
        try:
            writer.write(req("GET", "/a") + big[:5000])
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(big[5000:])
            await writer.drain()
            while len(read_answers(data, ["GET", "GET"], False)) < 2:
                data += await asyncio.wait_for(reader.read(65536), 3)
        finally:
            writer.close()
        results.append(read_answers(data, ["GET", "GET"], False))
    fast_answers, slow_answers = results
    assert [a.status for a in fast_answers] == [403, 431]
    assert [a.normalised() for a in fast_answers] == [a.normalised() for a in slow_answers]


async def test_pipelined_refusals_after_a_body_that_came_after_its_head_are_all_answered(start_shield: Start) -> None:
    """aiohttp's parser counts a request whose body came after aiohttp took it as queued for the
    connection's life, and so stops one head short of its queue limit in every read after: the
    fast path must still ask it for the heads it kept."""
    shield = await start_shield()
    await warm(shield)
    reader, writer = await asyncio.open_connection("127.0.0.1", shield.port)
    n = 40
    data = b""
    try:
        upload = req("POST", "/echo/up", xff=CLEAN, body=b"0123456789")
        writer.write(upload[:-10])
        await writer.drain()
        await asyncio.sleep(0.2)  # aiohttp has taken the head
        writer.write(upload[-10:])
        await writer.drain()
        while len(read_answers(data, ["POST"], False)) < 1:
            data += await asyncio.wait_for(reader.read(65536), 3)
        writer.write(req("GET", "/a") * n)
        await writer.drain()
        while len(read_answers(data, ["POST"] + ["GET"] * n, False)) < 1 + n:
            data += await asyncio.wait_for(reader.read(65536), 3)
    finally:
        writer.close()
    answers = read_answers(data, ["POST"] + ["GET"] * n, False)
    assert [a.status for a in answers] == [200] + [403] * n


@pytest.mark.parametrize("head", [
    req("POST", "/api/login", body=LOGIN)[: -len(LOGIN)],
    req("GET", "/a?b=c", extra="".join(f"X-H{i}: {'v' * i}\r\n" for i in range(40))),
    b"GET / HTTP/1.0\r\n\r\n",
], ids=["flood", "many headers", "none"])
async def test_head_size_is_the_size_of_the_head_as_sent(head: bytes) -> None:
    class Protocol:
        def pause_reading(self, **_: Any) -> None: ...
        def resume_reading(self, **_: Any) -> None: ...

    parser = HttpRequestParser(Protocol(), asyncio.get_running_loop(), 2**16)
    (msg, _payload), *_ = parser.feed_data(head)[0]
    assert head_size(msg) == len(head)


async def test_a_client_that_is_not_banned_behind_the_proxy_is_forwarded_in_order(start_shield: Start) -> None:
    shield = await start_shield()
    await warm(shield)
    payload = b"".join(req("GET", f"/p{i}", xff=BANNED if i % 2 else CLEAN) for i in range(8))
    answers, closed = await exchange(shield.port, payload, ["GET"] * 8)
    assert [a.status for a in answers] == [200, 403] * 4
    assert [orjson.loads(a.body)["path"] for a in answers[::2]] == ["/p0", "/p2", "/p4", "/p6"]
    assert not closed


async def test_a_refusal_waits_its_turn_behind_an_answer_in_progress(start_shield: Start) -> None:
    """The banned head comes in its own read while the clean one before it is at the upstream."""
    shield = await start_shield()
    await warm(shield)
    reader, writer = await asyncio.open_connection("127.0.0.1", shield.port)
    try:
        writer.write(req("GET", "/slow?s=0.3", xff=CLEAN))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(req("GET", "/a"))
        await writer.drain()
        data = b""
        while len(read_answers(data, ["GET", "GET"], False)) < 2:
            data += await asyncio.wait_for(reader.read(65536), 2)
    finally:
        writer.close()
    assert [a.status for a in read_answers(data, ["GET", "GET"], False)] == [200, 403]


async def test_the_peer_itself_banned_without_a_trusted_proxy(start_shield: Start) -> None:
    shield = await start_shield(trusted=False)
    await warm(shield)
    before = shield.handled_by_aiohttp
    # security: X-Forwarded-For from an untrusted peer is its own word: it changes nothing
    payload = req("GET", "/a", xff=CLEAN) + req("GET", "/b", xff=None)
    payload += req("GET", "/c", extra="X-Request-ID: mine\r\n")
    answers, _ = await exchange(shield.port, payload, ["GET"] * 3)
    assert [a.status for a in answers] == [403] * 3
    assert answers[2].request_id != "mine"  # an untrusted client does not choose its request id
    assert shield.handled_by_aiohttp == before


async def test_a_huge_body_of_a_banned_client_is_never_read(start_shield: Start) -> None:
    shield = await start_shield()
    await warm(shield)
    before = shield.handled_by_aiohttp
    reader, writer = await asyncio.open_connection("127.0.0.1", shield.port)
    try:
        writer.write(req("POST", "/api/login", extra="Content-Length: 50000000\r\n") + b'{"user')
        answer = await asyncio.wait_for(reader.readuntil(b'"}'), 2)
        assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert b"\r\nConnection: close\r\n" in answer
        assert await asyncio.wait_for(reader.read(1), 2) == b""  # closed at once, no lingering read of the body
    finally:
        writer.close()
    assert shield.handled_by_aiohttp == before


async def test_expect_continue_is_refused_without_inviting_the_body(start_shield: Start) -> None:
    shield = await start_shield()
    await warm(shield)
    answers, closed = await exchange(
        shield.port, req("POST", "/api/login", extra="Content-Length: 100\r\nExpect: 100-continue\r\n"), ["POST"]
    )
    assert [a.status for a in answers] == [403]
    assert closed


async def test_every_fast_refusal_is_on_record_in_lines_and_metrics(start_shield: Start) -> None:
    shield = await start_shield(log=LogSettings(format="json", ban_lines_per_second=2))
    await warm(shield, 3)
    shield.clock.advance(1)
    n = 40
    answers, _ = await exchange(shield.port, req("GET", "/static/app.js") * n, ["GET"] * n)
    ids = [a.request_id for a in answers]
    assert len(ids) == n
    shield.clock.advance(1)
    await exchange(shield.port, req("GET", "/static/app.js"), ["GET"])  # a new second: the summary is written
    lines = shield.lines()
    own = [d["request_id"] for d in lines if d.get("event") == "decision" and d["request_id"] in ids]
    (summary,) = [d for d in lines if d.get("event") == "decision.folded" and d["first_request_id"] in ids]
    assert own == ids[:2]
    assert (summary["count"], summary["first_request_id"], summary["last_request_id"]) == (n - 2, ids[2], ids[-1])
    assert (summary["ban_scope"], summary["ban_value"], summary["route"]) == ("ip", BANNED, "passthrough")
    exposition = shield.service.metrics.exposition().decode()
    assert f'shield_decisions_total{{action="ban",route="passthrough",shadow="false"}} {n + 1}.0' in exposition


async def test_a_flood_on_a_protected_route_is_still_counted_in_the_store_up_to_a_rate(start_shield: Start) -> None:
    shield = await start_shield()
    n = STORE_COUNTS_PER_SECOND + 30
    answers, _ = await exchange(shield.port, req("POST", "/api/login", body=LOGIN) * n, ["POST"] * n)
    assert [a.status for a in answers] == [403] * n
    probe = Observation(route="login", ip=BANNED, subnet="203.0.113.0/24")
    signals = await shield.service.store.observe(probe, shield.clock.now())
    assert signals.counters["ip.attempts_1m"] == STORE_COUNTS_PER_SECOND + 1
    exposition = shield.service.metrics.exposition().decode()
    assert f'shield_decisions_total{{action="ban",route="login",shadow="false"}} {n}.0' in exposition



async def test_a_client_that_pipelines_without_reading_gets_every_answer_in_order(start_shield: Start) -> None:
    """Thousands of heads in one go, read late: early answers stop while shield's send buffer is
    full (aiohttp's back-pressure takes over), and start again; the clean requests among them
    place every answer."""
    shield = await start_shield()
    await warm(shield)
    n = 3000
    payload = b"".join(req("GET", f"/p{i}", xff=CLEAN if i % 250 == 0 else BANNED) for i in range(n))
    before = shield.handled_by_aiohttp
    reader, writer = await asyncio.open_connection("127.0.0.1", shield.port)
    data = b""
    writer.write(payload)
    sending = asyncio.ensure_future(writer.drain())  # shield stops reading when its answers pile up
    try:
        await asyncio.sleep(0.5)  # shield's send buffer fills meanwhile
        while data.count(b"HTTP/1.1 ") < n or not data.endswith(b"}"):  # then h11 parses them all
            data += await asyncio.wait_for(reader.read(1 << 20), 5)
        await sending
    finally:
        writer.close()
    answers = read_answers(data, ["GET"] * n, False)
    assert [a.status for a in answers] == [200 if i % 250 == 0 else 403 for i in range(n)]
    assert [orjson.loads(a.body)["path"] for a in answers if a.status == 200] == [f"/p{i}" for i in range(0, n, 250)]
    assert shield.handled_by_aiohttp - before > n // 250  # refusals too went aiohttp's way (the case under test)


@pytest.mark.parametrize("then", [b"", b"GET /next HTTP/1.1\r\nHost: sh"], ids=["idle", "half a head"])
async def test_a_connection_answered_early_still_meets_the_idle_and_head_deadlines(
    start_shield: Start, then: bytes
) -> None:
    """security: a banned client must not hold a connection open after its answers, idle or stalling a head."""
    limits = LimitsSettings(keepalive_timeout=0.5, header_read_timeout=0.5)
    shield = await start_shield(limits=limits)
    await warm(shield)
    reader, writer = await asyncio.open_connection("127.0.0.1", shield.port)
    try:
        writer.write(req("GET", "/a") + then)
        await writer.drain()
        before = shield.handled_by_aiohttp
        data = await asyncio.wait_for(reader.read(), 3)  # to the end: shield closes
    finally:
        writer.close()
    assert data.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert shield.handled_by_aiohttp == before


async def test_a_ban_that_came_after_the_gate_found_none_still_refuses(start_shield: Start) -> None:
    """The gate hands the request's handler its ban cache's answer (no ban) with the cache's version,
    so the handler need not look again; a ban added since (another version) is looked up, not missed."""
    shield = await start_shield()
    refusals = shield.service.proxy[GATE_KEY]._refusals  # type: ignore[attr-defined]
    bans = shield.service.bans
    now = shield.clock.now()
    ctx = RequestContext("rid", CLEAN, "127.0.0.1", True, 0.0, unbanned=bans.version)
    request = make_mocked_request("GET", "/a")
    assert refusals.banned(ctx) is None
    bans.put(Ban("ip", CLEAN, "test", created_at=now, expires_at=now + 600))
    ban = refusals.banned(ctx)
    assert ban is not None
    answer = await refusals.refuse(request, ctx, None, ban)
    assert answer.status == 403


@pytest.mark.parametrize("client", [CLEAN, "2001:db8:5:6::7"], ids=["ipv4", "ipv6"])
async def test_the_gate_passes_the_client_and_its_subnet_to_the_handler(start_shield: Start, client: str) -> None:
    """A head the gate leaves to aiohttp carries the client it found and that client's subnet, with which
    the handler looks again in a ban cache that changed since (no address parsed twice)."""
    shield = await start_shield()
    gate = shield.service.proxy[GATE_KEY]

    class Conn:
        peer, memo, passed = "127.0.0.1", None, None

    class Protocol:
        def pause_reading(self, **_: Any) -> None: ...
        def resume_reading(self, **_: Any) -> None: ...

    parser = HttpRequestParser(Protocol(), asyncio.get_running_loop(), 2**16)
    (msg, _payload), *_ = parser.feed_data(req("GET", "/a", xff=client))[0]
    conn = Conn()
    assert gate.answer(conn, msg, keep_alive=True) is None
    assert conn.passed is not None
    assert (conn.passed.client_ip, conn.passed.subnet) == (client, subnet_of(client))
    now = shield.clock.now()
    shield.service.bans.put(Ban("subnet", subnet_of(client), "test", created_at=now, expires_at=now + 600))
    ctx = RequestContext("rid", client, "127.0.0.1", True, 0.0, unbanned=conn.passed.unbanned,
                         subnet=conn.passed.subnet)
    ban = gate._refusals.banned(ctx)  # type: ignore[attr-defined]
    assert ban is not None
    assert ban.scope == "subnet"


async def test_the_handler_of_a_head_the_gate_passed_sees_the_same_client(start_shield: Start) -> None:
    """The client the gate found behind the trusted proxy is the one the handler logs (the rightmost
    address that is not a trusted proxy), request after request on one connection."""
    shield = await start_shield()
    payload = req("GET", "/p", xff=CLEAN) + req("GET", "/q", xff=f"{CLEAN}, {BANNED}, 127.0.0.1")
    payload += req("GET", "/r", xff=f"{BANNED}, {CLEAN}")
    answers, _ = await exchange(shield.port, payload, ["GET"] * 3)
    assert [a.status for a in answers] == [200, 403, 200]
    logged = {line["path"]: line["client_ip"] for line in shield.lines() if line.get("event") == "request"}
    assert logged == {"/p": CLEAN, "/r": CLEAN}


def _own_lines(shield: Shield, ids: list[str]) -> list[dict[str, Any]]:
    """The decision lines of these requests, without what differs from one run to the next."""
    varying = ("request_id", "ts", "timestamp", "shield_ms", "store_ms", "upstream_ms", "total_ms", "ban_ttl_s")
    by_id = {d["request_id"]: d for d in shield.lines() if d.get("event") == "decision" and d["request_id"] in ids}
    return [{k: v for k, v in by_id[i].items() if k not in varying} for i in ids]


async def test_first_refusals_of_a_second_are_answered_below_aiohttp_with_the_same_lines(start_shield: Start) -> None:
    """A rotating-address wave's refusals are each the first of their ban and second: their own decision
    line and a store count. They are answered as the head is parsed, on record exactly as aiohttp's path
    records them (they used to go to aiohttp: a Request, task and handler each)."""
    shapes = [(req("POST", "/api/login", body=LOGIN), "POST"), (req("GET", "/static/app.js"), "GET"),
              (req("HEAD", "/static/app.js"), "HEAD")]
    results = []
    for fast in (True, False):
        shield = await start_shield(fast=fast, log=LogSettings(format="json", ban_lines_per_second=5))
        before = shield.handled_by_aiohttp
        answers, closed = await exchange(shield.port, b"".join(p for p, _ in shapes), [m for _, m in shapes])
        await asyncio.sleep(0.05)  # the store count is not waited for
        probe = Observation(route="login", ip=BANNED, subnet=subnet_of(BANNED))
        signals = await shield.service.store.observe(probe, shield.clock.now())
        results.append((
            [a.normalised() for a in answers], closed, _own_lines(shield, [a.request_id for a in answers]),
            signals.counters["ip.attempts_1m"], shield.handled_by_aiohttp - before,
        ))
    (fast_answers, fast_closed, fast_lines, fast_count, fast_aiohttp), slow = results
    assert (fast_answers, fast_closed, fast_lines, fast_count) == slow[:4]
    assert [line["route"] for line in fast_lines] == ["login", "passthrough", "passthrough"]
    assert fast_count == 2  # the refusal on the login route and the probe
    assert fast_aiohttp == 0
    assert slow[4] == len(shapes)


async def test_first_refusals_the_head_cannot_describe_go_to_aiohttp(start_shield: Start) -> None:
    """A target with a percent escape or a query (aiohttp's decoded path differs), or no Host: the full path."""
    shield = await start_shield(log=LogSettings(format="json", ban_lines_per_second=5))
    before = shield.handled_by_aiohttp
    no_host = f"GET /a HTTP/1.0\r\nX-Forwarded-For: {BANNED}\r\n\r\n".encode()
    payload = req("GET", "/static/a%20b.js") + req("GET", "/static/app.js?v=1") + no_host
    answers, _ = await exchange(shield.port, payload, ["GET"] * 3)
    assert [a.status for a in answers] == [403] * 3
    assert shield.handled_by_aiohttp - before == 3
    paths = [d["path"] for d in shield.lines() if d.get("event") == "decision"
             and d["request_id"] in {a.request_id for a in answers}]
    assert sorted(paths) == ["/a", "/static/a b.js", "/static/app.js"]
