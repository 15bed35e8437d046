"""evaluate: facts + route + challenge state -> Decision. Pure: no I/O, no clock, no logging.

The one scoring path. The pipeline calls it for every protected request and `shield replay`
calls it for every recorded decision, so a replay with an unchanged pack and config gives
exactly the recorded actions. (A later redesign moves it to shield/decision/.)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal, Protocol

from shield.decision.decide import decide
from shield.model import Action, BanScope, Decision, Facts, Policy, Verdict
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
    decider: Decider = decide,
) -> Decision:
    """`banned`: the scope of an active ban on this request; `solved`/`passed`: its challenge state;
    `degraded`: the shared store was unreachable (the route's on_store_error applies)."""
    if banned is not None:
        return Decision(
            action=Action.BAN, score=0, ruleset=ruleset.hash, reasons=(f"banned:{banned}",),
            enforced=mode == "enforce",
        )
    credit = (challenge.solve_credit if solved else 0) + (challenge.pass_credit if passed else 0)
    verdict = ruleset.score(facts, route.name)
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
