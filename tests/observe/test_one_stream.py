"""Every line `shield run` writes is one JSON object and carries no secret, even when a client
sends bytes the HTTP parser refuses (issue 12, item 7: aiohttp's "Error handling request"
tracebacks went to stderr as text with the raw header value or the whole buffer in them)."""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path
from typing import Any

import orjson
from aiohttp.http_exceptions import BadHttpMessage

from shield.observe.logs import configure_logging, reset_logging
from shield.settings.schema import LogSettings
from tests.fixtures.upstream import Upstream
from tests.proxy.shield_process import raw, running_shield

MARK = b"S3CRET-MARK"
LOGIN = b'{"username":"ann","password":"' + MARK + b'-pw"}'

BROKEN = {
    "bad_byte_in_cookie": b"GET /echo HTTP/1.1\r\nHost: a\r\nCookie: sid=" + MARK + b"\x01x\r\n\r\n",
    "bad_byte_in_authorization": b"GET /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + MARK + b"\x7f\r\n\r\n",
    "bare_lf_login": b"POST /api/login HTTP/1.1\nHost: a\nContent-Type: application/json\nContent-Length: "
    + str(len(LOGIN)).encode() + b"\nCookie: sid=" + MARK + b"\n\n" + LOGIN,
    "bad_chunk_login": b"POST /api/login HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    b"Authorization: Basic " + MARK + b"\r\n\r\nzz\r\n" + LOGIN + b"\r\n0\r\n\r\n",
    "header_too_long": b"GET /echo HTTP/1.1\r\nHost: a\r\nCookie: " + MARK + b"x" * 40000 + b"\r\n\r\n",
    "nul_in_target": b"GET /echo?p=" + MARK + b"\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
    "bad_method": b"G\x01T /echo HTTP/1.1\r\nAuthorization: " + MARK + b"\r\n\r\n",
}


async def test_broken_requests_leave_only_json_lines_without_secrets(upstream: Upstream, tmp_path: Path) -> None:
    async with running_shield(upstream, tmp_path, {"SHIELD_LOG_LEVEL": "debug"}) as shield:
        for data in BROKEN.values():
            for _ in range(2):  # a connection's first request and a later one are logged differently
                reader, writer = await raw(shield, b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n" if _ else b"")
                writer.write(data)
                await writer.drain()
                await asyncio.wait_for(reader.read(), 5)
                writer.close()
        await asyncio.sleep(0.3)
        lines = shield.lines()
    assert lines, "shield wrote nothing"
    for line in lines:
        assert MARK not in line, line[:300]
        assert isinstance(orjson.loads(line), dict), line[:300]
    events = [orjson.loads(line).get("event") for line in lines]
    assert "http.bad_request" in events


def test_library_loggers_write_json_without_exception_messages(tmp_path: Path, capfd: Any) -> None:
    path = tmp_path / "shield.log"
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(LogSettings(level="debug", format="json"), stream=stream)
        try:
            raise BadHttpMessage("Invalid header value char: b'Cookie: sid=" + MARK.decode() + "'")
        except BadHttpMessage:
            logging.getLogger("aiohttp.server").exception("Error handling request from %s", "127.0.0.1")
        logging.getLogger("asyncio").error("Task exception was never retrieved\nfuture: <Task %s>", MARK.decode())
        logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /?password=%s HTTP/1.1" 200', MARK.decode())
        warnings.warn("a library warning", UserWarning, stacklevel=1)
        stream.flush()
        reset_logging()
    out, err = capfd.readouterr()
    assert out == err == ""
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [line["logger"] for line in lines] == ["aiohttp.server", "asyncio", "aiohttp.access", "py.warnings"]
    assert lines[0]["error"] == "BadHttpMessage"
    assert lines[0]["frames"]
    assert MARK not in path.read_bytes()
