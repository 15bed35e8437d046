"""RuleBook: a bad reload keeps the old rules, a good one takes effect, requests never see a gap."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shield.rules.reload import ReloadResult, RuleBook, reload_routes
from shield.rules.source import RuleErrors

GOOD = "rules:\n  - id: tor\n    description: d\n    when: ip.tor\n    score: {score}\n    class: client\n"
BAD = "rules:\n  - id: tor\n    description: d\n    when: ip.torr\n    score: 10\n    class: client\n"


def write(folder: Path, body: str, name: str = "r.yaml") -> None:
    # a new mtime even on coarse clocks, so the watcher sees every write
    path = folder / name
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(body)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, GOOD.format(score=10))
    return tmp_path


def test_bad_rules_at_start_raise(tmp_path: Path) -> None:
    write(tmp_path, BAD)
    with pytest.raises(RuleErrors):
        RuleBook(tmp_path)


def test_a_bad_reload_keeps_the_old_rules_and_reports_every_error(folder: Path) -> None:
    results: list[ReloadResult] = []
    book = RuleBook(folder, on_reload=results.append)
    old = book.current
    write(folder, BAD)
    result = book.reload()
    assert not result.ok
    assert book.current is old
    assert result.hash == old.hash
    assert result.errors == (f"{folder}/r.yaml:4:11: unknown fact 'ip.torr' (did you mean 'ip.tor'?)",)
    assert results == [result]


def test_a_good_reload_takes_effect(folder: Path) -> None:
    book = RuleBook(folder)
    old_hash = book.current.hash
    write(folder, GOOD.format(score=77))
    result = book.reload()
    assert result.ok
    assert result.hash != old_hash
    assert book.current.score({"ip.tor": True}, "login").score == 77


def test_a_reload_swaps_the_rules_and_their_lists_as_one_pack(folder: Path) -> None:
    (folder / "lists").mkdir()
    (folder / "lists" / "bad_cidrs.txt").write_text("# kind: cidr\n192.0.2.0/24\n")
    book = RuleBook(folder)
    old = book.pack
    (folder / "lists" / "bad_cidrs.txt").write_text("# kind: cidr\n198.51.100.0/24\n")
    write(folder, GOOD.format(score=20))
    assert book.reload().ok
    new = book.pack
    assert new is not old
    assert new.rules is book.current
    assert new.lists["bad_cidrs"].contains("198.51.100.7")
    assert not new.lists["bad_cidrs"].contains("192.0.2.7")
    assert old.lists["bad_cidrs"].contains("192.0.2.7")  # a request in flight keeps what it started with
    (folder / "lists" / "bad_cidrs.txt").write_text("# kind: cidr\n10.0.0.0/33\n")
    assert not book.reload().ok
    assert book.pack is new  # rules and lists stay together: neither half of a bad load gets in


def test_bad_list_file_is_a_rejected_reload(folder: Path) -> None:
    (folder / "lists").mkdir()
    book = RuleBook(folder)
    (folder / "lists" / "bad_cidrs.txt").write_text("# kind: cidr\n10.0.0.0/33\n")
    result = book.reload()
    assert not result.ok
    assert result.errors


async def wait_for(check: Callable[[], bool], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 - the condition is a watcher's side effect, not an event we own
            await asyncio.sleep(0.01)


async def test_file_change_is_picked_up_and_scoring_never_stops(folder: Path) -> None:
    results: list[ReloadResult] = []
    book = RuleBook(folder, on_reload=results.append)
    task = book.watch(interval=0.02, debounce=0.02)
    assert task.get_name() == "rules.watcher"
    scored: list[int] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            scored.append(book.current.score({"ip.tor": True}, "login").score)
            await asyncio.sleep(0)

    runner = asyncio.create_task(traffic())
    write(folder, BAD)
    await wait_for(lambda: len(results) == 1)
    write(folder, GOOD.format(score=55))
    await wait_for(lambda: len(results) == 2)
    # the traffic task needs a turn after the swap (the watcher and this wait may run back to back)
    await wait_for(lambda: scored[-1] == 55)
    stop.set()
    await runner
    await book.close()
    assert task.cancelled()
    assert [r.ok for r in results] == [False, True]
    assert set(scored) <= {10, 55}
    assert (scored[0], scored[-1]) == (10, 55)


@pytest.fixture
async def admin(folder: Path, aiohttp_client: Callable[..., object]) -> tuple[RuleBook, TestClient]:
    book = RuleBook(folder)
    app = web.Application()
    app.add_routes(reload_routes(book))
    client = await aiohttp_client(app)  # type: ignore[misc]
    return book, client


async def test_admin_shows_and_reloads_the_rules(admin: tuple[RuleBook, TestClient], folder: Path) -> None:
    book, client = admin
    resp = await client.get("/rules")
    body = await resp.json()
    assert (resp.status, body["hash"], body["rules"]) == (200, book.current.hash, 1)
    write(folder, BAD)
    resp = await client.post("/rules/reload")
    body = await resp.json()
    assert (resp.status, body["ok"], len(body["errors"])) == (422, False, 1)
    write(folder, GOOD.format(score=5))
    resp = await client.post("/rules/reload")
    body = await resp.json()
    assert (resp.status, body["ok"], body["hash"]) == (200, True, book.current.hash)
