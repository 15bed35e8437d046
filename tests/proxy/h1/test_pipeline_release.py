"""A protected request whose pipeline fails between reading the upstream's answer and sending it
on must still give the upstream connection back: with the h1 client and a pool of one, a
stranded one would hang every later request."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import shield.proxy.pipeline
from shield.service import build_service
from shield.settings.schema import FieldRef, RouteSettings, Settings, UpstreamSettings
from tests.fixtures.upstream import AppServers, Upstream


async def test_a_failure_after_exchange_releases_the_upstream_connection(
    upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rules" / "lists").mkdir(parents=True)
    (tmp_path / "rules" / "none.yaml").write_text("rules: []\n")
    route = RouteSettings(name="login", path="/echo/login", methods=frozenset({"POST"}),
                          account=FieldRef("json", "username"), password=FieldRef("json", "password"))
    settings = dataclasses.replace(
        Settings(), upstream=upstream.url, rules=tmp_path / "rules", routes=(route,), reload_rules=False,
        secret=b"release-test-secret-0123456789",
        upstream_options=UpstreamSettings(client="h1", pool_size=1, max_response_inspect=16),
    )
    real_classify = shield.proxy.pipeline.classify
    calls = 0

    def classify_failing_once(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug between exchange and send")
        return real_classify(*args)

    monkeypatch.setattr(shield.proxy.pipeline, "classify", classify_failing_once)
    service = build_service(settings, with_admin=False)
    async with AppServers() as servers:
        url = await servers.start(service.proxy)
        # The echo answer is longer than max_response_inspect: its rest is left pending on the connection.
        login = {"username": "a", "password": "b"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            async with s.post(f"{url}/echo/login", json=login) as r:
                assert r.status == 500
            async with s.post(f"{url}/echo/login", json=login) as r:
                assert r.status == 200
                assert (await r.json())["path"] == "/echo/login"
