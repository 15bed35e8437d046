"""The "billion laughs" YAML: nine levels of nine aliases, 9**9 strings once expanded."""

from __future__ import annotations


def billion_laughs(indent: str = "", levels: int = 9) -> str:
    lines = [f'{indent}l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"
