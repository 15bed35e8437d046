"""The legitimate population: who the real users are, their devices, and when they log in.

Everything is drawn from one random.Random(seed), so a seed fixes the whole population and its
timeline. Shape: mostly JP users on the mobile app and on browsers, one to three devices each,
heavy-tailed login frequency, first-try typos with a retry, travellers abroad for a few days,
VPN users, app/browser updates rolling out during the run, browser logins away from home (office,
cafe), and now and then a device the account never used (a new phone, a cleared browser).

`history_events` is what shield learnt before the measured run: in production it has been in
front of the app for weeks, so a returning user's devices and networks are known to it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from shield.sim import agents
from shield.sim.agents import Headers
from shield.sim.events import LEGIT, Account, Event
from shield.sim.world import NETWORKS, POOLS, carrier_nat_addresses

DAY = 86400.0
TYPO_SHARE = 0.065
TRAVELLER_SHARE = 0.04
VPN_SHARE = 0.04
TRANSFER_SHARE = 0.1
APP_SHARE = 0.6  # of devices
NEW_DEVICE_SHARE = 0.02  # logins on a device the account never used: new phone, reinstalled app, cleared browser
AWAY_SHARE = 0.08  # browser logins away from home: office, cafe, a friend's place (another JP network)
HISTORY_LOGINS_PER_DEVICE = 2  # at most: more logins on one device teach shield little more
COMMON_PASSWORDS = ("123456789", "password1", "qwerty123", "iloveyou1", "Passw0rd!")
COMMON_PASSWORD_SHARE = 0.005
LEGIT_MAX_DIFFICULTY = 32  # real users' clients always solve: friction, not refusal


@dataclass(slots=True, frozen=True)
class Device:
    key: str  # cookie-jar name
    kind: agents.AgentKind
    before: Headers  # headers before the version update
    after: Headers  # headers after it (same as before when it does not update)
    update_at: float  # simulated second of the update


@dataclass(slots=True, frozen=True)
class User:
    account: Account
    devices: tuple[Device, ...]
    home_ip: str  # the household's residential address
    carrier: str  # the mobile carrier network (CIDR) its phones use
    logins_per_day: float
    vpn_ip: str | None = None
    trip: tuple[float, float, str] | None = None  # (start, end, hotel address)


def make_accounts(n: int, rng: random.Random) -> tuple[Account, ...]:
    """The demo app's user database; passwords are random and never leave the simulation,
    except that a few users picked a common password (what a spray finds)."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return tuple(
        Account(
            f"user{i:05d}@demo.example",
            rng.choice(COMMON_PASSWORDS)
            if rng.random() < COMMON_PASSWORD_SHARE
            else "".join(rng.choice(alphabet) for _ in range(12)),
        )
        for i in range(n)
    )


def _device(key: str, rng: random.Random, duration: float) -> Device:
    update_at = rng.uniform(0.2, 1.6) * duration  # past the end: this device does not update in the run
    if rng.random() < APP_SHARE:
        os_name = rng.choice(("android", "android", "ios"))
        model = rng.choice(agents.ANDROID_MODELS if os_name == "android" else agents.IOS_MODELS)
        did = agents.device_id(rng)
        return Device(
            key,
            "app",
            agents.app_headers("5.2.1", os_name, model, did),
            agents.app_headers("5.3.0", os_name, model, did),
            update_at,
        )
    family = rng.choices(("chrome", "safari", "firefox"), weights=(6, 3, 1))[0]
    if family == "chrome":
        platform = rng.choice(("Windows", "macOS", "Android"))
        return Device(
            key, "chrome", agents.chrome_headers(130, platform), agents.chrome_headers(131, platform), update_at
        )
    if family == "safari":
        platform = rng.choice(("macOS", "iOS"))
        return Device(
            key, "safari", agents.safari_headers("18.0", platform), agents.safari_headers("18.1", platform), update_at
        )
    platform = rng.choice(("Windows", "macOS", "Linux"))
    return Device(
        key, "firefox", agents.firefox_headers(131, platform), agents.firefox_headers(132, platform), update_at
    )


