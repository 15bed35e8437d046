"""decide() builds its Decision by setting the slots directly (shield.facts.frozen_init): the same object."""

from __future__ import annotations

import dataclasses

import pytest

from shield.decision.decide import _new_decision
from shield.model import Action, Decision, RuleHit


def test_decide_builds_the_same_decision_as_the_dataclass() -> None:
    fields = {
        "action": Action.CHALLENGE, "score": 40, "hits": (RuleHit("r1", 40, None, False),), "shadow_hits": (),
        "shadow_action": Action.BLOCK, "ruleset": "abc", "ban_scope": "ip", "ban_ttl": 60.0, "delay_s": 1.5,
        "difficulty": 18, "rate_limited": True, "retry_after_s": 30, "enforced": False,
        "reasons": ("score 40 -> challenge",), "scores_by_class": {"client": 40},
    }
    made = _new_decision(*fields.values())  # type: ignore[arg-type]
    assert made == Decision(**fields)  # type: ignore[arg-type]
    assert [getattr(made, f.name) for f in dataclasses.fields(Decision)] == list(fields.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.score = 1  # type: ignore[misc]
