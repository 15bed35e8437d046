"""Admin /decisions: list, add and lift bans through real HTTP; validation answers 400 clearly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from structlog.testing import capture_logs

from shield.admin.decisions import BadDecision, parse_ttl
from shield.store.base import Store
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore
from tests.admin.decisions_server import TOKEN, Admin, account_key, decisions_server


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def admin(request: pytest.FixtureRequest) -> AsyncIterator[Admin]:
    """The routes over each real store: bans must list, expire and lift the same on both."""
    if request.param == "memory":
        store: Store = MemoryStore()
    else:
        store = RedisStore(redis.asyncio.from_url(request.getfixturevalue("redis_url")))
    async with decisions_server(store=store) as server:
        yield server
    await store.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        ({"scope": "ip", "value": "10.40.1.2", "ttl": "1h"}, ("ip", "10.40.1.2", 3600)),
        ({"scope": "ip", "value": "2001:DB8:300::0001", "ttl": 60}, ("ip", "2001:db8:300::1", 60)),
        ({"scope": "subnet", "value": "10.40.7.9/16", "ttl": "2d"}, ("subnet", "10.40.0.0/16", 172800)),
        ({"scope": "asn", "value": "AS64540", "ttl": "30m"}, ("asn", "64540", 1800)),
        ({"scope": "asn", "value": "64541", "ttl": "90s"}, ("asn", "64541", 90)),
        (
            {"scope": "account", "value": "Alice@example.jp", "ttl": "1w"},
            ("account", account_key("alice@example.jp"), 604800),
        ),
        ({"scope": "fp", "value": "fp_3a9c0d", "ttl": 1.5}, ("fp", "fp_3a9c0d", 1.5)),
        ({"scope": "ip", "value": "10.40.1.3"}, ("ip", "10.40.1.3", 3600)),
    ],
    ids=["ip", "ipv6-canonical", "subnet-normalised", "asn-prefixed", "asn", "account-keyed", "fp", "default-ttl"],
)
async def test_add_ban(
    admin: Admin, http: aiohttp.ClientSession, body: dict[str, Any], stored: tuple[str, str, float]
) -> None:
    status, answer = await _call(http, "POST", admin.url + "/decisions", json={**body, "reason": "incident 42"})
    assert status == 201
    scope, value, ttl = stored
    assert (answer["scope"], answer["value"], answer["source"], answer["reason"]) == (
        scope,
        value,
        "admin",
        "incident 42",
    )
    [ban] = await admin.store.bans(admin.clock.now())
    assert (ban.scope, ban.value, ban.expires_at - ban.created_at) == (scope, value, ttl)
    assert admin.changes == [1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scope": "country", "value": "CN"}, "scope must be one of ip, subnet, asn, account, fp"),
        ({"value": "10.0.0.1"}, "scope must be one of"),
        ({"scope": "ip", "value": "10.0.0.300"}, "ip value '10.0.0.300' is not a valid address"),
        ({"scope": "ip", "value": "10.0.0.0/8"}, "is not a valid address"),
        ({"scope": "subnet", "value": "10.0.0.0/33"}, "is not a valid network"),
        ({"scope": "asn", "value": "ASX"}, "is not an AS number"),
        ({"scope": "fp", "value": "<script>"}, "fp value must be a fingerprint id"),
        ({"scope": "ip", "value": ""}, "value must be 1..256 characters"),
        ({"scope": "ip", "value": "10.0.0.1", "ttl": "forever"}, "ttl must be seconds or a duration"),
        ({"scope": "ip", "value": "10.0.0.1", "ttl": 0}, "ttl must be between 1 second and 365 days"),
        ({"scope": "ip", "value": "10.0.0.1", "ttl": "400d"}, "ttl must be between"),
        ({"scope": "ip", "value": "10.0.0.1", "ttl": True}, "ttl must be seconds"),
        (["ip", "10.0.0.1"], "body must be a JSON object"),
    ],
    ids=[
        "unknown-scope",
        "no-scope",
        "bad-ip",
        "network-as-ip",
        "bad-prefix",
        "bad-asn",
        "bad-fp",
        "empty-value",
        "bad-ttl",
        "zero-ttl",
        "ttl-too-long",
        "bool-ttl",
        "not-an-object",
    ],
)
async def test_invalid_ban_is_refused_with_a_clear_message(
    admin: Admin, http: aiohttp.ClientSession, body: Any, message: str
) -> None:
    status, answer = await _call(http, "POST", admin.url + "/decisions", json=body)
    assert status == 400
    assert answer["error"] == "bad_request"
    assert message in answer["message"]
    assert await admin.store.bans(admin.clock.now()) == []
    assert admin.changes == []


async def test_non_json_body_is_a_400(admin: Admin, http: aiohttp.ClientSession) -> None:
    status, answer = await _call(http, "POST", admin.url + "/decisions", data=b"scope=ip")
    assert status == 400
    assert answer["message"].startswith("body must be JSON")


async def test_oversized_body_is_refused(admin: Admin, http: aiohttp.ClientSession) -> None:
    status, _ = await _call(http, "POST", admin.url + "/decisions", json={"scope": "ip", "reason": "x" * 5000})
    assert status == 413


async def test_list_shows_active_bans_until_they_expire(admin: Admin, http: aiohttp.ClientSession) -> None:
    for body in ({"scope": "ip", "value": "10.40.1.2", "ttl": 60}, {"scope": "asn", "value": "64540", "ttl": 600}):
        await _call(http, "POST", admin.url + "/decisions", json=body)
    admin.clock.advance(30)
    status, answer = await _call(http, "GET", admin.url + "/decisions")
    assert status == 200
    assert [(d["scope"], d["value"], d["ttl_remaining"]) for d in answer["decisions"]] == [
        ("asn", "64540", 570),
        ("ip", "10.40.1.2", 30),
    ]
    admin.clock.advance(30)
    _, answer = await _call(http, "GET", admin.url + "/decisions")
    assert [d["value"] for d in answer["decisions"]] == ["64540"]
    _, answer = await _call(http, "GET", admin.url + "/decisions?scope=ip")
    assert answer == {"decisions": []}


@pytest.mark.parametrize(
    ("scope", "added", "path_value"),
    [
        ("ip", "10.40.1.2", "10.40.1.2"),
        ("subnet", "10.40.0.0/16", "10.40.0.0%2F16"),
        ("subnet", "10.40.0.0/16", "10.40.0.0/16"),
        ("asn", "64540", "AS64540"),
        ("account", "alice", "alice"),
        ("account", "alice", account_key("alice")),
        ("fp", "fp_1", "fp_1"),
    ],
    ids=["ip", "subnet-encoded", "subnet-raw-slash", "asn-prefixed", "account-by-name", "account-by-id", "fp"],
)
async def test_delete_lifts_the_ban(
    admin: Admin, http: aiohttp.ClientSession, scope: str, added: str, path_value: str
) -> None:
    await _call(http, "POST", admin.url + "/decisions", json={"scope": scope, "value": added, "ttl": 60})
    with capture_logs() as logs:
        status, answer = await _call(http, "DELETE", f"{admin.url}/decisions/{scope}/{path_value}")
    assert status == 200
    assert answer["lifted"]["scope"] == scope
    assert await admin.store.bans(admin.clock.now()) == []
    assert [e["event"] for e in logs] == ["ban.lifted"]
    assert admin.changes == [1, 1]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/decisions/ip/10.9.9.9", 404), ("/decisions/ip/not-an-ip", 400), ("/decisions/country/CN", 400)],
    ids=["no-such-ban", "bad-value", "bad-scope"],
)
async def test_delete_without_a_matching_ban(admin: Admin, http: aiohttp.ClientSession, path: str, status: int) -> None:
    got, answer = await _call(http, "DELETE", admin.url + path)
    assert got == status
    assert answer["error"] == {400: "bad_request", 404: "not_found"}[status]
    assert answer["message"]


async def test_ban_added_is_logged_without_the_account_name(admin: Admin, http: aiohttp.ClientSession) -> None:
    with capture_logs() as logs:
        await _call(http, "POST", admin.url + "/decisions", json={"scope": "account", "value": "bob", "ttl": 60})
    [event] = logs
    assert event["event"] == "ban.added"
    assert (event["scope"], event["value"], event["source"], event["ttl"]) == (
        "account",
        account_key("bob"),
        "admin",
        60,
    )
    assert "bob" not in repr(event)


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": f"Bearer {TOKEN}"}, 200)],
    ids=["no-token", "wrong-token", "token"],
)
async def test_real_admin_app_guards_the_routes(
    http: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    async with decisions_server(guarded=True) as admin:
        for method, path, body in (
            ("GET", "/decisions", None),
            ("POST", "/decisions", {"scope": "ip", "value": "10.0.0.1"}),
            ("DELETE", "/decisions/ip/10.0.0.1", None),
        ):
            async with http.request(method, admin.url + path, headers=headers, json=body) as response:
                assert response.status == (201 if method == "POST" and status == 200 else status), (method, path)
        if status != 200:
            assert await admin.store.bans(admin.clock.now()) == []


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (3600, 3600),
        (1.5, 1.5),
        ("90", 90),
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("2d", 172800),
        ("1w", 604800),
        (" 1h ", 3600),
    ],
    ids=str,
)
def test_parse_ttl(raw: object, seconds: float) -> None:
    assert parse_ttl(raw) == seconds


@pytest.mark.parametrize("raw", ["1y", "h", "-5", "1.2.3", None, [], 0.5], ids=str)
def test_parse_ttl_refuses(raw: object) -> None:
    with pytest.raises(BadDecision):
        parse_ttl(raw)