def make_users(accounts: tuple[Account, ...], *, duration: float, rng: random.Random) -> tuple[User, ...]:
    users = []
    for i, account in enumerate(accounts):
        count = rng.choices((1, 2, 3), weights=(5, 3, 1))[0]
        devices = tuple(_device(f"u{i}d{k}", rng, duration) for k in range(count))
        home = rng.choice(POOLS["jp-residential"])
        # Heavy tail: most users log in every few days, a few many times a day.
        rate = min(12.0, 0.25 * rng.paretovariate(1.3))
        vpn = NETWORKS[rng.choice(POOLS["vpn"])].address(rng) if rng.random() < VPN_SHARE else None
        trip = None
        if rng.random() < TRAVELLER_SHARE:
            start = rng.uniform(0, duration * 0.7)
            trip = (start, start + rng.uniform(1, 4) * DAY, NETWORKS[rng.choice(POOLS["travel"])].address(rng))
        carrier = rng.choice(POOLS["jp-mobile"])
        users.append(User(account, devices, NETWORKS[home].address(rng), carrier, rate, vpn, trip))
    return tuple(users)


def _typo(password: str, rng: random.Random) -> str:
    i = rng.randrange(len(password))
    return password[:i] + rng.choice("qwertyuiop") + password[i + 1 :]


def login_events(users: tuple[User, ...], *, duration: float, seed: int) -> list[Event]:
    """Every legitimate login attempt over [0, duration), typos followed by their retry."""
    rng = random.Random(seed)
    nat = carrier_nat_addresses(rng)
    events: list[Event] = []
    for user in users:
        t = rng.expovariate(user.logins_per_day / DAY)
        while t < duration:
            events.extend(_one_login(user, t, nat, rng))
            t += rng.expovariate(user.logins_per_day / DAY)
    events.sort(key=lambda e: e.t)
    return events


def history_events(users: tuple[User, ...], *, days: float, seed: int) -> list[Event]:
    """Logins before the measured run (t < 0) from each device's usual networks, as many as the
    user's rate gives each device over `days` (a rare user's device may have none), at most
    HISTORY_LOGINS_PER_DEVICE: the replay stays short and shield learns what it would have."""
    rng = random.Random(seed)
    nat = carrier_nat_addresses(rng)
    events = []
    for user in users:
        per_device = user.logins_per_day * days / len(user.devices)
        for device in user.devices:
            for _ in range(_poisson(per_device, HISTORY_LOGINS_PER_DEVICE, rng)):
                t = -rng.uniform(3600.0, days * DAY)
                ip, segments = _usual_network(user, device, nat, rng)
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
    user: User, device: Device, nat: dict[str, tuple[str, ...]], rng: random.Random
) -> tuple[str, list[str]]:
    if user.vpn_ip:
        return user.vpn_ip, ["vpn"]
    if device.kind == "app" and rng.random() < 0.7:
        return rng.choice(nat[user.carrier]), ["carrier-nat"]  # carrier NAT hands out a shared address per session
    if device.kind != "app" and rng.random() < AWAY_SHARE:
        return NETWORKS[rng.choice(POOLS["jp-residential"])].address(rng), ["residential", "away"]
    return user.home_ip, ["residential"]


def _event(
    user: User, device: Device, headers: Headers, t: float, ip: str, segments: list[str], *, transfer: bool
) -> Event:
    return Event(
        t=t,
        actor=LEGIT,
        client_ip=ip,
        headers=headers,
        username=user.account.username,
        password=user.account.password,
        device=device.key,
        segments=("app" if device.kind == "app" else "browser", *segments),
        transfer=transfer,
        max_difficulty=LEGIT_MAX_DIFFICULTY,
        retries_after_429=True,
    )


def _one_login(user: User, t: float, nat: dict[str, tuple[str, ...]], rng: random.Random) -> list[Event]:
    device = rng.choice(user.devices)
    headers = device.after if t >= device.update_at else device.before
    new_device = rng.random() < NEW_DEVICE_SHARE
    if new_device:
        # A device no one saw before: its own cookie jar, its own headers (and app device id).
        device = _device(f"{user.account.username}@{t:.0f}", rng, t)
        headers = device.before
    if user.trip and user.trip[0] <= t < user.trip[1]:
        ip, segments = user.trip[2], ["traveller"]
    else:
        ip, segments = _usual_network(user, device, nat, rng)
    if new_device:
        segments.append("new-device")
    base = _event(user, device, headers, t, ip, segments, transfer=rng.random() < TRANSFER_SHARE)
    if rng.random() < TYPO_SHARE:
        typo_segments = (*base.segments, "typo")
        return [
            replace(base, password=_typo(user.account.password, rng), segments=typo_segments, transfer=False),
            replace(base, t=t + rng.uniform(3, 20), segments=typo_segments),
        ]
    return [base]
