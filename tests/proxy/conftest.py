"""A real shield app on a real socket in front of the real upstream fixture, with its log captured."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from shield.observe.logs import configure_logging, reset_logging
from shield.observe.metrics import Metrics
from shield.proxy.app import build_app
from shield.settings.schema import LogSettings, Settings, UpstreamSettings
from tests.fixtures.upstream import AppServers, Upstream


@dataclasses.dataclass
class Proxy:
    url: str
    metrics: Metrics
    settings: Settings


LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines(tmp_path: Path) -> Iterator[LogLines]:
    """Configure shield's JSON logging into a file; call the fixture to get the parsed lines."""
    path = tmp_path / "shield.log"
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(LogSettings(level="debug", format="json"), stream=stream)

        def read() -> list[dict[str, Any]]:
            stream.flush()
            return [orjson.loads(line) for line in path.read_bytes().splitlines()]

        yield read
    reset_logging()


StartProxy = Callable[..., Any]


@pytest.fixture
def proxy_client() -> str:
    """The upstream client (upstream_options.client); test_forwarding runs every test on both."""
    return "h1"


@pytest.fixture
async def start_proxy(upstream: Upstream, log_lines: LogLines, proxy_client: str) -> AsyncIterator[StartProxy]:
    """start_proxy(**settings_changes, protected=..., forwarder=...) -> Proxy on a free port."""
    async with AppServers() as servers:

        async def start(protected: Any = None, ban_check: Any = None, **changes: Any) -> Proxy:
            changes.setdefault("upstream", upstream.url)
            options = changes.get("upstream_options", UpstreamSettings())
            changes["upstream_options"] = dataclasses.replace(options, client=proxy_client)
            settings = dataclasses.replace(Settings(), **changes)
            metrics = Metrics()
            app = build_app(settings, metrics=metrics, protected=protected, ban_check=ban_check)
            return Proxy(await servers.start(app), metrics, settings)

        yield start


@pytest.fixture
async def proxy(start_proxy: StartProxy) -> Proxy:
    """Shield with default settings (POST /api/login protected) in front of the upstream."""
    p: Proxy = await start_proxy()
    return p


@pytest.fixture
async def procs() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """`shield run` subprocesses a test starts; any still running at its end is killed."""
    started: list[asyncio.subprocess.Process] = []
    yield started
    for p in started:
        if p.returncode is None:
            p.kill()
            await p.wait()
