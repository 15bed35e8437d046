"""The /decisions routes on a real socket: bare (no auth) or inside the real admin app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

from shield.admin.decisions import decision_routes
from shield.facts.identity.credentials import normalise_account
from shield.facts.identity.keyed import Keyer
from shield.model import FakeClock
from shield.settings.schema import Settings
from shield.store.base import Store
from shield.store.memory import MemoryStore

TOKEN = "admin-token-for-tests"


KEYER = Keyer(b"deployment-secret-for-admin-tests")


def account_key(name: str) -> str:
    """What the service wires: the deployment's keyed hash of the normalised account name."""
    return KEYER.account_id(normalise_account(name))


@dataclass
class Admin:
    url: str
    store: Store
    clock: FakeClock
    changes: list[int] = field(default_factory=list)


@asynccontextmanager
async def decisions_server(*, guarded: bool = False, store: Store | None = None) -> AsyncIterator[Admin]:
    store = store if store is not None else MemoryStore()
    clock, changes = FakeClock(), []
    routes = decision_routes(store, clock, account_key=account_key, on_change=lambda: changes.append(1))
    if guarded:
        from shield.admin.app import build_admin_app
        from shield.observe.metrics import Metrics
        from shield.settings.schema import AdminSettings

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
