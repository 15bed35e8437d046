"""The population's login attempts: during the run, and before it (the history a deployed shield has).

Simulated time 0 is a Monday, midnight local time: office hours are 9:00-18:00 on days 0-4 of each week.
"""

from __future__ import annotations

import random
from dataclasses import replace

from shield.sim.draws import TUNING_SHAPE, PopulationShape
from shield.sim.events import LEGIT, Event
from shield.sim.population import DAY, Device, User, make_device
from shield.sim.world import NETWORKS, POOLS, carrier_nat_addresses

HISTORY_LOGINS_PER_DEVICE = 2  # at most: more logins on one device teach shield little more
LEGIT_MAX_DIFFICULTY = 32  # real users' clients always solve: friction, not refusal
AT_WORK = 0.85  # a gateway user's browser login in office hours comes from the gateway
WORK_HOURS_SHIFT = 0.7  # a gateway user's workday browser logins that happen at work
Nat = dict[str, tuple[str, ...]]


def office_hours(t: float) -> bool:
    day, second = divmod(t, DAY)
    return int(day) % 7 < 5 and 9 * 3600 <= second < 18 * 3600


def _at_work(t: float, rng: random.Random) -> float:
    """The login moved into that workday's office hours (employees log in at their desk)."""
    day = t // DAY
    if int(day) % 7 >= 5:
        return t
    return day * DAY + rng.uniform(9 * 3600, 18 * 3600)


def login_events(
    users: tuple[User, ...], *, duration: float, seed: int, shape: PopulationShape = TUNING_SHAPE
) -> list[Event]:
    """Every legitimate login attempt over [0, duration), typos followed by their retry."""
    rng = random.Random(seed)
    nat = carrier_nat_addresses(rng)
    events: list[Event] = []
    for user in users:
        mine: list[Event] = []
        t = rng.expovariate(user.logins_per_day / DAY)
        while t < duration:
            mine.extend(_one_login(user, t, nat, rng, shape))
            t += rng.expovariate(user.logins_per_day / DAY)
        events.extend(_return_visits(mine))
    events.sort(key=lambda e: e.t)
    return events


RETRY_WINDOW = 30.0  # a typo's retry belongs to the same login


def _return_visits(events: list[Event]) -> list[Event]:
    """Logins on a new browser after its first one (and that one's retry) are return visits."""
    events.sort(key=lambda e: e.t)
    first: dict[str, float] = {}
    out = []
    for e in events:
        if "first-browser-login" in e.segments:
            t0 = first.setdefault(e.device, e.t)
            if e.t > t0 + RETRY_WINDOW:
                e = replace(e, segments=(*e.segments, "return-visit"))
        out.append(e)
    return out


def history_events(
    users: tuple[User, ...], *, days: float, seed: int, shape: PopulationShape = TUNING_SHAPE
) -> list[Event]:
    """Logins before the measured run (t < 0) from each known device's usual networks, as many as the
    user's rate gives each device over `days` (a rare user's device may have none), at most
    HISTORY_LOGINS_PER_DEVICE: the replay stays short and shield learns what it would have."""
    rng = random.Random(seed)
    nat = carrier_nat_addresses(rng)
    events = []
    for user in users:
        known = [d for d in user.devices if not d.fresh]
        per_device = user.logins_per_day * days / max(1, len(known))
        for device in known:
            for _ in range(_poisson(per_device, HISTORY_LOGINS_PER_DEVICE, rng)):
                t = -rng.uniform(3600.0, days * DAY)
                if user.gateway and device.kind != "app" and rng.random() < WORK_HOURS_SHIFT:
                    t = _at_work(t, rng)
                ip, segments = _usual_network(user, device, t, nat, rng, shape.away_share)
                events.append(_event(user, device, device.before, t, ip, segments, transfer=False))
    events.sort(key=lambda e: e.t)
    return events


def _poisson(mean: float, cap: int, rng: random.Random) -> int:
    """min(cap, a Poisson draw), by counting unit exponential gaps up to `mean`."""
    n, t = 0, rng.expovariate(1.0)
    while t < mean and n < cap:
        n, t = n + 1, t + rng.expovariate(1.0)
    return n


def _usual_network(
    user: User, device: Device, t: float, nat: Nat, rng: random.Random, away: float
) -> tuple[str, list[str]]:
    if user.vpn_ip:
        return user.vpn_ip, ["vpn"]
    if user.gateway and device.kind != "app" and office_hours(t) and rng.random() < AT_WORK:
        return rng.choice(user.gateway), ["gateway"]
    if device.kind == "app" and rng.random() < 0.7:
        # carrier NAT hands out a shared address per session
        return rng.choice(nat[user.carrier]), ["carrier-nat", *user.network_segments]
    if device.kind != "app" and rng.random() < away:
        return NETWORKS[rng.choice(POOLS["jp-residential"])].address(rng), ["residential", "away"]
    return user.home_ip, ["residential", *user.network_segments]


def _event(
    user: User, device: Device, headers: tuple[tuple[str, str], ...], t: float, ip: str, segments: list[str],
    *, transfer: bool,
) -> Event:
    kind = "app" if device.kind == "app" else "browser"
    return Event(
        t=t,
        actor=LEGIT,
        client_ip=ip,
        headers=headers,
        username=user.account.username,
        password=user.account.password,
        device=device.key,
        segments=(kind, *segments, *device.segments, *user.segments),
        transfer=transfer,
        max_difficulty=LEGIT_MAX_DIFFICULTY,
        retries_after_429=True,
    )


def _pick_device(user: User, rng: random.Random) -> Device:
    fresh = next((d for d in user.devices if d.fresh), None)
    if fresh is not None and rng.random() < 0.5:
        return fresh
    return rng.choice([d for d in user.devices if not d.fresh] or list(user.devices))


def _one_login(user: User, t: float, nat: Nat, rng: random.Random, shape: PopulationShape) -> list[Event]:
    device = _pick_device(user, rng)
    if user.gateway and device.kind != "app" and rng.random() < WORK_HOURS_SHIFT:
        t = _at_work(t, rng)
    headers = device.after if t >= device.update_at else device.before
    new_device = rng.random() < shape.new_device_share
    if new_device:
        # A device no one saw before: its own cookie jar, its own headers (and app device id).
        device = make_device(f"{user.account.username}@{t:.0f}", rng, t, shape)
        headers = device.before
    if user.trip and user.trip[0] <= t < user.trip[1]:
        ip, segments = user.trip[2], ["traveller"]
    else:
        ip, segments = _usual_network(user, device, t, nat, rng, shape.away_share)
    if new_device:
        segments.append("new-device")
    base = _event(user, device, headers, t, ip, segments, transfer=rng.random() < shape.transfer_share)
    if rng.random() < shape.typo_share:
        typo_segments = (*base.segments, "typo")
        return [
            replace(base, password=_typo(user.account.password, rng), segments=typo_segments, transfer=False),
            replace(base, t=t + rng.uniform(3, 20), segments=typo_segments),
        ]
    return [base]


def _typo(password: str, rng: random.Random) -> str:
    i = rng.randrange(len(password))
    return password[:i] + rng.choice("qwertyuiop") + password[i + 1 :]
