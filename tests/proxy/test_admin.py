"""The admin listener over a real socket: open health probes, token-guarded everything else."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from shield.admin.app import build_admin_app, upstream_ready_check
from shield.observe.metrics import Metrics
from shield.settings.schema import AdminSettings, Settings
from tests.fixtures.upstream import AppServers, Upstream, free_port

TOKEN = "correct-horse"


async def _extra(_request: web.Request) -> web.Response:
    return web.json_response({"extra": True})


@pytest.fixture
async def start_admin() -> AsyncIterator[Callable[..., Any]]:
    async with AppServers() as servers:

        async def start(token: str | None, ready_checks: Any = (), upstream: str = "http://127.0.0.1:1") -> str:
            settings = dataclasses.replace(Settings(), upstream=upstream, admin=AdminSettings(token=token))
            metrics = Metrics()
            metrics.request("login", 200)
            app = build_admin_app(
                settings, metrics=metrics, ready_checks=ready_checks, extra_routes=[web.get("/extra", _extra)]
            )
            return await servers.start(app)

        yield start


@pytest.mark.parametrize(
    ("token", "path", "auth", "status"),
    [
        (TOKEN, "/healthz", None, 200),
        (None, "/healthz", None, 200),
        (TOKEN, "/readyz", None, 200),
        (TOKEN, "/metrics", f"Bearer {TOKEN}", 200),
        (TOKEN, "/extra", f"Bearer {TOKEN}", 200),
        (TOKEN, "/extra", "bearer " + TOKEN, 200),
        (TOKEN, "/metrics", None, 401),
        (TOKEN, "/extra", "Bearer wrong", 401),
        (TOKEN, "/extra", f"Basic {TOKEN}", 401),
        (TOKEN, "/extra", f"Bearer {TOKEN}x", 401),
        (None, "/metrics", f"Bearer {TOKEN}", 403),
        (None, "/extra", None, 403),
        (TOKEN, "/nowhere", f"Bearer {TOKEN}", 404),
        (TOKEN, "/nowhere", None, 401),
    ],
    ids=[
        "health_open",
        "health_open_without_token_config",
        "ready_open",
        "metrics_with_token",
        "extra_with_token",
        "scheme_case_insensitive",
        "metrics_without_token",
        "wrong_token",
        "wrong_scheme",
        "token_prefix_match",
        "no_token_configured_metrics",
        "no_token_configured_extra",
        "unknown_route_authorised",
        "unknown_route_unauthorised_does_not_leak",
    ],
)
async def test_admin_access(
    start_admin: Callable[..., Any], token: str | None, path: str, auth: str | None, status: int
) -> None:
    url = await start_admin(token)
    headers = {"Authorization": auth} if auth else {}
    async with aiohttp.ClientSession() as s, s.get(url + path, headers=headers) as r:
        assert r.status == status


async def test_metrics_are_prometheus_text(start_admin: Callable[..., Any]) -> None:
    url = await start_admin(TOKEN)
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        assert r.content_type == "text/plain"
        assert 'shield_requests_total{route="login",status="200"} 1.0' in await r.text()


async def test_readyz_reports_an_unreachable_upstream(start_admin: Callable[..., Any]) -> None:
    settings = dataclasses.replace(Settings(), upstream=f"http://127.0.0.1:{free_port()}")
    url = await start_admin(TOKEN, ready_checks=[upstream_ready_check(settings)])
    async with aiohttp.ClientSession() as s, s.get(f"{url}/readyz") as r:
        assert r.status == 503
        body = await r.json()
    assert body["status"] == "not_ready"
    assert body["problems"][0].startswith("upstream:")


async def test_readyz_ok_when_upstream_listens(start_admin: Callable[..., Any], upstream: Upstream) -> None:
    settings = dataclasses.replace(Settings(), upstream=upstream.url)
    url = await start_admin(TOKEN, ready_checks=[upstream_ready_check(settings)])
    async with aiohttp.ClientSession() as s, s.get(f"{url}/readyz") as r:
        assert r.status == 200


METRICS_TOKEN = "read-only-scraper"


@pytest.fixture
async def start_admin_with_metrics_token() -> AsyncIterator[Callable[..., Any]]:
    async with AppServers() as servers:

        async def start(token: str | None) -> str:
            admin = AdminSettings(token=token, metrics_token=METRICS_TOKEN)
            settings = dataclasses.replace(Settings(), upstream="http://127.0.0.1:1", admin=admin)
            app = build_admin_app(
                settings, metrics=Metrics(), ready_checks=(), extra_routes=[web.get("/extra", _extra)]
            )
            return await servers.start(app)

        yield start


@pytest.mark.parametrize(
    ("token", "path", "auth", "status"),
    [
        (TOKEN, "/metrics", METRICS_TOKEN, 200),
        (TOKEN, "/metrics", TOKEN, 200),
        (TOKEN, "/metrics", None, 401),
        (TOKEN, "/metrics", "wrong", 401),
        (TOKEN, "/extra", METRICS_TOKEN, 401),
        (TOKEN, "/decisions", METRICS_TOKEN, 401),
        (None, "/metrics", METRICS_TOKEN, 200),
        (None, "/extra", METRICS_TOKEN, 403),
    ],
    ids=[
        "metrics_token_reads_metrics",
        "admin_token_still_reads_metrics",
        "metrics_without_token",
        "metrics_wrong_token",
        "metrics_token_cannot_call_the_write_api",
        "metrics_token_cannot_read_decisions",
        "metrics_token_without_admin_token",
        "no_admin_token_write_api_disabled",
    ],
)
async def test_metrics_token_is_read_only(
    start_admin_with_metrics_token: Callable[..., Any], token: str | None, path: str, auth: str | None, status: int
) -> None:
    url = await start_admin_with_metrics_token(token)
    headers = {"Authorization": f"Bearer {auth}"} if auth else {}
    async with aiohttp.ClientSession() as s, s.get(url + path, headers=headers) as r:
        assert r.status == status
