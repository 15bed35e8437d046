"""Every error of one condition: the parser's recovery and the compiler's collection, on any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shield.facts.catalog import catalog
from shield.rules.condition import Compiler
from shield.rules.expr import ExprError, ExprErrors, parse

WORDS = ["ip.tor", "ip.bad", "ip.failures_10m", "ua.family", "ip.typo", "and", "or", "not", "(", ")", "[", "]",
         ">=", "==", "+", "3", "'x'", "$", "&", ",", "in", "matches", "cidr(", "'10.0.0.0/8'"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=24))
def test_any_condition_parses_or_lists_its_errors_in_order(words: list[str]) -> None:
    text = " ".join(words)
    try:
        tree = parse(text)
    except ExprErrors as e:
        positions = [err.pos for err in e.errors]
        assert positions == sorted(positions)
        assert all(0 <= p <= len(text) for p in positions)
        return
    compiler = Compiler(catalog(), {})
    try:
        compiler.condition(tree)
    except ExprError as e:
        for err in e.errors if isinstance(e, ExprErrors) else [e]:
            assert 0 <= err.pos <= len(text)


def test_two_typos_are_two_errors() -> None:
    compiler = Compiler(catalog(), {})
    tree = parse("ip.failure_10m >= 5 and (account.knwn or ip.tor)")
    with pytest.raises(ExprErrors) as caught:
        compiler.condition(tree)
    assert [err.pos for err in caught.value.errors] == [0, 25]


def test_a_mistake_repeated_in_another_rule_is_reported_there_too() -> None:
    compiler = Compiler(catalog(), {})
    for _ in range(2):
        with pytest.raises(ExprErrors) as caught:
            compiler.condition(parse("ip.typo and ip.tor"))
        assert [err.message for err in caught.value.errors] == ["unknown fact 'ip.typo' (did you mean 'ip.tor'?)"]
