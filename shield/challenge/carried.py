"""What a request carries of the challenge: a pass, and a solution, both checked. Pure: no store.

The pipeline and `shield explain` read a request's challenge state through this one function,
so they credit the same passes and solutions. Claiming a good solution once (replay protection)
is the pipeline's store call after this; explaining never claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shield.challenge import passes, pow


@dataclass(slots=True, frozen=True)
class Carried:
    passed: bool  # a valid pass for this binding
    solution: str | None  # the solution as sent, if any
    result: pow.VerifyResult | None  # its check (None without a solution)


def carried(
    secret: bytes, headers: Mapping[str, str], cookies: Mapping[str, str], *, binding: pow.Binding, now: float
) -> Carried:
    passed = passes.check_pass(secret, passes.read_pass(headers, cookies), binding=binding, now=now)
    solution = pow.read_solution(headers, cookies)
    if solution is None:
        return Carried(passed, None, None)
    return Carried(passed, solution, pow.verify(secret, solution, binding=binding, now=now))
