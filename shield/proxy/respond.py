"""What shield answers instead of the upstream: block, rate limit, ban, challenge; and tag headers.

Public answers are short (a status, an error word and the request id); the reason lives in
the private `decision` log line. Every answer says `Cache-Control: no-store` so no cache
between the client and shield replays a refusal to someone else.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from time import time as _time

import orjson
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion, HttpVersion10, HttpVersion11
from aiohttp.http_writer import StreamWriter
from aiohttp.web_request import BaseRequest
from multidict import CIMultiDict

from shield.challenge.pages import MITIGATED_HEADER, challenge_response
from shield.challenge.pow import Challenge
from shield.model import Action, Decision

SHIELD_HEADER_PREFIX = "shield-"
# security: bounds of the tag headers, so a rule pack with hundreds of hits cannot blow up a request.
_MAX_REASONS = 32
_MAX_RETRY_AFTER = 86400


def _refusal(status: int, error: str, request_id: str, mitigated: str, extra: Mapping[str, str] = {}) -> web.Response:
    if _PLAIN_ID.fullmatch(request_id):  # always, for ids shield made or accepted (app.py's REQUEST_ID)
        return Canned(status, error, request_id, mitigated, extra)
    headers = {MITIGATED_HEADER: mitigated, "Cache-Control": "no-store", "X-Request-ID": request_id, **extra}
    body = orjson.dumps({"error": error, "request_id": request_id})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


# Ids that need no escaping in a header or a JSON string: spliced into the pre-rendered bytes as they are.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")


_SERVER = SERVER_SOFTWARE.encode()


@functools.lru_cache(maxsize=64)
def _template(
    status: int, error: str, mitigated: str, extra: tuple[tuple[str, str], ...]
) -> tuple[bytes, bytes, bytes]:
    """A refusal's constant bytes, around the request id: the headers before it and after it (up to
    `Content-Length: `), and the JSON body before it. Few shapes exist (block, ban, 429 by Retry-After)."""
    before = b"%b: %b\r\nCache-Control: no-store\r\nX-Request-ID: " % (MITIGATED_HEADER.encode(), mitigated.encode())
    middle = b"\r\n" + b"".join(b"%b: %b\r\n" % (k.encode(), v.encode()) for k, v in extra)
    middle += b"Content-Type: application/json\r\nContent-Length: "
    return before, middle, b'{"error":"%b","request_id":"' % error.encode()


@functools.lru_cache(maxsize=64)
def _status_line(major: int, minor: int, status: int, reason: str) -> bytes:
    return b"HTTP/%d.%d %d %b\r\n" % (major, minor, status, reason.encode())


def wire_answer(
    version: HttpVersion, status: int, reason: str, head: bytes, body: bytes, *, keep_alive: bool, head_only: bool
) -> bytes:
    """A pre-rendered answer as sent: status line, its header block (`head`), Date and Server of the
    current second, Connection as aiohttp's _prepare_headers adds it (in the same place, last), body
    (none to a HEAD)."""
    connection = b""
    if keep_alive and version == HttpVersion10:
        connection = b"Connection: keep-alive\r\n"
    elif not keep_alive and version == HttpVersion11:
        connection = b"Connection: close\r\n"
    return b"".join(
        (_status_line(version.major, version.minor, status, reason), head, _date_lines(), connection, b"\r\n",
         b"" if head_only else body)
    )


_date: tuple[str, bytes] = ("", b"")  # the Date and Server lines of the current second (one event loop)


def _date_lines() -> bytes:
    global _date
    date = rfc822_formatted_time()
    if date != _date[0]:
        _date = (date, b"Date: %b\r\nServer: %b\r\n" % (date.encode(), _SERVER))
    return _date[1]


def banned_wire(request_id: str, version: HttpVersion, *, keep_alive: bool, head_only: bool) -> bytes:
    """The bytes of `banned(request_id)` as its `prepare` and `write_eof` would send them, for an
    answer written straight to the transport (shield.proxy.ban_wire). `request_id` must be plain."""
    return canned_wire(_BAN_SHAPE, request_id, version, keep_alive=keep_alive, head_only=head_only)


Shape = tuple[int, str, str, tuple[tuple[str, str], ...]]  # a refusal but its id: status, error, mitigated, extras
_BAN_SHAPE: Shape = (403, "blocked", "ban", ())


def canned_wire(shape: Shape, request_id: str, version: HttpVersion, *, keep_alive: bool, head_only: bool) -> bytes:
    """A canned refusal of `shape` for `request_id` (plain), as sent: `wire_answer` of `_rendered`.

    A flood or a wave answers this thousands of times a second: the answer of each shape (refusal,
    version, keep-alive, HEAD, id length) is rendered once a second, cut where the id goes, and
    joined around each id."""
    key = (shape, version, keep_alive, head_only, len(request_id))
    second = int(_time())  # the second of aiohttp's Date (rfc822_formatted_time), without its call
    cached = _wires.get(key)
    if cached is None or cached[0] != second:
        status, error, mitigated, extras = shape
        hole = "\0" * len(request_id)  # no byte of the rendered answer is a NUL: the id's place, found again
        head, raw = _rendered(status, error, hole, mitigated, extras)
        wire = wire_answer(version, status, _REASONS[status], head, raw, keep_alive=keep_alive, head_only=head_only)
        parts = wire.split(hole.encode())
        if len(parts) != (2 if head_only else 3):  # security: a NUL in an extra header would misplace the id
            raise ValueError("a canned refusal's header holds a NUL")
        if len(_wires) >= 256:  # ids of every length from a trusted proxy, Retry-After values: bounded
            _wires.clear()
        cached = _wires[key] = (second, parts)
    return request_id.encode().join(cached[1])


# canned_wire's answers cut around the id, with the second whose Date and Server lines they hold
_wires: dict[tuple[Shape, HttpVersion, bool, bool, int], tuple[int, list[bytes]]] = {}
_REASONS = {int(s): s.phrase for s in HTTPStatus}  # aiohttp's reason phrases (web_response.REASON_PHRASES)


def _rendered(
    status: int, error: str, request_id: str, mitigated: str, extras: tuple[tuple[str, str], ...]
) -> tuple[bytes, bytes]:
    """The header block (no Date, Server, Connection) and the JSON body of a canned refusal."""
    before, middle, after = _template(status, error, mitigated, extras)
    rid = request_id.encode()
    raw = b"%b%b\"}" % (after, rid)
    return b"%b%b%b%d\r\n" % (before, rid, middle, len(raw)), raw


class Canned(web.Response):
    """A refusal pre-rendered as bytes: the same status line, headers (same order) and JSON body as
    a `web.Response` built from them, written in one send with no header objects or JSON encoder on
    the way (a flood of refusals spent ~8% of a worker in aiohttp's response machinery).

    Built without StreamResponse.__init__ (its header multidict and status check): the class's
    defaults hold the other fields, and the bytes come whole from `canned_wire` at `prepare`.
    `headers` and `body` are still there for whoever reads them (tests, the pipeline), built on first
    use; an app `on_response_prepare` hook is not run (shield registers none).
    """

    def __init__(
        self, status: int, error: str, request_id: str, mitigated: str, extra: Mapping[str, str] = {}
    ) -> None:
        self._state = {}
        self._status, self._reason = status, _REASONS[status]
        self._shape: Shape = (status, error, mitigated, tuple(extra.items()) if extra else ())
        self._rid = request_id
        self._wire = b""
        self._lazy_headers: CIMultiDict[str] | None = None
        self._hang_up = False

    def hang_up(self) -> None:
        """Close the connection right after the answer, without reading what is left of the body."""
        self.force_close()
        self._hang_up = True

    @property
    def headers(self) -> CIMultiDict[str]:
        if self._lazy_headers is None:
            _status, _error, mitigated, extras = self._shape
            fixed = [(MITIGATED_HEADER, mitigated), ("Cache-Control", "no-store"), ("X-Request-ID", self._rid),
                     *extras, ("Content-Type", "application/json"), ("Content-Length", str(self.content_length))]
            self._lazy_headers = CIMultiDict(fixed)
        return self._lazy_headers

    @property  # type: ignore[misc]
    def body(self) -> bytes:
        status, error, mitigated, extras = self._shape
        return _rendered(status, error, self._rid, mitigated, extras)[1]

    @property  # type: ignore[misc]
    def content_type(self) -> str:
        return "application/json"

    @property  # type: ignore[misc]
    def content_length(self) -> int:
        return len(self.body)

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        if self._eof_sent:
            return None
        if self._payload_writer is not None:
            return self._payload_writer
        self._req = request
        writer = self._payload_writer = request._payload_writer  # request.writer
        msg = request._message  # request.keep_alive, version and method (shield.proxy.message)
        keep_alive = not msg.should_close if self._keep_alive is None else self._keep_alive
        self._keep_alive = keep_alive
        self._wire = canned_wire(self._shape, self._rid, msg.version, keep_alive=keep_alive,
                                 head_only=msg.method == "HEAD")
        return writer

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        writer = self._payload_writer
        assert isinstance(writer, StreamWriter), "prepare() first"
        # StreamWriter.write_eof(wire) without its branches (no headers buffered, no compression, no
        # chunking): the one transport write, then the wait while the client reads slower than we write
        writer._write(self._wire)
        if writer._protocol._paused:
            await writer.drain()
        writer._eof = True
        self._eof_sent = True
        if self._hang_up and self._req is not None:
            # after the answer (transport.close() sends what is buffered first): aiohttp would
            # otherwise keep reading the unread body for up to 10 s (lingering close) before it closes
            self._req.protocol.force_close()
        self._req = None
        self._body_length = len(self._wire)


def blocked(request_id: str) -> web.Response:
    """403 `{"error": "blocked"}` with `Shield-Mitigated: block`."""
    return _refusal(403, "blocked", request_id, "block")


def rate_limited(request_id: str, retry_after_s: int) -> web.Response:
    """429 `{"error": "rate_limited"}` with Retry-After (also the answer when the tarpit is full)."""
    retry = str(min(max(int(retry_after_s), 1), _MAX_RETRY_AFTER))
    return _refusal(429, "rate_limited", request_id, "block", {"Retry-After": retry})


def banned(request_id: str) -> web.Response:
    """403 `{"error": "blocked"}` with `Shield-Mitigated: ban` (the ban's scope and reason stay private)."""
    return _refusal(403, "blocked", request_id, "ban")


def refusal(
    decision: Decision,
    request_id: str,
    *,
    challenge: Challenge | None = None,
    accept: str | None = None,
    method: str = "POST",
) -> web.Response | None:
    """The answer for a decision that stops the request, or None when it goes upstream.

    A CHALLENGE needs the `challenge` the caller issued (pow.issue); without one it is blocked.
    """
    if not decision.enforced:
        return None
    if decision.action is Action.BAN:
        return banned(request_id)
    if decision.action is Action.BLOCK:
        return rate_limited(request_id, decision.retry_after_s) if decision.rate_limited else blocked(request_id)
    if decision.action is Action.CHALLENGE:
        if challenge is None:
            return blocked(request_id)
        return challenge_response(challenge, request_id=request_id, accept=accept, method=method)
    return None


def tag_headers(decision: Decision) -> dict[str, str]:
    """Headers added to the upstream request so the app can step up (ask for a second factor)."""
    reasons = [hit.id for hit in decision.hits[:_MAX_REASONS]]
    return {
        "Shield-Score": str(decision.score),
        "Shield-Action": decision.action.value,
        "Shield-Reasons": ",".join(reasons),
    }


def upstream_tags(decision: Decision, *, solved: bool) -> dict[str, str] | None:
    """The risk headers a forwarded request carries to the app: on a tag, and when the client
    solved the challenge its rules asked for, now or earlier (`solved`: a solution or a pass; the
    credit may have brought the action down to allow; the app still needs to know why it was
    asked, to step up with a second factor: a careful attacker solves puzzles, then logs in on
    his pass)."""
    if not decision.enforced:
        return None
    tags = tag_headers(decision) if decision.action is Action.TAG or (solved and decision.hits) else None
    if tags is not None and solved:
        # a tagged client that solved a challenge must say so too: the app steps up knowing both
        tags["Shield-Challenge"] = "solved"
    return tags


def strip_shield_headers(headers: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    """A copy of the request headers without any `Shield-*` header the client sent.

    security: a client must not pre-tag itself (`Shield-Score: 0`) or pass its pass and
    solution on to the app; shield reads those before and sets its own tags after.
    Apply to every forwarded request, protected or not.
    """
    return CIMultiDict((k, v) for k, v in headers if not k.lower().startswith(SHIELD_HEADER_PREFIX))
