"""`shield run` as a real subprocess: serving, SIGTERM drain, refusing bad config."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.fixtures.upstream import Upstream, free_port
from tests.proxy.shield_process import wait_ready

SHIELD = [sys.executable, "-m", "shield.cli"]


async def start_shield(
    upstream: Upstream, *args: str, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, str, str]:
    port, admin = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        *SHIELD,
        "run",
        "--upstream",
        upstream.url,
        "--listen",
        f"127.0.0.1:{port}",
        "--admin-listen",
        f"127.0.0.1:{admin}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SHIELD_SHUTDOWN_GRACE": "5", **(env or {})},
    )
    await wait_ready(f"http://127.0.0.1:{admin}/healthz", proc)
    return proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}"


@pytest.mark.parametrize("workers", ["1", "2"], ids=["in_process", "two_workers"])
async def test_slow_in_flight_request_completes_after_sigterm(
    upstream: Upstream, procs: list[asyncio.subprocess.Process], workers: str
) -> None:
    proc, url, _admin = await start_shield(upstream, "--workers", workers)
    procs.append(proc)
    async with aiohttp.ClientSession() as s:
        slow = asyncio.create_task(_get_text(s, f"{url}/slow?s=1.5"))
        await asyncio.sleep(0.5)  # the request is now in flight at the upstream
        proc.send_signal(signal.SIGTERM)
        assert await slow == (200, "slow done")
    stdout, _ = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0
    events = [orjson.loads(line)["event"] for line in stdout.splitlines()]
    assert events.count("shield.stopped") == int(workers)


async def test_new_connections_are_refused_after_sigterm(
    upstream: Upstream, procs: list[asyncio.subprocess.Process]
) -> None:
    proc, url, _admin = await start_shield(upstream, "--workers", "1")
    procs.append(proc)
    async with aiohttp.ClientSession() as s:
        slow = asyncio.create_task(_get_text(s, f"{url}/slow?s=1.5"))
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as fresh, fresh.get(f"{url}/echo"):
                pass
        assert (await slow)[0] == 200
    await asyncio.wait_for(proc.wait(), 15)


async def _get_text(s: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with s.get(url) as r:
        return r.status, await r.text()


async def test_two_workers_serve_and_admin_answers(upstream: Upstream, procs: list[asyncio.subprocess.Process]) -> None:
    proc, url, admin = await start_shield(upstream, "--workers", "2", env={"SHIELD_ADMIN_TOKEN": "t0ken"})
    procs.append(proc)
    for _ in range(20):  # a fresh connection each, so SO_REUSEPORT spreads them over both workers
        async with aiohttp.ClientSession() as s, s.get(f"{url}/echo") as r:
            assert r.status == 200
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{admin}/readyz") as r:
            assert r.status == 200
        # every worker's requests are counted, whichever worker the kernel handed each connection to
        # (the other worker hands its counts to the shared files every second)
        for _ in range(50):
            async with s.get(f"{admin}/metrics", headers={"Authorization": "Bearer t0ken"}) as r:
                text = await r.text()
            if 'shield_requests_total{route="passthrough",status="200"} 20.0' in text:
                break
            await asyncio.sleep(0.1)
    assert 'shield_requests_total{route="passthrough",status="200"} 20.0' in text
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 15)
    assert proc.returncode == 0


BAD_YAML = """\
listen: "0.0.0.0"
upstrem: "http://x"
workers: two
trusted_proxies: ["10.0.0.1/8"]
routes:
  - name: login
    path: /api/login
    methods: [PSOT]
  - name: login
    path: /api/v2/login
"""


async def test_bad_config_exits_2_listing_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "shield.yaml"
    config.write_text(BAD_YAML)
    proc = await asyncio.create_subprocess_exec(
        *SHIELD,
        "run",
        "--config",
        str(config),
        "--admin-listen",
        "nowhere",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SHIELD_DELAY_MAX_SECONDS": "soon"},
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2
    text = err.decode()
    assert "Traceback" not in text
    for expected in (
        "shield.yaml:1:1: listen: expected HOST:PORT",
        "shield.yaml:2:1: unknown key 'upstrem' in the settings (did you mean 'upstream'?)",
        "shield.yaml:3:1: workers: expected an integer, got 'two'",
        "shield.yaml:4:19: trusted_proxies[0]: not a valid CIDR",
        "shield.yaml:8:5: routes[0].methods: unknown method 'PSOT' (did you mean 'POST'?)",
        "shield.yaml:9:5: routes[1].name: duplicate route name 'login'",
        "env SHIELD_DELAY_MAX_SECONDS: delay.max_seconds: expected a number",
        "--admin-listen: admin.listen: expected HOST:PORT",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"


async def test_port_in_use_exits_1_without_traceback(upstream: Upstream) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *SHIELD,
            "run",
            "--upstream",
            upstream.url,
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--admin-listen",
            f"127.0.0.1:{free_port()}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1
    assert b"shield.bind_failed" in out
    assert b"Traceback" not in err
