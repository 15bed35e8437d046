"""Which requests are protected: the configured routes compiled once into a matcher.

Exact paths are a dict lookup; globs (`*` matches one path segment, `**` any number) become one
anchored regex each, tried in config order after the exact paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shield.settings import RouteSettings


@dataclass(slots=True, frozen=True)
class _GlobRoute:
    pattern: re.Pattern[str]
    methods: frozenset[str]
    route: RouteSettings


def is_glob(path: str) -> bool:
    return "*" in path


def glob_to_regex(path: str) -> re.Pattern[str]:
    """`/api/*/login` -> one segment; `/api/**` -> anything below."""
    out: list[str] = []
    i = 0
    while i < len(path):
        if path.startswith("**", i):
            out.append(".*")
            i += 2
        elif path[i] == "*":
            out.append("[^/]+")
            i += 1
        else:
            out.append(re.escape(path[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def canonical_path(path: str) -> str:
    """The path as most upstream frameworks route it.

    security: without this, `/api//login`, `/api/login/` or `/api/./login` would reach the
    upstream's login handler while skipping protection.
    """
    if "//" not in path and "/." not in path and (len(path) < 2 or not path.endswith("/")):
        return path
    parts: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


class RouteMatcher:
    """Finds the protected route of a request, or None for pass-through traffic."""

    __slots__ = ("_exact", "_globs", "routes")

    def __init__(self, routes: Sequence[RouteSettings]) -> None:
        self.routes = tuple(routes)
        self._exact: dict[tuple[str, str], RouteSettings] = {}
        globs: list[_GlobRoute] = []
        for route in self.routes:
            if is_glob(route.path):
                globs.append(_GlobRoute(glob_to_regex(route.path), frozenset(m.upper() for m in route.methods), route))
                continue
            for method in route.methods:
                self._exact.setdefault((method.upper(), route.path), route)
        self._globs = tuple(globs)

    def match(self, method: str, path: str) -> RouteSettings | None:
        """`path` is the decoded request path; it is canonicalised before matching."""
        path = canonical_path(path)
        route = self._exact.get((method, path))
        if route is not None or not self._globs:
            return route
        for g in self._globs:
            if method in g.methods and g.pattern.match(path):
                return g.route
        return None
