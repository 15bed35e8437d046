"""Which requests are protected."""

from __future__ import annotations

import pytest

from shield.proxy.routes import RouteMatcher, canonical_path
from shield.settings.schema import RouteSettings

MATCHER = RouteMatcher(
    (
        RouteSettings(name="login", path="/api/login"),
        RouteSettings(name="versioned", path="/api/*/login", methods=frozenset({"POST", "put"})),
        RouteSettings(name="pay", path="/pay/**", methods=frozenset({"POST"})),
    )
)


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("POST", "/api/login", "login"),
        ("GET", "/api/login", None),
        ("POST", "/api/login/", "login"),
        ("POST", "/api//login", "login"),
        ("POST", "/api/./login", "login"),
        ("POST", "/api/x/../login", "login"),
        ("POST", "/api/v2/login", "versioned"),
        ("PUT", "/api/v2/login", "versioned"),
        ("POST", "/api/v2/x/login", None),
        ("POST", "/pay/card/confirm", "pay"),
        ("POST", "/other", None),
        ("POST", "/API/login", "login"),
    ],
    ids=[
        "exact",
        "wrong_method",
        "trailing_slash",
        "double_slash",
        "dot_segment",
        "dotdot_segment",
        "glob_segment",
        "glob_lowercase_method_config",
        "glob_is_one_segment",
        "double_star",
        "unprotected",
        "case_folded_by_default",
    ],
)
def test_route_match(method: str, path: str, route: str | None) -> None:
    found = MATCHER.match(method, path)
    assert (found.name if found else None) == route


@pytest.mark.parametrize(
    ("path", "canonical"),
    [("/", "/"), ("/a/b", "/a/b"), ("//a///b/", "/a/b"), ("/a/../../b", "/b"), ("/./", "/")],
    ids=["root", "clean", "slashes", "dotdot_above_root", "dot_root"],
)
def test_canonical_path(path: str, canonical: str) -> None:
    assert canonical_path(path) == canonical
