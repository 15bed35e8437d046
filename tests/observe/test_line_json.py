"""The decision line's value pieces (shield.observe.line_json): orjson's bytes for every value, kept or not."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from shield.model import RuleHit
from shield.observe import line_json
from shield.observe.secret_text import redact_text

PASSWORD = "hunter2-S3cret!"
TEXT = st.one_of(
    st.sampled_from([
        "JP", "127.0.0.1:8443", f"password={PASSWORD}", f"Cookie: {PASSWORD}", 'quote" back\\slash', "tab\tnl\n\x00",
        "\u00e9t\u00e9", "pa\u017f\u017fword=x1", "", "x" * 300,
    ]),
    st.text(max_size=40),
)
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.integers(-3, 5000), st.floats(), TEXT,
)
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=6)


@given(VALUE)
@example(True)
@example(1)
@example(0)
@example(4095)
@example(4096)
@example(-1)
def test_a_value_is_orjsons_value_first_and_kept(v: Any) -> None:
    expected = orjson.dumps(v, default=str)
    assert line_json.value(v) == expected
    assert line_json.value(v) == expected  # the kept piece
    assert line_json.fresh(v) == expected


@given(st.none() | TEXT)
def test_a_text_is_its_masked_value_first_and_kept(v: str | None) -> None:
    expected = orjson.dumps(None if v is None else redact_text(v))
    for _ in range(2):
        piece = line_json.text(v)
        assert piece == expected
        assert PASSWORD.encode() not in piece
    assert line_json.fresh_text(v) == expected


def test_a_kept_text_is_masked_as_its_first_was() -> None:
    secret = f"password={PASSWORD}"
    assert line_json.text(secret) == line_json.text(secret) == orjson.dumps("password=[redacted]")
    assert line_json.value(secret) == orjson.dumps(secret)  # a value the line holds as is stays as is


def test_a_rule_whose_score_changed_is_not_its_kept_piece() -> None:
    for score in (25, 30, 25, 300, 301):
        pieces: list[bytes] = []
        line_json.hits(pieces, (RuleHit("fp_surge", score), RuleHit("asn_low_success", 50)))
        assert b"".join(pieces) == orjson.dumps([{"id": "fp_surge", "score": score},
                                                 {"id": "asn_low_success", "score": 50}])


RULE = st.one_of(TEXT, st.integers(-(2**63), 2**64 - 1))


@given(st.lists(st.tuples(RULE, st.one_of(st.integers(-50, 500), st.floats(), TEXT)), max_size=4))
def test_hits_are_orjsons_list_of_hits(found: list[tuple[Any, Any]]) -> None:
    hits = tuple(RuleHit(rule, score) for rule, score in found)
    for _ in range(2):
        pieces: list[bytes] = []
        line_json.hits(pieces, hits)
        assert b"".join(pieces) == orjson.dumps([{"id": h.id, "score": h.score} for h in hits], default=str)


def test_the_kept_pieces_stay_few_under_endless_new_texts() -> None:
    for i in range(3 * line_json.MAX_CACHED):
        line_json.text(f"Mozilla/5.0 bot-{i}")
        line_json.value(f"fp-{i}")
    assert len(line_json._TEXTS) <= line_json.MAX_CACHED
    assert len(line_json._PLAIN) <= line_json.MAX_CACHED
    long = "a" * (line_json.MAX_CACHED_LEN + 1)
    line_json.text(long)
    assert long not in line_json._TEXTS
