"""The one YAML reader: every file shield reads (settings, rules, rule tests, campaigns) comes through here.

It composes once with the C parser, refuses aliases, keeps the line and column of every node and
gives the one error format every reader reports: `file:line:col: message (did you mean 'x'?)`.

security: an alias (`*name`) repeats an anchored node without copying it, so nine lines of nested
aliases (the "billion laughs") stand for 9**9 values: composing is instant, but anything that walks
or converts the tree (the settings loader, the rule hash, a campaign) expands them and hangs the
start. Shield's files never need them, so an alias is refused at its place, before anything walks
the tree.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ALIASES_REFUSED = "YAML aliases are not allowed in shield's files (write the value out)"
NOT_YAML = "not valid YAML"
Position = tuple[int, int]  # 1-based line, column


class AliasRefused(yaml.MarkedYAMLError):
    pass


@dataclass(slots=True, frozen=True)
class YamlProblem:
    """One problem at its place; str() is the format every reader prints."""

    file: str
    line: int  # 1-based
    col: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class YamlUnreadable(ValueError):
    """The file is not YAML shield reads (a syntax error, an alias, a key that cannot be a key)."""

    def __init__(self, problem: YamlProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def position(mark: Any) -> Position:
    """A YAML mark (pure or C parser: same fields) -> 1-based (line, column)."""
    return mark.line + 1, mark.column + 1


def at(file: str, node: yaml.Node, message: str) -> YamlProblem:
    line, col = position(node.start_mark)
    return YamlProblem(file, line, col, message)


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, else the choices, else nothing."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (expected one of: {', '.join(sorted(choices))})" if choices else ""


def unknown_key(key: str, allowed: Collection[str], where: str) -> str:
    """The one message for a key nobody reads: `unknown key 'scroe' in a rule (did you mean 'score'?)`."""
    return f"unknown key '{key}' in {where}{did_you_mean(key, allowed)}"


def duplicate_key(key: str, where: str, first_line: int) -> str:
    """The one message for a key written twice (a plain loader keeps the last without a word)."""
    return f"duplicate key '{key}' in {where} (the first is at line {first_line})"


def refuse_aliases(text: str) -> None:
    """Raise AliasRefused at the first alias of `text` (a syntax error raises as yaml.compose would)."""
    if "*" not in text:  # an alias needs one: most files skip the event scan
        return
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            mark: Any = event.start_mark  # the C parser's Mark: same fields as yaml.error.Mark
            raise AliasRefused(problem=f"{ALIASES_REFUSED}: *{event.anchor}", problem_mark=mark)


def compose(text: str) -> yaml.Node | None:
    """yaml.compose with the C loader, aliases refused (raises yaml.MarkedYAMLError)."""
    refuse_aliases(text)
    return yaml.compose(text, Loader=yaml.CSafeLoader)


def unreadable(file: str, exc: yaml.YAMLError) -> YamlProblem:
    """A parser's error -> the problem at its place."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = position(mark) if mark is not None else (1, 1)
    if isinstance(exc, AliasRefused):
        return YamlProblem(file, line, col, str(exc.problem))
    why = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    return YamlProblem(file, line, col, f"{NOT_YAML}: {why}")


def compose_text(text: str, *, file: str) -> yaml.Node | None:
    """compose(), its errors raised as YamlUnreadable at their place."""
    try:
        return compose(text)
    except yaml.YAMLError as exc:
        raise YamlUnreadable(unreadable(file, exc)) from None


def construct(node: yaml.Node | None, *, file: str = "<yaml>") -> Any:
    """Plain Python values of a composed tree (the safe constructor: no second parse)."""
    if node is None:
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_document(node)
    except yaml.YAMLError as exc:  # e.g. a list used as a mapping key
        raise YamlUnreadable(unreadable(file, exc)) from None


def load(text: str, *, file: str = "<yaml>") -> Any:
    """Text -> plain values, aliases refused."""
    return construct(compose_text(text, file=file), file=file)


def positions(node: yaml.Node | None) -> dict[str, Position]:
    """Dotted key paths (`list.size`, `routes[0].name`) -> where each key or list item sits."""
    out: dict[str, Position] = {}
    if node is not None:
        out[""] = position(node.start_mark)
        _walk(node, "", out)
    return out


def _walk(node: yaml.Node, path: str, out: dict[str, Position]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            sub = f"{path}.{key_node.value}" if path else str(key_node.value)
            out[sub] = position(key_node.start_mark)
            _walk(value_node, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[f"{path}[{i}]"] = position(item.start_mark)
            _walk(item, f"{path}[{i}]", out)


def duplicates(node: yaml.Node | None, *, file: str, top: str) -> list[YamlProblem]:
    """Every key written twice in one mapping; `top` names the top level, deeper ones are named by path."""
    out: list[YamlProblem] = []
    _duplicates(node, "", file, top, out)
    return out


def _duplicates(node: yaml.Node | None, path: str, file: str, top: str, out: list[YamlProblem]) -> None:
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = f"{path}.{key}" if path else key
            if key in first:
                out.append(at(file, key_node, duplicate_key(key, path or top, first[key])))
            else:
                first[key] = key_node.start_mark.line + 1
            _duplicates(value_node, sub, file, top, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicates(item, f"{path}[{i}]", file, top, out)


@dataclass(slots=True, frozen=True)
class Document:
    """One file read: its plain values, where every key sits, and the keys written twice."""

    data: Any
    positions: dict[str, Position]
    duplicates: tuple[YamlProblem, ...]


def read(path: Path, *, top: str, file: str | None = None) -> Document:
    """A file -> Document; YamlUnreadable names file:line:col (OSError as raised)."""
    name = str(path) if file is None else file
    node = compose_text(path.read_text(encoding="utf-8"), file=name)
    return Document(construct(node, file=name), positions(node), tuple(duplicates(node, file=name, top=top)))
