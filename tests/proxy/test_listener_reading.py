"""Reading from clients through shield's own listener (LimitedRunner): flow control pauses a fast
upload while the upstream leg catches up and resumes it (LimitedRequestHandler.resume_reading passes
on every real resume), so a body many times the read buffer arrives whole."""

from __future__ import annotations

import asyncio
import base64
import os

import aiohttp

from shield.observe.metrics import Metrics
from shield.proxy.app import build_app
from shield.proxy.listener import LimitedRunner
from shield.settings.schema import Settings
from tests.fixtures.upstream import AppServers, Upstream


async def test_an_upload_far_past_the_read_buffer_arrives_whole(upstream: Upstream) -> None:
    body = os.urandom(6 * 1024 * 1024)  # aiohttp pauses reading past 2 x 64 KiB buffered
    async with AppServers() as servers:
        settings = Settings(upstream=upstream.url)
        url = await servers.start(
            build_app(settings, metrics=Metrics()), runner_cls=LimitedRunner, limits=settings.limits, name="proxy"
        )
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(20):
                async with session.post(url + "/upload", data=body) as resp:
                    assert resp.status == 200
                    await resp.read()
    assert base64.b64decode(upstream.requests[-1]["body"]) == body
