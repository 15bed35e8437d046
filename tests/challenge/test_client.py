"""The reference client against a real protected app on a real socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from shield.challenge.client import ChallengeError, PassHolder, post_with_challenge, solve
from tests.challenge.guarded_app import Guarded

Serve = Callable[[Guarded], Awaitable[str]]


@pytest.fixture
async def serve() -> Any:
    servers: list[TestServer] = []

    async def start(guarded: Guarded) -> str:
        server = TestServer(guarded.app(), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/protected"))

    yield start
    for server in servers:
        await server.close()


async def test_client_solves_the_challenge_and_gets_through(serve: Serve) -> None:
    guarded = Guarded(difficulty=10)
    url = await serve(guarded)
    async with aiohttp.ClientSession() as session:
        response = await post_with_challenge(session, url, json={"username": "alice", "password": "pw"})
        assert response.status == 200
        assert "Shield-Pass" in response.headers
    assert guarded.verdicts == ["ok"]


async def test_pass_lets_the_next_request_through_without_a_challenge(serve: Serve) -> None:
    guarded = Guarded(difficulty=10)
    url = await serve(guarded)
    passes = PassHolder()
    async with aiohttp.ClientSession() as session:
        first = await post_with_challenge(session, url, json={"u": 1}, passes=passes)
        second = await post_with_challenge(session, url, json={"u": 2}, passes=passes)
    assert (first.status, second.status) == (200, 200)
    assert passes.value
    assert guarded.verdicts == ["ok", "pass"]


async def test_replayed_solution_gets_a_new_challenge(serve: Serve) -> None:
    guarded = Guarded(difficulty=6)
    url = await serve(guarded)
    async with aiohttp.ClientSession() as session:
        async with session.post(url, headers={"Accept": "application/json"}) as first:
            solution = solve((await first.json())["challenge"])
        statuses = []
        for _ in range(2):
            async with session.post(url, headers={"Shield-Challenge-Response": solution}) as response:
                statuses.append((response.status, response.headers.get("Shield-Mitigated")))
    assert statuses == [(200, None), (403, "challenge")]
    assert guarded.verdicts == ["ok", "replay"]


async def test_forged_solution_gets_a_new_challenge(serve: Serve) -> None:
    guarded = Guarded(difficulty=6)
    url = await serve(guarded)
    async with aiohttp.ClientSession() as session:
        async with session.post(url) as first:
            token = (await first.json())["challenge"]["token"]
        forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB") + ".0"
        async with session.post(url, headers={"Shield-Challenge-Response": forged}) as response:
            assert response.status == 403
    assert guarded.verdicts == ["bad_signature"]


async def test_browser_post_answer_never_echoes_the_password(serve: Serve) -> None:
    url = await serve(Guarded())
    async with aiohttp.ClientSession() as session:
        headers = {"Accept": "text/html"}
        async with session.post(url, data={"username": "alice", "password": "hunter2"}, headers=headers) as response:
            page = await response.text()
    assert response.status == 403
    assert response.content_type == "text/html"
    assert "hunter2" not in page


@pytest.mark.parametrize(
    "challenge",
    [
        {"type": "captcha", "algorithm": "sha256", "seed": "AA", "difficulty": 1, "token": "t"},
        {"type": "pow", "algorithm": "md5", "seed": "AA", "difficulty": 1, "token": "t"},
        {"type": "pow", "algorithm": "sha256", "seed": "!!", "difficulty": 1, "token": "t"},
        {"type": "pow", "algorithm": "sha256", "seed": "AA", "difficulty": 99, "token": "t"},
        {"type": "pow", "algorithm": "sha256", "seed": "AA", "token": "t"},
    ],
    ids=["not-pow", "not-sha256", "bad-seed", "too-hard", "no-difficulty"],
)
def test_solve_refuses_what_it_cannot_solve(challenge: dict[str, Any]) -> None:
    with pytest.raises(ChallengeError):
        solve(challenge)
