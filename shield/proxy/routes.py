"""Which requests are protected: the configured routes compiled once into a matcher.

A request path is compared in its canonical spellings (shield.proxy.canonical_path: case, `;params`, `\\`,
percent-encoding, dot segments, duplicate slashes, a `.format` suffix), each route under its own folds.
Exact paths are a dict lookup; globs (`*` matches one path segment, `**` any number) become one anchored
RE2 regex each, tried in config order after the exact paths.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from shield.proxy.canonical_path import fold_path, spellings
from shield.settings.linear_regex import LinearPattern, compile_linear
from shield.settings.schema import PathFolds, RouteSettings


@dataclass(slots=True, frozen=True)
class _GlobRoute:
    pattern: LinearPattern
    methods: frozenset[str]
    route: RouteSettings


@dataclass(slots=True)
class _FoldGroup:
    """The routes sharing one set of folds: a request is folded once per group."""

    fold: PathFolds
    exact: dict[tuple[str, str], RouteSettings] = field(default_factory=dict)
    globs: list[_GlobRoute] = field(default_factory=list)


def is_glob(path: str) -> bool:
    return "*" in path


def glob_to_regex(path: str) -> LinearPattern:
    """`/api/*/login` -> one segment; `/api/**` -> anything below. RE2: linear in the attacker's path."""
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
    return compile_linear("^" + "".join(out) + "$")


def canonical_path(path: str) -> str:
    """The path with dot segments and duplicate or trailing slashes resolved, nothing else folded."""
    return fold_path(path, PathFolds(case=False, path_params=False, backslash=False, format_suffix=False))


class RouteMatcher:
    """Finds the protected route of a request, or None for pass-through traffic."""

    __slots__ = ("_groups", "_methods", "match", "routes")

    def __init__(self, routes: Sequence[RouteSettings]) -> None:
        self.routes = tuple(routes)
        groups: dict[PathFolds, _FoldGroup] = {}
        for route in self.routes:
            group = groups.setdefault(route.fold, _FoldGroup(route.fold))
            path = fold_path(route.path, route.fold)
            methods = frozenset(m.upper() for m in route.methods)
            if is_glob(route.path):
                group.globs.append(_GlobRoute(glob_to_regex(path), methods, route))
                continue
            for method in sorted(methods):
                group.exact.setdefault((method, path), route)
        self._groups = tuple(groups.values())
        self._methods = frozenset(m.upper() for r in self.routes for m in r.methods)
        # Clients repeat their targets (a login flood, every keep-alive client): folding a path into its
        # spellings was ~3% of a ban refusal. The answer depends on (method, target) alone.
        self.match = functools.lru_cache(maxsize=4096)(self._match)

    def _match(self, method: str, target: str) -> RouteSettings | None:
        """`target` is the request's path (raw or decoded; a query string is ignored)."""
        method = method.upper()
        if method not in self._methods:  # most pass-through traffic: no route takes this method
            return None
        per_group = [(group, spellings(target, group.fold)) for group in self._groups]
        for group, paths in per_group:
            for path in paths:
                route = group.exact.get((method, path))
                if route is not None:
                    return route
        for group, paths in per_group:
            for g in group.globs:
                if method in g.methods and any(g.pattern.fullmatch(path) for path in paths):
                    return g.route
        return None
