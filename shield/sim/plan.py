"""One simulated run's whole timeline: the user database, the population's logins and the campaigns."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from shield.sim.campaigns import campaign_events
from shield.sim.draws import TUNING_SHAPE, Draw, PopulationShape, apply
from shield.sim.events import Account, Event, merge
from shield.sim.logins import history_events, login_events
from shield.sim.population import make_accounts, make_users
from shield.sim.scenario import Scenario


@dataclass(slots=True, frozen=True)
class Plan:
    accounts: tuple[Account, ...]
    campaigns: tuple[Scenario, ...]
    duration: float  # simulated seconds, long enough for every campaign
    events: tuple[Event, ...]
    # Real users' logins before t=0 (negative t), replayed through shield first and left out of
    # every report: the account history a deployed shield already has.
    history: tuple[Event, ...] = ()


HISTORY_DAYS = 30.0


def accounts_for(users: int, seed: int, *, shape: PopulationShape = TUNING_SHAPE) -> tuple[Account, ...]:
    """The demo user database for (users, seed): `shield demo-upstream --users N --seed S` builds the same
    (for the default shape, draw 0's)."""
    return make_accounts(users, random.Random(seed), shape=shape)


def make_plan(
    *,
    users: int,
    seed: int,
    duration: float,
    scenarios: Sequence[Scenario],
    history_days: float = HISTORY_DAYS,
    shape: PopulationShape = TUNING_SHAPE,
) -> Plan:
    """Same arguments, same timeline: everything is drawn from random.Random seeded from `seed`
    and each scenario's own seed. `history_days` of real users' logins precede the run (0: none,
    a shield deployed today)."""
    accounts = accounts_for(users, seed, shape=shape)
    end = max([duration, *(s.start + s.duration for s in scenarios)])
    population = make_users(accounts, duration=end, rng=random.Random(seed * 7919 + 1), shape=shape)
    legit = login_events(population, duration=end, seed=seed * 7919 + 2, shape=shape)
    attacks = [campaign_events(s, accounts) for s in scenarios]
    # History only for the accounts the run touches: the others would change nothing but its length.
    touched = {e.username for stream in (legit, *attacks) for e in stream}
    known = tuple(u for u in population if u.account.username in touched)
    history = history_events(known, days=history_days, seed=seed * 7919 + 3, shape=shape) if history_days > 0 else []
    return Plan(accounts, tuple(scenarios), end, tuple(merge(legit, *attacks)), tuple(history))


def plan_for_draw(
    d: Draw, *, users: int, duration: float, scenarios: Sequence[Scenario], history_days: float = HISTORY_DAYS
) -> Plan:
    """The plan of one draw: its population shape and seed, every campaign with the draw's parameters."""
    chosen = [apply(s, d.campaigns) for s in scenarios]
    return make_plan(
        users=users, seed=d.seed, duration=duration, scenarios=chosen, history_days=history_days, shape=d.population
    )
