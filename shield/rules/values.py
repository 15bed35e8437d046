"""The two sentinels of compiled conditions and the shape of a compiled node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final


class _Sentinel:
    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


# A fact that is not in the request's facts: comparisons with it are false.
MISSING: Final = _Sentinel("MISSING")
# A memo slot not yet computed for this request.
UNSET: Final = _Sentinel("UNSET")

# (fact, ">=" or ">", threshold): lets the scorer skip a rule by a binary search over thresholds.
Gate = tuple[str, str, float]

# A compiled node: (facts, per-request memo) -> value. The facts are a dict (RuleSet.score makes one of any
# mapping): compiled closures then read them without a method call per lookup.
Fn = Callable[[dict[str, Any], list[Any]], Any]

# One term of a flattened `and` / `or` chain: a bool fact that must be true (IS_TRUE, name), must
# not be true (NOT_TRUE, name), or any other boolean node (CALL, fn). A chain of terms runs in one
# closure instead of one nested call per operator (scoring cost is mostly calls).
IS_TRUE, NOT_TRUE, CALL = 0, 1, 2
Term = tuple[int, Any]


@dataclass(slots=True, frozen=True)
class Compiled:
    type: str  # bool | num | str | ip | strset | list[str] | list[num] | list[any] | cidrs | named:<kind>
    fn: Fn
    reads: frozenset[str]  # every fact the node reads
    required: frozenset[str]  # facts whose absence makes the node false (rule can be skipped)
    const: Any = MISSING  # the value, for literal nodes
    truthy: frozenset[str] = frozenset()  # bool facts that must be true for the node to be true
    gate: Gate | None = None  # a `fact >= n` / `fact > n` that must hold for the node to be true
    joint: str = ""  # "and" / "or": the node is that chain of `terms`; "": a leaf (one term, or none)
    terms: tuple[Term, ...] = ()  # the node as chain terms, in evaluation order; () for non-bool nodes


def human(typ: str) -> str:
    return {
        "num": "number",
        "str": "string",
        "bool": "true/false value",
        "ip": "IP address",
        "strset": "set of strings",
        "cidrs": "cidr() network set",
    }.get(typ, typ.replace("named:", "named list of ").replace("list[", "list of ").rstrip("]"))

