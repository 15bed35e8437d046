"""The admin listener (its own port): health, readiness, metrics, and the token-guarded API.

/healthz and /readyz answer without a token (orchestrators probe them); every other route
needs `Authorization: Bearer <admin token>`. GET /metrics also takes the read-only
`admin.metrics_token`, so a Prometheus scraper never holds the token that adds bans and reloads
rules. With no token configured those routes answer 403 and say how to set one.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from shield.observe.metrics import Metrics
from shield.settings.schema import Settings

ReadyCheck = Callable[[], Awaitable[None]]
# What works but in a lesser way (a store answering from local counters): reported, never unready.
DegradedNotes = Callable[[], list[str]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_DISABLED = "no admin token configured: set SHIELD_ADMIN_TOKEN or admin.token_file"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
METRICS_PATH = "/metrics"
READY_TIMEOUT = 2.0  # a probe that hangs must not hang the orchestrator's probe


def _json_error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def _bearer_matches(request: web.Request, expected: bytes) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # security: constant-time comparison, so response timing does not reveal the token prefix.
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


def token_guard(token: str | None, *, metrics_token: str | None = None) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = token.encode() if token else b""
    reader = metrics_token.encode() if metrics_token else b""

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        # security: the read-only token opens GET /metrics and nothing else (no bans, no reloads).
        if request.path == METRICS_PATH and request.method in ("GET", "HEAD") and _bearer_matches(request, reader):
            return await handler(request)
        if not expected:
            return _json_error(
                403, "admin_disabled", "no admin token configured: set SHIELD_ADMIN_TOKEN or admin.token_file"
            )
        if not _bearer_matches(request, expected):
            resp = _json_error(401, "unauthorized", "missing or wrong bearer token")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="shield-admin"'
            return resp
        return await handler(request)

    return guard


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _readyz(checks: Sequence[ReadyCheck], notes: DegradedNotes) -> Callable[[web.Request], Awaitable[web.Response]]:
    """200 while shield can serve, 503 only when it cannot (a check failed).

    A degraded part (the shared store down, shield deciding from per-process counters) is still
    ready: in Kubernetes an unready replica leaves the Service, and a store outage hits every
    replica at once, so a 503 there would take the whole site down instead of serving it.
    """
    log = structlog.get_logger()

    async def readyz(_request: web.Request) -> web.Response:
        problems: list[str] = []
        for check in checks:
            name = getattr(check, "__name__", type(check).__name__)
            try:
                await asyncio.wait_for(check(), READY_TIMEOUT)
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
        degraded = notes()  # after the checks: a check may have just found the store gone
        if problems:
            log.warning("admin.not_ready", problems=problems)
            return web.json_response(
                {"status": "not_ready", "problems": problems, "degraded": bool(degraded), "notes": degraded},
                status=503,
            )
        return web.json_response({"status": "ready", "degraded": bool(degraded), "notes": degraded})

    return readyz


def _metrics(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        # every worker's metrics when there are several (prometheus-client's multiprocess files)
        body = metrics.exposition()
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    return handler


def build_admin_app(
    settings: Settings,
    *,
    metrics: Metrics,
    ready_checks: Sequence[ReadyCheck],
    degraded: DegradedNotes = list,
    extra_routes: Sequence[web.RouteDef] = (),
) -> web.Application:
    guard = token_guard(settings.admin.token, metrics_token=settings.admin.metrics_token)
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz(tuple(ready_checks), degraded))
    app.router.add_get("/metrics", _metrics(metrics))
    app.router.add_routes(extra_routes)
    return app


def upstream_ready_check(settings: Settings) -> ReadyCheck:
    """Ready when a TCP connection to the upstream opens within the connect timeout."""
    url = urlsplit(settings.upstream)
    host = url.hostname or "127.0.0.1"
    port = url.port or (443 if url.scheme == "https" else 80)

    async def upstream() -> None:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), settings.upstream_options.connect_timeout
        )
        writer.close()
        await writer.wait_closed()

    return upstream
