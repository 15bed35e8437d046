"""Attempt and Observation made by setting their slots are the objects their dataclass __init__ makes."""

from __future__ import annotations

import dataclasses

import pytest

from shield.facts import frozen_init
from shield.facts.frozen_init import new_attempt, new_observation
from shield.model import Attempt, Observation

ATTEMPT = Attempt(
    request_id="r-1", route="login", client_ip="198.18.0.1", subnet="198.18.0.0/24", account="alice",
    account_id="A" * 22, password_id="P" * 22, pair_id="Q" * 22, fingerprint="f" * 12, device_id="c:x", malformed=True,
)
OBSERVATION = Observation(
    route="login", ip="198.18.0.1", subnet="198.18.0.0/24", asn="64500", country="JP", account="A" * 22,
    fp="f" * 12, device="c:x", password="P" * 22, pair="Q" * 22, lat=35.6, lon=139.7,
)


def test_a_slot_built_attempt_is_the_dataclasss() -> None:
    made = new_attempt(*dataclasses.astuple(ATTEMPT))
    assert made == ATTEMPT
    assert hash(made) == hash(ATTEMPT)
    assert dataclasses.asdict(made) == dataclasses.asdict(ATTEMPT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.account = "mallory"  # type: ignore[misc]


def test_a_slot_built_observation_is_the_dataclasss() -> None:
    made = new_observation(*dataclasses.astuple(OBSERVATION))
    assert made == OBSERVATION
    assert dataclasses.asdict(made) == dataclasses.asdict(OBSERVATION)
    assert dataclasses.replace(made, device="c:y").device == "c:y"
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.ip = "10.0.0.1"  # type: ignore[misc]


def test_fields_that_differ_from_the_models_are_refused_at_import() -> None:
    @dataclasses.dataclass(slots=True, frozen=True)
    class Grown:
        a: str
        b: str

    with pytest.raises(TypeError, match="the model has"):
        frozen_init.slot_setters(Grown, ("a",))
    assert len(frozen_init.slot_setters(Grown, ("a", "b"))) == 2
