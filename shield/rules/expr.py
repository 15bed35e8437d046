"""The condition language: tokenizer and Pratt parser producing a small syntax tree.

No user text ever reaches eval/exec or Python's own parser: this module reads the
expression character by character and builds the nodes below; `condition.py` checks
their types against the facts catalog and compiles them into closures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset({"and", "or", "not", "in", "matches", "glob", "true", "false"})
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<num>\d+\.\d*|\.\d+|\d+)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
MAX_EXPRESSION = 4096  # security: bounds parser work and recursion on hostile or runaway input
MAX_DEPTH = 64


class ExprError(Exception):
    """A problem in an expression, at a character offset inside it."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class ExprErrors(ExprError):
    """Every problem of one expression: syntax errors past the first are found by resuming at the
    next top-level `and` / `or`; `fragments` are the parts after such a point that parsed, whose
    facts and types can still be checked. Reads as its first error where one is expected."""

    def __init__(self, errors: list[ExprError], fragments: tuple[Node, ...] = ()) -> None:
        super().__init__(errors[0].message, errors[0].pos)
        self.errors = errors
        self.fragments = fragments


@dataclass(slots=True, frozen=True)
class Token:
    kind: str  # num | str | name | op | kw | end
    text: str
    pos: int


# ---- syntax tree -----------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Lit:
    value: bool | int | float | str
    pos: int


@dataclass(slots=True, frozen=True)
class Name:
    """A fact (`ip.country`) or a named list (`lists.hosting_asns`)."""

    name: str
    pos: int


@dataclass(slots=True, frozen=True)
class ListLit:
    items: tuple[Lit, ...]
    pos: int


@dataclass(slots=True, frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]
    pos: int


@dataclass(slots=True, frozen=True)
class Unary:
    op: str  # not | -
    operand: Node
    pos: int


@dataclass(slots=True, frozen=True)
class Binary:
    op: str
    left: Node
    right: Node
    pos: int


Node = Lit | Name | ListLit | Call | Unary | Binary


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_EXPRESSION:
        raise ExprError(f"expression longer than {MAX_EXPRESSION} characters", 0)
    tokens: list[Token] = []
    errors: list[ExprError] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos] in "'\"":  # the rest is the string's: nothing more to report in it
                errors.append(ExprError("unterminated string", pos))
                break
            errors.append(ExprError(f"unexpected character {text[pos]!r}", pos))
            pos += 1  # report every stray character, not only the first
            continue
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "name" and word in KEYWORDS:
                kind = "kw"
            tokens.append(Token(kind, word, pos))
        pos = m.end()
    if errors:
        raise ExprErrors(errors)
    tokens.append(Token("end", "", len(text)))
    return tokens


