"""The house's shape: no import cycle between shield's packages, and a short top level.

The graph is computed from the source with ast (every `import shield.x...` and `from shield.x...
import`, at any depth, type-checking-only imports included: a cycle there is still a cycle for
a reader). A part is a package under shield/ or a top-level module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import shield

ROOT = Path(shield.__file__).parent
TOP_LEVEL = {"__init__", "cli", "model", "service"}

# Edges that exist only because of a file another piece of work owns, each with the one change
# that removes it. The test fails when one of them disappears, so the list can only shrink.
PENDING: dict[tuple[str, str], str] = {}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def imports() -> Iterator[tuple[str, str]]:
    """(importing module, imported shield module) for every import in shield/."""
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            yield from ((_module(path), n) for n in names if n.startswith("shield."))


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src, dst in imports():
        if (src, dst) in PENDING:
            continue
        a, b = _part(src), _part(dst)
        if a != b:
            graph.setdefault(a, set()).add(b)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    shown = "\n".join(f"  {a} -> {', '.join(sorted(b))}" for a, b in sorted(graph.items()))
    assert cycles(graph) == [], f"import cycles between packages; the graph:\n{shown}"


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_pending_edges_still_exist() -> None:
    """An exception whose import is gone must leave the list (keep it honest)."""
    seen = set(imports())
    assert [edge for edge in PENDING if edge not in seen] == []


def test_only_commands_import_the_simulator() -> None:
    """The proxy, the decision core, the stores ... never import shield.sim (shield demo|simulate do)."""
    product = [(src, dst) for src, dst in imports() if _part(dst) == "sim" and _part(src) not in ("sim", "commands")]
    assert product == []


def test_top_level_keeps_only_cli_model_service_and_the_packages() -> None:
    modules = {p.stem for p in ROOT.glob("*.py")}
    assert modules == TOP_LEVEL
