"""Stored records shared by both stores: the account history record and ban arithmetic.

The account history is kept as one small record per account (the Redis store keeps the
same shape as JSON and updates it in Lua, lua/outcome.lua):
  {"c": [[country, seen_at], ...], "a": [[asn, t], ...], "d": [[device, t], ...],
   "f": [[fingerprint, t], ...], "s": [[subnet, t], ...], "t": last_success_at, "lat": .., "lon": .., "cc": country,
   "p": [{"t": t, "c": country, "a": asn, "d": device, "f": fp, "s": subnet, "lat": .., "lon": ..}, ...]}
The lists, "t", "lat", "lon" and "cc" are the confirmed successes, newest first, at most `size` entries per
list, each entry dropped `days` after it was last seen. "p" holds the unconfirmed successes (newest first, at
most `size`; an absent value is an absent key): they make nothing familiar until they are `confirm_after`
seconds old without a contrary signal (then they count as confirmed successes at their own time, and the
next write folds them into the lists). A failed login on the account is a contrary signal: it drops every
pending entry that is not yet confirmed. A record written before "p" existed simply has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from shield.model import AccountHistory, Ban, Observation

DAY = 86400.0
HISTORY_LISTS: tuple[tuple[str, str], ...] = (
    ("c", "country"),
    ("a", "asn"),
    ("d", "device"),
    ("f", "fp"),
    ("s", "subnet"),
)
PENDING = "p"


def _num(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pending(record: Mapping[str, Any], horizon: float) -> list[dict[str, Any]]:
    entries = record.get(PENDING)
    if not isinstance(entries, list):  # Lua's cjson encodes an empty list as {}
        return []
    return [p for p in entries if isinstance(p, dict) and _num(p.get("t")) and p["t"] > horizon]


def _learn(record: dict[str, Any], entry: Mapping[str, Any], horizon: float, size: int) -> None:
    """Fold one matured pending entry into the confirmed lists, ordered by when each value was last seen."""
    t = float(entry["t"])
    for kind, _ in HISTORY_LISTS:
        value = entry.get(kind)
        entries = record.get(kind)
        kept = [e for e in entries if e[1] > horizon] if isinstance(entries, list) else []
        if isinstance(value, str):
            old = [e for e in kept if e[0] == value]
            if not old or old[0][1] < t:
                kept = [e for e in kept if e[0] != value] + [[value, t]]
                kept.sort(key=lambda e: -e[1])
        record[kind] = kept[:size]
    last = record.get("t")
    if not _num(last) or t >= last:
        record["t"] = t
        for key in ("lat", "lon", "cc"):
            if key in entry:
                record[key] = entry[key]


def settled(
    record: Mapping[str, Any] | None, now: float, *, days: int, size: int, confirm_after: float
) -> dict[str, Any]:
    """The record with every pending entry older than `confirm_after` made confirmed (what outcome.lua does)."""
    out = dict(record or {})
    horizon = now - days * DAY
    pending = _pending(out, horizon)
    ripe = now - confirm_after
    for entry in sorted((p for p in pending if p["t"] <= ripe), key=lambda p: p["t"]):
        _learn(out, entry, horizon, size)
    out[PENDING] = [p for p in pending if p["t"] > ripe]
    return out


def history_from_record(
    record: Mapping[str, Any] | None, now: float, days: int, *, confirm_after: float = 0.0, size: int = 10
) -> AccountHistory | None:
    """The history as of `now`: None when there is none or every success is older than `days`."""
    if not record:
        return None
    horizon = now - days * DAY
    view = settled(record, now, days=days, size=size, confirm_after=confirm_after)
    pending = view[PENDING]
    last = view.get("t")
    confirmed = _num(last) and last > horizon
    last_at = float(last) if confirmed and _num(last) else None
    if not confirmed and not pending:
        return None

    def recent(kind: str) -> tuple[str, ...]:
        entries = view.get(kind)
        if not isinstance(entries, list) or not confirmed:
            return ()
        return tuple(str(v) for v, seen in entries if seen > horizon)

    lat, lon, country = view.get("lat"), view.get("lon"), view.get("cc")
    return AccountHistory(
        countries=recent("c"),
        asns=recent("a"),
        devices=recent("d"),
        fingerprints=recent("f"),
        subnets=recent("s"),
        last_success_at=last_at,
        last_lat=float(lat) if confirmed and _num(lat) else None,
        last_lon=float(lon) if confirmed and _num(lon) else None,
        last_country=country if confirmed and isinstance(country, str) else None,
        unconfirmed_at=max((float(p["t"]) for p in pending), default=None),
    )


def updated_record(
    record: Mapping[str, Any] | None,
    obs: Observation,
    now: float,
    *,
    days: int,
    size: int,
    confirmed: bool = True,
    confirm_after: float = 0.0,
) -> dict[str, Any]:
    """The record after a successful login from `obs` (what the Redis script does in Lua)."""
    old = settled(record, now, days=days, size=size, confirm_after=confirm_after)
    horizon = now - days * DAY
    if not confirmed:
        entry: dict[str, Any] = {"t": now}
        for kind, dim in HISTORY_LISTS:
            value = obs.dimension(dim)
            if value is not None:
                entry[kind] = value
        if obs.lat is not None and obs.lon is not None:
            entry["lat"], entry["lon"] = obs.lat, obs.lon
        if obs.country is not None:
            entry["cc"] = obs.country
        old[PENDING] = [entry, *old[PENDING]][:size]
        return old
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
    new[PENDING] = old[PENDING]
    return new


def contradicted(
    record: Mapping[str, Any] | None, now: float, *, days: int, size: int, confirm_after: float
) -> dict[str, Any] | None:
    """The record after a contrary signal (a failed login on the account): unconfirmed entries are forgotten.
    None when there was nothing pending (nothing to write)."""
    if not record or not _pending(record, now - days * DAY):
        return None
    out = settled(record, now, days=days, size=size, confirm_after=confirm_after)
    out[PENDING] = []
    return out


def escalated_ttl(ttl: float, offenses: int, max_ttl: float) -> float:
    """ttl * 2**(offenses-1), capped at max_ttl (and never below ttl when ttl > max_ttl)."""
    scaled: float = ttl * 2.0 ** (max(offenses, 1) - 1)
    return min(scaled, max(max_ttl, ttl))


def harshest(bans: Iterable[Ban | None], now: float) -> Ban | None:
    """The active ban that lasts longest, if any."""
    active = [b for b in bans if b is not None and b.active(now)]
    return max(active, key=lambda b: b.expires_at, default=None)
