"""Named lists under rules/lists/: one entry per line, `#` comments, loaded once, matched fast.

The kind is inferred: "int" when every entry is an integer (ASNs), "cidr" when every entry
is an IP or network (IPv4 and IPv6), else "str" (case-folded). A first line `# kind: cidr`
(or int, str) declares it, which an empty list needs. CIDR lists are merged integer ranges
searched with bisect (O(log n)); int and str lists are frozensets (O(1)).
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shield.facts.address import bare_ip_int
from shield.model import FactValue, NamedList

Kind = Literal["int", "cidr", "str"]
_KIND_LINE = re.compile(r"#\s*kind:\s*(\w+)\s*$")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _is_int(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit alone accepts "²", which int() refuses


class ListError(ValueError):
    """Problems in list files, every one with its file:line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(slots=True, frozen=True)
class IntList:
    name: str
    values: frozenset[int]
    kind: Literal["int"] = "int"

    def contains(self, value: FactValue) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, str) and _is_int(value):
            value = int(value)
        return isinstance(value, int) and value in self.values

    def __len__(self) -> int:
        return len(self.values)


@dataclass(slots=True, frozen=True)
class StrList:
    name: str
    values: frozenset[str]
    kind: Literal["str"] = "str"

    def contains(self, value: FactValue) -> bool:
        return isinstance(value, str) and value.casefold() in self.values

    def __len__(self) -> int:
        return len(self.values)


@dataclass(slots=True, frozen=True)
class _Ranges:
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def merge(cls, ranges: Iterable[tuple[int, int]]) -> _Ranges:
        starts: list[int] = []
        ends: list[int] = []
        for lo, hi in sorted(ranges):
            if ends and lo <= ends[-1] + 1:
                ends[-1] = max(ends[-1], hi)
            else:
                starts.append(lo)
                ends.append(hi)
        return cls(tuple(starts), tuple(ends))

    def __contains__(self, x: int) -> bool:
        i = bisect.bisect_right(self.starts, x) - 1
        return i >= 0 and x <= self.ends[i]

    def uniform(self, lo: int, hi: int) -> bool:
        """Every integer of lo..hi is in, or every one is out (no range starts or ends inside)."""
        return uniform(self.starts, self.ends, lo, hi)


def uniform(starts: tuple[int, ...], ends: tuple[int, ...], lo: int, hi: int) -> bool:
    """Merged inclusive ranges (starts, ends) hold all of lo..hi or none of it."""
    i = bisect.bisect_right(starts, lo) - 1
    if i >= 0 and lo <= ends[i]:
        return hi <= ends[i]  # lo is inside range i: so must hi be
    return i + 1 >= len(starts) or starts[i + 1] > hi  # lo is in a gap: the next range starts past hi


@dataclass(slots=True, frozen=True)
class CidrList:
    name: str
    v4: _Ranges
    v6: _Ranges
    entries: int
    kind: Literal["cidr"] = "cidr"

    @classmethod
    def build(cls, name: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> CidrList:
        def ranges(version: int) -> _Ranges:
            return _Ranges.merge(
                (int(n.network_address), int(n.broadcast_address)) for n in networks if n.version == version
            )

        return cls(name, ranges(4), ranges(6), len(networks))

    def contains(self, value: FactValue) -> bool:
        ip = bare_ip_int(value.strip().strip("[]").split("%", 1)[0]) if isinstance(value, str) else None
        if ip is None:
            return False
        return self.contains_int(*ip)

    def contains_int(self, version: int, value: int) -> bool:
        """`contains` of an address already parsed (version, integer)."""
        return value in (self.v4 if version == 4 else self.v6)

    def uniform_int(self, version: int, lo: int, hi: int) -> bool:
        """`contains_int` is the same for every address of lo..hi."""
        return (self.v4 if version == 4 else self.v6).uniform(lo, hi)

    def __len__(self) -> int:
        return self.entries


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    mapped = net.network_address.ipv4_mapped if isinstance(net, ipaddress.IPv6Network) else None
    if mapped is not None and net.prefixlen >= 96:
        return ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}", strict=False)
    return net


