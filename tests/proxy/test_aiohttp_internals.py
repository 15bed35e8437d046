"""The aiohttp internals shield's listener copies or writes around, pinned by their source.

`LimitedRequestHandler.start` (shield/proxy/client_limits.py) is aiohttp 3.14's request loop with the
handler awaited in the connection's task, and `respond.Canned` skips `StreamResponse.__init__` and
writes through `StreamWriter._write`. The lock pins aiohttp; when an upgrade (`./dev lock --upgrade`,
`./dev test --latest`) changes one of these functions, this test names it: read aiohttp's change,
carry it into shield's copy (or drop the copy), then record the new digest here.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.http_writer import StreamWriter
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_response import StreamResponse

PINNED: dict[str, tuple[Callable[..., Any], str]] = {
    "RequestHandler.start": (RequestHandler.start, "2e565fd40c8e04fb"),  # copied by LimitedRequestHandler.start
    "RequestHandler._handle_request": (RequestHandler._handle_request, "a88a34ee65a2714c"),  # called by the copy
    "StreamResponse.__init__": (StreamResponse.__init__, "4526b12af19f1293"),  # skipped by Canned
    "StreamWriter.write_eof": (StreamWriter.write_eof, "c7e545df80b9eb68"),  # Canned.write_eof's shortcut of it
    "StreamWriter._write": (StreamWriter._write, "85b096c3e76d8e37"),  # called by Canned.write_eof
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_aiohttp_function_is_the_one_shield_follows(name: str) -> None:
    function, digest = PINNED[name]
    now = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
    assert now == digest, f"aiohttp's {name} changed: recheck shield's copy of it (see this module's docstring)"
