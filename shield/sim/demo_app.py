"""The bundled demo login app: the thing shield protects in `shield demo` and the simulator.

POST /api/login {username, password} -> 200 {"session": ...} or 401 (unknown accounts alike),
POST /api/transfer with `Authorization: Bearer <session>` (the bulk action after a takeover),
GET / a tiny login page, GET /_demo/stats and POST /_demo/reset. Every attempt that reached the
app is recorded (account, success, time, X-Forwarded-For client) so the damage is counted from
the app's side. Passwords are kept only as salted SHA-256 and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shield.sim.events import Account

Now = Callable[[], float]
STEP_UP_HEADER = "Demo-Step-Up"


class UserDB:
    """username -> salted password hash."""

    __slots__ = ("_hashes", "_salt")

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._salt = secrets.token_bytes(16)
        self._hashes = {a.username: self._hash(a.password) for a in accounts}

    def _hash(self, password: str) -> bytes:
        return hashlib.sha256(self._salt + password.encode("utf-8")).digest()

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, username: object) -> bool:
        return username in self._hashes

    def check(self, username: str, password: str) -> bool:
        expected = self._hashes.get(username)
        # security: compare in constant time and hash even for unknown accounts (no timing oracle)
        return hmac.compare_digest(self._hash(password), expected or b"\0" * 32) and expected is not None


@dataclass(slots=True, frozen=True)
class LoginRecord:
    account: str
    success: bool
    known: bool
    t: float
    client: str
    step_up: bool = False


@dataclass(slots=True)
class Ledger:
    """What reached the app: every login attempt and transfer, and the live sessions."""

    now: Now = time.time
    logins: list[LoginRecord] = field(default_factory=list)
    transfers: list[tuple[str, float, str]] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)

    def stats(self, *, detail: bool) -> dict[str, Any]:
        ok = [r for r in self.logins if r.success]
        out: dict[str, Any] = {
            "attempts": len(self.logins),
            "successes": len(ok),
            "failures": len(self.logins) - len(ok),
            "unknown_accounts": sum(not r.known for r in self.logins),
            "accounts_logged_in": len({r.account for r in ok}),
            "step_ups": sum(r.step_up for r in ok),
            "transfers": len(self.transfers),
        }
        if detail:
            out["successful_logins"] = [{"account": r.account, "client": r.client, "t": r.t} for r in ok]
            out["transfer_log"] = [{"account": a, "t": t, "client": c} for a, t, c in self.transfers]
        return out


USERS_KEY = web.AppKey("demo_users", UserDB)
LEDGER_KEY = web.AppKey("demo_ledger", Ledger)

PAGE = """<!doctype html><html lang="ja"><meta charset="utf-8"><title>DemoPay</title>
<h1>DemoPay</h1><form id="f"><input name="username" placeholder="email"> <input name="password" type="password">
<button>Log in</button></form><pre id="out"></pre><script>
document.getElementById("f").onsubmit = async (e) => { e.preventDefault();
  const d = Object.fromEntries(new FormData(e.target));
  const r = await fetch("/api/login", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(d)});
  document.getElementById("out").textContent = r.status + " " + await r.text(); };
</script></html>"""


def _client(request: web.Request) -> str:
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.split(",")[-1].strip() or (request.remote or "")


async def login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        username, password = body["username"], body["password"]
        if not isinstance(username, str) or not isinstance(password, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "bad_request", "detail": "expected JSON {username, password}"}, status=400)
    users, ledger = request.app[USERS_KEY], request.app[LEDGER_KEY]
    ok = users.check(username, password)
    step_up = step_up_reasons(request.headers)
    ledger.logins.append(LoginRecord(username, ok, username in users, ledger.now(), _client(request), bool(step_up)))
    echo = {STEP_UP_HEADER: step_up} if step_up else None
    if not ok:
        return web.json_response({"error": "invalid_credentials"}, status=401, headers=echo)
    session = secrets.token_urlsafe(18)
    ledger.sessions[session] = username
    return web.json_response({"session": session, "step_up": bool(step_up)}, headers=echo)


def step_up_reasons(headers: Mapping[str, str]) -> str:
    """Why an app that steps up on shield's tags would ask this login for a second factor ("" when it
    would not): a solved challenge, and shield's reasons."""
    parts = ["challenge-solved"] if headers.get("Shield-Challenge", "").strip().lower() == "solved" else []
    parts += [r.strip() for r in headers.get("Shield-Reasons", "").split(",") if r.strip()]
    return ",".join(parts)


async def transfer(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER_KEY]
    auth = request.headers.get("Authorization", "")
    account = ledger.sessions.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
    if account is None:
        return web.json_response({"error": "unauthorized"}, status=401)
    ledger.transfers.append((account, ledger.now(), _client(request)))
    return web.json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    detail = request.query.get("detail", "") in {"1", "true", "yes"}
    return web.json_response(request.app[LEDGER_KEY].stats(detail=detail))


async def reset(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER_KEY]
    ledger.logins.clear()
    ledger.transfers.clear()
    ledger.sessions.clear()
    return web.json_response({"reset": True})


async def page(_request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


def build_demo_app(users: UserDB, *, now: Now = time.time) -> web.Application:
    """The demo login app over a user database; `now` stamps the ledger (a FakeClock's now in tests)."""
    app = web.Application()
    app[USERS_KEY] = users
    app[LEDGER_KEY] = Ledger(now=now)
    app.router.add_get("/", page)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/transfer", transfer)
    app.router.add_get("/_demo/stats", stats)
    app.router.add_post("/_demo/reset", reset)
    return app
