"""Reading shield's own JSON log lines back: pick the fields a person filters on, filter, render.

Pure (no I/O): `shield tail` and `shield report` feed it lines. Both shapes are read: shield's
own JSON and `log.format: ecs` (the ECS name is tried when shield's is absent).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

# field -> where it lives in an ECS line
_ECS_PATHS: dict[str, tuple[str, ...]] = {
    "event": ("message",),
    "ts": ("@timestamp",),
    "action": ("shield", "action"),
    "client_ip": ("source", "ip"),
    "account_id": ("user", "id"),
    "account": ("user", "name"),
    "country": ("source", "geo", "country_iso_code"),
    "route": ("shield", "route"),
    "score": ("event", "risk_score"),
    "outcome": ("event", "outcome"),
    "status": ("http", "response", "status_code"),
    "rules": ("shield", "rules"),
    "reason": ("event", "reason"),
}

_COLORS = {"allow": "32", "tag": "36", "delay": "33", "challenge": "35", "block": "31", "ban": "1;31"}
_ALERT = "1;37;41"


def parse_line(raw: bytes | str) -> dict[str, Any] | None:
    """One JSON object, or None for anything else (console lines, partial writes, garbage)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def field(line: Mapping[str, Any], name: str) -> Any:
    """A field from a shield line or an ECS line."""
    if name in line and not isinstance(line[name], dict):
        return line[name]
    node: Any = line
    for part in _ECS_PATHS.get(name, ()):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def rule_ids(line: Mapping[str, Any]) -> list[str]:
    rules = field(line, "rules")
    if not isinstance(rules, list):
        return []
    return [str(r["id"]) for r in rules if isinstance(r, dict) and "id" in r]


@dataclass(slots=True, frozen=True)
class LineFilter:
    """What `shield tail` keeps; an empty filter keeps every JSON line."""

    actions: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()  # keyed account id, or the clear name when logged
    addresses: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    events: frozenset[str] = frozenset()

    def keeps(self, line: Mapping[str, Any]) -> bool:
        if self.events and field(line, "event") not in self.events:
            return False
        if self.actions and field(line, "action") not in self.actions:
            return False
        if self.rules and not self.rules.intersection(rule_ids(line)):
            return False
        if self.accounts and not {field(line, "account_id"), field(line, "account")} & self.accounts:
            return False
        return not self.addresses or _in_any(field(line, "client_ip"), self.addresses)


def parse_addresses(values: Sequence[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`10.0.0.1` or `10.0.0.0/16`; raises ValueError with the bad value."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)


def _in_any(ip: object, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if not isinstance(ip, str):
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in nets)


def render(line: Mapping[str, Any], *, color: bool) -> str:
    """One readable line: time, event/action, who, score, rules, outcome."""
    event = str(field(line, "event") or "?")
    action = field(line, "action")
    ts = str(field(line, "ts") or "")[11:23]
    head = str(action) if event == "decision" and action else event
    code = _ALERT if event == "takeover.suspected" else _COLORS.get(str(action), "") if event == "decision" else ""
    head = f"\x1b[{code}m{head:<9}\x1b[0m" if color and code else f"{head:<9}"
    who = " ".join(
        str(v) for v in (field(line, "route"), field(line, "client_ip"), field(line, "country"),
                         field(line, "account") or field(line, "account_id")) if v
    )
    parts = [ts, head, who]
    if event == "decision":
        parts.append(f"score={field(line, 'score')}")
        if ids := rule_ids(line):
            parts.append("rules=" + ",".join(ids))
        parts.append(f"outcome={field(line, 'outcome')} status={field(line, 'status')}")
    elif (reason := field(line, "reason")) is not None:
        parts.append(f"reason={reason}")
    return " ".join(p for p in parts if p)
