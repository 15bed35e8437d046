"""Write the generated references into the docs pages, between their markers.

    .venv/bin/python -m tests.docs.regenerate

The configuration reference (docs/configuration.md) comes from shield.settings.reference, the fact
catalog (docs/facts.md) from shield.facts.table; tests/docs/test_docs.py fails when a page is out of step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shield.facts.table import fact_rows
from shield.facts.table import markdown_table as facts_markdown
from shield.settings.reference import markdown_table as config_markdown
from shield.settings.reference import reference_rows

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMAND = ".venv/bin/python -m tests.docs.regenerate"


@dataclass(slots=True, frozen=True)
class Generated:
    page: str  # under docs/
    marker: str  # `<!-- {marker}: begin -->` ... `<!-- {marker}: end -->`
    render: Callable[[], str]

    @property
    def begin(self) -> str:
        return f"<!-- {self.marker}: begin -->\n"

    @property
    def end(self) -> str:
        return f"<!-- {self.marker}: end -->"


GENERATED = (
    Generated("configuration.md", "shield config --markdown", lambda: config_markdown(reference_rows())),
    Generated("facts.md", "shield facts --markdown", lambda: facts_markdown(fact_rows())),
)


def current(g: Generated) -> str:
    """What the page carries between the markers now."""
    text = (DOCS / g.page).read_text(encoding="utf-8")
    return text.split(g.begin, 1)[1].split(g.end, 1)[0]


def write(g: Generated) -> bool:
    """Replace the block between the markers; True when the page changed."""
    path = DOCS / g.page
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(g.begin, 1)
    tail = rest.split(g.end, 1)[1]
    new = head + g.begin + g.render() + g.end + tail
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    for g in GENERATED:
        print(f"docs/{g.page}: {'regenerated' if write(g) else 'up to date'}")
