"""Every YAML file shield reads (settings, rules, rule tests, campaigns) is composed here, without aliases.

security: an alias (`*name`) repeats an anchored node without copying it, so nine lines of nested
aliases (the "billion laughs") stand for 9**9 values: composing is instant, but anything that walks
or converts the tree (the settings loader, the rule hash, a campaign) expands them and hangs the
start. Shield's files never need them, so an alias is refused at its place, before anything walks
the tree. The refusal is a `yaml.MarkedYAMLError`: every reader already reports those with
file:line:col.
"""

from __future__ import annotations

from typing import Any

import yaml

ALIASES_REFUSED = "YAML aliases are not allowed in shield's files (write the value out)"


class AliasRefused(yaml.MarkedYAMLError):
    pass


def refuse_aliases(text: str) -> None:
    """Raise AliasRefused at the first alias of `text` (a syntax error raises as yaml.compose would)."""
    if "*" not in text:  # an alias needs one: most files skip the event scan
        return
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            mark: Any = event.start_mark  # the C parser's Mark: same fields as yaml.error.Mark
            raise AliasRefused(problem=f"{ALIASES_REFUSED}: *{event.anchor}", problem_mark=mark)


def compose(text: str) -> yaml.Node | None:
    """yaml.compose with the C loader, aliases refused."""
    refuse_aliases(text)
    return yaml.compose(text, Loader=yaml.CSafeLoader)
