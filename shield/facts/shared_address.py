"""Learned shared addresses: is this address (or /24) a gateway or NAT that many real people log in through?

A corporate or university egress gateway, a campus NAT or a carrier's NAT puts many accounts behind one
address, and almost all of their logins succeed. A credential-stuffing run also puts many accounts behind
one address, but almost all of its logins fail: leaked lists are ~1% valid, a gateway's logins ~90%.
So the address's own counters tell the two apart, whatever its network:

  shared = distinct_accounts >= MIN_ACCOUNTS and successes >= MIN_SUCCESSES
           and successes / (successes + failures) >= MIN_RATIO

over the longest of SHARED_WINDOWS the configuration counts (24 h by default). On a shared address the
per-address counters (failures, distinct accounts) describe a crowd, not one client: the bundled rules
read `not ip.shared` / `not subnet.shared` where they used to exempt the carrier list.

The carrier list (`ip.carrier`: the ASN is in lists.carrier_nat_asns) is a prior, not an exemption: it
lowers the evidence needed (CARRIER_* constants: a carrier's NAT is known to be shared, a few successful
accounts confirm it), but a carrier address whose logins fail like a stuffing run's (ratio below
CARRIER_MIN_RATIO) is not shared: a fixed-line attacker inside a big carrier's ASN loses the exemption.

Known limit: the counters hold distinct *attempted* accounts and total successes, not distinct successful
accounts, so an attacker who logs in to accounts it owns as often as it fails could hold a ratio above
MIN_RATIO; he pays one real success per guess, and shared only makes address counters crowd evidence,
never an allow (client, account and credential rules still apply).

Pure: counters (and ip.carrier) in, facts out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shield.model import FactValue

SHARED_WINDOWS = ("24h", "1h")  # the first one configured is used


@dataclass(slots=True, frozen=True)
class Evidence:
    """How much an address must show to be called shared."""

    min_accounts: int  # distinct accounts attempted in the window
    min_successes: int  # successful logins in the window
    min_ratio: float  # successes / finished logins in the window


# An address: a department behind a gateway is a few dozen people; stuffing succeeds for ~1-5%.
ADDRESS = Evidence(min_accounts=20, min_successes=20, min_ratio=0.5)
# A /24 holds up to 256 households: only a much larger crowd says it is one gateway's range.
SUBNET = Evidence(min_accounts=50, min_successes=50, min_ratio=0.5)
# On a listed carrier a few successful accounts confirm the NAT; a stuffing-like ratio still refutes it.
CARRIER_ADDRESS = Evidence(min_accounts=5, min_successes=5, min_ratio=0.3)
CARRIER_SUBNET = Evidence(min_accounts=10, min_successes=10, min_ratio=0.3)


def success_ratio(successes: int, failures: int) -> float | None:
    """Successes / finished logins; None when nothing finished."""
    finished = successes + failures
    return successes / finished if finished else None


def is_shared(*, accounts: int, successes: int, failures: int, evidence: Evidence) -> bool:
    """Many accounts, many successes, and a success ratio no stuffing run reaches."""
    ratio = success_ratio(successes, failures)
    return (
        ratio is not None
        and accounts >= evidence.min_accounts
        and successes >= evidence.min_successes
        and ratio >= evidence.min_ratio
    )


_Dimension = tuple[str, str, str, str, str, Evidence, Evidence]
# Per window: its facts' names and evidence per dimension (counters read, facts written, the plain and the
# carrier evidence), built once: on every protected request no name is formatted.
_PLAN: dict[str, tuple[_Dimension, ...]] = {
    w: tuple(
        (f"{dim}.distinct_accounts_{w}", f"{dim}.successes_{w}", f"{dim}.failures_{w}", f"{dim}.shared",
         f"{dim}.success_ratio_24h", plain, prior)
        for dim, plain, prior in (("ip", ADDRESS, CARRIER_ADDRESS), ("subnet", SUBNET, CARRIER_SUBNET))
    )
    for w in SHARED_WINDOWS
}
# In SHARED_WINDOWS' order: (the counter whose presence says the store counts the window, is it 24h, its plan)
_PROBES = tuple((f"ip.successes_{w}", w == "24h", _PLAN[w]) for w in SHARED_WINDOWS)


def shared_facts(facts: Mapping[str, FactValue]) -> dict[str, FactValue]:
    """ip.shared, subnet.shared and their success ratios (ip.success_ratio_24h, subnet.success_ratio_24h).

    Reads the store's counters (ints, zero when nothing was counted): on every protected request, so lean."""
    for probe, day, plan in _PROBES:
        if probe in facts:
            return _shared(facts, day, plan)
    return {}


def _shared(facts: Mapping[str, FactValue], day: bool, plan: tuple[_Dimension, ...]) -> dict[str, FactValue]:
    carrier = facts.get("ip.carrier") is True
    out: dict[str, FactValue] = {}
    for accounts_name, successes_name, failures_name, shared_name, ratio_name, plain, prior in plan:
        accounts, successes, failures = (
            facts.get(accounts_name, 0),
            facts.get(successes_name, 0),
            facts.get(failures_name, 0),
        )
        if not isinstance(accounts, int) or not isinstance(successes, int) or not isinstance(failures, int):
            continue
        e = prior if carrier else plain
        finished = successes + failures
        out[shared_name] = (
            accounts >= e.min_accounts and successes >= e.min_successes and successes >= e.min_ratio * finished
        )
        if day and finished:
            out[ratio_name] = successes / finished
    return out
