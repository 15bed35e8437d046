"""What the stores count and in which order: measures and counter names.

Both stores approximate sliding windows with two fixed buckets per window (shield.store.sliding):
an attempt is counted for at least W/2 and never for 3W/2 or more; at a steady rate the estimate is
exact up to rounding. Distinct counts use exact last-seen times instead (exact sliding windows)
until they grow large (see distinct.py and redis.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shield.facts.catalog import DIMENSIONS, DISTINCT, SITE_WINDOWS
from shield.facts.shared_address import SHARED_WINDOWS
from shield.model import Window

# Measures kept per dimension (a: attempts, f: failures, s: successes) and their fact words.
MEASURES: tuple[tuple[str, str], ...] = (("a", "attempts"), ("f", "failures"), ("s", "successes"))
# Extra account measures: failures from familiar / unfamiliar contexts.
ACCOUNT_MEASURES: tuple[tuple[str, str], ...] = (("ff", "failures_familiar"), ("fu", "failures_unfamiliar"))
SITE_MEASURES: tuple[tuple[str, str], ...] = (*MEASURES, ("u", "unknown"))
SITE = "site"
# Distinct sets kept in every window whatever the rules read (Retention.reads): the takeover policy
# (shield.decision.takeover) reads account.distinct_ips in a window of its own.
ALWAYS_DISTINCT = frozenset({("account", "distinct_ips")})
# Kept in the one window the derived facts read (ip.shared, ...: shield.facts.shared_address).
SHARED_DISTINCT = ("ip.distinct_accounts", "subnet.distinct_accounts")


def with_shared(reads: frozenset[str] | None, windows: Sequence[str]) -> frozenset[str] | None:
    """The rules' reads plus the distinct sets the derived facts read, in the first of their windows configured."""
    window = next((w for w in SHARED_WINDOWS if w in windows), None)
    if reads is None or window is None:
        return reads
    return reads | {f"{name}_{window}" for name in SHARED_DISTINCT}


def keeps(dim: str, measure: str, window: str, reads: frozenset[str] | None) -> bool:
    """Whether a distinct set's window is counted: a rule reads it, or a derived fact needs the set."""
    return reads is None or (dim, measure) in ALWAYS_DISTINCT or f"{dim}.{measure}_{window}" in reads


def unkept(name: str, reads: frozenset[str] | None) -> bool:
    """Whether a counter is a distinct count's window that is not kept (absent from Signals)."""
    dim, _, rest = name.partition(".")
    measure, _, window = rest.rpartition("_")
    return measure in DISTINCT.get(dim, {}) and not keeps(dim, measure, window, reads)


@dataclass(slots=True, frozen=True)
class Plan:
    """The counter names for a configuration's windows, in the order the Redis script returns them.

    Per dimension and window: attempts, failures, successes, then the dimension's distinct
    measures (facts.DISTINCT order); then the account's familiar/unfamiliar failures per
    window; then the site measures per site window.
    """

    windows: tuple[Window, ...]
    names: tuple[str, ...]

    @classmethod
    def build(cls, windows: Sequence[Window]) -> Plan:
        names: list[str] = []
        for dim in DIMENSIONS:
            for w in windows:
                names += [f"{dim}.{word}_{w.name}" for _, word in MEASURES]
                names += [f"{dim}.{measure}_{w.name}" for measure in DISTINCT.get(dim, {})]
        for w in windows:
            names += [f"account.{word}_{w.name}" for _, word in ACCOUNT_MEASURES]
        for w in SITE_WINDOWS:
            names += [f"{SITE}.{word}_{w.name}" for _, word in SITE_MEASURES]
        return cls(windows=tuple(windows), names=tuple(names))

    @property
    def max_window(self) -> int:
        return max(w.seconds for w in (*self.windows, *SITE_WINDOWS))
