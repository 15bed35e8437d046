"""A JSON Schema (draft 2020-12) of the rule files, for editors: `shield rules schema > rules.schema.json`.

The schema checks the shape (keys, types, enums); the meaning of conditions is checked by
`shield rules check`, which knows the facts.
"""

from __future__ import annotations

from typing import Any

from shield.model import BAN_SCOPES, EVIDENCE_CLASSES, THRESHOLD_ACTIONS, Action
from shield.rules.load import RULE_KEYS

_DURATION = {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\d+(\.\d+)?[smhdw]?$"}]}
_THRESHOLD = {"oneOf": [{"type": "integer"}, {"type": "null"}]}


def _thresholds() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {a.value: _THRESHOLD for a in THRESHOLD_ACTIONS},
        "description": "Minimum total score for each action (null switches it off); must grow with the action.",
    }


def _rule() -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$", "description": "Unique across all files"},
        "description": {"type": "string", "minLength": 1, "description": "The attack this rule targets"},
        "class": {
            "enum": list(EVIDENCE_CLASSES),
            "description": "What the rule is evidence about: client (this address/device/session's own behaviour),"
            " account, credential (password, pair) or crowd (shared network, fingerprint, country, site)",
        },
        "when": {"type": "string", "minLength": 1, "description": "A condition, e.g. ip.failures_10m >= 20"},
        "score": {"type": "integer", "description": "Points added when the condition holds (may be negative)"},
        "action": {"enum": [a.value for a in Action], "description": "A direct action instead of a score"},
        "ban": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"scope": {"enum": list(BAN_SCOPES)}, "ttl": _DURATION},
        },
        "routes": {"type": "array", "items": {"type": "string"}, "description": "Only on these routes"},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "`rate`: a block answers 429"},
        "mode": {"enum": ["enforce", "shadow"], "description": "shadow: scored and logged, never acted on"},
        "enabled": {"type": "boolean"},
    }
    assert set(props) == set(RULE_KEYS)  # the schema follows the loader
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "description", "class", "when"],
        "oneOf": [{"required": ["score"]}, {"required": ["action"]}],
        "properties": props,
    }


def _policy() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "thresholds": _thresholds(),
            "delay_seconds": {"type": "number", "minimum": 0},
            "evidence": {
                "type": "object",
                "additionalProperties": False,
                "description": "What each evidence class may do",
                "properties": {
                    "block_needs": {"type": "array", "items": {"enum": list(EVIDENCE_CLASSES)}},
                    "caps": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {c: {"type": "integer", "minimum": 0} for c in EVIDENCE_CLASSES},
                    },
                },
            },
            "difficulty_step": {"type": "integer", "minimum": 1},
            "retry_after": {"type": "integer", "minimum": 1},
            "ban": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "scope": {"enum": list(BAN_SCOPES)},
                    "ttl": _DURATION,
                    "escalation": {"type": "number", "minimum": 1},
                    "max_ttl": _DURATION,
                },
            },
            "takeover": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "failures": {"type": "integer", "minimum": 1},
                    "addresses": {"type": "integer", "minimum": 1},
                    "window": {"type": "string"},
                    "wave_level": {"type": "integer", "minimum": 0, "maximum": 3},
                },
            },
            "routes": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"thresholds": _thresholds()},
                },
            },
        },
    }


def rule_file_schema() -> dict[str, Any]:
    item = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    named_list = {
        "oneOf": [
            {"type": "array", "items": item},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"kind": {"enum": ["int", "cidr", "str"]}, "items": {"type": "array", "items": item}},
            },
        ]
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://shield.invalid/schema/rules.json",
        "title": "shield rule file",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
            "policy": {"$ref": "#/$defs/policy"},
            "lists": {
                "type": "object",
                "propertyNames": {"pattern": "^[a-z0-9_]+$"},
                "additionalProperties": named_list,
            },
        },
        "$defs": {"rule": _rule(), "policy": _policy()},
    }
