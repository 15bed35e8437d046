"""YAML with places: every value keeps its file, line and column, so every error can say where.

The one YAML reader (shield.settings.yaml_reader) gives nodes with start marks; these helpers read
them and collect problems instead of stopping at the first, so an analyst sees every mistake at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import yaml

from shield.settings import yaml_reader


@dataclass(slots=True, frozen=True)
class RuleError:
    path: str
    line: int  # 1-based
    col: int  # 1-based
    message: str

    def __str__(self) -> str:
        return str(yaml_reader.YamlProblem(self.path, self.line, self.col, self.message))


class RuleErrors(Exception):
    """Every problem of every rule file, in file and line order."""

    def __init__(self, errors: Collection[RuleError]) -> None:
        self.errors = tuple(sorted(errors, key=lambda e: (e.path, e.line, e.col)))
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(slots=True)
class Source:
    """One file being read; problems pile up in `errors`."""

    path: str
    text: str
    errors: list[RuleError] = field(default_factory=list)

    def compose(self) -> yaml.Node | None:
        try:
            # security: aliases refused (a "billion laughs" file hangs no reader)
            return yaml_reader.compose_text(self.text, file=self.path)
        except yaml_reader.YamlUnreadable as e:
            p = e.problem
            self.errors.append(RuleError(p.file, p.line, p.col, p.message))
            return None

    def error(self, node: yaml.Node, message: str) -> None:
        self.errors.append(RuleError(self.path, node.start_mark.line + 1, node.start_mark.column + 1, message))

    def error_in(self, node: yaml.ScalarNode, offset: int, message: str) -> None:
        """An error at a character offset inside a scalar (an expression)."""
        line, col = self.place(node, offset)
        self.errors.append(RuleError(self.path, line, col, message))

    def place(self, node: yaml.ScalarNode, offset: int) -> tuple[int, int]:
        start, end = node.start_mark, node.end_mark
        if node.style in (None, "", "'", '"') and start.line == end.line:
            return start.line + 1, start.column + 1 + offset + (1 if node.style in ("'", '"') else 0)
        lines = self.text.split("\n")
        block = node.style in ("|", ">")
        first = start.line + 1 if block else start.line
        first_col = 0 if block else start.column + (1 if node.style in ("'", '"') else 0)
        # a block scalar keeps spaces beyond its indentation (set by its first line) as content
        body = [ln for ln in lines[first : end.line + 1] if ln.strip()]
        block_indent = len(body[0]) - len(body[0].lstrip(" ")) if block and body else 0
        remaining = offset
        for i in range(first, min(end.line + 1, len(lines))):
            raw = lines[i][first_col:] if i == first else lines[i]
            indent = block_indent if block else len(raw) - len(raw.lstrip(" "))
            content = raw[indent:] if block else raw.strip()
            if remaining <= len(content):
                return i + 1, (first_col if i == first else 0) + indent + remaining + 1
            remaining -= len(content) + 1
        return start.line + 1, start.column + 1


def mapping(src: Source, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
    """A YAML mapping by key, with duplicate keys reported (the plain loader would silently keep the last)."""
    if not isinstance(node, yaml.MappingNode):
        src.error(node, f"{what} must be a mapping")
        return None
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            src.error(k, f"{what}: keys must be plain names")
            continue
        if k.value in out:
            src.error(k, yaml_reader.duplicate_key(k.value, what, out[k.value][0].start_mark.line + 1))
            continue
        out[k.value] = (k, v)
    return out


def check_keys(src: Source, items: dict[str, tuple[yaml.Node, yaml.Node]], allowed: Collection[str], what: str) -> None:
    for key, (knode, _) in items.items():
        if key not in allowed:
            src.error(knode, yaml_reader.unknown_key(key, allowed, what))


def scalar(src: Source, node: yaml.Node, what: str) -> str | None:
    if not isinstance(node, yaml.ScalarNode):
        src.error(node, f"{what} must be a single value")
        return None
    return str(node.value)


def text(src: Source, node: yaml.Node, what: str) -> str | None:
    value = scalar(src, node, what)
    if value is not None and not value.strip():
        src.error(node, f"{what} must not be empty")
        return None
    return value


def integer(src: Source, node: yaml.Node, what: str) -> int | None:
    value = scalar(src, node, what)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        src.error(node, f"{what} must be a whole number, not {value!r}")
        return None


def number(src: Source, node: yaml.Node, what: str) -> float | None:
    value = scalar(src, node, what)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        src.error(node, f"{what} must be a number, not {value!r}")
        return None


def boolean(src: Source, node: yaml.Node, what: str) -> bool | None:
    value = scalar(src, node, what)
    if value in ("true", "True", "yes", "on"):
        return True
    if value in ("false", "False", "no", "off"):
        return False
    if value is not None:
        src.error(node, f"{what} must be true or false, not {value!r}")
    return None


def sequence(src: Source, node: yaml.Node, what: str) -> Iterator[yaml.Node]:
    if not isinstance(node, yaml.SequenceNode):
        src.error(node, f"{what} must be a list")
        return iter(())
    return iter(node.value)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(src: Source, node: yaml.Node, what: str) -> float | None:
    """`90`, `30s`, `10m`, `1h`, `7d` -> seconds."""
    value = scalar(src, node, what)
    if value is None:
        return None
    unit = _UNITS.get(value[-1:], 1) if value[-1:].isalpha() else 1
    digits = value[:-1] if value[-1:].isalpha() else value
    try:
        seconds = float(digits) * unit
    except ValueError:
        seconds = -1.0
    if seconds <= 0 or (value[-1:].isalpha() and value[-1:] not in _UNITS):
        src.error(node, f"{what} must be a duration such as 30s, 10m, 1h or 7d, not {value!r}")
        return None
    return seconds
