"""Ban refusal lines: per ban and second, the first N written, the rest folded with their count."""

from __future__ import annotations

import asyncio
from typing import Any

from shield.model import Ban
from shield.observe.ban_lines import FOLDED_EVENT, BanLines

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
