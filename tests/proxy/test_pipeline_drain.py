"""Pipelined requests behind a body are all answered by `shield run` (aiohttp 3.14's bounded queue).

aiohttp's parser counts a message in flight when its body completes, but the server takes the
message (and frees its slot) at its head: a request whose body arrives after its head was taken
holds a slot nobody frees. The parser then stops between messages one short of the queue's bound
(32) and keeps the rest, while the server, counting only its queue, never paused and so never asks
for the rest again: the connection hangs until a timeout cuts it. Found by `./dev fuzz` (a GET with
a 35 KB body sent after its head, then 574 pipelined requests: 48-64 answered, then a reset).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.fixtures.upstream import Upstream
from tests.proxy.shield_process import raw, running_shield

GET = b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n"
STATUS = re.compile(rb"HTTP/1\.1 [1-5]\d\d ")  # a status line (the echoed bodies hold request lines)


async def _answers(reader: asyncio.StreamReader, want: int, seconds: float) -> int:
    """How many answers (status lines) arrive before `want` are in or the connection idles `seconds`."""
    seen = b""
    while len(STATUS.findall(seen)) < want:
        try:
            data = await asyncio.wait_for(reader.read(65536), seconds)
        except TimeoutError:
            break
        if not data:
            break
        seen += data
    return len(STATUS.findall(seen))


@pytest.mark.parametrize("path", [b"/api/login", b"/echo"])
async def test_a_deep_pipeline_behind_a_body_sent_after_its_head_is_answered_in_full(
    upstream: Upstream, tmp_path: Path, path: bytes
) -> None:
    body = GET * 1000
    head = b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (path, len(body))
    async with running_shield(upstream, tmp_path, {}) as shield:
        reader, writer = await raw(shield, head)
        await asyncio.sleep(0.05)  # the head alone first: aiohttp takes it before its body arrives
        writer.write(body + GET * 100)
        await writer.drain()
        answered = await _answers(reader, 101, seconds=3)
        writer.close()
    assert answered == 101
