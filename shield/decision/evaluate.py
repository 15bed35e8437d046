"""The decision core: a request's facts + what the store remembers -> every fact, and the Decision.

Pure: no I/O, no clock (`now` is a parameter), no logging. Two steps, both used by every path:

- `gather`: identity + enrich facts, the store's counters, history facts, site facts and the
  challenge state -> every fact the rules read;
- `evaluate`: facts + an active ban + challenge credits + a degraded store -> Decision.

`evaluate_request` is the two together. The pipeline calls it for every protected request,
`shield explain` (CLI and admin) for a described one, `shield rules test` and `shield replay`
call `evaluate` on facts given or on record, so none of them can drift from what the proxy does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from shield.decision.decide import decide
from shield.decision.history import history_facts
from shield.decision.site import add_site_facts
from shield.decision.stopped import add_stopped
from shield.facts.shared_address import shared_facts
from shield.model import DEFAULT_WINDOWS, Action, BanScope, Decision, Facts, FactValue, Policy, Signals, Verdict, Window
from shield.rules.score import RuleSet
from shield.settings.schema import ChallengeSettings, RouteSettings


class Decider(Protocol):
    """decide()'s signature: replay passes a memoised decide (a few hundred verdicts recur in millions of lines)."""

    def __call__(
        self, verdict: Verdict, route: str, policy: Policy, *, challenge: ChallengeSettings,
        mode: Literal["enforce", "shadow"], credit: int, solved: bool,
    ) -> Decision: ...


def evaluate(
    ruleset: RuleSet,
    facts: Facts,
    route: RouteSettings,
    *,
    challenge: ChallengeSettings,
    mode: Literal["enforce", "shadow"] = "enforce",
    banned: BanScope | None = None,
    solved: bool = False,
    passed: bool = False,
    degraded: bool = False,
    credit: int | None = None,
    decider: Decider = decide,
) -> Decision:
    """`banned`: the scope of an active ban on this request; `solved`/`passed`: its challenge state;
    `degraded`: the shared store was unreachable (the route's on_store_error applies); `credit`:
    the score a valid solution and pass remove (default: the challenge settings' credits for them)."""
    if banned is not None:
        return Decision(
            action=Action.BAN, score=0, ruleset=ruleset.hash, reasons=(f"banned:{banned}",),
            enforced=mode == "enforce",
        )
    if credit is None:
        credit = (challenge.solve_credit if solved else 0) + (challenge.pass_credit if passed else 0)
    verdict = ruleset.score(facts, route.name)
    if decider is decide:
        decision = _decided(verdict, route.name, ruleset.policy, challenge, mode, credit, solved)
    else:
        decision = decider(
            verdict, route.name, ruleset.policy, challenge=challenge, mode=mode, credit=credit, solved=solved,
        )
    if (
        degraded
        and route.on_store_error == "challenge"
        and decision.action.severity < Action.CHALLENGE.severity
        and not (solved or passed)
    ):
        # Without shared memory the counters are this process's only: ask for work instead.
        reasons = (*decision.reasons, "store_unavailable")
        decision = replace(decision, action=Action.CHALLENGE, difficulty=challenge.base_difficulty, reasons=reasons)
    return decision


# security: bounded; a cleared memo only costs the next requests a decide() each.
DECIDED_SIZE = 4096
# decide() is pure and RuleSet.score returns one Verdict object per set of matched rules, so its Decision
# is memoised by the identities of the verdict, policy and challenge settings (the entry holds all three,
# so no id is reused while it lives) and the plain values: ~40k instructions of decide per protected
# request become one dict lookup. A memoised Decision is shared: frozen, and its readers copy or only read.
_DECIDED: dict[tuple[int, int, int, str, str, int, bool], tuple[Verdict, Policy, ChallengeSettings, Decision]] = {}


def _decided(
    verdict: Verdict, route: str, policy: Policy, challenge: ChallengeSettings, mode: Literal["enforce", "shadow"],
    credit: int, solved: bool,
) -> Decision:
    """decide(verdict, route, policy, ...), memoised."""
    key = (id(verdict), id(policy), id(challenge), route, mode, credit, solved)
    hit = _DECIDED.get(key)
    if hit is not None:
        return hit[3]
    decision = decide(verdict, route, policy, challenge=challenge, mode=mode, credit=credit, solved=solved)
    if len(_DECIDED) >= DECIDED_SIZE:
        _DECIDED.clear()
    _DECIDED[key] = (verdict, policy, challenge, decision)
    return decision


def gather(
    base: Facts, signals: Signals, *, solved: bool, passed: bool, now: float,
    forced: Mapping[str, FactValue] | None = None, failed: bool = False,
    windows: Sequence[Window] = DEFAULT_WINDOWS,
) -> dict[str, FactValue]:
    """Every fact of one request: `base` (identity + enrich) + counters + shared addresses + history + site
    + challenge.

    `failed`: the request carried a challenge solution that did not verify (challenge.failed);
    `windows`: the counter windows, for the derived ip/device.stopped_<w> facts.
    `forced` (explain's "facts") overrides any of them last, as if the store or GeoIP had said so.
    """
    facts = dict(base)
    counters = signals.counters
    add_stopped(facts, counters, windows)  # first: a described request may give them as counters
    facts.update(counters)
    facts.update(shared_facts(facts))
    facts.update(history_facts(signals.history, facts, now))
    add_site_facts(facts, counters)
    facts["challenge.solved"] = solved
    facts["challenge.passed"] = passed
    facts["challenge.failed"] = failed
    if forced:
        facts.update(forced)
    return facts


@dataclass(slots=True, frozen=True)
class Evaluation:
    """Every fact of one request and what shield does with it."""

    facts: dict[str, FactValue]
    decision: Decision


def evaluate_request(
    ruleset: RuleSet,
    base: Facts,
    route: RouteSettings,
    signals: Signals,
    *,
    challenge: ChallengeSettings,
    now: float,
    mode: Literal["enforce", "shadow"] = "enforce",
    solved: bool = False,
    passed: bool = False,
    failed: bool = False,
    degraded: bool = False,
    forced: Mapping[str, FactValue] | None = None,
) -> Evaluation:
    """gather + evaluate: the one path from a request's facts and signals to its Decision.

    A forced `challenge.solved`/`challenge.passed` counts as the real thing (its credit applies).
    `failed`: the request carried a solution that did not verify (bad, expired, replayed, wrong binding).
    """
    facts = gather(
        base, signals, solved=solved, passed=passed, now=now, forced=forced, failed=failed, windows=ruleset.windows,
    )
    solved = facts.get("challenge.solved") is True
    passed = facts.get("challenge.passed") is True
    decision = evaluate(
        ruleset, facts, route, challenge=challenge, mode=mode,
        banned=signals.ban.scope if signals.ban is not None else None, solved=solved, passed=passed,
        degraded=degraded,
    )
    return Evaluation(facts, decision)
