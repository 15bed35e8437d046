"""The proxy's one handler, called without aiohttp's router when the router could only pick it.

aiohttp's `Application._handle` resolves every request through the router before it calls the one
handler shield registers (`/{tail:.*}`, any method): the path walked part by part against the
resource index, the route's regex, a match info built, bound to the app and frozen; ~3% of a
protected login's CPU (py-spy, `./dev bench proxy`'s protected memory workload). `direct` calls
that handler itself when the router would pick it and do nothing else: a path that starts with `/`
and holds no newline (the route's `.*` stops at one: aiohttp answers such a path 404), and no Expect
header (aiohttp's expect handler answers 100-continue or 417 first). Every other request goes the
router's way, so every answer is the router's. The handler must not read `request.app` or
`request.match_info` (shield's proxy handler reads neither; the proxy app has no middlewares and
no on_response_prepare hooks, which the router's way would run).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.web_request import BaseRequest

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Routed = Callable[[BaseRequest], Awaitable[web.StreamResponse]]

# Set by build_app on the proxy app: its catch-all handler (shield.proxy.listener serves it directly).
DIRECT_KEY: web.AppKey[Handler] = web.AppKey("shield.proxy.dispatch.direct", Handler)  # type: ignore[arg-type]


def direct(handler: Handler, routed: Routed) -> Routed:
    """`routed` (the app's own `_handle`) with the router skipped where it could only pick `handler`."""

    def dispatch(request: BaseRequest) -> Awaitable[web.StreamResponse]:
        # not a coroutine: the handler's own, returned for aiohttp to await (one coroutine less a request)
        msg = request._message  # the parsed head (aiohttp warns on every read of its public `message`)
        target = msg.path
        # the router matches rel_url.path_safe (decoded, %2F kept); a target starting with "/" and no
        # percent escape decodes to itself (path_safe is its part before any "?" or "#"): checked as it is
        plain = target[:1] == "/" and "%" not in target
        path = target if plain else request.rel_url.path_safe
        if path[:1] == "/" and "\n" not in path and hdrs.EXPECT not in msg.headers:
            return handler(request)  # type: ignore[arg-type]  # the app's request factory makes web.Request
        return routed(request)

    return dispatch
