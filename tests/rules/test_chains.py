"""Flattened and/or chains (compare.chain) against a plain reading of the condition.

The compiler runs a chain of `and` / `or` terms in one closure, fact lookups inline, and a whole condition
that is an `and` with its lookups first. Whatever the shape, the result must be the nested form's: a rule
matches exactly when the condition, read left to right with Python's short-circuit, is true without an error
(the scorer counts a TypeError as no match). Every chain of two and three terms of every kind the
compiler specialises, at the top of a condition and nested, on every mix of facts true, false, absent
or of the wrong type.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from shield.facts.catalog import catalog
from shield.rules.condition import Compiler
from shield.rules.expr import Binary, Lit, Name, Node, Unary, parse
from shield.rules.values import UNSET

BOOLS = ("ip.overseas", "account.known", "ip.shared")
COUNTERS = ("ip.failures_10m",)
MISSING = object()


# one of each term kind the chains handle apart: a true/false fact, its negation, a comparison that can
# raise on a wrong type, and a nested chain of the other operator (the same operator is flattened into it)
LEAVES = ("ip.overseas", "not account.known", "ip.failures_10m >= 2", "(ip.shared or account.known)",
          "(ip.shared and ip.overseas)")
CONDITIONS = [
    form.format(f" {op} ".join(terms))
    for op in ("and", "or")
    for n in (2, 3)
    for terms in product(LEAVES, repeat=n)
    for form in ("{}", "not ({})")  # at the top (an and-chain's lookups go first) and nested (order kept)
]
# every fact true, false, absent or of a producer's wrong type ("yes", 1): each condition meets all of them
BOOL_VALUES = (True, False, MISSING, "yes")
COUNTER_VALUES = (MISSING, 1, 3, "x")
EVERY_FACTS = [
    {k: v for k, v in zip((*BOOLS, *COUNTERS), values, strict=True) if v is not MISSING}
    for values in product(*[BOOL_VALUES] * len(BOOLS), COUNTER_VALUES)
]


def _read(node: Node, facts: dict[str, Any]) -> Any:
    """The condition language's meaning, read off the tree (the nested form the chains replace)."""
    if isinstance(node, Name):
        return facts.get(node.name) is True
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Unary):
        return not _read(node.operand, facts)
    assert isinstance(node, Binary)
    if node.op == "and":
        return _read(node.left, facts) and _read(node.right, facts)
    if node.op == "or":
        return _read(node.left, facts) or _read(node.right, facts)
    assert isinstance(node.left, Name)
    assert isinstance(node.right, Lit)
    value = facts.get(node.left.name, MISSING)
    if value is MISSING:
        return False
    return {">=": value >= node.right.value, ">": value > node.right.value, "<": value < node.right.value}[node.op]


def _matches(fn: Any, facts: dict[str, Any]) -> bool:
    try:
        return bool(fn(facts))
    except TypeError:
        return False  # as RuleSet.score: a fact of the wrong type is no match


@pytest.mark.parametrize("text", CONDITIONS)
def test_a_compiled_condition_matches_exactly_when_its_plain_reading_does(text: str) -> None:
    compiler = Compiler(catalog(), {})
    tree = parse(text)
    compiler.count(tree)
    compiled = compiler.condition(tree)
    for facts in EVERY_FACTS:
        got = _matches(lambda f: compiled.fn(f, [UNSET] * compiler.slots), facts)
        assert got == _matches(lambda f: _read(tree, f), facts), facts


def test_an_and_chain_checks_its_fact_lookups_before_any_comparison() -> None:
    compiler = Compiler(catalog(), {})
    compiled = compiler.condition(parse("ip.failures_10m >= 3 and not ip.shared and ip.overseas"))
    # a wrong-typed counter after a false lookup: no comparison runs, so no error either way
    assert compiled.fn({"ip.failures_10m": "x", "ip.shared": True, "ip.overseas": True}, []) is False