def unquote(raw: str, pos: int) -> str:
    out: list[str] = []
    i = 1
    while i < len(raw) - 1:
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            if nxt not in _ESCAPES:
                raise ExprError(f"unknown escape \\{nxt} (use \\\\ for a backslash)", pos + i)
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# Binding powers: or < and < not < comparison < + - < * / < unary minus
_INFIX = {
    "or": 10,
    "and": 20,
    "==": 40,
    "!=": 40,
    "<": 40,
    "<=": 40,
    ">": 40,
    ">=": 40,
    "in": 40,
    "not in": 40,
    "matches": 40,
    "glob": 40,
    "+": 50,
    "-": 50,
    "*": 60,
    "/": 60,
}
_NOT_POWER = 30
_NEG_POWER = 70


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> Token:
        tok = self.next()
        if tok.text != text or tok.kind not in ("op", "kw"):
            raise ExprError(f"expected '{text}' but found {describe(tok)}", tok.pos)
        return tok

    def parse(self) -> Node:
        errors: list[ExprError] = []
        fragments: list[Node] = []
        while True:
            try:
                node = self.expression(0)
                tok = self.peek()
                if tok.kind != "end":
                    raise ExprError(f"unexpected {describe(tok)} (missing 'and' / 'or'?)", tok.pos)
            except ExprError as e:
                errors.append(e)
                resume = self.resume_after(e.pos)
                if resume is None:
                    break
                self.i, self.depth = resume, 0
                continue
            if not errors:
                return node
            fragments.append(node)
            break
        raise ExprErrors(errors, tuple(fragments))

    def resume_after(self, pos: int) -> int | None:
        """The token after the first `and` / `or` outside brackets at or after `pos`: the rest
        parses on its own there, so a later error is a real one, not an echo of the first."""
        depth = 0
        for i, tok in enumerate(self.tokens):
            if tok.kind == "op" and tok.text in ("(", "["):
                depth += 1
            elif tok.kind == "op" and tok.text in (")", "]"):
                depth -= 1
            elif depth == 0 and tok.pos >= pos and tok.kind == "kw" and tok.text in ("and", "or"):
                return i + 1
        return None

    def expression(self, power: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH}", self.peek().pos)
        left = self.prefix()
        while True:
            op, width = self.infix_op()
            if op is None or _INFIX[op] <= power:
                break
            tok = self.peek()
            self.i += width
            right = self.expression(_INFIX[op])
            left = Binary(op, left, right, tok.pos)
        self.depth -= 1
        return left

    def infix_op(self) -> tuple[str | None, int]:
        tok = self.peek()
        if tok.kind == "kw" and tok.text == "not":
            after = self.tokens[self.i + 1]
            if after.kind == "kw" and after.text == "in":
                return "not in", 2
            return None, 0
        if tok.kind in ("op", "kw") and tok.text in _INFIX:
            return tok.text, 1
        return None, 0

    def prefix(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            return Lit(float(tok.text) if "." in tok.text else int(tok.text), tok.pos)
        if tok.kind == "str":
            return Lit(unquote(tok.text, tok.pos), tok.pos)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return Lit(tok.text == "true", tok.pos)
        if tok.kind == "kw" and tok.text == "not":
            return Unary("not", self.expression(_NOT_POWER), tok.pos)
        if tok.kind == "op" and tok.text == "-":
            return Unary("-", self.expression(_NEG_POWER), tok.pos)
        if tok.kind == "op" and tok.text == "(":
            node = self.expression(0)
            self.expect(")")
            return node
        if tok.kind == "op" and tok.text == "[":
            return self.list_literal(tok)
        if tok.kind == "name" or (tok.kind == "kw" and tok.text in ("matches", "glob")):
            if self.peek().text == "(" and self.peek().kind == "op":
                return self.call(tok)
            if tok.kind == "name":
                return Name(tok.text, tok.pos)
        raise ExprError(f"expected a value but found {describe(tok)}", tok.pos)

    def list_literal(self, start: Token) -> ListLit:
        items: list[Lit] = []
        while self.peek().text != "]" or self.peek().kind != "op":
            node = self.prefix()
            if isinstance(node, Unary) and node.op == "-" and isinstance(node.operand, Lit):
                node = Lit(-node.operand.value, node.pos)  # type: ignore[operator]
            if not isinstance(node, Lit):
                raise ExprError("a list holds only literals (numbers or strings)", _pos(node))
            items.append(node)
            if self.peek().text == ",":
                self.next()
            elif self.peek().text != "]":
                raise ExprError(f"expected ',' or ']' but found {describe(self.peek())}", self.peek().pos)
        self.next()
        return ListLit(tuple(items), start.pos)

    def call(self, name: Token) -> Call:
        self.expect("(")
        args: list[Node] = []
        while self.peek().text != ")":
            args.append(self.expression(0))
            if self.peek().text == ",":
                self.next()
            elif self.peek().text != ")":
                raise ExprError(f"expected ',' or ')' but found {describe(self.peek())}", self.peek().pos)
        self.next()
        return Call(name.text, tuple(args), name.pos)


def _pos(node: Node) -> int:
    return node.pos


def describe(tok: Token) -> str:
    return "end of expression" if tok.kind == "end" else f"'{tok.text}'"


def parse(text: str) -> Node:
    """Parse one condition; raises ExprErrors with the offset of every problem found."""
    return Parser(text).parse()


def canonical(node: Node) -> str:
    """A normalised spelling of a (sub-)expression: equal conditions share one computation."""
    if isinstance(node, Lit):
        return repr(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, ListLit):
        return "[" + ",".join(canonical(i) for i in node.items) + "]"
    if isinstance(node, Call):
        return node.func + "(" + ",".join(canonical(a) for a in node.args) + ")"
    if isinstance(node, Unary):
        return f"({node.op} {canonical(node.operand)})"
    return f"({canonical(node.left)} {node.op} {canonical(node.right)})"
