"""A login sent as a form, a query string or with a repeated field still counts against the account it names.

security: issue 12 item 6, end to end through aiohttp's own query and body handling.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from shield.settings.schema import DEFAULT_ROUTES

FOREIGN = {"X-Forwarded-For": "10.31.0.7", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"}


async def test_form_query_and_repeated_field_guesses_lock_the_victim_out(make_stack: Any) -> None:
    stack = await make_stack(routes=DEFAULT_ROUTES)
    async with aiohttp.ClientSession() as s:
        guesses = [
            s.post(stack.url + "/api/login", data={"username": "victim", "password": "a"}, headers=FOREIGN),
            s.post(stack.url + "/api/login?username=victim&password=b", headers=FOREIGN),
            s.post(
                stack.url + "/api/login",
                data=b"username=decoy&username=victim&password=c",
                headers={**FOREIGN, "Content-Type": "application/x-www-form-urlencoded"},
            ),
        ]
        for guess in guesses:
            async with guess as resp:
                assert resp.status == 401  # the test upstream reads the form (last value) and refuses
            await stack.service.pipeline.drain()
        right = {"username": "victim", "password": "right"}
        async with s.post(stack.url + "/api/login", json=right, headers=FOREIGN) as locked:
            assert locked.status == 403  # the three guesses counted against the victim: locked out
    decisions = stack.decisions()
    assert [d["outcome"] for d in decisions] == ["failure", "failure", "failure", "unknown"]
    assert decisions[2]["malformed"] is True  # the repeated field is flagged, and still counted for the victim
    assert decisions[-1]["rules"] == [{"id": "unfamiliar_lockout", "score": 95}]
