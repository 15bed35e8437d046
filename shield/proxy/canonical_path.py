"""A request path as the upstream's framework may route it: the spellings a route is compared in.

security: a variant the app routes to its login handler but shield does not recognise skips every counter.
Frameworks disagree (Express and ASP.NET ignore case, Tomcat and Spring drop `;params`, Rails strips a
`.format`, IIS reads `\\` as `/`, some servers decode `%2F` or decode twice), so a path is folded into every
spelling any of them could route, and a route matches when one of them is its path. A fold the app does not do
only protects a path the app answers 404 to: the cost of over-matching is scoring a stray request.

Only matching uses these spellings: the upstream gets the client's target unchanged.
"""

from __future__ import annotations

from urllib.parse import unquote

from shield.settings.schema import PathFolds

MAX_DECODES = 3  # %25-encoded layers undone at most (a double-decoding server, plus one for luck)


def spellings(target: str, fold: PathFolds) -> tuple[str, ...]:
    """Every canonical spelling of `target` (a raw or decoded request target; the query is ignored)."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith(("/", "\\")):
        path = origin_path(path)
    layers = [path]
    while "%" in layers[-1] and len(layers) <= MAX_DECODES:
        decoded = unquote(layers[-1], errors="replace")
        if decoded == layers[-1]:
            break
        layers.append(decoded)
    out: list[str] = []
    for layer in layers:
        canonical = fold_path(layer, fold)
        stripped = format_stripped(canonical) if fold.format_suffix else ()
        for spelling in (canonical, *stripped):
            if spelling not in out:
                out.append(spelling)
    return tuple(out)


def origin_path(target: str) -> str:
    """The path of an absolute-form target (`http://host/api/login` -> `/api/login`), as servers route it."""
    scheme, sep, rest = target.partition("://")
    if not sep or "/" in scheme:
        return "/" + target  # neither a path nor an absolute URL: compared as a relative path
    return "/" + rest.partition("/")[2]


def fold_path(path: str, fold: PathFolds) -> str:
    """`\\` as `/` and `;params` dropped (when folded), dot segments resolved, empty segments gone, case folded."""
    if fold.backslash:
        path = path.replace("\\", "/")
    parts: list[str] = []
    for raw in path.split("/"):
        seg = raw.split(";", 1)[0] if fold.path_params else raw  # before dot handling: `..;x` is `..` to Tomcat
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    canonical = "/" + "/".join(parts)
    return canonical.casefold() if fold.case else canonical


def format_stripped(path: str) -> tuple[str, ...]:
    """`/a/login.json` -> `/a/login`; `/a/login.php.json` -> `/a/login.php` and `/a/login` (a route may have a dot)."""
    head, _, last = path.rpartition("/")
    if "." not in last or last.startswith("."):
        return ()
    once = f"{head}/{last.rsplit('.', 1)[0]}"
    every = f"{head}/{last.split('.', 1)[0]}"
    return (once,) if once == every else (once, every)


def route_path(path: str, fold: PathFolds) -> str:
    """A configured route path in the form request spellings are compared with (globs keep their stars)."""
    return fold_path(path, fold)