def parse_list(name: str, lines: Iterable[str], source: str) -> NamedList:
    """One list from its lines; raises ListError naming source:line for each bad entry."""
    declared: str | None = None
    entries: list[tuple[int, str]] = []
    for lineno, line in enumerate(lines, 1):
        if lineno == 1 and (m := _KIND_LINE.match(line.strip())):
            declared = m.group(1)
        text = line.split("#", 1)[0].strip()
        if text:
            entries.append((lineno, text))
    if declared is not None and declared not in ("int", "cidr", "str"):
        raise ListError([f"{source}:1: unknown kind {declared!r} (int, cidr or str)"])
    kind = declared or _infer(entries)
    if kind == "int":
        bad = [f"{source}:{n}: {t!r} is not an integer" for n, t in entries if not _is_int(t)]
        if bad:
            raise ListError(bad)
        return IntList(name, frozenset(int(t) for _, t in entries))
    if kind == "cidr":
        nets = [(n, t, _network(t)) for n, t in entries]
        bad = [f"{source}:{n}: {t!r} is not an IP address or network" for n, t, net in nets if net is None]
        if bad:
            raise ListError(bad)
        return CidrList.build(name, [net for _, _, net in nets if net is not None])
    return StrList(name, frozenset(t.casefold() for _, t in entries))


def _infer(entries: list[tuple[int, str]]) -> Kind:
    if not entries:
        return "str"
    if all(_is_int(t) for _, t in entries):
        return "int"
    if all(_network(t) is not None for _, t in entries):
        return "cidr"
    return "str"


def load_lists(folder: Path) -> dict[str, NamedList]:
    """Every *.txt under folder by stem (rules say `lists.<stem>`); all problems reported at once."""
    lists: dict[str, NamedList] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return lists
    for path in sorted(folder.glob("*.txt")):
        name = path.stem
        if not _NAME.fullmatch(name):
            problems.append(f"{path}:0: list name {name!r} must be lower-case letters, digits and _")
            continue
        try:
            lists[name] = parse_list(name, path.read_text(encoding="utf-8").splitlines(), str(path))
        except UnicodeDecodeError as exc:
            problems.append(f"{path}:0: not UTF-8 ({exc.reason})")
        except ListError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ListError(problems)
    return lists


def _union(name: str, a: NamedList, b: NamedList, where: Path) -> NamedList:
    if isinstance(a, IntList) and isinstance(b, IntList):
        return IntList(name, a.values | b.values)
    if isinstance(a, StrList) and isinstance(b, StrList):
        return StrList(name, a.values | b.values)
    if isinstance(a, CidrList) and isinstance(b, CidrList):
        def both(x: _Ranges, y: _Ranges) -> _Ranges:
            return _Ranges.merge([*zip(x.starts, x.ends, strict=True), *zip(y.starts, y.ends, strict=True)])

        return CidrList(name, both(a.v4, b.v4), both(a.v6, b.v6), a.entries + b.entries)
    kinds = f"{getattr(b, 'kind', '?')} here, {getattr(a, 'kind', '?')} before"
    raise ListError([f"{where / (name + '.txt')}:0: list {name!r} adds to a list of another kind ({kinds})"])


def load_list_folders(folder: Path, extra: Iterable[Path] = ()) -> dict[str, NamedList]:
    """rules/lists/ plus the `extra_lists` folders (the demo world's, an operator's feed folder):
    a list of the same name adds its entries to the one before; all problems reported at once."""
    lists = load_lists(folder)
    problems: list[str] = []
    for more in extra:
        if not more.is_dir():
            problems.append(f"{more}:0: extra_lists: not a folder")
            continue
        try:
            added = load_lists(more)
        except ListError as exc:
            problems.extend(exc.problems)
            continue
        for name, lst in added.items():
            try:
                lists[name] = _union(name, lists[name], lst, more) if name in lists else lst
            except ListError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ListError(problems)
    return lists
