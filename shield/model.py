"""The nouns of shield: what one protected request becomes on its way through the pipeline.

identity -> Attempt, enrich + signals -> Facts, rules -> Verdict, decide -> Decision,
the upstream's answer -> Outcome. Everything here is immutable and free of I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(slots=True, frozen=True)
class Ban:
    """An active decision: every request matching scope=value is refused until expires_at."""

    scope: BanScope
    value: str
    reason: str
    created_at: float
    expires_at: float
    offenses: int = 1
    source: str = "rules"  # "rules" | "admin"

    def active(self, now: float) -> bool:
        return now < self.expires_at


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
