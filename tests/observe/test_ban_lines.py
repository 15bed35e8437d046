"""Ban refusal lines: per ban and second, the first N written, the rest folded with their count."""

from __future__ import annotations

import asyncio
from typing import Any

from shield.model import Ban
from shield.observe import ban_lines
from shield.observe.ban_lines import FOLDED_EVENT, BanLines
from shield.observe.decision_log import SCHEMA_VERSION, ban_fields

IP_BAN = Ban("ip", "10.0.0.1", "ban_me", created_at=0.0, expires_at=600.0)
SUBNET_BAN = Ban("subnet", "10.9.0.0/24", "incident", created_at=0.0, expires_at=600.0, source="admin")


class Captured:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})


def fields(n: int) -> dict[str, Any]:
    return {"schema": 1, "request_id": f"r{n}", "route": "login", "client_ip": "10.0.0.1", "status": 403,
            "ban_reason": "ban_me", "ban_ttl_s": 500.0}


async def test_each_ban_folds_on_its_own_and_the_counts_add_up() -> None:
    log = Captured()
    lines = BanLines(per_second=3, logger=log)
    for n in range(10):
        lines.write(IP_BAN, fields(n), 100.2)
        lines.write(SUBNET_BAN, fields(100 + n), 100.5)
    lines.write(IP_BAN, fields(99), 101.0)  # the next second flushes the ip ban's summary
    per_request = [x for x in log.lines if x["event"] == "decision"]
    folded = [x for x in log.lines if x["event"] == FOLDED_EVENT]
    assert [x["request_id"] for x in per_request] == ["r0", "r100", "r1", "r101", "r2", "r102", "r99"]
    assert [(x["ban_scope"], x["count"], x["first_request_id"], x["last_request_id"]) for x in folded] == [
        ("ip", 7, "r3", "r9")
    ]
    lines.close()  # shutdown writes what is pending
    folded = [x for x in log.lines if x["event"] == FOLDED_EVENT]
    assert [(x["ban_scope"], x["count"]) for x in folded] == [("ip", 7), ("subnet", 7)]
    assert len(per_request) + sum(x["count"] for x in folded) == 21


async def test_a_pending_summary_is_written_a_second_later_without_more_traffic() -> None:
    log = Captured()
    lines = BanLines(per_second=1, logger=log)
    for n in range(3):
        lines.write(IP_BAN, fields(n), 50.0)
    assert [x["event"] for x in log.lines] == ["decision"]
    await asyncio.sleep(1.2)
    assert [(x["event"], x.get("count")) for x in log.lines] == [("decision", None), (FOLDED_EVENT, 2)]


async def test_zero_never_folds() -> None:
    log = Captured()
    lines = BanLines(per_second=0, logger=log)
    for n in range(50):
        lines.write(IP_BAN, fields(n), 7.0)
    assert len(log.lines) == 50
    assert {x["event"] for x in log.lines} == {"decision"}


def _refusal(ban: Ban, n: int, now: float) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "request_id": f"r{n}", "route": "login", "client_ip": "10.0.0.1",
            "status": 403, **ban_fields(ban, now)}


async def test_fold_writes_the_lines_and_summaries_write_would() -> None:
    """fold (the flood's path: no fields built per refusal) against write with each refusal's fields,
    over refusals at moments that fold, start a new second, and change the ban's remaining time."""
    moments = [100.1, 100.2, 100.3, 100.35, 100.9, 101.05, 101.5, 101.6, 101.7, 103.0, 103.2, 103.4]
    logs = []
    for folding in (False, True):
        log = Captured()
        lines = BanLines(per_second=2, logger=log)
        for n, now in enumerate(moments):
            for ban in (IP_BAN, SUBNET_BAN):
                folded = folding and lines.fold(
                    ban, request_id=f"r{n}", route="login", client_ip="10.0.0.1", status=403, now=now
                )
                if not folded:
                    lines.write(ban, _refusal(ban, n, now), now)
        lines.close()
        logs.append(log.lines)
    assert logs[0] == logs[1]
    assert [x["ban_ttl_s"] for x in logs[1] if x["event"] == FOLDED_EVENT] == [499.1, 499.1, 498.3, 498.3, 496.6, 496.6]


async def test_fold_when_the_line_would_not_fold_writes_nothing_and_says_so() -> None:
    log = Captured()
    lines = BanLines(per_second=1, logger=log)
    assert not lines.fold(IP_BAN, request_id="r1", route="login", client_ip="10.0.0.1", status=403, now=5.0)
    lines.write(IP_BAN, _refusal(IP_BAN, 1, 5.0), 5.0)
    assert not lines.fold(IP_BAN, request_id="r2", route="login", client_ip="10.0.0.1", status=403, now=6.0)
    assert lines.fold(IP_BAN, request_id="r3", route="login", client_ip="10.0.0.1", status=403, now=5.5)
    assert [x["event"] for x in log.lines] == ["decision"]
    assert not BanLines(per_second=0, logger=log).fold(
        IP_BAN, request_id="r4", route="login", client_ip="10.0.0.1", status=403, now=5.0
    )


def _ban(n: int) -> Ban:
    return Ban("ip", f"10.1.{n // 256}.{n % 256}", "ban_me", created_at=0.0, expires_at=600.0)


async def test_the_tracked_bans_stay_bounded_when_every_one_is_of_this_second(monkeypatch: Any) -> None:
    """A rotating-address wave refuses more distinct bans in a second than are tracked: the table must not
    outgrow its bound (it used to, and each such write scanned the whole table for a past second)."""
    monkeypatch.setattr(ban_lines, "MAX_TRACKED", 64)
    log = Captured()
    lines = BanLines(per_second=1, logger=log)
    sizes = []
    for n in range(500):
        lines.write(_ban(n), fields(n), 100.5)
        lines.write(_ban(n), fields(1000 + n), 100.5)  # folds
        sizes.append(len(lines._seconds))
    assert max(sizes) <= 64
    lines.close()
    per_request = [x for x in log.lines if x["event"] == "decision"]
    folded = [x for x in log.lines if x["event"] == FOLDED_EVENT]
    assert len(per_request) == 500  # nothing lost, nothing twice
    assert sum(x["count"] for x in folded) == 500


async def test_making_room_visits_each_tracked_ban_a_bounded_number_of_times(monkeypatch: Any) -> None:
    """Room is made for half the table at once, so the writes of a wave cost amortised O(1) each, not a
    scan of every tracked ban per write."""
    monkeypatch.setattr(ban_lines, "MAX_TRACKED", 64)
    visits = 0

    class Counted(dict[Any, Any]):
        def items(self) -> Any:
            nonlocal visits
            visits += len(self)
            return super().items()

        def __iter__(self) -> Any:
            nonlocal visits
            visits += len(self)
            return super().__iter__()

    lines = BanLines(per_second=1, logger=Captured())
    lines._seconds = Counted()
    for n in range(2000):
        lines.write(_ban(n), fields(n), 100.0 + n / 1000)  # two seconds of distinct bans
    assert visits <= 4 * 2000
