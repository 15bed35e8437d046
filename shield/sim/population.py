"""The legitimate population: who the real users are, their devices and their networks.

Everything is drawn from one random.Random(seed), so a seed (and a PopulationShape, see draws.py)
fixes the whole population. Shape: mostly JP users on the mobile app and on browsers, one to three
devices each, heavy-tailed login frequency; and the segments every real deployment has, modelled
from the world, not from the rules:

- employees and students behind a corporate or university egress gateway (hundreds per address,
  on ASNs in no list), logging in from there on workday office hours;
- homes on the fixed line of a big carrier whose one ASN also serves mobile NAT (`mixed-carrier`),
  and subscribers of a mobile carrier that no carrier list names (`unlisted-carrier`);
- real users whose password is one the attackers spray (`sprayed-password`);
- a first login on a new browser, then return visits from it (`first-browser-login`, `return-visit`);
- many browsers on the one popular build and language an attacker copies (`popular-build`);
- travellers, some on foreign networks the campaigns also use, and VPN users (hosting ASNs).

The logins themselves are in logins.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from shield.sim import agents
from shield.sim.agents import Headers
from shield.sim.draws import TUNING_SHAPE, PopulationShape
from shield.sim.events import Account
from shield.sim.world import NETWORKS, POOLS, gateway_addresses

DAY = 86400.0
# The spray campaign's passwords (shield/sim/scenarios/password-spray.yaml; a test keeps them equal).
SPRAYED_PASSWORDS = ("123456789", "password1")
OTHER_COMMON_PASSWORDS = ("qwerty123", "iloveyou1", "Passw0rd!")
OTHER_COMMON_SHARE = 0.003


@dataclass(slots=True, frozen=True)
class Device:
    key: str  # cookie-jar name
    kind: agents.AgentKind
    before: Headers  # headers before the version update
    after: Headers  # headers after it (same as before when it does not update)
    update_at: float  # simulated second of the update
    segments: tuple[str, ...] = ()  # carried by every login on this device
    fresh: bool = False  # first used during the run: shield never saw it before


@dataclass(slots=True, frozen=True)
class User:
    account: Account
    devices: tuple[Device, ...]
    home_ip: str  # the household's fixed line
    carrier: str  # the mobile carrier network (CIDR) its phones use
    logins_per_day: float
    vpn_ip: str | None = None
    trip: tuple[float, float, str] | None = None  # (start, end, hotel address)
    gateway: tuple[str, ...] = ()  # the office or campus egress addresses its browsers use on workdays
    network_segments: tuple[str, ...] = ()  # e.g. mixed-carrier: on every login from its own networks
    segments: tuple[str, ...] = ()  # on every login (sprayed-password)


def make_accounts(n: int, rng: random.Random, *, shape: PopulationShape = TUNING_SHAPE) -> tuple[Account, ...]:
    """The demo app's user database; passwords are random and never leave the simulation,
    except that some users picked a common password, a few of them one the attackers spray."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    accounts = []
    for i in range(n):
        u = rng.random()
        if u < shape.sprayed_password_share:
            password = rng.choice(SPRAYED_PASSWORDS)
        elif u < shape.sprayed_password_share + OTHER_COMMON_SHARE:
            password = rng.choice(OTHER_COMMON_PASSWORDS)
        else:
            password = "".join(rng.choice(alphabet) for _ in range(12))
        accounts.append(Account(f"user{i:05d}@demo.example", password))
    return tuple(accounts)


