"""What the handlers read of a request, from aiohttp's parsed message where that is the same answer.

Each of a `web.Request`'s properties (method, path, query, host, ...) is computed on its first
read by a Python function and cached in a dict: about twenty reads of eleven of them per protected
request, ~18k instructions (callgrind, bench/worker_instructions.py). The parsed message
(`request._message`, aiohttp's RawRequestMessage: aiohttp warns on every read of its public
`message`) holds the method, the raw target and the headers as plain fields. Where a property is
a function of them, the handlers read them there; where it may not be (a target with a percent
escape, a query, an absolute form, a request cloned with another host), the property is read.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from multidict import MultiDict, MultiDictProxy, MultiMapping

# the query of a target without "?": what yarl parses from an empty query string
EMPTY_QUERY: MultiMapping[str] = MultiDictProxy(MultiDict())


def plain_target(target: str) -> bool:
    """Whether the raw target is its own decoded path with no query: origin form ("/..."), no
    percent escape (the only thing yarl decodes in a path), no "?" or "#"."""
    return target[:1] == "/" and "%" not in target and "?" not in target and "#" not in target


def path_and_query(request: web.Request) -> tuple[str, MultiMapping[str]]:
    """`request.path` and `request.query`."""
    target = request._message.path
    if plain_target(target):
        return target, EMPTY_QUERY
    return request.path, request.query


def host(request: web.Request) -> str:
    """`request.host`: the Host header unless the request says otherwise (an absolute-form target,
    a clone with its own host: their host is in the request's cache)."""
    cached = request._cache.get("host")
    if cached is not None:
        return str(cached)
    value = request._message.headers.get(hdrs.HOST)
    return value if value is not None else request.host
