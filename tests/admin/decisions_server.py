"""The /decisions routes on a real socket: bare (no auth) or inside the real admin app."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

from shield.admin_decisions import decision_routes
from shield.clock import FakeClock
from tests.challenge.tiny_store import TinyStore

TOKEN = "admin-token-for-tests"


def account_key(name: str) -> str:
    """Stands in for Keyer.account_id: keyed, deterministic, visibly not the name."""
    return "acct_" + hashlib.sha256(b"k\x00" + name.lower().encode()).hexdigest()[:16]


@dataclass
class Admin:
    url: str
    store: TinyStore
    clock: FakeClock
    changes: list[int] = field(default_factory=list)


@asynccontextmanager
async def decisions_server(*, guarded: bool = False) -> AsyncIterator[Admin]:
    store, clock, changes = TinyStore(), FakeClock(), []
    routes = decision_routes(store, clock, account_key=account_key, on_change=lambda: changes.append(1))
    if guarded:
        from shield.admin import build_admin_app
        from shield.observe.metrics import Metrics
        from shield.settings import AdminSettings, Settings

        settings = Settings(admin=AdminSettings(token=TOKEN))
        app = build_admin_app(settings, metrics=Metrics(), ready_checks=(), extra_routes=routes)
    else:
        app = web.Application()
        app.router.add_routes(routes)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Admin(str(server.make_url("")).rstrip("/"), store, clock, changes)
    finally:
        await server.close()
