"""A small protected app built only from the challenge modules: the page or JSON until a valid,
unreplayed solution (header or cookie) or a valid pass arrives. Used by the client and the
browser tests; the real pipeline wires the same calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from shield.challenge.pages import challenge_response, clear_solution_cookie
from shield.challenge.passes import check_pass, issue_pass, pass_headers, read_pass
from shield.challenge.pow import Binding, issue, read_solution, verify
from shield.model import Clock, SystemClock
from shield.store.base import Store
from shield.store.memory import MemoryStore

SECRET = b"test-secret-0123456789abcdef0123"
FORM = """<!doctype html><html><head><title>Sign in</title></head><body>
<form method="post" action="/protected"><input name="username" value="alice">
<input type="password" name="password" value="hunter2"><button id="go">Sign in</button></form></body></html>"""


@dataclass
class Guarded:
    difficulty: int = 8
    store: Store = field(default_factory=lambda: MemoryStore())
    clock: Clock = field(default_factory=SystemClock)
    still_refused: bool = False  # a solved request whose score is still too high: challenged again
    verdicts: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def binding(self, request: web.Request) -> Binding:
        return Binding(client=request.remote or "", route="protected", fingerprint="test-fp")

    async def protected(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.read())
        now, binding = self.clock.now(), self.binding(request)
        if check_pass(SECRET, read_pass(request.headers, request.cookies), binding=binding, now=now):
            self.verdicts.append("pass")
            return web.Response(text="<h1 id='welcome'>welcome back</h1>", content_type="text/html")
        solution = read_solution(request.headers, request.cookies)
        if solution:
            result = verify(SECRET, solution, binding=binding, now=now)
            fresh = result.ok and await self.store.claim_once(result.replay_key or "", ttl=result.replay_ttl, now=now)
            self.verdicts.append(result.status.value if not result.ok else ("ok" if fresh else "replay"))
            if fresh and not self.still_refused:
                headers = pass_headers(issue_pass(SECRET, binding=binding, now=now, ttl=600), ttl=600, secure=False)
                headers.append(("Set-Cookie", clear_solution_cookie(secure=False)))
                response = web.Response(text="<h1 id='welcome'>welcome</h1>", content_type="text/html")
                for name, value in headers:
                    response.headers.add(name, value)
                return response
        challenge = issue(SECRET, binding=binding, difficulty=self.difficulty, now=now, ttl=60)
        return challenge_response(
            challenge, request_id="req-1", accept=request.headers.get("Accept"), method=request.method
        )

    async def form(self, request: web.Request) -> web.Response:
        return web.Response(text=FORM, content_type="text/html")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/protected", self.protected)
        app.router.add_get("/form", self.form)
        return app
