"""The pipeline's shortcut for a request that carries no pass and no solution (carries_nothing): it
must never skip one that `carried` would credit or check."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from shield.challenge import passes, pow
from shield.challenge.carried import Carried, carried
from shield.proxy.pipeline import NOTHING_CARRIED, carries_nothing

SECRET = b"s" * 32
NOW = 1_800_000_000.0
BINDING = pow.Binding.of(ip="192.0.2.1", subnet="192.0.2.0/24", route="login", fingerprint="f", bind="ip", account="a")
PASS = passes.issue_pass(SECRET, binding=BINDING, now=NOW, ttl=600)

SHAPES: dict[str, dict[str, str]] = {
    "no_headers": {},
    "other_cookies": {"Cookie": "sid=1; shield_device=abc"},
    "empty_pass_header": {passes.PASS_HEADER: ""},
    "empty_cookie_header": {"Cookie": ""},
    "pass_header": {passes.PASS_HEADER: PASS},
    "pass_header_lower_case": {passes.PASS_HEADER.lower(): PASS},
    "pass_cookie": {"Cookie": f"sid=1; {passes.PASS_COOKIE}={PASS}"},
    "solution_header": {pow.RESPONSE_HEADER: "not-a-solution"},
    "solution_cookie": {"Cookie": f"{pow.SOLUTION_COOKIE}=not-a-solution"},
    "bad_pass_cookie": {"Cookie": f"{passes.PASS_COOKIE}=forged"},
}


@pytest.mark.parametrize("headers", SHAPES.values(), ids=SHAPES.keys())
def test_a_request_the_shortcut_skips_carries_nothing_carried_would_see(headers: dict[str, str]) -> None:
    request = make_mocked_request("POST", "/login", headers=headers)
    found = carried(SECRET, request.headers, request.cookies, binding=BINDING, now=NOW)
    if carries_nothing(request):
        assert found == Carried(False, None, None)
        assert (NOTHING_CARRIED.solved, NOTHING_CARRIED.failed, NOTHING_CARRIED.passed) == (False, None, False)


@pytest.mark.parametrize(
    "name", ["pass_header", "pass_header_lower_case", "pass_cookie", "solution_header", "solution_cookie"]
)
def test_a_pass_or_a_solution_takes_the_full_check(name: str) -> None:
    assert not carries_nothing(make_mocked_request("POST", "/login", headers=SHAPES[name]))


def test_a_valid_pass_is_credited_by_the_full_check() -> None:
    """The oracle above is not vacuous: the pass in these shapes is one `carried` credits."""
    request = make_mocked_request("POST", "/login", headers=SHAPES["pass_cookie"])
    assert carried(SECRET, request.headers, request.cookies, binding=BINDING, now=NOW).passed
