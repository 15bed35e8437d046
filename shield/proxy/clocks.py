"""A clock's readings as plain callables for the request path.

A protected request reads the clock about eight times. `SystemClock.now` is a Python method that
calls time.time(): a frame per reading. For the system clock these hand out time.time and
time.monotonic themselves; any other clock (the simulator's, the tests' fixed ones) is called as is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shield.model import Clock, SystemClock


def now_of(clock: Clock) -> Callable[[], float]:
    """`clock.now`: wall-clock seconds."""
    return time.time if type(clock) is SystemClock else clock.now


def monotonic_of(clock: Clock) -> Callable[[], float]:
    """`clock.monotonic`: seconds for durations."""
    return time.monotonic if type(clock) is SystemClock else clock.monotonic
