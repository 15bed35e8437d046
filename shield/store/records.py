"""Stored records shared by both stores: the account history record and ban arithmetic.

The account history is kept as one small record per account (the Redis store keeps the
same shape as JSON and updates it in Lua):
  {"c": [[country, seen_at], ...], "a": [[asn, t], ...], "d": [[device, t], ...],
   "f": [[fingerprint, t], ...], "s": [[subnet, t], ...], "t": last_success_at, "lat": .., "lon": .., "cc": country}
newest first, at most `size` entries per list, each entry dropped `days` after it was last seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shield.model import AccountHistory, Ban, Observation

DAY = 86400.0
HISTORY_LISTS: tuple[tuple[str, str], ...] = (
    ("c", "country"),
    ("a", "asn"),
    ("d", "device"),
    ("f", "fp"),
    ("s", "subnet"),
)


def history_from_record(record: Mapping[str, Any] | None, now: float, days: int) -> AccountHistory | None:
    """The history as of `now`: None when there is none or the last success is older than `days`."""
    if not record:
        return None
    last = record.get("t")
    horizon = now - days * DAY
    if not isinstance(last, int | float) or last <= horizon:
        return None

    def recent(kind: str) -> tuple[str, ...]:
        entries = record.get(kind)
        if not isinstance(entries, list):  # Lua's cjson encodes an empty list as {}
            return ()
        return tuple(str(v) for v, seen in entries if seen > horizon)

    lat, lon, country = record.get("lat"), record.get("lon"), record.get("cc")
    return AccountHistory(
        countries=recent("c"),
        asns=recent("a"),
        devices=recent("d"),
        fingerprints=recent("f"),
        subnets=recent("s"),
        last_success_at=float(last),
        last_lat=float(lat) if isinstance(lat, int | float) else None,
        last_lon=float(lon) if isinstance(lon, int | float) else None,
        last_country=country if isinstance(country, str) else None,
    )


def updated_record(
    record: Mapping[str, Any] | None, obs: Observation, now: float, *, days: int, size: int
) -> dict[str, Any]:
    """The record after a successful login from `obs` (what the Redis script does in Lua)."""
    old = record or {}
    horizon = now - days * DAY
    new: dict[str, Any] = {"t": now}
    for kind, dim in HISTORY_LISTS:
        value = obs.dimension(dim)
        entries = old.get(kind)
        kept = [e for e in entries if e[1] > horizon and e[0] != value] if isinstance(entries, list) else []
        if value is not None:
            kept.insert(0, [value, now])
        new[kind] = kept[:size]
    if obs.lat is not None and obs.lon is not None:
        new["lat"], new["lon"] = obs.lat, obs.lon
    if obs.country is not None:
        new["cc"] = obs.country
    return new


def escalated_ttl(ttl: float, offenses: int, max_ttl: float) -> float:
    """ttl * 2**(offenses-1), capped at max_ttl (and never below ttl when ttl > max_ttl)."""
    scaled: float = ttl * 2.0 ** (max(offenses, 1) - 1)
    return min(scaled, max(max_ttl, ttl))


def harshest(bans: Iterable[Ban | None], now: float) -> Ban | None:
    """The active ban that lasts longest, if any."""
    active = [b for b in bans if b is not None and b.active(now)]
    return max(active, key=lambda b: b.expires_at, default=None)
