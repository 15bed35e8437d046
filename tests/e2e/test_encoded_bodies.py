"""A compressed login through the whole shield: forwarded byte for byte, scored on its account."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from tests.fixtures.recorder import RecordingUpstream
from tests.proxy.test_framing import exchange


def login_request(body: bytes, encoding: bytes) -> bytes:
    return (
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (encoding, len(body), body)
    )


@pytest.mark.parametrize("client", ["h1", "aiohttp"])
async def test_honest_gzip_login_reaches_upstream_byte_identical_and_is_scored_on_its_account(
    make_stack: Any, recorder: RecordingUpstream, client: str
) -> None:
    from shield.settings.schema import UpstreamSettings

    stack = await make_stack(upstream=recorder.url, upstream_options=UpstreamSettings(client=client))
    body = gzip.compress(b'{"username": "tag", "password": "pw"}')
    answers = await exchange(stack.url, login_request(body, b"gzip"))
    assert [a.status_code for a in answers] == [200]
    (seen,) = recorder.requests
    assert (seen.body, seen.header(b"content-encoding")) == (body, [b"gzip"])
    (line,) = stack.decisions()
    assert (line["action"], line["malformed"], [r["id"] for r in line["rules"]]) == ("tag", False, ["tag_me"])


async def test_gzip_bomb_is_malformed_and_still_forwarded_as_received(
    make_stack: Any, recorder: RecordingUpstream
) -> None:
    stack = await make_stack(upstream=recorder.url)
    bomb = gzip.compress(b'{"username": "tag", "pad": "' + b" " * (32 << 20) + b'"}', compresslevel=9)
    assert len(bomb) < 64 * 1024  # under the route's max_body: shield reads it whole
    answers = await exchange(stack.url, login_request(bomb, b"gzip"))
    assert [a.status_code for a in answers] == [200]
    (line,) = stack.decisions()
    assert (line["malformed"], line["rules"]) == (True, [])
    assert recorder.requests[0].body == bomb
