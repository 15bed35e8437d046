"""YAML -> plain Python values, remembering the line and column of every key for error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shield.settings.yaml_compose import compose

Position = tuple[int, int]  # 1-based line, column


class YamlShapeError(ValueError):
    pass


def load_with_positions(text: str) -> tuple[Any, dict[str, Position]]:
    """Parse one YAML document; positions maps dotted key paths ("list.size") to where they sit."""
    node = compose(text)  # security: aliases refused before _convert would expand them
    positions: dict[str, Position] = {}
    if node is None:
        return None, positions
    return _convert(node, "", positions), positions


def _convert(node: yaml.Node, path: str, positions: dict[str, Position]) -> Any:
    positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = f"{path}.{key}" if path else key
            positions[sub] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _convert(value_node, sub, positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, f"{path}[{i}]", positions) for i, v in enumerate(node.value)]
    return yaml.load(yaml.serialize(node), Loader=yaml.CSafeLoader)


def read_yaml(path: Path) -> tuple[Any, dict[str, Position]]:
    """Read and parse a file; a syntax error becomes a YamlShapeError naming file:line:col."""
    try:
        return load_with_positions(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise YamlShapeError(f"{where}: {exc.problem}") from None
