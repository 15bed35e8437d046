"""The simulated timeline: one Event per login attempt, sorted by simulated time."""

from __future__ import annotations

from dataclasses import dataclass

from shield.sim.agents import Headers

LEGIT = "legit"  # the actor name of the legitimate population

NEVER_SOLVES = -1


@dataclass(slots=True, frozen=True)
class Event:
    """One login attempt on the simulated timeline.

    `t` is seconds since the start of the simulated run. `device` names the cookie jar (and
    the kept Shield-Pass) the attempt uses; "" means a client that keeps nothing.
    `max_difficulty` is the hardest proof-of-work the client is willing to solve.
    """

    t: float
    actor: str
    client_ip: str
    headers: Headers
    username: str
    password: str
    device: str = ""
    segments: tuple[str, ...] = ()
    transfer: bool = False
    max_difficulty: int = NEVER_SOLVES
    retries_after_429: bool = False


@dataclass(slots=True, frozen=True)
class Account:
    username: str
    password: str


def merge(*streams: list[Event]) -> list[Event]:
    """All streams in one timeline; ties keep stream order, so the result is deterministic."""
    tagged = [(e.t, i, j, e) for i, s in enumerate(streams) for j, e in enumerate(s)]
    tagged.sort(key=lambda x: (x[0], x[1], x[2]))
    return [e for *_, e in tagged]
