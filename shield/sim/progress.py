"""A one-line progress bar on stderr: only on a TTY, or when asked for."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass(slots=True)
class Progress:
    total: int
    label: str = ""
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    enabled: bool = True
    done: int = 0
    stopped: int = 0
    _last: float = 0.0
    _started: float = field(default_factory=time.monotonic)

    @classmethod
    def auto(cls, total: int, label: str, *, force: bool = False) -> Progress:
        return cls(total, label, enabled=force or sys.stderr.isatty())

    def step(self, *, stopped: bool = False) -> None:
        self.done += 1
        self.stopped += stopped
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done == self.total):
            self._last = now
            self.stream.write("\r" + self.line(now - self._started))
            self.stream.flush()

    def line(self, elapsed: float, width: int = 30) -> str:
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * width)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return (
            f"{self.label:<20} [{bar:<{width}}] {self.done}/{self.total} {frac * 100:5.1f}%  "
            f"{rate:6.0f} req/s  stopped {self.stopped}"
        )

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
