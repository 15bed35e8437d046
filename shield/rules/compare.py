"""Binary operators of the condition language: logic, comparison, arithmetic, membership, patterns."""

from __future__ import annotations

import fnmatch
import ipaddress
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from shield.rules.chain import chain
from shield.rules.expr import Binary, ExprError, Lit, Name, Node
from shield.rules.values import CALL, MISSING, Compiled, Fn, Term, human
from shield.settings.linear_regex import RegexRefused, compile_linear

MAX_SUBJECT = 2048  # regexes only ever see this many characters (RE2 is linear in them)
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_EQUAL = {"==": operator.eq, "!=": operator.ne}
_SAME = {("num", "num"), ("str", "str"), ("bool", "bool"), ("ip", "ip"), ("ip", "str"), ("str", "ip")}


def compile_binary(node: Binary, left: Compiled, right: Compiled) -> Compiled:
    op = node.op
    if op in ("and", "or"):
        return _logic(node, left, right)
    if op in ("matches", "glob"):
        return compile_pattern(op, left, node.right, node.pos)
    if op in ("in", "not in"):
        return _membership(node, left, right)
    if op in ("+", "-", "*", "/"):
        return _arithmetic(node, left, right)
    return _comparison(node, left, right)


def _logic(node: Binary, left: Compiled, right: Compiled) -> Compiled:
    for side, c in ((node.left, left), (node.right, right)):
        if c.type != "bool":
            raise ExprError(f"'{node.op}' needs true/false on both sides, but this is a {human(c.type)}", side.pos)
    reads = left.reads | right.reads
    terms = (*_terms(node.op, left), *_terms(node.op, right))
    fn = chain(node.op, terms)
    if node.op == "and":
        both, gate = left.truthy | right.truthy, left.gate or right.gate
        return Compiled("bool", fn, reads, left.required | right.required, truthy=both, gate=gate, joint="and",
                        terms=terms)
    either = left.truthy & right.truthy
    return Compiled("bool", fn, reads, left.required & right.required, truthy=either, joint="or", terms=terms)


def _terms(op: str, c: Compiled) -> tuple[Term, ...]:
    """A side of `op` as chain terms: its own terms when it is a leaf fact or the same chain, else one call."""
    if c.terms and c.joint in ("", op):
        return c.terms
    return ((CALL, c.fn),)


def _value_fn(node: Node, c: Compiled) -> Fn:
    """A bool fact compared with ==/!= must keep its absence, unlike in a boolean context."""
    if isinstance(node, Name) and c.type == "bool":
        name = node.name
        return lambda f, m: f.get(name, MISSING)
    return c.fn


def _comparison(node: Binary, left: Compiled, right: Compiled) -> Compiled:
    op = node.op
    if op in _ORDER:
        for side, c in ((node.left, left), (node.right, right)):
            if c.type != "num":
                raise ExprError(f"'{op}' compares numbers, but {_what(side, c)}", side.pos)
        cmp = _ORDER[op]
    else:
        if (left.type, right.type) not in _SAME:
            raise ExprError(f"'{op}' compares a {human(left.type)} with a {human(right.type)}", node.right.pos)
        cmp = _EQUAL[op]
    reads = left.reads | right.reads
    a, b = _value_fn(node.left, left), _value_fn(node.right, right)
    if right.const is not MISSING and isinstance(node.left, Name):
        # the common shape `fact OP literal`, in one closure: it dominates large rule sets
        name, const = node.left.name, right.const

        def fact_vs_const(f: dict[str, Any], m: list[Any]) -> bool:
            v = f.get(name, MISSING)
            return v is not MISSING and cmp(v, const)

        numeric = isinstance(const, int | float) and not isinstance(const, bool)
        gate = (name, op, float(const)) if op in (">=", ">") and numeric else None
        return Compiled("bool", fact_vs_const, reads, reads, gate=gate)

    return Compiled("bool", _general(cmp, node, a, b), reads, reads)


def _general(cmp: Callable[[Any, Any], Any], node: Binary, a: Fn, b: Fn) -> Fn:
    """`x OP y` of two values; a fact on either side is read inline (one call less per request)."""
    if _is_fact(node.left):
        left = node.left.name

        def fact_vs_value(f: dict[str, Any], m: list[Any]) -> bool:
            x = f.get(left, MISSING)
            if x is MISSING:
                return False
            y = b(f, m)
            return y is not MISSING and bool(cmp(x, y))

        return fact_vs_value
    if _is_fact(node.right):
        right = node.right.name

        def value_vs_fact(f: dict[str, Any], m: list[Any]) -> bool:
            x = a(f, m)
            if x is MISSING:
                return False
            y = f.get(right, MISSING)
            return y is not MISSING and bool(cmp(x, y))

        return value_vs_fact

    def general(f: dict[str, Any], m: list[Any]) -> bool:
        x = a(f, m)
        if x is MISSING:
            return False
        y = b(f, m)
        return y is not MISSING and bool(cmp(x, y))

    return general


