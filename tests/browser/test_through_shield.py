"""The challenge page through a whole shield (the real pipeline, memory store, FakeClock) in front
of the real test upstream: a browser is challenged, solves, lands on the page, and its pass lets
it through next time. Guards the glue: the fingerprint binding must survive the page's reload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from shield.model import FakeClock
from shield.service import build_service
from shield.settings.schema import RouteSettings
from tests.browser.test_challenge_page import ARGS, CHROMIUM, TIMEOUT_MS
from tests.e2e.conftest import rules_dir, stack_settings
from tests.fixtures.upstream import AppServers, Upstream

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]
# Every GET of the page scores exactly the challenge threshold; the solve (or pass) credit of 40
# brings it back under `tag`.
RULES = """
policy:
  thresholds: {tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}
rules:
  - {id: gate, description: every visit to the page is challenged, class: client,
     when: 'request.route == "page"', score: 60}
"""


@pytest_asyncio.fixture
async def shield_url(upstream: Upstream, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    route = RouteSettings(name="page", path="/account", methods=frozenset({"GET"}))
    settings = stack_settings(upstream, rules_dir(tmp_path, RULES), routes=(route,))
    service = build_service(settings, clock=FakeClock(t=1_800_000_000.0), with_admin=False)
    async with AppServers() as servers:
        yield await servers.start(service.proxy, settings.listen), service


# The page's script-initiated reload lacks `Sec-Fetch-User`, which the first navigation sent: the
# fingerprint must ignore such per-navigation headers or the challenge binding breaks.
@pytest.mark.parametrize("init_script", [None, "delete Crypto.prototype.subtle;"], ids=["webcrypto", "js-sha256"])
async def test_browser_solves_shields_challenge_and_keeps_its_pass(
    shield_url: tuple[str, Any], init_script: str | None
) -> None:
    from playwright.async_api import async_playwright

    url, _ = shield_url
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            if init_script:
                await page.add_init_script(init_script)
            statuses: list[tuple[int, str | None]] = []
            page.on(
                "response",
                lambda r: statuses.append((r.status, r.headers.get("shield-mitigated")))
                if r.url.endswith("/account") else None,
            )
            # only the page itself: a favicon fetch also answers 200 and would end the wait early
            async with page.expect_response(lambda r: r.status == 200 and r.url.endswith("/account"),
                                            timeout=TIMEOUT_MS):
                # "commit": the page solves and reloads itself, possibly before its own load event
                first = await page.goto(url + "/account", wait_until="commit")
                assert first is not None
                assert (first.status, first.headers.get("shield-mitigated")) == (403, "challenge")
            # the 200 may arrive before its document replaces the challenge page: wait for the swap
            await page.wait_for_function("!document.getElementById('shield-challenge')", timeout=TIMEOUT_MS)
            await page.wait_for_load_state("load")
            assert statuses == [(403, "challenge"), (200, None)]
            cookies = {c["name"] for c in await page.context.cookies()}
            assert "shield_pass" in cookies
            assert "shield_challenge" not in cookies
            again = await page.goto(url + "/account")
            assert again is not None
            assert again.status == 200
        finally:
            await browser.close()
