"""The Replayer on hostile or foreign lines: counted and passed over, never an exception."""

from __future__ import annotations

import orjson
import pytest

from shield.replay.replayer import Replayer
from shield.rules.load import load_texts
from shield.settings.schema import Settings

RULES = "rules:\n  - {id: tor, description: t, class: client, when: ip.tor and ip.failures_10m >= 1, score: 95}\n"


def replayer() -> Replayer:
    return Replayer(load_texts({"r.yaml": RULES}, lists={}), Settings())


def line(**changes: object) -> bytes:
    doc: dict[str, object] = {
        "event": "decision", "route": "login", "action": "block", "score": 95, "rules": [{"id": "tor", "score": 95}],
        "store_degraded": False,
        "facts": {"v": 1, "scope": "rules", "values": {"ip.tor": True, "ip.failures_10m": 3}},
    }
    doc.update(changes)
    return orjson.dumps(doc)


def test_a_recorded_line_replays_unchanged() -> None:
    r = replayer()
    r.feed(line(), "log", 1)
    assert (r.diff.replayed, r.diff.changes) == (1, [])


@pytest.mark.parametrize(
    ("raw", "skipped"),
    [
        (b'{"event":"decision", oops', "not JSON"),
        (b'\xff\xfe"decision"', "not JSON"),
        (line(facts={"v": 2, "scope": "rules", "values": {}}), "facts schema 2"),
        (line(facts=None), "no facts on record"),
        (line(facts={"v": 1, "scope": "rules", "values": {"fp.reasons": 7}}), "malformed line"),
        (line(facts={"v": 1, "scope": "rules"}), "malformed line"),
        (line(route=None), "malformed line"),
    ],
    ids=["truncated", "not-utf8", "future-schema", "no-facts", "bad-set", "no-values", "no-route"],
)
def test_a_line_that_cannot_be_replayed_is_counted(raw: bytes, skipped: str) -> None:
    r = replayer()
    r.feed(raw, "log", 1)
    assert (r.diff.replayed, dict(r.diff.skipped)) == (0, {skipped: 1})


def test_facts_of_the_wrong_type_score_as_not_matching() -> None:
    r = replayer()
    r.feed(line(facts={"v": 1, "scope": "rules", "values": {"ip.tor": True, "ip.failures_10m": "many"}}), "log", 7)
    (change,) = r.diff.changes
    assert (change.where, change.transition, change.rules) == ("log:7", "block->allow", ("tor",))


def test_other_events_are_not_decisions() -> None:
    r = replayer()
    r.feed(b'{"event":"request","path":"/decision"}', "log", 1)
    r.feed(b'{"event":"challenge.failed","note":"decision"}', "log", 2)
    assert (r.diff.lines, r.diff.decisions) == (2, 0)


def test_a_line_is_scored_on_its_own_route() -> None:
    rules = ("rules:\n  - {id: tor, description: t, class: client, when: ip.tor, score: 35}\n"
             "policy:\n  routes:\n    reset: {thresholds: {tag: 10, delay: 20, challenge: 30, block: 40}}\n")
    r = Replayer(load_texts({"r.yaml": rules}, lists={}), Settings())
    recorded = {"rules": [{"id": "tor", "score": 35}], "score": 35}
    r.feed(line(route="login", action="tag", **recorded), "log", 1)  # 35 is a tag on login
    r.feed(line(route="reset", action="challenge", **recorded), "log", 2)  # and a challenge on reset
    assert (r.diff.replayed, r.diff.changes) == (2, [])
