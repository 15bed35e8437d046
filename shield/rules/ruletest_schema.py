"""A JSON Schema (draft 2020-12) of rule test files (rules/tests/*.yaml): `shield rules schema --tests`.

Every fact of the catalog (default windows) is a property with its JSON type, so an editor
completes fact names and flags a typo or a wrong type while the case is written;
`shield rules test` checks the same with file:line:col and the configured windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shield.facts.catalog import catalog
from shield.model import DEFAULT_WINDOWS, Action, Window

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "bool": {"type": "boolean"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": ["string", "integer"]},  # the loader reads 64500 as "64500" for a text fact
    "ip": {"type": "string"},
    "strset": {"type": "array", "items": {"type": "string"}},
}
_RULE_IDS = {"type": ["array", "null"], "items": {"type": "string"}}
CASE_KEYS = ("name", "route", "facts", "counters", "credit", "solved", "expect")
EXPECT_KEYS = ("action", "rules", "includes", "excludes", "shadow_rules", "rate_limited", "score", "evidence")


def _facts(windows: Sequence[Window]) -> dict[str, Any]:
    props = {s.name: {**_JSON_TYPES[s.type], "description": s.doc} for s in catalog(windows).values()}
    return {"type": "object", "additionalProperties": False, "properties": props}


def _expect() -> dict[str, Any]:
    props: dict[str, Any] = {
        "action": {"enum": [a.value for a in Action], "description": "the action the case must get"},
        "rules": {**_RULE_IDS, "description": "exactly these enforcing rules matched"},
        "includes": {**_RULE_IDS, "description": "at least these rules matched"},
        "excludes": {**_RULE_IDS, "description": "none of these rules matched"},
        "shadow_rules": {**_RULE_IDS, "description": "exactly these shadow rules matched"},
        "rate_limited": {"type": "boolean"},
        "score": {"type": "integer", "description": "the total after any credit"},
        "evidence": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "the score per evidence class of the matched rules, exactly (no match: left out)",
        },
    }
    assert set(props) == set(EXPECT_KEYS)  # the schema follows the loader
    return {"type": "object", "additionalProperties": False, "properties": props}


def _case() -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": {"type": "string", "minLength": 1},
        "route": {"type": "string", "description": "default: login"},
        "facts": {"$ref": "#/$defs/facts"},
        "counters": {"$ref": "#/$defs/facts"},
        "credit": {"type": "integer", "description": "score removed by a pass or solution"},
        "solved": {"type": "boolean", "description": "the request carries a solved challenge"},
        "expect": {"$ref": "#/$defs/expect"},
    }
    assert set(props) == set(CASE_KEYS)
    return {"type": "object", "additionalProperties": False, "required": ["name", "expect"], "properties": props}


def rule_test_schema(windows: Sequence[Window] = DEFAULT_WINDOWS) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://shield.invalid/schema/ruletest.json",
        "title": "shield rule test file",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "defaults": {"$ref": "#/$defs/facts"},
            "cases": {"type": "array", "items": {"$ref": "#/$defs/case"}},
        },
        "$defs": {"facts": _facts(windows), "case": _case(), "expect": _expect()},
    }
