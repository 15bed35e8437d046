"""Site-wide baseline: is the whole site under a credential-stuffing wave right now?

Compares the last 5 minutes with the rest of the last 24 hours, so a wave spread over
thousands of quiet IPs still raises sensitivity within a minute. Pure: counters in, facts out.

attack_level = min(3, rate_points + failure_points + unknown_points), and 0 below MIN_VOLUME attempts in 5 min:
  rate_points:    attempts_5m / baseline_5m >= 3 -> 1, >= 10 -> 2
                  (baseline_5m: the other 23h55m's attempts per 5 min, floored at BASELINE_FLOOR)
  failure_points: with at least MIN_FINISHED finished logins in 5 min,
                  failure_ratio_5m >= max(base + 0.2, 0.5) -> 1, >= max(base + 0.4, 0.8) -> 2
                  (base: the other 23h55m's failure ratio, DEFAULT_FAILURE_RATIO without data)
  unknown_points: unknown_ratio_5m >= max(base + UNKNOWN_JUMP, UNKNOWN_FLOOR) -> 1
                  (base: the other 23h55m's share of attempts on never-seen accounts, DEFAULT_UNKNOWN_RATIO
                  without data)

Why unknown_points: once shield stops a wave, its attempts never reach the app, so there are few
finished logins and the failure ratio cannot rise; the share of attempts on accounts that never
logged in is counted on every attempt, stopped or not, and a leaked list is mostly such accounts.
"""

from __future__ import annotations

from collections.abc import Mapping

from shield.model import FactValue

MIN_VOLUME = 50  # a quiet site at night must not flip on three typos
MIN_FINISHED = 20
BASELINE_FLOOR = 10.0  # attempts per 5 min assumed at least, so a fresh start is not "infinitely" up
DEFAULT_FAILURE_RATIO = 0.2
DEFAULT_UNKNOWN_RATIO = 0.2
UNKNOWN_JUMP = 0.25  # ~3.5 standard deviations of a 50-attempt sample around a 50% share
UNKNOWN_FLOOR = 0.5
SLOTS_PER_DAY = 288  # 5-minute slots in 24 hours


def site_facts(counters: Mapping[str, int]) -> dict[str, FactValue]:
    """site.failure_ratio_5m/24h, site.unknown_ratio_5m/24h and site.attack_level (0..3)."""
    out: dict[str, FactValue] = {}
    add_site_facts(out, counters)
    return out


def add_site_facts(out: dict[str, FactValue], counters: Mapping[str, int]) -> None:
    """site_facts written into `out` (on every protected request: no dict of its own to merge). The
    counters as a dict (the stores' are one): compiled, a dict's get is a direct lookup, a Mapping's a
    method call."""
    known: dict[str, int] = counters if isinstance(counters, dict) else dict(counters)
    att5, att24 = known.get("site.attempts_5m", 0), known.get("site.attempts_24h", 0)
    fail5, fail24 = known.get("site.failures_5m", 0), known.get("site.failures_24h", 0)
    fin5, fin24 = fail5 + known.get("site.successes_5m", 0), fail24 + known.get("site.successes_24h", 0)
    unk5, unk24 = known.get("site.unknown_5m", 0), known.get("site.unknown_24h", 0)
    # the ratios inline (on every protected request): part / whole, 0.0 over nothing
    out["site.failure_ratio_5m"] = fail5 / fin5 if fin5 > 0 else 0.0
    out["site.failure_ratio_24h"] = fail24 / fin24 if fin24 > 0 else 0.0
    out["site.unknown_ratio_5m"] = unk5 / att5 if att5 > 0 else 0.0
    out["site.unknown_ratio_24h"] = unk24 / att24 if att24 > 0 else 0.0
    out["site.attack_level"] = (
        0 if att5 < MIN_VOLUME else _level(att5, att24, fail5, fail24, fin5, fin24, unk5, unk24)
    )


def attack_level(
    *,
    attempts_5m: int,
    attempts_24h: int,
    failures_5m: int,
    failures_24h: int,
    finished_5m: int,
    finished_24h: int,
    unknown_5m: int = 0,
    unknown_24h: int = 0,
) -> int:
    """0 calm, 1 elevated, 2 high, 3 under attack (formula in the module docstring)."""
    if attempts_5m < MIN_VOLUME:
        return 0
    return _level(
        attempts_5m, attempts_24h, failures_5m, failures_24h, finished_5m, finished_24h, unknown_5m, unknown_24h
    )


def _level(
    attempts_5m: int, attempts_24h: int, failures_5m: int, failures_24h: int, finished_5m: int, finished_24h: int,
    unknown_5m: int, unknown_24h: int,
) -> int:
    """attack_level at MIN_VOLUME attempts or more (positional: called on every protected request)."""
    before = max(0, attempts_24h - attempts_5m)
    baseline = max(before / (SLOTS_PER_DAY - 1), BASELINE_FLOOR)
    factor = attempts_5m / baseline
    rate_points = 2 if factor >= 10 else 1 if factor >= 3 else 0
    failure_points = 0
    if finished_5m >= MIN_FINISHED:
        finished_before = finished_24h - finished_5m
        base = (failures_24h - failures_5m) / finished_before if finished_before > 0 else DEFAULT_FAILURE_RATIO
        ratio = failures_5m / finished_5m
        if ratio >= max(base + 0.4, 0.8):
            failure_points = 2
        elif ratio >= max(base + 0.2, 0.5):
            failure_points = 1
    unknown_base = max(0, unknown_24h - unknown_5m) / before if before > 0 else DEFAULT_UNKNOWN_RATIO
    unknown_points = 1 if unknown_5m / attempts_5m >= max(unknown_base + UNKNOWN_JUMP, UNKNOWN_FLOOR) else 0
    return min(3, rate_points + failure_points + unknown_points)
