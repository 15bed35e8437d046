"""The JSON Schema agrees with the loader and the pack; error columns land inside every YAML scalar style."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shield.rules.load import FILE_KEYS, RULE_KEYS, load_texts
from shield.rules.schema import rule_file_schema
from shield.rules.source import RuleErrors
from shield.settings.schema import BUNDLED_RULES


def test_schema_describes_exactly_the_keys_the_loader_accepts() -> None:
    schema = rule_file_schema()
    assert set(schema["properties"]) == set(FILE_KEYS)
    assert set(schema["$defs"]["rule"]["properties"]) == set(RULE_KEYS)
    assert schema["$defs"]["rule"]["required"] == ["id", "description", "class", "when"]


@pytest.mark.parametrize("path", sorted(BUNDLED_RULES.glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_files_fit_the_schema_shape(path: Path) -> None:
    schema = rule_file_schema()
    data = yaml.safe_load(path.read_text())
    assert set(data) <= set(schema["properties"])
    rule_schema = schema["$defs"]["rule"]
    for rule in data.get("rules", []):
        assert set(rule) <= set(rule_schema["properties"])
        assert set(rule_schema["required"]) <= set(rule)
        assert ("score" in rule) != ("action" in rule)
    for key in data.get("policy", {}):
        assert key in schema["$defs"]["policy"]["properties"]


RULE = "rules:\n  - id: r\n    description: d\n    score: 1\n    when: {when}\n    class: client\n"


@pytest.mark.parametrize(
    ("when", "place"),
    [
        ("ip.tor and ip.torr", "5:22"),
        ("'ip.tor and ip.torr'", "5:23"),
        ('"ip.tor and ip.torr"', "5:23"),
        ("|\n      ip.tor and\n      ip.torr", "7:7"),
        (">\n      ip.tor and\n      ip.torr", "7:7"),
        ("ip.tor and\n      ip.torr", "6:7"),
        ("|\n      ip.tor and\n        (ip.bad or ip.torr)", "7:20"),
    ],
    ids=["plain", "single-quoted", "double-quoted", "literal-block", "folded-block", "plain-multi-line",
         "literal-block-indented-line"],
)
def test_error_column_points_at_the_fact_in_every_scalar_style(when: str, place: str) -> None:
    with pytest.raises(RuleErrors) as caught:
        load_texts({"r.yaml": RULE.format(when=when)}, lists={})
    (error,) = caught.value.errors
    assert (f"{error.line}:{error.col}", error.message) == (place, "unknown fact 'ip.torr' (did you mean 'ip.tor'?)")
