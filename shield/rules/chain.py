"""And/or chains: `t1 and t2 and ...` compiled to one closure, its true/false fact lookups inline.

Scoring cost is mostly Python calls: the nested form spends one call per operator and one per fact
lookup, a chain one call in all (two-term chains, the commonest rule shape, have a closure per
combination of term kinds). The terms come from values.Term: IS_TRUE / NOT_TRUE lookups and CALLs.
"""

from __future__ import annotations

from typing import Any

from shield.rules.values import CALL, IS_TRUE, NOT_TRUE, Fn, Term


def chain(op: str, terms: tuple[Term, ...]) -> Fn:
    """One closure for `t1 and t2 and ...` (or `or`), evaluated left to right like the nested form.

    The fact terms before the first call are checked first in any order (a dict lookup cannot fail);
    from the first call on, the order is kept: a call may raise on a fact of the wrong type, and
    whether it runs must not depend on this rewrite."""
    if len(terms) == 2:
        return _pair_and(*terms) if op == "and" else _pair_or(*terms)
    first_call = next((i for i, (kind, _) in enumerate(terms) if kind == CALL), len(terms))
    trues = tuple(name for kind, name in terms[:first_call] if kind == IS_TRUE)
    falses = tuple(name for kind, name in terms[:first_call] if kind == NOT_TRUE)
    calls = tuple(_term_fn(t) for t in terms[first_call:])
    if op == "and":
        return _all_of(trues, falses, calls)

    def any_of(f: dict[str, Any], m: list[Any]) -> bool:
        for name in trues:
            if f.get(name) is True:
                return True
        for name in falses:
            if f.get(name) is not True:
                return True
        for call in calls:  # noqa: SIM110 (a generator for any() costs more than the loop)
            if call(f, m):
                return True
        return False

    return any_of


def _all_of(trues: tuple[str, ...], falses: tuple[str, ...], calls: tuple[Fn, ...]) -> Fn:
    """An and-chain without the loops it does not need (every condition is scored on every request)."""
    if not calls:

        def lookups(f: dict[str, Any], m: list[Any]) -> bool:
            for name in trues:
                if f.get(name) is not True:
                    return False
            for name in falses:  # noqa: SIM110 (a generator for all() costs more than the loop)
                if f.get(name) is True:
                    return False
            return True

        return lookups
    if not trues and not falses:

        def calls_only(f: dict[str, Any], m: list[Any]) -> bool:
            for call in calls:  # noqa: SIM110 (a generator for all() costs more than the loop)
                if not call(f, m):
                    return False
            return True

        return calls_only

    def all_of(f: dict[str, Any], m: list[Any]) -> bool:
        for name in trues:
            if f.get(name) is not True:
                return False
        for name in falses:
            if f.get(name) is True:
                return False
        for call in calls:  # noqa: SIM110 (a generator for all() costs more than the loop)
            if not call(f, m):
                return False
        return True

    return all_of


def _pair_and(left: Term, right: Term) -> Fn:
    """`a and b` in one closure, fact terms inline (two terms: the commonest rule shape)."""
    (k1, x), (k2, y) = left, right
    if k1 == IS_TRUE:
        if k2 == IS_TRUE:
            return lambda f, m: f.get(x) is True and f.get(y) is True
        if k2 == NOT_TRUE:
            return lambda f, m: f.get(x) is True and f.get(y) is not True
        return lambda f, m: f.get(x) is True and y(f, m)
    if k1 == NOT_TRUE:
        if k2 == IS_TRUE:
            return lambda f, m: f.get(x) is not True and f.get(y) is True
        if k2 == NOT_TRUE:
            return lambda f, m: f.get(x) is not True and f.get(y) is not True
        return lambda f, m: f.get(x) is not True and y(f, m)
    if k2 == IS_TRUE:
        return lambda f, m: x(f, m) and f.get(y) is True
    if k2 == NOT_TRUE:
        return lambda f, m: x(f, m) and f.get(y) is not True
    return lambda f, m: x(f, m) and y(f, m)


def _pair_or(left: Term, right: Term) -> Fn:
    """`a or b` in one closure, fact terms inline."""
    (k1, x), (k2, y) = left, right
    if k1 == IS_TRUE:
        if k2 == IS_TRUE:
            return lambda f, m: f.get(x) is True or f.get(y) is True
        if k2 == NOT_TRUE:
            return lambda f, m: f.get(x) is True or f.get(y) is not True
        return lambda f, m: f.get(x) is True or y(f, m)
    if k1 == NOT_TRUE:
        if k2 == IS_TRUE:
            return lambda f, m: f.get(x) is not True or f.get(y) is True
        if k2 == NOT_TRUE:
            return lambda f, m: f.get(x) is not True or f.get(y) is not True
        return lambda f, m: f.get(x) is not True or y(f, m)
    if k2 == IS_TRUE:
        return lambda f, m: x(f, m) or f.get(y) is True
    if k2 == NOT_TRUE:
        return lambda f, m: x(f, m) or f.get(y) is not True
    return lambda f, m: x(f, m) or y(f, m)


def _term_fn(term: Term) -> Fn:
    kind, x = term
    if kind == IS_TRUE:
        return lambda f, m: f.get(x) is True
    if kind == NOT_TRUE:
        return lambda f, m: f.get(x) is not True
    fn: Fn = x
    return fn
