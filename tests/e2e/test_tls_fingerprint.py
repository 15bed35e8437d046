"""A JA3/JA4 header is believed only from a trusted proxy (the TLS terminator), never from the client."""

from __future__ import annotations

import ipaddress
from typing import Any

import aiohttp
import pytest

from shield.settings.schema import ClientSettings

JA4 = "t13d1516h2_8daaf6152771_02713d6af862"
RULES = f"""
policy:
  thresholds: {{tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}}
rules:
  - id: ja4_seen
    description: the terminator's JA4 reached the rules
    class: client
    when: 'fp.ja4 == "{JA4}"'
    score: 30
"""


@pytest.mark.parametrize(
    ("trusted", "believed"),
    [(("127.0.0.1/32",), True), (("10.0.0.0/8",), False), ((), False)],
    ids=["from_the_trusted_terminator", "from_an_untrusted_peer", "no_trusted_proxies"],
)
async def test_tls_fingerprint_header_only_from_trusted_proxies(
    make_stack: Any, trusted: tuple[str, ...], believed: bool
) -> None:
    stack = await make_stack(
        rules_text=RULES,
        trusted_proxies=tuple(ipaddress.ip_network(n) for n in trusted),
        client=ClientSettings(tls_fingerprint_header="X-JA4"),
    )
    async with aiohttp.ClientSession() as s:
        await s.post(stack.url + "/api/login", json={"username": "a", "password": "x"}, headers={"X-JA4": JA4})
    (line,) = stack.decisions()
    assert (line["rules"] == [{"id": "ja4_seen", "score": 30}]) is believed
