"""`shield run` as a real subprocess whose stdout and stderr go to files (a pipe nobody reads
would fill and stall it), and raw-socket helpers for clients that misbehave on purpose."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.fixtures.upstream import Upstream, free_port

SHIELD = [sys.executable, "-m", "shield.cli"]


@dataclass
class Shield:
    proc: asyncio.subprocess.Process
    url: str
    admin: str
    host: str
    port: int
    stdout: Path
    stderr: Path

    def lines(self) -> list[bytes]:
        """Every line shield wrote so far, stdout then stderr."""
        return self.stdout.read_bytes().splitlines() + self.stderr.read_bytes().splitlines()


async def wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    """Poll `url` until it answers 200 (15 s), failing fast if the process exits."""
    async with aiohttp.ClientSession() as s:
        for _ in range(150):
            if proc.returncode is not None:
                raise AssertionError(f"shield exited with {proc.returncode}")
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("shield did not become ready")


@asynccontextmanager
async def running_shield(
    upstream: Upstream, folder: Path, env: dict[str, str], *, fd_limit: int | None = None, workers: int = 1
) -> AsyncIterator[Shield]:
    """`workers` worker processes (one: in-process) in front of `upstream`, settings from `env`
    (SHIELD_* variables), the file-handle limit (soft and hard) lowered to `fd_limit` when given;
    killed at exit."""

    def lower_fd_limit() -> None:
        if fd_limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    port, admin = free_port(), free_port()
    out, err = folder / "stdout.log", folder / "stderr.log"
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = await asyncio.create_subprocess_exec(
            *SHIELD, "run", "--upstream", upstream.url, "--listen", f"127.0.0.1:{port}",
            "--admin-listen", f"127.0.0.1:{admin}", "--workers", str(workers),
            stdout=fout, stderr=ferr, preexec_fn=lower_fd_limit,
            env={**os.environ, "SHIELD_LOG_FORMAT": "json", "SHIELD_SHUTDOWN_GRACE": "5", **env},
        )
    try:
        await wait_ready(f"http://127.0.0.1:{admin}/healthz", proc)
        yield Shield(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}", "127.0.0.1", port, out, err)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def raw(shield: Shield, data: bytes = b"") -> Conn:
    reader, writer = await asyncio.open_connection(shield.host, shield.port)
    if data:
        writer.write(data)
        await writer.drain()
    return reader, writer


async def closed_within(reader: asyncio.StreamReader, seconds: float, tick: Callable[[], None] | None = None) -> float:
    """Seconds until the server ends the connection (EOF or reset), reading whatever it sends;
    `tick` runs every 0.2 s meanwhile (a trickling client). TimeoutError when it stays open."""
    t0 = time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(reader.read(65536), 0.2)
        except TimeoutError:
            if tick is not None:
                tick()
            continue
        except ConnectionError:
            return time.monotonic() - t0
        if not data:
            return time.monotonic() - t0
    raise TimeoutError(f"still open after {seconds} s")


async def status_of(reader: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(reader.readline(), 5)
    return int(line.split()[1])
