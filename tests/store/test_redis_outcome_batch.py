"""A batch of outcomes in one call (lua/outcome.lua reads each row once, counts it in memory outcome
by outcome and writes it once) leaves every entity's row as counting the outcomes one at a time does:
repeated entities, late outcomes, bucket moves, re-armed expiries, successes and failures alike. The
reference is shield.store.sliding's arithmetic over the rows the observes left."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import redis

from shield.model import FakeClock, Observation, Outcome
from shield.store.base import Retention
from shield.store.connect import StoreOptions, open_redis
from shield.store.layout import Plan
from shield.store.packed import Row
from shield.store.redis import RedisStore
from shield.store.routing import entity_key
from shield.store.scripts import plan_rows
from shield.store.sliding import MEASURE_INDEX, roll
from tests.store.reference_library import fold_pending

COLD = ("ip", "subnet", "account", "fp", "password", "pair")  # asn, country: the worker's (batched)


def _open(url: str) -> RedisStore:
    parts = urlsplit(url)
    return open_redis(parts.scheme, parts, StoreOptions(), Retention())


def login(i: int) -> Observation:
    return Observation(route="login", ip=f"10.70.0.{i % 3}", subnet="10.70.0.0/24", asn="64570", country="CN",
                       account=f"acct-{i % 4}", fp=f"fp-{i % 2}", device=None, password=f"pw-{i}", pair=f"pair-{i}",
                       lat=39.9, lon=116.4)


# (attempt, observed at, outcome at, outcome, confirmed): the same entities again and again; outcomes
# before their entity's last write (late), before its expiry was armed, crossing a 1-minute and a
# 10-minute bucket, past the re-arm period (REARM: 3600 s).
PLAN = [(0, 0.0, 0.0, Outcome.FAILURE, True), (1, 1.0, 1.5, Outcome.SUCCESS, False),
        (2, 2.0, 2.0, Outcome.FAILURE, True), (3, 3.0, 0.5, Outcome.FAILURE, True),
        (4, 3.5, 90.0, Outcome.SUCCESS, True), (5, 4.0, 700.0, Outcome.FAILURE, True),
        (6, 4.5, 650.0, Outcome.SUCCESS, False), (7, 5.0, 4000.0, Outcome.FAILURE, True),
        (8, 6.0, 4000.5, Outcome.FAILURE, True), (9, 9.0, 4001.0, Outcome.SUCCESS, True),
        (10, 10.0, 3.5, Outcome.FAILURE, True)]


def _key(dim: str, value: str) -> str:
    return entity_key("shield:", dim, value)


def _fields(row: Row) -> list[str]:
    return [name for name, _, _ in row.chunks()]


def _expected(rows: dict[str, list[float]], start: float, dim_row: Row, account_row: Row) -> None:
    """Each outcome counted alone, as lua/common.lua's bump does (sliding.roll, then the re-arming)."""
    rearm = Plan.build(Retention().windows).max_window / 24
    for i, _, at, outcome, _ in PLAN:
        now, obs = start + at, login(i)
        measure = "s" if outcome is Outcome.SUCCESS else "f"
        for dim in COLD:
            row = account_row if dim == "account" else dim_row
            a = rows[_key(dim, str(obs.dimension(dim)))]
            if now > a[0]:
                counts = [int(x) for x in a[2:]]
                roll(counts, a[0], now, row.widths, row.measures)
                a[2:], a[0] = counts, now
            added = [MEASURE_INDEX[measure]]
            if dim == "account" and measure == "f":
                added.append(MEASURE_INDEX["ff" if i % 2 == 0 else "fu"])
            for j in added:
                for w in range(len(row.widths)):
                    a[2 + 2 * (w * row.measures + j)] += 1
            if now - a[1] >= rearm or now < a[1]:
                a[1] = now


async def test_a_batch_of_outcomes_counts_each_as_alone(redis_url: str) -> None:
    start = FakeClock().now()
    dim_row, account_row, _ = plan_rows(Plan.build(Retention().windows))
    sync = redis.Redis.from_url(redis_url)
    store = _open(redis_url)
    try:
        for i, seen, _, _, _ in PLAN:
            await store.observe(login(i), start + seen)
        rows: dict[str, list[float]] = {}
        for i, _, _, _, _ in PLAN:
            for dim in COLD:
                row = account_row if dim == "account" else dim_row
                key = _key(dim, str(login(i).dimension(dim)))
                raw = b"".join(sync.hmget(key, _fields(row)))  # type: ignore[arg-type]
                rows[key] = list(row.codec().unpack(raw))
        before = store.round_trips
        await asyncio.gather(*(
            store.record_outcome(login(i), o, familiar=i % 2 == 0, now=start + at, confirmed=c)
            for i, _, at, o, c in PLAN
        ))
        assert store.round_trips - before <= 2  # the first alone, then the rest in one call
    finally:
        await store.close()
    _expected(rows, start, dim_row, account_row)
    assert fold_pending(sync, "shield:") > 0  # the outcomes' counts, as each entity's next observe folds them
    assert len(rows) == 3 + 1 + 4 + 2 + 2 * len(PLAN)  # ips, subnet, accounts, fps, passwords and pairs
    for key, a in rows.items():
        row = account_row if ":account:" in key else dim_row
        raw = b"".join(sync.hmget(key, _fields(row)))  # type: ignore[arg-type]
        assert list(row.codec().unpack(raw)) == a, key
