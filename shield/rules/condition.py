"""Type-check a parsed condition against the facts catalog and compile it to closures.

Every compiled node is `fn(facts, memo) -> value`. Boolean nodes always return a real
bool; value nodes return MISSING when a fact they read is absent, and any comparison with
MISSING is false. Sub-expressions that appear in several rules share one closure and one
memo slot, so each is computed at most once per request.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shield.facts.catalog import FactSpec
from shield.model import NamedList
from shield.rules.chain import chain
from shield.rules.compare import compile_binary, compile_pattern
from shield.rules.expr import Binary, Call, ExprError, ExprErrors, ListLit, Lit, Name, Node, Unary, canonical
from shield.rules.values import CALL, IS_TRUE, MISSING, NOT_TRUE, UNSET, Compiled, Fn, human

FUNCTIONS = ("cidr", "matches", "glob")
# A node that could not be compiled (its error is noted): never run, only passed up.
BROKEN = Compiled("broken", lambda facts, memo: MISSING, frozenset(), frozenset())
_FACT_TYPES = {"bool": "bool", "int": "num", "float": "num", "str": "str", "ip": "ip", "strset": "strset"}


class Compiler:
    """Compiles the conditions of one rule set; shares equal sub-expressions across rules."""

    def __init__(self, catalog: Mapping[str, FactSpec], lists: Mapping[str, NamedList]) -> None:
        self.catalog = catalog
        self.lists = lists
        self.uses: Counter[str] = Counter()
        self.cache: dict[str, Compiled] = {}
        self.slots = 0
        self.errors: list[ExprError] = []  # of the condition being compiled: all are reported

    def count(self, node: Node) -> None:
        """First pass: count composite sub-expressions, so the repeated ones get a memo slot."""
        if isinstance(node, Binary | Unary | Call):
            self.uses[canonical(node)] += 1
            children = (node.left, node.right) if isinstance(node, Binary) else (
                (node.operand,) if isinstance(node, Unary) else node.args
            )
            for child in children:
                self.count(child)

    def condition(self, node: Node) -> Compiled:
        """The compiled condition, or ExprErrors with every problem in it."""
        compiled = self.compile(node)
        self.raise_errors()
        if compiled.type != "bool":
            raise ExprError(f"a condition must be true or false, but this is a {human(compiled.type)}", node.pos)
        if compiled.joint == "and":
            # A whole condition that is an `and` is false when any term is false or raises (the scorer
            # counts an error as no match), whatever the order: its fact lookups go first, they are
            # the cheapest terms and the likeliest to end it. Nested chains keep their order.
            lookups = tuple(t for t in compiled.terms if t[0] != CALL)
            calls = tuple(t for t in compiled.terms if t[0] == CALL)
            compiled = replace(compiled, fn=chain("and", lookups + calls))
        return compiled

    def check(self, node: Node) -> None:
        """Raise ExprErrors with every problem of an expression (a fragment of a broken condition)."""
        self.compile(node)
        self.raise_errors()

    def raise_errors(self) -> None:
        errors, self.errors = self.errors, []
        if errors:
            raise ExprErrors(errors)

    def compile(self, node: Node) -> Compiled:
        """A node's closure; a problem is noted in `errors` and gives BROKEN, which its parents pass
        on without a message of their own (one mistake, one message)."""
        key = canonical(node)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        try:
            compiled = self._compile(node)
        except ExprError as e:
            self.errors.append(e)
            return BROKEN
        if compiled is BROKEN:
            return BROKEN  # not cached: the same mistake in another rule is reported there too
        if self.uses[key] > 1 and compiled.const is MISSING and not _lookups_only(compiled):
            compiled = self._memoised(compiled)
        self.cache[key] = compiled
        return compiled

    def _memoised(self, c: Compiled) -> Compiled:
        slot = self.slots
        self.slots += 1
        inner = c.fn

        def fn(facts: dict[str, Any], memo: list[Any]) -> Any:
            v = memo[slot]
            if v is UNSET:
                v = memo[slot] = inner(facts, memo)
            return v

        return Compiled(c.type, fn, c.reads, c.required, truthy=c.truthy, gate=c.gate)

    def _compile(self, node: Node) -> Compiled:
        if isinstance(node, Lit):
            return _literal(node)
        if isinstance(node, ListLit):
            return self._list(node)
        if isinstance(node, Name):
            return self._name(node)
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, Unary):
            return self._unary(node)
        left, right = self.compile(node.left), self.compile(node.right)
        if left is BROKEN or right is BROKEN:
            return BROKEN
        return compile_binary(node, left, right)

    def _name(self, node: Name) -> Compiled:
        name = node.name
        if name.startswith("lists."):
            lst = self.lists.get(name[6:])
            if lst is None:
                raise ExprError(f"unknown list '{name}'{_suggest(name[6:], self.lists, 'lists.')}", node.pos)
            return Compiled(f"named:{lst.kind}", _const(lst), frozenset(), frozenset(), lst)
        spec = self.catalog.get(name)
        if spec is None:
            raise ExprError(f"unknown fact '{name}'{_suggest(name, self.catalog)}", node.pos)
        typ = _FACT_TYPES[spec.type]
        reads = frozenset({name})
        if typ == "bool":

            def truth(facts: dict[str, Any], memo: list[Any]) -> bool:
                return facts.get(name) is True

            return Compiled("bool", truth, reads, reads, truthy=reads, terms=((IS_TRUE, name),))

        def value(facts: dict[str, Any], memo: list[Any]) -> Any:
            return facts.get(name, MISSING)

        return Compiled(typ, value, reads, reads)

    def _list(self, node: ListLit) -> Compiled:
        kinds = {"num" if isinstance(i.value, int | float) and not isinstance(i.value, bool) else
                 "str" if isinstance(i.value, str) else "bool" for i in node.items}
        if "bool" in kinds or len(kinds) > 1:
            raise ExprError("a list holds either numbers or strings, not a mix (and no true/false)", node.pos)
        kind = kinds.pop() if kinds else "any"
        values = frozenset(i.value for i in node.items)
        return Compiled(f"list[{kind}]", _const(values), frozenset(), frozenset(), values)

    def _unary(self, node: Unary) -> Compiled:
        inner = self.compile(node.operand)
        if inner is BROKEN:
            return BROKEN
        f = inner.fn
        if node.op == "not":
            if inner.type != "bool":
                raise ExprError(f"'not' needs true/false, but this is a {human(inner.type)}", node.operand.pos)
            if inner.joint == "" and inner.terms and inner.terms[0][0] == IS_TRUE:
                name = inner.terms[0][1]
                return Compiled(
                    "bool", lambda facts, memo: facts.get(name) is not True, inner.reads, frozenset(),
                    terms=((NOT_TRUE, name),),
                )
            return Compiled("bool", lambda facts, memo: not f(facts, memo), inner.reads, frozenset())
        if inner.type != "num":
            raise ExprError(f"'-' needs a number, but this is a {human(inner.type)}", node.operand.pos)

        def neg(facts: dict[str, Any], memo: list[Any]) -> Any:
            v = f(facts, memo)
            return MISSING if v is MISSING else -v

        return Compiled("num", neg, inner.reads, inner.required)

    def _call(self, node: Call) -> Compiled:
        if node.func == "cidr":
            return _cidr(node)
        if node.func in ("matches", "glob"):
            if len(node.args) != 2:
                raise ExprError(f"{node.func}() takes a value and a pattern string", node.pos)
            subject = self.compile(node.args[0])
            if subject is BROKEN:
                return BROKEN
            return compile_pattern(node.func, subject, node.args[1], node.pos)
        raise ExprError(f"unknown function '{node.func}'{_suggest(node.func, FUNCTIONS)}", node.pos)


def _lookups_only(c: Compiled) -> bool:
    """A node that is only true/false fact lookups: a memo slot would cost more than computing it again."""
    return bool(c.terms) and all(kind != CALL for kind, _ in c.terms)


def _cidr(node: Call) -> Compiled:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for arg in node.args:
        if not isinstance(arg, Lit) or not isinstance(arg.value, str):
            raise ExprError("cidr() takes network strings such as \"10.0.0.0/8\"", arg.pos)
        try:
            nets.append(ipaddress.ip_network(arg.value, strict=False))
        except ValueError:
            raise ExprError(f"bad network {arg.value!r} in cidr()", arg.pos) from None
    if not nets:
        raise ExprError("cidr() needs at least one network", node.pos)
    value = tuple(nets)
    return Compiled("cidrs", _const(value), frozenset(), frozenset(), value)


def _literal(node: Lit) -> Compiled:
    v = node.value
    typ = "bool" if isinstance(v, bool) else "num" if isinstance(v, int | float) else "str"
    return Compiled(typ, _const(v), frozenset(), frozenset(), v)


def _const(value: Any) -> Fn:
    return lambda facts, memo: value


def _suggest(name: str, options: Any, prefix: str = "") -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.7)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""
