"""The decision lines of ban refusals, folded under a flood and never dropped.

A banned bot can send thousands of requests a second, each refused in microseconds; one JSON line
each would make the log the bottleneck (and the log shipper's bill). Per ban and per second, the
first `per_second` refusals get their own `decision` line; the others of that second are counted
and written as one `decision.folded` line (the ban, the count, the first and last request ids)
when the second is over: at the ban's next refusal in a later second, or a second after folding
began at the latest, or at shutdown. `per_second=0` writes every line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass
from typing import Any

import structlog

from shield.model import Ban, BanScope
from shield.observe.decision_log import SCHEMA_VERSION, ban_fields, write_decision

FOLDED_EVENT = "decision.folded"
FLUSH_AFTER_S = 1.0
MAX_TRACKED = 4096  # bans tracked at once; beyond it the oldest half is flushed and forgotten


Folded = tuple[Ban, str, str, int]  # what `fold` keeps of a refusal, with its time: ban, route, client_ip, status


@dataclass(slots=True)
class BanSecond:
    """One ban's refusals within one second of the clock."""

    second: int
    lines: int = 0
    folded: int = 0
    first_id: str = ""
    last_id: str = ""
    last: dict[str, Any] | None = None
    folded_last: Folded | None = None  # `fold`'s last refusal, at folded_now
    folded_now: float = 0.0
    timer: asyncio.TimerHandle | None = None
    done: bool = False  # its summary is written (or it had none): nothing folds into it any more


class BanLines:
    """Writes (or folds) the decision line of each ban refusal; see the module docstring."""

    __slots__ = ("_fast", "_log", "_per_second", "_seconds")

    def __init__(self, *, per_second: int, logger: Any = None) -> None:
        self._per_second = per_second
        self._seconds: dict[tuple[BanScope, str], BanSecond] = {}
        self._log = logger if logger is not None else structlog.get_logger()
        self._fast = logger is None  # structlog's own lines: the direct JSON path may write them

    def folds(self, ban: Ban, now: float) -> bool:
        """Whether `write` would fold this refusal's line now (then it needs only the fields the
        summary reads: schema, request_id, route, client_ip, status, ban_reason, ban_ttl_s)."""
        window = self._seconds.get((ban.scope, ban.value))
        return bool(self._per_second) and window is not None and window.second == int(now) and (
            window.lines >= self._per_second
        )

    def write(self, ban: Ban, fields: dict[str, Any], now: float) -> None:
        key = (ban.scope, ban.value)
        second = int(now)
        window = self._seconds.get(key)
        if window is not None and window.second != second:
            self._flush(key)
            window = None
        if window is None:
            if len(self._seconds) >= MAX_TRACKED:
                self._make_room(second)
            window = self._seconds[key] = BanSecond(second)
        window.lines += 1
        if not self._per_second or window.lines <= self._per_second:
            if self._fast and write_decision(fields):
                return
            self._log.info("decision", **fields)
            return
        self._folded(key, window, fields["request_id"])
        window.last, window.folded_last = fields, None

    def fold(
        self, ban: Ban, *, request_id: str, route: str, client_ip: str, status: int, now: float
    ) -> BanSecond | None:
        """`write` of a refusal whose line folds, without building the line's fields: the summary
        builds what it reads from the last one when it is written. None, writing nothing, when the
        line would not fold (see `folds`): then it is the caller's to `write`. Else the second it
        folded into, where `refold` folds the next ones of the same ban, route, client and status
        for as long as it is not `done` and the clock is in its second."""
        key = (ban.scope, ban.value)
        window = self._seconds.get(key)
        if not self._per_second or window is None or window.second != int(now) or window.lines < self._per_second:
            return None
        window.lines += 1
        self._folded(key, window, request_id)
        window.last, window.folded_last, window.folded_now = None, (ban, route, client_ip, status), now
        return window

    @staticmethod
    def refold(window: BanSecond, last: Folded, request_id: str, now: float) -> None:
        """`fold` again into the second `fold` returned, which the caller knows is not `done` and
        holds `now`: a line that folded in it folds until it is over (its count only grows), and
        its summary is already due (its timer runs), so only the counts and the last one change."""
        window.lines += 1
        window.folded += 1
        window.last_id = request_id
        window.last, window.folded_last, window.folded_now = None, last, now

    def _folded(self, key: tuple[BanScope, str], window: BanSecond, request_id: str) -> None:
        window.folded += 1
        window.first_id = window.first_id or request_id
        window.last_id = request_id
        if window.timer is None:
            # the summary must not wait for a refusal that may never come
            loop = asyncio.get_running_loop()
            window.timer = loop.call_later(FLUSH_AFTER_S, self._flush, key)

    def _flush(self, key: tuple[BanScope, str]) -> None:
        window = self._seconds.pop(key, None)
        if window is None:
            return
        window.done = True
        if window.timer is not None:
            window.timer.cancel()
        last = window.last
        if window.folded_last is not None:
            ban, route, client_ip, status = window.folded_last
            last = {"schema": SCHEMA_VERSION, "route": route, "client_ip": client_ip, "status": status,
                    **ban_fields(ban, window.folded_now)}
        if window.folded and last is not None:
            self._log.info(
                FOLDED_EVENT,
                schema=last["schema"], ban_scope=key[0], ban_value=key[1], ban_reason=last.get("ban_reason"),
                ban_ttl_s=last.get("ban_ttl_s"), action="ban", status=last["status"], route=last["route"],
                client_ip=last["client_ip"], count=window.folded, second=window.second,
                first_request_id=window.first_id, last_request_id=window.last_id,
            )

    def _make_room(self, second: int) -> None:
        """Flush and forget the bans of past seconds, then, if more than half the bound is still
        tracked (a wave refusing thousands of distinct bans a second), the oldest of this second too:
        their summaries are written early and their next refusals start a new second, so nothing is
        lost. Room for half the bound at once keeps this amortised O(1) per write; a scan per write
        once the table was full of this second's bans cost 5 % of a worker under a rotating wave."""
        seconds = self._seconds
        for key in [k for k, w in seconds.items() if w.second < second]:
            self._flush(key)
        extra = len(seconds) - MAX_TRACKED // 2
        if extra > 0:
            for key in list(itertools.islice(seconds, extra)):  # oldest first: dicts keep insertion order
                self._flush(key)

    def close(self) -> None:
        """Write every pending summary (shutdown)."""
        for key in list(self._seconds):
            with contextlib.suppress(Exception):  # a failing log sink must not block shutdown
                self._flush(key)