def _is_fact(node: Node) -> TypeGuard[Name]:
    """A fact name (read with facts.get), not a named list (a constant)."""
    return isinstance(node, Name) and not node.name.startswith("lists.")


def _divide(x: Any, y: Any) -> Any:
    return x / y if y else 0  # division by zero is 0: a ratio over no attempts is no signal


_ARITH: Mapping[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
}


def _arithmetic(node: Binary, left: Compiled, right: Compiled) -> Compiled:
    for side, c in ((node.left, left), (node.right, right)):
        if c.type != "num":
            raise ExprError(f"'{node.op}' needs numbers, but {_what(side, c)}", side.pos)
    a, b, calc = left.fn, right.fn, _ARITH[node.op]
    fn: Fn
    if left.const is not MISSING and _is_fact(node.right):
        # `0.2 * fact`, the commonest shape, in one closure
        const, name = left.const, node.right.name

        def const_by_fact(f: dict[str, Any], m: list[Any]) -> Any:
            y = f.get(name, MISSING)
            return MISSING if y is MISSING else calc(const, y)

        fn = const_by_fact
    elif right.const is not MISSING and _is_fact(node.left):
        const, name = right.const, node.left.name

        def fact_by_const(f: dict[str, Any], m: list[Any]) -> Any:
            x = f.get(name, MISSING)
            return MISSING if x is MISSING else calc(x, const)

        fn = fact_by_const
    else:

        def arith(f: dict[str, Any], m: list[Any]) -> Any:
            x = a(f, m)
            if x is MISSING:
                return MISSING
            y = b(f, m)
            return MISSING if y is MISSING else calc(x, y)

        fn = arith
    return Compiled("num", fn, left.reads | right.reads, left.required | right.required)


def _contains_fn(node: Binary, left: Compiled, right: Compiled) -> Callable[[Any, Any], bool]:
    lt, rt = left.type, right.type
    if (rt in ("list[str]", "list[any]") and lt in ("str", "ip")) or (rt in ("list[num]", "list[any]") and lt == "num"):
        return lambda v, coll: v in coll
    if rt == "strset" and lt == "str":
        return lambda v, coll: v in coll
    if rt == "cidrs" and lt == "ip":
        return _in_networks
    if rt.startswith("named:"):
        kind = rt[6:]
        if (kind, lt) in (("int", "num"), ("str", "str"), ("cidr", "ip"), ("str", "ip")):
            return lambda v, coll: bool(coll.contains(v))
    raise ExprError(f"'{node.op}': {_what(node.left, left)}, which cannot be in a {human(rt)}", node.left.pos)


def _in_networks(v: Any, nets: Any) -> bool:
    try:
        addr = ipaddress.ip_address(v)
    except ValueError:
        return False
    return any(addr in n for n in nets)


def _membership(node: Binary, left: Compiled, right: Compiled) -> Compiled:
    contains = _contains_fn(node, left, right)
    a, b = left.fn, right.fn
    negate = node.op == "not in"
    reads = left.reads | right.reads

    def member(f: dict[str, Any], m: list[Any]) -> bool:
        x = a(f, m)
        if x is MISSING:
            return False
        coll = b(f, m)
        return coll is not MISSING and contains(x, coll) is not negate

    return Compiled("bool", member, reads, reads)


def compile_pattern(kind: str, subject: Compiled, pattern: Node, pos: int) -> Compiled:
    """`x matches "re"` (search) and `x glob "/api/*"` (whole value), compiled once at load."""
    if subject.type not in ("str", "ip"):
        raise ExprError(f"'{kind}' needs a text value on its left, not a {human(subject.type)}", pos)
    if not isinstance(pattern, Lit) or not isinstance(pattern.value, str):
        raise ExprError(f"'{kind}' needs a string literal pattern", pattern.pos)
    test: Callable[[str], object]
    if kind == "matches":
        try:
            test = compile_linear(pattern.value).search  # security: RE2, no catastrophic backtracking
        except RegexRefused as e:
            raise ExprError(e.message, pattern.pos + e.offset + 1) from None
    else:
        # fnmatch.translate emits atomic groups for '*': Python's `re` runs a glob without backtracking blow-up
        test = re.compile(fnmatch.translate(pattern.value)).match
    f = subject.fn

    def matcher(facts: dict[str, Any], memo: list[Any]) -> bool:
        v = f(facts, memo)
        return v is not MISSING and test(v[:MAX_SUBJECT]) is not None

    return Compiled("bool", matcher, subject.reads, subject.reads)


def _what(node: Node, c: Compiled) -> str:
    if isinstance(node, Name):
        return f"{node.name} is a {human(c.type)}"
    if isinstance(node, Lit):
        return f"{node.value!r} is a {human(c.type)}"
    return f"this is a {human(c.type)}"
