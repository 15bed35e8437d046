"""ip/device.stopped_<w>: attempts that never reached the app, this one not included; and challenge.failed."""

from __future__ import annotations

import pytest

from shield.decision.evaluate import gather
from shield.decision.stopped import stopped_facts
from shield.facts.catalog import catalog, counter_names
from shield.model import DEFAULT_WINDOWS, Signals, Window


@pytest.mark.parametrize(
    ("attempts", "failures", "successes", "stopped"),
    [(1, 0, 0, 0), (4, 0, 0, 3), (7, 1, 2, 3), (3, 2, 1, 0), (0, 0, 0, 0)],
    ids=["this-attempt-only", "three-never-answered", "some-answered", "in-flight-race-floored", "no-device"],
)
def test_stopped_is_attempts_minus_answers_minus_this_one(
    attempts: int, failures: int, successes: int, stopped: int
) -> None:
    counters = {"device.attempts_1h": attempts, "device.failures_1h": failures, "device.successes_1h": successes}
    assert stopped_facts(counters, (Window("1h", 3600),)) == {"device.stopped_1h": stopped}


def test_every_window_of_both_dimensions_is_derived_and_in_the_catalog() -> None:
    facts = stopped_facts(dict.fromkeys(counter_names(), 0))
    assert set(facts) == {f"{d}.stopped_{w.name}" for d in ("ip", "device") for w in DEFAULT_WINDOWS}
    assert set(facts) <= set(catalog())
    assert catalog()["challenge.failed"].source == "challenge"


def test_gather_derives_stopped_and_sets_challenge_failed() -> None:
    counters = {**dict.fromkeys(counter_names(), 0), "ip.attempts_10m": 6, "ip.successes_10m": 1}
    facts = gather({}, Signals(counters, None, None), solved=False, passed=False, now=0.0, failed=True)
    assert (facts["ip.stopped_10m"], facts["challenge.failed"], facts["challenge.solved"]) == (4, True, False)


def test_a_given_stopped_counter_wins_over_the_derived_one() -> None:
    """shield explain may describe a request by its stopped counts directly."""
    counters = {**dict.fromkeys(counter_names(), 0), "device.stopped_1h": 5}
    facts = gather({}, Signals(counters, None, None), solved=False, passed=False, now=0.0)
    assert facts["device.stopped_1h"] == 5
