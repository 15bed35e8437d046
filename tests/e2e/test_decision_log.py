"""The decision line is the SOC's contract: its fields, and never a secret in any line."""

from __future__ import annotations

from typing import Any

import aiohttp

from shield.client import solve

DECISION_FIELDS = {
    "schema", "request_id", "route", "client_ip", "subnet", "country", "asn", "asn_org", "account_id",
    "fingerprint", "device_id", "ua_family", "score", "action", "enforced", "rules", "shadow_rules",
    "shadow_action", "ruleset", "challenge", "status", "upstream_status", "outcome", "malformed",
    "store_degraded", "shield_ms", "store_ms", "upstream_ms", "duration_ms", "event", "level", "ts",
}
DECISION_FIELDS |= {"facts"}  # the facts on record (log.decision_facts), for `shield replay`
PASSWORD = "hunter2-correct-horse-battery"


async def test_decision_line_has_every_documented_field(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        await s.post(
            stack.url + "/api/login", json={"username": "Tag", "password": "x"},
            headers={"X-Forwarded-For": "10.31.0.7", "User-Agent": "curl/8.5.0"},
        )
    (line,) = stack.decisions()
    assert set(line) == DECISION_FIELDS
    assert line["client_ip"] == "10.31.0.7"
    assert line["subnet"] == "10.31.0.0/24"
    assert (line["country"], line["asn"], line["asn_org"]) == ("US", 64531, "Demo Cable US")
    assert line["ua_family"] == "curl"
    assert line["rules"] == [{"id": "tag_me", "score": 30}]
    assert line["account_id"]
    assert line["account_id"] != "tag"
    assert line["ruleset"] == stack.service.rules.current.hash


async def test_account_in_clear_only_when_the_operator_opts_in(make_stack: Any) -> None:
    from shield.settings import LogSettings

    stack = await make_stack(log=LogSettings(format="json", account_in_clear=True))
    async with aiohttp.ClientSession() as s:
        await s.post(stack.url + "/api/login", json={"username": " Alice@Example.COM ", "password": "x"})
    assert stack.decisions()[-1]["account"] == "alice@example.com"


async def test_no_password_cookie_or_token_reaches_any_log_line(make_stack: Any) -> None:
    stack = await make_stack()
    secrets = [PASSWORD, "sessioncookievalue123", "bearer-token-xyz-987"]
    async with aiohttp.ClientSession() as s:
        for account in ("alice", "challenge", "block", "ban"):
            resp = await s.post(
                stack.url + "/api/login", json={"username": account, "password": PASSWORD},
                headers={"Cookie": f"sid={secrets[1]}", "Authorization": f"Bearer {secrets[2]}"},
            )
            if resp.headers.get("Shield-Mitigated") == "challenge":
                answer = solve((await resp.json())["challenge"])
                secrets.append(answer)
                await s.post(
                    stack.url + "/api/login", json={"username": account, "password": PASSWORD},
                    headers={"Shield-Challenge-Response": answer},
                )
        await s.post(stack.url + "/api/login", data=f"username=x&password={PASSWORD}".encode(),
                     headers={"Content-Type": "application/json"})  # malformed on purpose
    text = stack.logs.getvalue().decode()
    assert stack.decisions(), "no decision line was written"
    for secret in secrets:
        assert secret not in text


async def test_facts_on_record_hold_what_the_rules_read_and_no_account_name(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        await s.post(stack.url + "/api/login", json={"username": "Tag", "password": PASSWORD})
    facts = stack.decisions()[-1]["facts"]
    assert (facts["v"], facts["scope"]) == (1, "rules")
    reads = stack.service.rules.current.reads | {"challenge.solved", "challenge.passed"}
    assert set(facts["values"]) == reads - {"account"}  # the account is named by account_id only
    assert "tag" not in str(facts).lower()


async def test_decision_facts_off_leaves_them_out(make_stack: Any) -> None:
    from shield.settings import LogSettings

    stack = await make_stack(log=LogSettings(format="json", decision_facts="off"))
    async with aiohttp.ClientSession() as s:
        await s.post(stack.url + "/api/login", json={"username": "Tag", "password": "x"})
    assert "facts" not in stack.decisions()[-1]
