"""The nouns of shield: what one protected request becomes on its way through the pipeline.

identity -> Attempt, the store -> Observation, Signals (counters, AccountHistory, Ban),
enrich + signals -> Facts, rules -> Verdict, Policy -> Decision, the upstream's answer -> Outcome.
Everything here is immutable and free of I/O. Time is a port (Clock): SystemClock for the
proxy, FakeClock for scenario tests and the simulator; both are twenty lines of no I/O, so they
live with the protocol rather than in a package of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Literal, Protocol

# A fact's value. Absent facts are simply missing from the mapping (never None inside rules).
FactValue = bool | int | float | str | frozenset[str]
Facts = Mapping[str, FactValue]


class Action(StrEnum):
    """What shield does with a request, from mildest to harshest."""

    ALLOW = "allow"
    TAG = "tag"
    DELAY = "delay"
    CHALLENGE = "challenge"
    BLOCK = "block"
    BAN = "ban"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {a: i for i, a in enumerate(Action)}


class Outcome(StrEnum):
    """The login result as read from the upstream's answer."""

    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


@dataclass(slots=True, frozen=True)
class Window:
    """A sliding window over which counters are kept, named as it appears in fact names."""

    name: str  # "1m", "10m", "1h", "24h"
    seconds: int


DEFAULT_WINDOWS: tuple[Window, ...] = (
    Window("1m", 60),
    Window("10m", 600),
    Window("1h", 3600),
    Window("24h", 86400),
)


BanScope = Literal["ip", "subnet", "asn", "account", "fp"]
BAN_SCOPES: tuple[BanScope, ...] = ("ip", "subnet", "asn", "account", "fp")


@dataclass(slots=True, frozen=True)
class Attempt:
    """Who is knocking: the identity of one protected request (no secret in clear).

    `account` is the normalised account name, kept in memory for rules and for logging
    only when the operator opted in; `account_id`, `password_id` and `pair_id` are keyed
    hashes (HMAC-SHA256 with the deployment secret, truncated) and are what the store keeps.
    """

    request_id: str
    route: str
    client_ip: str
    subnet: str
    account: str | None
    account_id: str | None
    password_id: str | None
    pair_id: str | None
    fingerprint: str
    device_id: str | None
    malformed: bool


@dataclass(slots=True, frozen=True, init=False)
class Ban:
    """An active decision: every request matching scope=value is refused until expires_at.

    Frozen, with its own __init__: a frozen dataclass's sets each field through object.__setattr__
    (~11.9k instructions a Ban, callgrind); this one through the slots' own setters (~7k). A Ban is
    made for every new ban (a wave's requests mostly are) and for every ban a Redis store reads."""

    scope: BanScope
    value: str
    reason: str
    created_at: float
    expires_at: float
    offenses: int = 1
    source: str = "rules"  # "rules" | "admin"

    def __init__(
        self, scope: BanScope, value: str, reason: str, created_at: float, expires_at: float, offenses: int = 1,
        source: str = "rules",
    ) -> None:
        set_scope, set_value, set_reason, set_created, set_expires, set_offenses, set_source = _SET_BAN
        set_scope(self, scope)
        set_value(self, value)
        set_reason(self, reason)
        set_created(self, created_at)
        set_expires(self, expires_at)
        set_offenses(self, offenses)
        set_source(self, source)

    def active(self, now: float) -> bool:
        return now < self.expires_at


# the slots' setters, in field order (they write past the frozen __setattr__, as object.__setattr__ does)
_SET_BAN: tuple[Callable[[Ban, object], None], ...] = tuple(
    Ban.__dict__[f.name].__set__ for f in fields(Ban)
)


@dataclass(slots=True, frozen=True)
class RuleHit:
    """One rule that matched, with the score it contributed."""

    id: str
    score: int
    action: Action | None = None
    shadow: bool = False


@dataclass(slots=True, frozen=True)
class Verdict:
    """The pure result of scoring facts against a rule set."""

    score: int
    hits: tuple[RuleHit, ...]
    shadow_hits: tuple[RuleHit, ...]
    forced_action: Action | None  # the harshest direct `action:` among enforcing hits
    shadow_forced_action: Action | None = None


@dataclass(slots=True, frozen=True)
class Decision:
    """What shield will do with one request, and why."""

    action: Action
    score: int
    hits: tuple[RuleHit, ...] = ()
    shadow_hits: tuple[RuleHit, ...] = ()
    shadow_action: Action | None = None
    ruleset: str = ""
    ban_scope: BanScope | None = None
    ban_ttl: float = 0.0
    delay_s: float = 0.0
    difficulty: int = 0
    rate_limited: bool = False  # block caused by a rate: answer 429 + Retry-After
    retry_after_s: int = 0
    enforced: bool = True  # False in global shadow mode: logged, never applied
    reasons: tuple[str, ...] = field(default=())
    # The enforcing score per evidence class (only the classes that matched), after any class cap:
    # what the decision line logs as `evidence`. Credits are not in it (they are not evidence).
    scores_by_class: Mapping[str, int] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Observation:
    """The keys of one protected attempt, as the store counts them.

    Every value is already safe to store: account, password and pair are keyed hashes.
    A None dimension is not counted (no account in the body, no GeoIP data, ...).
    """

    route: str
    ip: str
    subnet: str
    asn: str | None = None
    country: str | None = None
    account: str | None = None
    fp: str | None = None
    device: str | None = None
    password: str | None = None
    pair: str | None = None
    lat: float | None = None
    lon: float | None = None

    def dimension(self, name: str) -> str | None:
        """The value of a counted dimension by its fact prefix (see shield.facts.catalog.DIMENSIONS)."""
        value: str | None = getattr(self, name)
        return value


