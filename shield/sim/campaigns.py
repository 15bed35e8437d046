"""Attack campaigns: a Scenario plus the site's real accounts -> the attacker's login attempts."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from shield.sim import agents
from shield.sim.agents import Headers
from shield.sim.events import NEVER_SOLVES, Account, Event
from shield.sim.scenario import Scenario
from shield.sim.world import IPNetwork, address_in, resolve_subnet

DAY = 86400.0
Pair = tuple[str, str]


def leaked_pairs(s: Scenario, accounts: Sequence[Account], rng: random.Random) -> list[Pair]:
    """A leaked list: valid pairs drawn from the real users, known accounts with a reused wrong password,
    and accounts that do not exist here at all."""
    n_valid = min(len(accounts), round(s.list_size * s.valid_share))
    n_known = min(len(accounts) - n_valid, max(0, round(s.list_size * s.known_share) - n_valid))
    chosen = rng.sample(list(accounts), n_valid + n_known)
    pairs = [(a.username, a.password) for a in chosen[:n_valid]]
    pairs += [(a.username, f"{a.password[:6]}{rng.randrange(10**6):06d}") for a in chosen[n_valid:]]
    pairs += [
        (f"leak{rng.randrange(10**9):09d}@mail.example", f"pw{rng.randrange(10**8)}")
        for _ in range(s.list_size - len(pairs))
    ]
    rng.shuffle(pairs)
    return pairs


def _spread(n: int, s: Scenario, rng: random.Random) -> list[float]:
    """n attempt times over the campaign window, following its rate shape."""
    times = []
    for _ in range(n):
        u = rng.random()
        if s.shape == "burst":
            u = u**2.5  # most of the volume right at the start, then a tail
        elif s.shape == "ramp":
            u = math.sqrt(u)  # volume grows through the window
        times.append(s.start + u * s.duration)
    return sorted(times)


def _planned(s: Scenario, accounts: Sequence[Account], rng: random.Random) -> list[tuple[float, str, str]]:
    """(time, username, password) of every attempt, by the campaign's mode."""
    if s.mode == "stuffing":
        pairs = leaked_pairs(s, accounts, rng)
        return [(t, u, p) for t, (u, p) in zip(_spread(len(pairs), s, rng), pairs, strict=True)]
    days = max(1, math.ceil(s.duration / DAY))
    out = []
    if s.mode == "spray":
        # At most one attempt per account per day: the password of the day, at a random time that day.
        targets = leaked_pairs(s, accounts, rng)
        for day, password in enumerate(s.passwords[:days]):
            end = min(DAY, s.duration - day * DAY)
            out += [(s.start + day * DAY + rng.uniform(0, end), u, password) for u, _ in targets]
        return sorted(out)
    victims = rng.sample(list(accounts), min(len(accounts), s.list_size))
    for i, victim in enumerate(victims):
        knows_password = i < round(len(victims) * s.valid_share)
        tries = [
            (s.start + d * DAY + rng.uniform(0, min(DAY, s.duration - d * DAY)))
            for d in range(days)
            for _ in range(rng.randint(*s.attempts_per_day))
        ]
        tries.sort()
        for k, t in enumerate(tries):
            # the last guess of a known pair is the right one, or every one (a careful attacker who has it)
            right = knows_password and (s.right_guess == "every" or k == len(tries) - 1)
            out.append((t, victim.username, victim.password if right else f"{victim.password[:4]}{k}!{i}"))
    return sorted(out)


def _addresses(s: Scenario, rng: random.Random) -> Iterator[str]:
    """Fresh attacker addresses forever, each used for its budget of attempts."""
    nets: list[IPNetwork] = []
    weights: list[float] = []
    for name, w in s.pools:
        subnets = resolve_subnet(name)
        nets += subnets
        weights += [w / len(subnets)] * len(subnets)
    while True:
        ip = address_in(rng.choices(nets, weights=weights)[0], rng)
        for _ in range(rng.randint(*s.attempts_per_address)):
            yield ip


def _agent(s: Scenario, rng: random.Random) -> Headers:
    kinds = [k for k, _ in s.agent_kinds]
    return agents.random_headers(rng.choices(kinds, weights=[w for _, w in s.agent_kinds])[0], rng)


def campaign_events(s: Scenario, accounts: Sequence[Account]) -> list[Event]:
    """The campaign's attempts on the simulated timeline, deterministic in the scenario's seed."""
    rng = random.Random(s.seed)
    plan = _planned(s, accounts, rng)
    addresses = _addresses(s, rng)
    fixed = _agent(s, rng)
    per_address: dict[str, Headers] = {}
    per_account: dict[str, tuple[str, Headers]] = {}
    max_difficulty = s.pow_solve.max_difficulty if s.pow_solve.enabled else NEVER_SOLVES
    events = []
    for t, username, password in plan:
        ip = next(addresses)
        device = ""
        if s.rotate == "per_account":
            # one residential proxy and one browser profile (cookies kept) per victim: looks like its owner coming back
            ip, headers = per_account.setdefault(username, (ip, _agent(s, rng)))
            device = f"{s.name}:{username}"
        elif s.rotate == "fixed":
            headers = fixed
        elif s.rotate == "per_address":
            headers = per_address.setdefault(ip, _agent(s, rng))
        else:
            headers = _agent(s, rng)
        events.append(
            Event(
                t=t,
                actor=s.name,
                client_ip=ip,
                headers=headers,
                username=username,
                password=password,
                device=device,
                transfer=s.bulk_after_success,
                max_difficulty=max_difficulty,
            )
        )
    return events
