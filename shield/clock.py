"""Clocks: the real one, and a fake one that tests move by hand."""

from __future__ import annotations

import time
from dataclasses import dataclass


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(slots=True)
class FakeClock:
    """A clock that only moves when told to: scenario tests replay days in microseconds."""

    t: float = 1_700_000_000.0
    mono: float = 1000.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.mono += seconds
