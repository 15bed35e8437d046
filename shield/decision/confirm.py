"""Is a successful login the owner's? Whether the account's history may learn from it at once.

A success teaches the account's history its device, network and country, and what the history
knows later makes that context familiar. If an attacker's success taught it, his next attempts
would look like the owner's. So a success is recorded as *unconfirmed* (shield.store.records:
it makes nothing familiar until confirmed) when it came with evidence that a real user shares
with attackers:

- any rule scored it: crowd or credential evidence (a shared address, network, fingerprint or
  country; a password being sprayed), where the owner and an attacker look alike; account
  evidence (a new device on a new network, abroad, failures on the account), which is what the
  app's step-up is for: a careful attacker's first success must not make his second one familiar;
  client evidence, which says the client is not a person's browser or app;
- it was let through after a challenge (solved now, or a pass from an earlier one): a puzzle
  proves work, not identity, and the careful attacker solves it;
- it looked like a takeover (shield.decision.takeover).

It is confirmed later by time (history.confirm_after without a failed login on the account),
or at once when the app says so (history.confirm_header: 1 on the answer, e.g. after its own
second factor). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from shield.model import Decision


def app_confirmed(headers: Mapping[str, str], header: str) -> bool:
    """The app's answer carries `<header>: 1` (case-insensitive name, surrounding spaces ignored)."""
    low = header.lower()
    return any(name.lower() == low and value.strip() == "1" for name, value in headers.items())


def confirmed(
    decision: Decision, *, solved: bool, passed: bool, takeover: bool, by_app: bool
) -> bool:
    """Whether a successful login may teach the account's history now (see the module docstring)."""
    if by_app:
        return True
    if solved or passed or takeover:
        return False
    return not any(hit.score > 0 for hit in decision.hits)