@dataclass(slots=True, frozen=True)
class AccountHistory:
    """What the confirmed successful logins teach about an account (last N of each, 90-day expiry)."""

    countries: tuple[str, ...] = ()
    asns: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()
    subnets: tuple[str, ...] = ()  # the client subnets (ip.subnet) of successful logins
    last_success_at: float | None = None
    last_lat: float | None = None
    last_lon: float | None = None
    last_country: str | None = None
    # The newest success recorded as unconfirmed (shield.store.records): it makes nothing familiar until
    # it is confirmed by time or by the app, but the account has logged in. None: there is none.
    unconfirmed_at: float | None = None


@dataclass(slots=True, frozen=True)
class Signals:
    """Everything the store knows about one attempt, read in the same call that counted it.

    `counters` holds every name of `shield.facts.catalog.counter_names(windows)` (zero when nothing
    was counted; the attempt being observed is included in the attempt counts).
    """

    counters: Mapping[str, int]
    history: AccountHistory | None
    ban: Ban | None


# -- the policy: thresholds that turn a total score into an action, and how to ban ----------

THRESHOLD_ACTIONS = (Action.TAG, Action.DELAY, Action.CHALLENGE, Action.BLOCK, Action.BAN)


@dataclass(slots=True, frozen=True)
class Thresholds:
    """Minimum total score for each action; None switches that action off."""

    tag: int | None = 30
    delay: int | None = 50
    challenge: int | None = 60
    block: int | None = 90
    ban: int | None = 150

    def action_for(self, score: int) -> Action:
        for action in reversed(THRESHOLD_ACTIONS):
            limit = getattr(self, action.value)
            if limit is not None and score >= limit:
                return action
        return Action.ALLOW


@dataclass(slots=True, frozen=True)
class BanSpec:
    scope: BanScope = "ip"
    ttl: float = 3600.0


@dataclass(slots=True, frozen=True)
class BanPolicy:
    scope: BanScope = "ip"
    ttl: float = 3600.0
    escalation: float = 2.0  # each repeat offense multiplies the ttl (the ban store applies it)
    max_ttl: float = 7 * 86400.0


@dataclass(slots=True, frozen=True)
class TakeoverPolicy:
    """When a login looks like an account takeover (shield.decision.takeover reads it)."""

    failures: int = 5  # failed logins on the account in `window` before this attempt ...
    addresses: int = 3  # ... from at least this many distinct addresses (this one included)
    window: str = "1h"  # one of the configured counter windows
    wave_level: int = 2  # site.attack_level at which a new device from a new country is suspect; 0: never


# What a rule is evidence about (docs/rules.md, "Evidence classes"):
#   client     this address, device or session's own behaviour: automation, its own failure rate or
#              velocity, known-bad lists, a refused or failed challenge;
#   account    the account: failures on it, and this context against its history (new device, abroad);
#   credential the password or the account+password pair (spray, replay of a leaked pair);
#   crowd      something the client shares with others: a network, a subnet, a fingerprint, a country,
#              the whole site under a wave.
EvidenceClass = Literal["client", "account", "credential", "crowd"]
EVIDENCE_CLASSES: tuple[EvidenceClass, ...] = ("client", "account", "credential", "crowd")


@dataclass(slots=True, frozen=True)
class RuleMeta:
    """What decide needs to know about a rule beyond its score: its tags, ban and evidence class.

    `evidence` defaults to client, what every rule was before classes: a policy built by hand
    (tests, tools) without metadata keeps the plain thresholds. The compiler always sets it.
    """

    tags: frozenset[str] = frozenset()
    ban: BanSpec | None = None
    evidence: EvidenceClass = "client"


@dataclass(slots=True, frozen=True)
class EvidencePolicy:
    """What each evidence class may do (policy.evidence in policy.yaml).

    `block_needs`: a score-based block or ban needs a positive score from one of these classes;
    without it the request is challenged instead (the difficulty still grows with the total).
    Empty: no class is needed (plain thresholds). `caps`: at most this many points from a class
    count in the total.
    """

    block_needs: frozenset[EvidenceClass] = frozenset({"client"})
    caps: Mapping[EvidenceClass, int] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Policy:
    thresholds: Thresholds = field(default_factory=Thresholds)
    routes: Mapping[str, Thresholds] = field(default_factory=dict)
    delay_seconds: float = 2.0
    evidence: EvidencePolicy = field(default_factory=EvidencePolicy)
    difficulty_step: int = 20
    retry_after: int = 60
    ban: BanPolicy = field(default_factory=BanPolicy)
    takeover: TakeoverPolicy = field(default_factory=TakeoverPolicy)
    rules: Mapping[str, RuleMeta] = field(default_factory=dict)
    ruleset: str = ""  # the rule-set hash, carried into every Decision

    def for_route(self, route: str) -> Thresholds:
        return self.routes.get(route, self.thresholds)


class NamedList(Protocol):
    """A list under rules/lists/ that rules name as `lists.<name>`."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Literal["int", "cidr", "str"]: ...

    def contains(self, value: FactValue) -> bool: ...

    def __len__(self) -> int: ...


class Clock(Protocol):
    """Time as a port, so windows, expiries and bans are tested on a fake clock."""

    def now(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds, for durations."""
        ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(slots=True)
class FakeClock:
    """A clock that only moves when told to: scenario tests replay days in microseconds."""

    t: float = 1_700_000_000.0
    mono: float = 1000.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.mono += seconds
