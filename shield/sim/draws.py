"""Draws: the population's shares and the campaigns' parameters, drawn from documented ranges.

Draw 0 is the tuning draw: the fixed values of `TUNING` (the rule pack may be tuned on it). Draw N >= 1
picks every value uniformly inside `RANGES` with a random.Random seeded from the draw number only,
and so does every later random choice (the population's seed is drawn too): draw N is reproducible,
and nobody tuned on it. The ranges are documented in docs/simulate.md (a test keeps them in sync).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace

from shield.sim.scenario import Scenario

Span = tuple[float, float]
TUNING_SEED = 1  # the population seed of draw 0 (the benchmark's historical --seed 1)


@dataclass(slots=True, frozen=True)
class PopulationShape:
    """Who the real users are. The defaults are draw 0's values."""

    app_share: float = 0.6  # of devices
    typo_share: float = 0.065  # logins whose first try has a typo (then a retry)
    traveller_share: float = 0.04  # users with a trip abroad during the run
    travel_on_attacker_networks: float = 0.4  # of trips: on a foreign network the campaigns also use
    vpn_share: float = 0.04  # users who always log in through a VPN (hosting ASNs)
    new_device_share: float = 0.02  # logins on a device the account never used
    away_share: float = 0.08  # browser logins from another residential network (cafe, a friend's)
    gateway_share: float = 0.05  # users whose browser logs in from an office or campus gateway on workdays
    gateway_users: float = 150.0  # users behind one gateway (on average)
    mixed_carrier_share: float = 0.1  # users at home on the listed mobile carrier's own fixed line
    unlisted_carrier_share: float = 0.15  # users on a mobile carrier in no list (and its fixed line)
    sprayed_password_share: float = 0.008  # users whose password is one the spray campaign tries
    first_browser_share: float = 0.03  # users logging in on a new browser (first time, then return visits)
    popular_build_share: float = 0.25  # of browser devices: the single most common build and language
    transfer_share: float = 0.1  # logins followed by a transfer


@dataclass(slots=True, frozen=True)
class CampaignKnobs:
    """Multipliers and overrides applied to every campaign of a draw. The defaults change nothing."""

    list_factor: float = 1.0  # list size (and so attempts)
    valid_factor: float = 1.0  # valid share (capped by the known share)
    duration_factor: float = 1.0  # the same list over a longer or shorter window: the rate
    per_address_factor: float = 1.0  # attempts per address
    foreign_weight: float = 1.0  # weight of foreign and hosting pools against home-country pools
    difficulty_delta: int = 0  # bits more (or less) the solving attackers pay for
    seed_offset: int = 0


TUNING_SHAPE = PopulationShape()
NO_KNOBS = CampaignKnobs()


@dataclass(slots=True, frozen=True)
class DrawRanges:
    """The documented range of every drawn value (low, high), drawn uniformly."""

    app_share: Span = (0.45, 0.75)
    typo_share: Span = (0.04, 0.09)
    traveller_share: Span = (0.02, 0.08)
    travel_on_attacker_networks: Span = (0.2, 0.7)
    vpn_share: Span = (0.02, 0.08)
    new_device_share: Span = (0.01, 0.04)
    away_share: Span = (0.04, 0.15)
    gateway_share: Span = (0.02, 0.12)
    gateway_users: Span = (50.0, 400.0)
    mixed_carrier_share: Span = (0.05, 0.25)
    unlisted_carrier_share: Span = (0.05, 0.3)
    sprayed_password_share: Span = (0.003, 0.02)
    first_browser_share: Span = (0.01, 0.06)
    popular_build_share: Span = (0.1, 0.5)
    transfer_share: Span = (0.05, 0.2)
    list_factor: Span = (0.5, 2.0)
    valid_factor: Span = (0.5, 2.0)
    duration_factor: Span = (0.5, 2.0)
    per_address_factor: Span = (0.5, 2.0)
    foreign_weight: Span = (0.5, 2.0)
    # each bit doubles the SHA-256 work the benchmark itself pays (in Python) for every solving attacker's puzzle
    difficulty_delta: Span = (-2, 2)


RANGES = DrawRanges()

