"""The challenge answer: JSON for API clients, the self-solving page for browsers."""

from __future__ import annotations

import base64
import hashlib
import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shield.challenge.pages import challenge_json, challenge_response, clear_solution_cookie, prefers_html
from shield.challenge.pow import Binding, issue

CHALLENGE = issue(b"k" * 32, binding=Binding("10.0.0.1", "login", "fp"), difficulty=10, now=1000.0, ttl=300)
CHROME = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (CHROME, True),
        ("text/html", True),
        ("application/xhtml+xml", True),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/plain, */*", False),
        ("text/html;q=0.5, application/json", False),
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0", False),
        ("text/html;q=abc", False),
        ("", False),
        (None, False),
        ("text/html," * 1000, False),
    ],
    ids=[
        "chrome",
        "html",
        "xhtml",
        "any",
        "json",
        "axios",
        "json-preferred",
        "html-preferred",
        "q0",
        "bad-q",
        "empty",
        "none",
        "huge",
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def test_api_client_gets_the_challenge_json_exactly() -> None:
    response = challenge_response(CHALLENGE, request_id="r-42", accept="application/json", method="POST")
    assert response.status == 403
    assert response.headers["Shield-Mitigated"] == "challenge"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type == "application/json"
    assert orjson.loads(response.body) == {  # type: ignore[arg-type]
        "error": "challenge_required",
        "challenge": {
            "type": "pow",
            "algorithm": "sha256",
            "difficulty": 10,
            "seed": CHALLENGE.seed,
            "token": CHALLENGE.token,
            "expires_at": 1300,
        },
        "request_id": "r-42",
    }
    assert response.body == challenge_json(CHALLENGE, request_id="r-42")


def test_browser_gets_the_page_under_a_strict_csp() -> None:
    response = challenge_response(CHALLENGE, request_id="r-42", accept=CHROME, method="GET")
    assert response.status == 403
    assert response.content_type == "text/html"
    assert response.headers["Shield-Mitigated"] == "challenge"
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    page = response.text or ""
    assert "<script src" not in page
    assert "http://" not in page
    assert "https://" not in page
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp, "the CSP must admit exactly the inline script"
    data = re.search(r'<script type="application/json" id="shield-challenge">(.*?)</script>', page, re.S)
    assert data is not None
    assert orjson.loads(data.group(1)) == {"challenge": CHALLENGE.as_json(), "method": "GET", "request_id": "r-42"}


def test_page_data_cannot_break_out_of_its_script_element() -> None:
    evil = "</script><script>alert(1)</script>"
    page = challenge_response(CHALLENGE, request_id=evil, accept=CHROME, method="POST").text or ""
    assert "alert(1)</script>" not in page
    assert page.count("</script>") == 2
    data = re.search(r'id="shield-challenge">(.*?)</script>', page, re.S)
    assert data is not None
    assert orjson.loads(data.group(1))["request_id"] == evil


def test_solution_cookie_is_cleared() -> None:
    assert clear_solution_cookie(secure=True) == "shield_challenge=; Max-Age=0; Path=/; SameSite=Lax; Secure"


@given(st.text(max_size=300))
def test_prefers_html_never_raises(accept: str) -> None:
    assert prefers_html(accept) in (True, False)
