"""RuleBook: the live rule pack, swapped atomically on SIGHUP, on file change or from the admin API.

A reload loads the whole folder aside (lists and rules, shield.rules.pack); only a pack that
loaded without a single error replaces the current one (one attribute assignment of one
immutable RulePack, so a request in flight keeps the rules and lists it started with, and the
fact builder and the rules never see lists from two loads). On a bad file the old pack stays and
every error is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web

from shield.model import DEFAULT_WINDOWS, Window
from shield.rules.pack import RulePack, load_pack
from shield.rules.score import RuleSet
from shield.rules.source import RuleErrors

log = structlog.get_logger()


@dataclass(slots=True, frozen=True)
class ReloadResult:
    ok: bool
    hash: str  # the active rule set's hash after the attempt (the old one when rejected)
    rules: int
    errors: tuple[str, ...] = ()


def _snapshot(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What the watcher compares: name, mtime and size of every rule and list file."""
    found: list[tuple[str, int, int]] = []
    for sub in (folder, folder / "lists"):
        with contextlib.suppress(OSError):
            for p in sorted(sub.iterdir()):
                if p.suffix in (".yaml", ".yml", ".txt") and p.is_file():
                    st = p.stat()
                    found.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(found)


class RuleBook:
    """Holds the current RulePack; `pack` is read once per request, `reload()` replaces it."""

    def __init__(
        self,
        folder: Path,
        *,
        extra_lists: Iterable[Path] = (),
        windows: Sequence[Window] = DEFAULT_WINDOWS,
        routes: Sequence[str] | None = None,
        on_reload: Callable[[ReloadResult], None] | None = None,
    ) -> None:
        """Loads the pack now; raises RuleErrors (or ListError) if the rules or lists are bad at start."""
        self.folder = folder
        self._extra_lists = tuple(extra_lists)
        self._windows = windows
        self._routes = routes
        self._on_reload = on_reload
        self._watcher: asyncio.Task[None] | None = None
        self.pack: RulePack = self._load()
        log.info("rules.loaded", hash=self.current.hash, rules=len(self.current), folder=str(folder))

    @property
    def current(self) -> RuleSet:
        """The current pack's rule set (read `pack` once instead when the lists matter too)."""
        return self.pack.rules

    def _load(self) -> RulePack:
        return load_pack(self.folder, extra_lists=self._extra_lists, windows=self._windows, routes=self._routes)

    def reload(self) -> ReloadResult:
        try:
            fresh = self._load()
        except RuleErrors as e:
            errors = tuple(str(err) for err in e.errors)
        except ValueError as e:  # ListError: bad list files, each named file:line
            errors = tuple(str(e).splitlines())
        else:
            old, self.pack = self.pack.hash, fresh
            result = ReloadResult(True, fresh.hash, len(fresh.rules))
            log.info("rules.loaded", hash=fresh.hash, previous=old, rules=len(fresh.rules), folder=str(self.folder))
            self._notify(result)
            return result
        result = ReloadResult(False, self.current.hash, len(self.current), errors)
        log.error("rules.rejected", hash=self.current.hash, errors=list(errors), folder=str(self.folder))
        self._notify(result)
        return result

    def _notify(self, result: ReloadResult) -> None:
        if self._on_reload is not None:
            self._on_reload(result)

    def watch(self, *, interval: float = 1.0, debounce: float = 0.5) -> asyncio.Task[None]:
        """Start the polling watcher (idempotent); `close()` cancels it."""
        if self._watcher is None or self._watcher.done():
            # the baseline is taken now, so a change made before the task first runs is not missed
            baseline = _snapshot(self.folder)
            self._watcher = asyncio.create_task(self._watch(baseline, interval, debounce), name="rules.watcher")
        return self._watcher

    async def _watch(self, seen: tuple[tuple[str, int, int], ...], interval: float, debounce: float) -> None:
        while True:
            await asyncio.sleep(interval)
            now = _snapshot(self.folder)
            if now == seen:
                continue
            # an editor writes in several steps: wait until the folder holds still
            while True:
                await asyncio.sleep(debounce)
                settled = _snapshot(self.folder)
                if settled == now:
                    break
                now = settled
            seen = now
            try:
                self.reload()
            except Exception:  # the watcher must outlive any surprise; the old rules stay
                log.exception("rules.watcher_failed", folder=str(self.folder))

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None


def reload_routes(book: RuleBook) -> list[web.RouteDef]:
    """POST /rules/reload and GET /rules for the admin app (which guards them with its token)."""

    async def reload(_request: web.Request) -> web.Response:
        result = book.reload()
        body = {"ok": result.ok, "hash": result.hash, "rules": result.rules, "errors": list(result.errors)}
        return web.json_response(body, status=200 if result.ok else 422)

    async def show(_request: web.Request) -> web.Response:
        rs = book.current
        return web.json_response({
            "hash": rs.hash,
            "rules": len(rs),
            "shadow": sum(1 for r in rs.rules if r.shadow),
            "lists": list(rs.lists),
            "folder": str(book.folder),
        })

    return [web.post("/rules/reload", reload), web.get("/rules", show)]
