"""The demo login app over a real socket: logins, transfers, and the ledger counted from the app's side."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from shield.sim.demo_app import UserDB, build_demo_app
from shield.sim.events import Account
from shield.sim.run import serve

ALICE = Account("alice@demo.example", "correct horse")
BOB = Account("bob@demo.example", "hunter22")


@pytest.fixture
async def app_url() -> AsyncIterator[str]:
    async with serve(build_demo_app(UserDB([ALICE, BOB]), now=lambda: 1000.0)) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _login(http: aiohttp.ClientSession, url: str, body: object, xff: str = "10.31.0.9") -> tuple[int, object]:
    async with http.post(f"{url}/api/login", json=body, headers={"X-Forwarded-For": xff}) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("body", "status", "answer"),
    [
        ({"username": ALICE.username, "password": ALICE.password}, 200, "session"),
        ({"username": ALICE.username, "password": "wrong"}, 401, "invalid_credentials"),
        ({"username": "nobody@demo.example", "password": "x"}, 401, "invalid_credentials"),
        ({"username": ALICE.username}, 400, "bad_request"),
        ({"username": 5, "password": ALICE.password}, 400, "bad_request"),
        (["not", "an", "object"], 400, "bad_request"),
    ],
    ids=[
        "right-password",
        "wrong-password",
        "unknown-account-same-401",
        "missing-password",
        "non-string",
        "not-object",
    ],
)
async def test_login_answers(app_url: str, http: aiohttp.ClientSession, body: object, status: int, answer: str) -> None:
    got_status, got = await _login(http, app_url, body)
    assert got_status == status
    assert isinstance(got, dict)
    assert answer in got or got.get("error") == answer


async def test_unknown_account_and_wrong_password_get_the_same_body(app_url: str, http: aiohttp.ClientSession) -> None:
    wrong = await _login(http, app_url, {"username": ALICE.username, "password": "nope"})
    unknown = await _login(http, app_url, {"username": "ghost@demo.example", "password": "nope"})
    assert wrong == unknown


async def test_transfer_needs_the_session_of_a_successful_login(app_url: str, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{app_url}/api/transfer", headers={"Authorization": "Bearer made-up"}) as resp:
        assert resp.status == 401
    _, body = await _login(http, app_url, {"username": BOB.username, "password": BOB.password})
    assert isinstance(body, dict)
    async with http.post(f"{app_url}/api/transfer", headers={"Authorization": f"Bearer {body['session']}"}) as resp:
        assert resp.status == 200


async def test_stats_count_what_reached_the_app_and_reset_clears_them(
    app_url: str, http: aiohttp.ClientSession
) -> None:
    await _login(http, app_url, {"username": ALICE.username, "password": ALICE.password}, xff="127.0.0.1, 10.40.1.2")
    await _login(http, app_url, {"username": ALICE.username, "password": "bad"})
    await _login(http, app_url, {"username": "ghost@demo.example", "password": "bad"})
    async with http.get(f"{app_url}/_demo/stats", params={"detail": "1"}) as resp:
        stats = await resp.json()
    assert {k: stats[k] for k in ("attempts", "successes", "failures", "unknown_accounts", "accounts_logged_in")} == {
        "attempts": 3,
        "successes": 1,
        "failures": 2,
        "unknown_accounts": 1,
        "accounts_logged_in": 1,
    }
    assert stats["successful_logins"] == [{"account": ALICE.username, "client": "10.40.1.2", "t": 1000.0}]
    async with http.post(f"{app_url}/_demo/reset") as resp:
        assert resp.status == 200
    async with http.get(f"{app_url}/_demo/stats") as resp:
        assert (await resp.json())["attempts"] == 0


async def test_no_password_appears_in_the_stats(app_url: str, http: aiohttp.ClientSession) -> None:
    await _login(http, app_url, {"username": ALICE.username, "password": ALICE.password})
    await _login(http, app_url, {"username": BOB.username, "password": "typo-hunter22"})
    async with http.get(f"{app_url}/_demo/stats", params={"detail": "1"}) as resp:
        text = await resp.text()
    assert ALICE.password not in text
    assert "typo-hunter22" not in text


async def test_login_page_is_served(app_url: str, http: aiohttp.ClientSession) -> None:
    async with http.get(app_url + "/") as resp:
        assert resp.status == 200
        assert "/api/login" in await resp.text()


@pytest.mark.parametrize(
    ("tags", "password", "status", "echo"),
    [
        ({}, ALICE.password, 200, None),
        ({"Shield-Challenge": "solved", "Shield-Reasons": ""}, ALICE.password, 200, "challenge-solved"),
        ({"Shield-Reasons": "new_device, new_network", "Shield-Action": "tag"}, ALICE.password, 200,
         "new_device,new_network"),
        ({"Shield-Challenge": "solved", "Shield-Reasons": "password_sprayed"}, "wrong", 401,
         "challenge-solved,password_sprayed"),
        ({"Shield-Reasons": " ", "Shield-Action": "allow"}, ALICE.password, 200, None),
    ],
    ids=["untagged", "solved-challenge", "reasons", "tagged-failure-echoed-too", "empty-reasons-are-no-tag"],
)
async def test_the_app_steps_up_on_shields_tags_and_says_so(
    app_url: str, http: aiohttp.ClientSession, tags: dict[str, str], password: str, status: int, echo: str | None
) -> None:
    headers = {"X-Forwarded-For": "10.31.0.9", **tags}
    body = {"username": ALICE.username, "password": password}
    async with http.post(f"{app_url}/api/login", json=body, headers=headers) as resp:
        assert resp.status == status
        assert resp.headers.get("Demo-Step-Up") == echo
        answer = await resp.json()
    if status == 200:
        assert answer["step_up"] is (echo is not None)
    async with http.get(f"{app_url}/_demo/stats") as resp:
        assert (await resp.json())["step_ups"] == (1 if echo and status == 200 else 0)