MEANING = {
    "app_share": "devices that are the mobile app (the rest: browsers)",
    "typo_share": "logins whose first try has a typo, then a retry",
    "traveller_share": "users abroad for 1-4 days during the run",
    "travel_on_attacker_networks": "of trips: on a foreign network the campaigns also use",
    "vpn_share": "users always behind a VPN (hosting ASNs)",
    "new_device_share": "logins on a device the account never used",
    "away_share": "browser logins from another home network (cafe, a friend's)",
    "gateway_share": "users whose browser logs in from an office or campus gateway on workdays",
    "gateway_users": "users behind one gateway",
    "mixed_carrier_share": "users at home on the listed mobile carrier's own fixed line (one ASN)",
    "unlisted_carrier_share": "users on a mobile carrier in no list",
    "sprayed_password_share": "users whose password the spray tries",
    "first_browser_share": "users with a first login on a new browser, then return visits",
    "popular_build_share": "browsers on the one popular build and language attackers copy",
    "transfer_share": "logins followed by a transfer",
    "list_factor": "every campaign's list size",
    "valid_factor": "valid pairs in the lists (capped by the known share)",
    "duration_factor": "campaign windows (the same list: the rate)",
    "per_address_factor": "attempts per attacker address",
    "foreign_weight": "weight of foreign and hosting pools against home-country ones",
    "difficulty_delta": "bits added to the solving attackers' puzzle budget (rounded)",
}


@dataclass(slots=True, frozen=True)
class Draw:
    number: int
    seed: int  # the population's seed
    population: PopulationShape
    campaigns: CampaignKnobs


def draw(number: int, *, ranges: DrawRanges = RANGES) -> Draw:
    """Draw `number`: 0 the tuning values, otherwise every value uniformly in its range."""
    if number < 0:
        raise ValueError("a draw number is 0 (tuning) or positive")
    if number == 0:
        return Draw(0, TUNING_SEED, TUNING_SHAPE, NO_KNOBS)
    rng = random.Random(f"shield-sim-draw-{number}")  # str seeds hash with SHA-512: stable across runs

    def pick(name: str) -> float:
        low, high = getattr(ranges, name)
        return rng.uniform(low, high)

    population = PopulationShape(**{f.name: pick(f.name) for f in fields(PopulationShape)})
    knob_names = [f.name for f in fields(CampaignKnobs) if f.name not in ("difficulty_delta", "seed_offset")]
    knobs = CampaignKnobs(
        **{name: pick(name) for name in knob_names},
        difficulty_delta=round(pick("difficulty_delta")),
        seed_offset=number * 100_003,
    )
    return Draw(number, rng.randrange(2, 2**31), population, knobs)


HOME_POOLS = ("jp-mobile", "jp-residential", "jp-mobile-unlisted", "jp-mixed-fixed", "jp-unlisted-fixed")


def apply(s: Scenario, knobs: CampaignKnobs) -> Scenario:
    """The campaign with the draw's parameters: bigger or smaller list, rate, address budgets, pools, puzzles."""
    if knobs == NO_KNOBS:
        return s
    low, high = s.attempts_per_address
    per_address = (max(1, round(low * knobs.per_address_factor)), max(1, round(high * knobs.per_address_factor)))
    pools = tuple(
        (name, w if name in HOME_POOLS else w * knobs.foreign_weight) for name, w in s.pools
    )
    pow_solve = s.pow_solve
    if pow_solve.enabled:
        pow_solve = replace(pow_solve, max_difficulty=max(1, pow_solve.max_difficulty + knobs.difficulty_delta))
    return replace(
        s,
        seed=s.seed + knobs.seed_offset,
        list_size=max(1, round(s.list_size * knobs.list_factor)),
        valid_share=min(s.known_share, s.valid_share * knobs.valid_factor),
        duration=s.duration * knobs.duration_factor,
        attempts_per_address=(min(per_address), max(per_address)),
        pools=pools,
        pow_solve=pow_solve,
    )


def parse_draws(text: str) -> list[int]:
    """"3" -> [3]; "1-5" -> [1, 2, 3, 4, 5]; "1,3,7" -> [1, 3, 7]; ValueError otherwise."""
    out: list[int] = []
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        first, last = int(low), int(high) if sep else int(low)
        if first < 0 or last < first:
            raise ValueError(f"{part!r} is not a draw number or a range such as 1-5")
        out += range(first, last + 1)
    return out


def ranges_markdown(ranges: DrawRanges = RANGES) -> str:
    """The table of docs/simulate.md: every drawn value, its range and its tuning (draw 0) value."""
    tuning = {**{f.name: getattr(TUNING_SHAPE, f.name) for f in fields(PopulationShape)},
              **{f.name: getattr(NO_KNOBS, f.name) for f in fields(CampaignKnobs)}}
    lines = ["| value | what | draw 0 (tuning) | draws 1+ (uniform in) |", "|---|---|---|---|"]
    for f in fields(DrawRanges):
        low, high = getattr(ranges, f.name)
        lines.append(f"| `{f.name}` | {MEANING[f.name]} | {tuning[f.name]:g} | {low:g} .. {high:g} |")
    return "\n".join(lines)
