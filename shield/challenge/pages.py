"""The challenge answer: a self-solving HTML page for browsers, JSON for API clients.

Both are a 403 with `Shield-Mitigated: challenge` and `Cache-Control: no-store`. The page
is self-contained (page.html + page.js inlined) under a strict Content-Security-Policy that
allows exactly its own script and style by hash, so nothing else can run in it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
from dataclasses import dataclass
from importlib import resources

import orjson
from aiohttp import web

from shield.challenge.pow import SOLUTION_COOKIE, Challenge

MITIGATED_HEADER = "Shield-Mitigated"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# security: never parse an absurd Accept header.
_MAX_ACCEPT_LEN = 2048


def prefers_html(accept: str | None) -> bool:
    """True when the client names HTML explicitly and ranks it no lower than JSON.

    Browsers navigating send `text/html,...,*/*;q=0.8`; fetch() and mobile apps send `*/*`
    or `application/json`, and get JSON.
    """
    if not accept or len(accept) > _MAX_ACCEPT_LEN:
        return False
    html_q = json_q = 0.0
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        q = _quality(params)
        media = media.strip().lower()
        if media in _HTML_TYPES:
            html_q = max(html_q, q)
        elif media == "application/json":
            json_q = max(json_q, q)
    return html_q > 0 and html_q >= json_q


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@dataclass(slots=True, frozen=True)
class ChallengePage:
    """The page template with its script inlined, and the CSP that admits exactly that script."""

    template: str
    csp: str

    @classmethod
    def load(cls) -> ChallengePage:
        pkg = resources.files("shield.challenge")
        page = pkg.joinpath("page.html").read_text("utf-8")
        script = pkg.joinpath("page.js").read_text("utf-8")
        style = re.search(r"<style>(.*?)</style>", page, re.S)
        style_src = _csp_hash(style.group(1)) if style else "'none'"
        csp = (
            f"default-src 'none'; script-src {_csp_hash(script)}; style-src {style_src}; "
            "connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        return cls(template=page.replace("{{SCRIPT}}", script), csp=csp)

    def render(self, challenge: Challenge, *, request_id: str, method: str) -> str:
        data = orjson.dumps({"challenge": challenge.as_json(), "method": method.upper(), "request_id": request_id})
        # security: JSON inside <script> must not be able to close the element (`</script>`).
        safe = data.decode().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return self.template.replace("{{DATA}}", safe).replace("{{REQUEST_ID}}", html.escape(request_id))


@functools.cache
def default_page() -> ChallengePage:
    """The bundled page, read once (immutable)."""
    return ChallengePage.load()


def challenge_json(challenge: Challenge, *, request_id: str) -> bytes:
    return orjson.dumps({"error": "challenge_required", "challenge": challenge.as_json(), "request_id": request_id})


def challenge_response(
    challenge: Challenge, *, request_id: str, accept: str | None, method: str, page: ChallengePage | None = None
) -> web.Response:
    """403 + `Shield-Mitigated: challenge`: the HTML page for browsers, JSON for everyone else."""
    headers = {MITIGATED_HEADER: "challenge", "Cache-Control": "no-store", "Vary": "Accept"}
    if prefers_html(accept):
        page = page or default_page()
        headers["Content-Security-Policy"] = page.csp
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        body = page.render(challenge, request_id=request_id, method=method)
        return web.Response(status=403, text=body, content_type="text/html", charset="utf-8", headers=headers)
    return web.Response(
        status=403,
        body=challenge_json(challenge, request_id=request_id),
        content_type="application/json",
        headers=headers,
    )


def clear_solution_cookie(*, secure: bool) -> str:
    """Set-Cookie value that deletes the page's solution cookie once shield has used it."""
    cookie = f"{SOLUTION_COOKIE}=; Max-Age=0; Path=/; SameSite=Lax"
    return cookie + "; Secure" if secure else cookie
