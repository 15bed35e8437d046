"""The challenge page in a real headless Chromium: it solves the puzzle and gets the user through,
with Web Crypto and with its own SHA-256 (no crypto.subtle, as on a plain-http origin)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from tests.challenge.guarded_app import Guarded

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # An insecure origin without DNS: shield.test resolves to 127.0.0.1 inside this browser only.
    "--host-resolver-rules=MAP shield.test 127.0.0.1",
]
NO_WEBCRYPTO = "delete Crypto.prototype.subtle;"
TIMEOUT_MS = 20_000


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chromium() -> AsyncIterator[Any]:
    """One Chromium for the module (starting it is most of the cost); playwright's launch() gives
    it a fresh temporary profile of its own."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def browser(chromium: Any) -> AsyncIterator[Any]:
    """A fresh context per test: its own cookies and storage, like a new private window."""
    context = await chromium.new_context()
    try:
        yield context
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def guarded() -> AsyncIterator[tuple[Guarded, int]]:
    g = Guarded(difficulty=10)
    server = TestServer(g.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield g, server.port or 0
    finally:
        await server.close()


async def _open(browser: Any, init_script: str | None = None) -> tuple[Any, list[str]]:
    page = await browser.new_page()
    if init_script:
        await page.add_init_script(init_script)
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    return page, console


@pytest.mark.parametrize(
    ("host", "init_script", "engine"),
    [
        ("127.0.0.1", None, "webcrypto"),
        ("127.0.0.1", NO_WEBCRYPTO, "js"),
        ("shield.test", None, "js"),
    ],
    ids=["webcrypto", "webcrypto-removed", "plain-http-origin"],
)
async def test_page_solves_and_reaches_the_protected_page(
    browser: Any, guarded: tuple[Guarded, int], host: str, init_script: str | None, engine: str
) -> None:
    g, port = guarded
    page, console = await _open(browser, init_script)
    first = await page.goto(f"http://{host}:{port}/protected")
    assert first.status == 403
    assert first.headers["shield-mitigated"] == "challenge"
    await page.wait_for_selector("#welcome", timeout=TIMEOUT_MS)
    assert await page.text_content("#welcome") == "welcome"
    assert any(f"solved with {engine}" in line for line in console), console
    assert g.verdicts == ["ok"]
    # The pass cookie now lets the user straight through, and the one-shot solution cookie is gone.
    again = await page.goto(f"http://{host}:{port}/protected")
    assert again.status == 200
    assert g.verdicts == ["ok", "pass"]
    names = {c["name"]: c for c in await browser.cookies()}
    assert "shield_challenge" not in names
    assert names["shield_pass"]["httpOnly"] is True


async def test_form_post_is_resubmitted_without_echoing_the_password(
    browser: Any, guarded: tuple[Guarded, int]
) -> None:
    g, port = guarded
    page, _ = await _open(browser)
    await page.goto(f"http://127.0.0.1:{port}/form")
    async with page.expect_response(lambda r: r.url.endswith("/protected")) as answer:
        await page.click("#go")
    challenge_page = await (await answer.value).text()
    assert "hunter2" not in challenge_page
    # The page solves, then goes back to the form; the user submits again with the solution cookie.
    await page.wait_for_url(f"http://127.0.0.1:{port}/form", timeout=TIMEOUT_MS)
    await page.click("#go")
    await page.wait_for_selector("#welcome", timeout=TIMEOUT_MS)
    assert g.verdicts == ["ok"]
    assert g.bodies[-1] == b"username=alice&password=hunter2"


async def test_page_stops_reloading_when_solving_does_not_help(browser: Any) -> None:
    g = Guarded(difficulty=4, still_refused=True)
    server = TestServer(g.app(), host="127.0.0.1")
    await server.start_server()
    try:
        page, _ = await _open(browser)
        await page.goto(f"http://127.0.0.1:{server.port}/protected")
        await page.wait_for_function(
            "document.getElementById('shield-status').textContent.includes('still refused')", timeout=TIMEOUT_MS
        )
        # The first answer and three rounds of solve + reload, then the page gives up.
        assert g.verdicts == ["ok", "ok", "ok"]
        assert len(g.bodies) == 4
    finally:
        await server.close()


async def test_page_sha256_matches_hashlib(browser: Any) -> None:
    """Lengths around the padding edges (55/56/64 bytes) and multi-block inputs."""
    g_fast = Guarded(difficulty=32)  # never solved during the test: the page stays put
    server = TestServer(g_fast.app(), host="127.0.0.1")
    await server.start_server()
    try:
        page, _ = await _open(browser, NO_WEBCRYPTO)
        await page.goto(f"http://127.0.0.1:{server.port}/protected")
        lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 200]
        got = await page.evaluate(
            """(lengths) => lengths.map((n) => {
                const bytes = new Uint8Array(n);
                for (let i = 0; i < n; i++) bytes[i] = (i * 7 + 3) & 255;
                return Array.from(window.shieldSha256(bytes)).map((b) => b.toString(16).padStart(2, "0")).join("");
            })""",
            lengths,
        )
        expected = [hashlib.sha256(bytes((i * 7 + 3) & 255 for i in range(n))).hexdigest() for n in lengths]
        assert got == expected
    finally:
        await server.close()
