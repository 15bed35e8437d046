"""The fact catalog as a table: `shield facts` prints it, and docs/facts.md carries this table.

Windowed facts (`ip.failures_10m`, `ip.failures_1h`, ...) are one row whose name says `<w>` and
whose windows column lists the windows, so the table stays readable with any `windows:` setting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shield.facts.catalog import catalog
from shield.model import DEFAULT_WINDOWS, Window

_WINDOWED = re.compile(r"^(?P<stem>.+)_(?P<w>\d+[smhd])$")


@dataclass(slots=True, frozen=True)
class FactRow:
    name: str  # `ip.failures_<w>` for a windowed fact
    type: str
    description: str
    windows: tuple[str, ...]  # empty: not windowed
    source: str


def fact_rows(windows: Sequence[Window] = DEFAULT_WINDOWS) -> list[FactRow]:
    """One row per fact, or per windowed fact across its windows, in catalog order."""
    rows: dict[tuple[str, str, str], FactRow] = {}
    for spec in catalog(windows).values():
        m = _WINDOWED.match(spec.name)
        # windowed when its description names its window ("..., last 10m"); site.failure_ratio_5m is not
        doc, n = re.subn(rf"\blast {m['w']}\b", "last <w>", spec.doc) if m is not None else (spec.doc, 0)
        name, window = (f"{m['stem']}_<w>", (m["w"],)) if m is not None and n == 1 else (spec.name, ())
        key = (name, spec.type, doc)
        seen = rows.get(key)
        rows[key] = FactRow(name, spec.type, doc, (seen.windows if seen else ()) + window, spec.source)
    return list(rows.values())


def text_table(rows: Sequence[FactRow]) -> str:
    cells = [("fact", "type", "windows", "description")]
    cells += [(r.name, r.type, ", ".join(r.windows) or "-", r.description) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3] for c in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def markdown_table(rows: Sequence[FactRow]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| fact | type | windows | description |", "|---|---|---|---|"]
    lines += [
        f"| `{cell(r.name)}` | {r.type} | {', '.join(r.windows) or '-'} | {cell(r.description)} |" for r in rows
    ]
    return "\n".join(lines) + "\n"
