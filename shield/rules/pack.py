"""Load lists and rules: the one function every reader of a rule folder calls.

`shield run` (at start and on every reload), its preflight, `shield explain`, `shield rules
check|test` and `shield replay` all load a folder the same way: rules/lists/ plus the config's
`extra_lists`, then every rule file compiled against those lists. The result is one immutable
RulePack, what a reload swaps whole, so the facts (ip.hosting, ip.tor, ...) and the rules that
read them always come from the same load.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shield.facts.enrich.lists import load_list_folders
from shield.model import DEFAULT_WINDOWS, NamedList, Window
from shield.rules.load import load_rules
from shield.rules.score import RuleSet


@dataclass(slots=True, frozen=True)
class RulePack:
    """A compiled rule set and the named lists it was compiled with."""

    rules: RuleSet
    lists: Mapping[str, NamedList]

    @property
    def hash(self) -> str:
        return self.rules.hash


def load_pack(
    folder: Path,
    *,
    extra_lists: Iterable[Path] = (),
    windows: Sequence[Window] = DEFAULT_WINDOWS,
    routes: Collection[str] | None = None,
) -> RulePack:
    """folder/lists/ (absent: no lists) plus `extra_lists`, then folder/*.yaml compiled against them.

    Raises ListError (a ValueError listing every bad list file) or RuleErrors (every rule problem).
    """
    lists = load_list_folders(folder / "lists", tuple(extra_lists))
    return RulePack(load_rules(folder, lists=lists, windows=windows, routes=routes), lists)