def make_device(
    key: str, rng: random.Random, duration: float, shape: PopulationShape, *, browser: bool = False
) -> Device:
    update_at = rng.uniform(0.2, 1.6) * duration  # past the end: this device does not update in the run
    if not browser and rng.random() < shape.app_share:
        os_name = rng.choice(("android", "android", "ios"))
        model = rng.choice(agents.ANDROID_MODELS if os_name == "android" else agents.IOS_MODELS)
        did = agents.device_id(rng)
        before = agents.app_headers("5.2.1", os_name, model, did)
        return Device(key, "app", before, agents.app_headers("5.3.0", os_name, model, did), update_at)
    if rng.random() < shape.popular_build_share:
        popular = agents.chrome_headers(*agents.POPULAR_CHROME)
        return Device(key, "chrome", popular, popular, update_at, ("popular-build",))
    family = rng.choices(("chrome", "safari", "firefox"), weights=(6, 3, 1))[0]
    if family == "chrome":
        platform = rng.choice(("Windows", "macOS", "Android"))
        return Device(
            key, "chrome", agents.chrome_headers(129, platform), agents.chrome_headers(130, platform), update_at
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


def _networks(rng: random.Random, shape: PopulationShape) -> tuple[str, str, tuple[str, ...]]:
    """(home address, mobile carrier CIDR, segments of its own networks)."""
    u = rng.random()
    if u < shape.mixed_carrier_share:
        # home broadband from the big carrier whose phones are on the same ASN's mobile NAT
        return NETWORKS[POOLS["jp-mixed-fixed"][0]].address(rng), POOLS["jp-mobile"][0], ("mixed-carrier",)
    if u < shape.mixed_carrier_share + shape.unlisted_carrier_share:
        home = rng.choice((*POOLS["jp-residential"], *POOLS["jp-unlisted-fixed"]))
        return NETWORKS[home].address(rng), POOLS["jp-mobile-unlisted"][0], ("unlisted-carrier",)
    home = rng.choice(POOLS["jp-residential"])
    return NETWORKS[home].address(rng), rng.choice(POOLS["jp-mobile"]), ()


def _trip(rng: random.Random, duration: float, shape: PopulationShape) -> tuple[float, float, str]:
    start = rng.uniform(0, duration * 0.7)
    # Some trips land on the very foreign networks the campaigns use (a US cable hotel, a CN ISP).
    pool = "foreign-residential" if rng.random() < shape.travel_on_attacker_networks else "travel"
    return start, start + rng.uniform(1, 4) * DAY, NETWORKS[rng.choice(POOLS[pool])].address(rng)


def make_users(
    accounts: tuple[Account, ...], *, duration: float, rng: random.Random, shape: PopulationShape = TUNING_SHAPE
) -> tuple[User, ...]:
    n_gateway_users = round(len(accounts) * shape.gateway_share)
    gateways = gateway_addresses(max(1, round(n_gateway_users / shape.gateway_users)), rng) if n_gateway_users else ()
    users = []
    for i, account in enumerate(accounts):
        count = rng.choices((1, 2, 3), weights=(5, 3, 1))[0]
        devices = [make_device(f"u{i}d{k}", rng, duration, shape) for k in range(count)]
        # Heavy tail: most users log in every few days, a few many times a day.
        rate = min(12.0, 0.25 * rng.paretovariate(1.3))
        home, carrier, network_segments = _networks(rng, shape)
        vpn = NETWORKS[rng.choice(POOLS["vpn"])].address(rng) if rng.random() < shape.vpn_share else None
        trip = _trip(rng, duration, shape) if rng.random() < shape.traveller_share else None
        gateway: tuple[str, ...] = ()
        if gateways and rng.random() < shape.gateway_share:
            gateway = rng.choice(gateways)
            rate = max(rate, 1.0)  # they use it at work: most workdays
            if all(d.kind == "app" for d in devices):
                devices.append(make_device(f"u{i}work", rng, duration, shape, browser=True))
        if rng.random() < shape.first_browser_share:
            fresh = make_device(f"u{i}fresh", rng, duration, shape, browser=True)
            devices.append(Device(fresh.key, fresh.kind, fresh.before, fresh.after, fresh.update_at,
                                  (*fresh.segments, "first-browser-login"), fresh=True))
            rate = max(rate, 1.5)  # so the new browser comes back during the run
        segments = ("sprayed-password",) if account.password in SPRAYED_PASSWORDS else ()
        users.append(
            User(account, tuple(devices), home, carrier, rate, vpn, trip, gateway, network_segments, segments)
        )
    return tuple(users)
