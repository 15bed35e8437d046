"""The decision line is the SOC's contract: its fields, and never a secret in any line."""

from __future__ import annotations

from typing import Any

import aiohttp

from shield.challenge.client import solve

DECISION_FIELDS = {
    "schema", "request_id", "route", "client_ip", "subnet", "country", "asn", "asn_org", "account_id",
    "fingerprint", "device_id", "ua_family", "score", "action", "enforced", "rules", "shadow_rules",
    "shadow_action", "ruleset", "challenge", "status", "upstream_status", "outcome", "malformed",
    "store_degraded", "shield_ms", "store_ms", "upstream_ms", "duration_ms", "event", "level", "ts",
    # schema 2
    "method", "path", "host", "user_agent", "tls_fingerprint",
    # schema 3
    "evidence",
}
DECISION_FIELDS |= {"facts"}  # the facts on record (log.decision_facts), for `shield replay`
PASSWORD = "hunter2-correct-horse-battery"


async def test_decision_line_has_every_documented_field(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        await s.post(
            stack.url + "/api/login", json={"username": "Tag", "password": "x"},
            headers={"X-Forwarded-For": "2001:db8:3100::7", "User-Agent": "curl/8.5.0"},
        )
    (line,) = stack.decisions()
    assert set(line) == DECISION_FIELDS
    assert line["client_ip"] == "2001:db8:3100::7"
    assert line["subnet"] == "2001:db8:3100::/48"
    assert (line["country"], line["asn"], line["asn_org"]) == ("US", 64531, "Demo Cable US")
    assert line["ua_family"] == "curl"
    assert line["rules"] == [{"id": "tag_me", "score": 30}]
    assert line["account_id"]
    assert line["account_id"] != "tag"
    assert line["ruleset"] == stack.service.rules.current.hash
    assert line["schema"] == 3
    assert line["evidence"] == {"client": 30}
    assert (line["method"], line["path"], line["user_agent"]) == ("POST", "/api/login", "curl/8.5.0")
    assert line["host"] == stack.url.removeprefix("http://")
    assert line["tls_fingerprint"] is None  # no client.tls_fingerprint_header configured
    assert line["outcome"] == "failure"  # written after the upstream answered, so the outcome is known


async def test_crowd_evidence_alone_is_challenged_and_the_line_shows_the_score_per_class(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        crowd = await s.post(stack.url + "/api/login", json={"username": "crowd", "password": "x"})
        block = await s.post(stack.url + "/api/login", json={"username": "block", "password": "x"})
    assert (crowd.status, block.status) == (403, 403)
    first, second = stack.decisions()
    assert (first["action"], first["score"], first["evidence"]) == ("challenge", 95, {"crowd": 95})
    assert first["challenge"] == "issued"
    assert (second["action"], second["evidence"]) == ("block", {"client": 95})


async def test_decision_line_carries_the_tls_fingerprint_header(make_stack: Any) -> None:
    from shield.settings.schema import ClientSettings

    stack = await make_stack(client=ClientSettings(tls_fingerprint_header="X-JA4"))
    ja4 = "t13d1516h2_8daaf6152771_b186095e22b6"
    async with aiohttp.ClientSession() as s:
        await s.post(stack.url + "/api/login", json={"username": "a", "password": "right"}, headers={"X-JA4": ja4})
    (line,) = stack.decisions()
    assert (line["tls_fingerprint"], line["outcome"]) == (ja4, "success")


async def test_a_huge_user_agent_is_cut_in_the_line(make_stack: Any) -> None:
    stack = await make_stack()
    async with aiohttp.ClientSession() as s:
        await s.post(stack.url + "/api/login", json={"username": "a", "password": "x"},
                     headers={"User-Agent": "A" * 5000})
    assert stack.decisions()[0]["user_agent"] == "A" * 512


async def test_account_in_clear_only_when_the_operator_opts_in(make_stack: Any) -> None:
    from shield.settings.schema import LogSettings

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
    from shield.settings.schema import LogSettings

    stack = await make_stack(log=LogSettings(format="json", decision_facts="off"))
    async with aiohttp.ClientSession() as s:
        await s.post(stack.url + "/api/login", json={"username": "Tag", "password": "x"})
    assert "facts" not in stack.decisions()[-1]
