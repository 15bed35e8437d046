"""Named lists written inline in a rule file (`lists:` section), beside the files of rules/lists/.

    lists:
      vip_accounts: ["alice", "bob"]          # kind inferred: all whole numbers -> int,
      office: {kind: cidr, items: ["192.0.2.0/24"]}   # all networks -> cidr, else str
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

import yaml

from shield.model import FactValue
from shield.rules.source import Source, check_keys, mapping, scalar, sequence

ListKind = Literal["int", "cidr", "str"]
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(slots=True, frozen=True)
class InlineList:
    name: str
    kind: ListKind
    values: frozenset[str | int]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def contains(self, value: FactValue) -> bool:
        if self.kind != "cidr":
            return value in self.values
        try:
            addr = ipaddress.ip_address(str(value))
        except ValueError:
            return False
        return any(addr in net for net in self.networks)

    def __len__(self) -> int:
        return len(self.values)


def _infer(items: list[str]) -> ListKind:
    if items and all(i.lstrip("-").isdigit() for i in items):
        return "int"
    try:
        for i in items:
            ipaddress.ip_network(i, strict=False)
    except ValueError:
        return "str"
    return "cidr" if items else "str"


def parse_lists(src: Source, node: yaml.Node) -> dict[str, InlineList]:
    out: dict[str, InlineList] = {}
    for name, (knode, vnode) in (mapping(src, node, "lists") or {}).items():
        if not set(name) <= _NAME_OK:
            src.error(knode, f"list name '{name}' may only use a-z, 0-9 and _")
            continue
        kind: ListKind | None = None
        if isinstance(vnode, yaml.MappingNode):
            items = mapping(src, vnode, f"lists.{name}") or {}
            check_keys(src, items, ("kind", "items"), f"lists.{name}")
            kind_text = scalar(src, items["kind"][1], f"lists.{name}.kind") if "kind" in items else None
            if kind_text is not None and kind_text not in ("int", "cidr", "str"):
                src.error(items["kind"][1], f"lists.{name}.kind must be int, cidr or str, not {kind_text!r}")
            elif kind_text is not None:
                kind = kind_text  # type: ignore[assignment]
            vnode = items["items"][1] if "items" in items else yaml.SequenceNode("tag:yaml.org,2002:seq", [])
        values = [v for n in sequence(src, vnode, f"lists.{name}") if (v := scalar(src, n, f"lists.{name}[]"))]
        made = _build(src, vnode, name, kind or _infer(values), values)
        if made is not None:
            out[name] = made
    return out


def _build(src: Source, node: yaml.Node, name: str, kind: ListKind, values: list[str]) -> InlineList | None:
    try:
        if kind == "int":
            return InlineList(name, kind, frozenset(int(v) for v in values))
        if kind == "cidr":
            nets = tuple(ipaddress.ip_network(v, strict=False) for v in values)
            return InlineList(name, kind, frozenset(values), nets)
    except ValueError as e:
        src.error(node, f"lists.{name}: {e}")
        return None
    return InlineList(name, kind, frozenset(values))
