"""Campaign scenario files (YAML) -> frozen Scenario values, every problem reported at once with file:line.

A scenario is named by a bundled name (`overseas-stuffing`, see shield/sim/scenarios/) or a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

from shield.settings.yaml_reader import Position, YamlUnreadable, read, unknown_key
from shield.sim.agents import AGENT_KINDS, AgentKind
from shield.sim.world import resolve_subnet

BUNDLED_DIR = Path(__file__).resolve().parent / "scenarios"
TOP = "a scenario"  # how messages name the top level of a scenario file
Mode = Literal["stuffing", "spray", "targeted"]
Shape = Literal["constant", "burst", "ramp"]
Rotate = Literal["per_request", "per_address", "per_account", "fixed"]
RightGuess = Literal["last", "every"]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_KNOWN = {
    "name",
    "description",
    "seed",
    "start",
    "duration",
    "mode",
    "rate",
    "list",
    "passwords",
    "targets",
    "addresses",
    "agents",
    "bulk_after_success",
    "pow_solve",
}


class ScenarioError(ValueError):
    """Every problem of one scenario file, one `file:line:col: message` per line."""


@dataclass(slots=True, frozen=True)
class PowSolve:
    enabled: bool = False
    max_difficulty: int = 0  # the hardest puzzle the attacker pays for; harder ones are given up


@dataclass(slots=True, frozen=True)
class Scenario:
    name: str
    seed: int
    start: float  # seconds after the start of the simulated run
    duration: float
    mode: Mode = "stuffing"
    shape: Shape = "constant"
    list_size: int = 1000  # leaked pairs (stuffing), accounts sprayed (spray), targets (targeted)
    valid_share: float = 0.01  # pairs that are right for this site
    known_share: float = 0.4  # pairs whose account exists here (the rest are unknown accounts)
    passwords: tuple[str, ...] = ()  # spray: tried one a day per account
    attempts_per_day: tuple[int, int] = (1, 2)  # targeted
    right_guess: RightGuess = "last"  # targeted, a known password: on the last try only, or on every try
    pools: tuple[tuple[str, float], ...] = (("foreign-hosting", 1.0),)
    attempts_per_address: tuple[int, int] = (1, 4)
    agent_kinds: tuple[tuple[AgentKind, float], ...] = (("library", 1.0),)
    rotate: Rotate = "per_request"
    bulk_after_success: bool = False
    pow_solve: PowSolve = PowSolve()
    description: str = ""

    def scaled(self, factor: float) -> Scenario:
        """The same campaign with its list (and so its attempts) scaled, for quick runs."""
        return replace(self, list_size=max(1, round(self.list_size * factor)))


def parse_duration(value: Any) -> float:
    """90, "90s", "10m", "2h", "1.5d" -> seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 10m, 2h or 1d")
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration such as 90s, 10m, 2h or 1d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def find(name_or_path: str) -> Path:
    """A bundled scenario name or a file path -> the file."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path
    return BUNDLED_DIR / f"{name_or_path}.yaml"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml"))


def load(name_or_path: str) -> Scenario:
    path = find(name_or_path)
    if not path.is_file():
        raise ScenarioError(f"{name_or_path}: no such scenario file (bundled: {', '.join(bundled_names())})")
    try:
        doc = read(path, top=TOP)
    except YamlUnreadable as exc:
        raise ScenarioError(str(exc.problem)) from None
    problems = [str(p) for p in doc.duplicates]  # the last one wins, but never in silence
    try:
        scenario = parse(doc.data, doc.positions, source=str(path))
    except ScenarioError as exc:
        problems.append(str(exc))
    if problems:
        raise ScenarioError("\n".join(problems))
    return scenario


class _Reader:
    """Typed access to the parsed mapping that collects errors instead of stopping at the first."""

    def __init__(self, data: dict[str, Any], pos: dict[str, Position], source: str) -> None:
        self.data, self.pos, self.source = data, pos, source
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.error_here(path, f"{path}: {message}")

    def error_here(self, path: str, message: str) -> None:
        """A problem whose message names its key itself."""
        line, col = self.pos.get(path) or self.pos.get(path.rsplit(".", 1)[0], (1, 1))
        self.errors.append(f"{self.source}:{line}:{col}: {message}")

    def get(self, path: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def typed(self, path: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.get(path, default)
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            self.error(path, f"expected a number, got {value!r}")
            return default
        if not isinstance(value, kind):
            self.error(path, f"expected {getattr(kind, '__name__', 'a number')}, got {value!r}")
            return default
        return value

    def share(self, path: str, default: float) -> float:
        value = float(self.typed(path, (int, float), default))
        if not 0 <= value <= 1:
            self.error(path, f"must be between 0 and 1, got {value}")
        return value

    def span(self, path: str, default: tuple[int, int]) -> tuple[int, int]:
        value = self.get(path, list(default))
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value, value]
        ok = isinstance(value, list) and len(value) == 2 and all(type(v) is int and v >= 1 for v in value)
        if not ok or value[0] > value[1]:
            self.error(path, f"expected [low, high] with 1 <= low <= high, got {value!r}")
            return default
        return value[0], value[1]

    def duration(self, path: str, default: float) -> float:
        try:
            return parse_duration(self.get(path, default))
        except ValueError as exc:
            self.error(path, str(exc))
            return default

    def choice(self, path: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.get(path, default)
        if value not in allowed:
            self.error(path, f"expected one of {', '.join(allowed)}, got {value!r}")
            return default
        return str(value)

    def weights(self, path: str, check: Any, default: tuple[tuple[Any, float], ...]) -> tuple[tuple[Any, float], ...]:
        value = self.get(path)
        if value is None:
            return default
        if isinstance(value, list):
            value = dict.fromkeys(value, 1.0)
        if not isinstance(value, dict) or not value:
            self.error(path, "expected a mapping of name: weight (or a list of names)")
            return default
        out = []
        for key, weight in value.items():
            problem = check(key)
            if problem:
                self.error(f"{path}.{key}", problem)
            elif isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
                self.error(f"{path}.{key}", f"weight must be a positive number, got {weight!r}")
            else:
                out.append((key, float(weight)))
        return tuple(out) or default


def _check_pool(name: str) -> str | None:
    try:
        resolve_subnet(name)
    except KeyError:
        return f"unknown address pool {name!r} (a pool name such as foreign-hosting, or a CIDR of the world table)"
    return None


def _check_kind(name: str) -> str | None:
    return None if name in AGENT_KINDS else f"unknown agent kind {name!r} (one of {', '.join(AGENT_KINDS)})"


def parse(data: Any, pos: dict[str, Position], *, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}:1:1: a scenario is a mapping (name: ..., duration: ..., ...)")
    r = _Reader(data, pos, source)
    for key in data:
        if key not in _KNOWN:
            r.error_here(key, unknown_key(str(key), _KNOWN, TOP))
    name = r.typed("name", str, Path(source).stem)
    pow_enabled = r.typed("pow_solve.enabled", bool, False)
    scenario = Scenario(
        name=name,
        description=str(r.get("description", "")).strip(),
        seed=r.typed("seed", int, 1),
        start=r.duration("start", 0.0),
        duration=r.duration("duration", 3600.0),
        mode=cast(Mode, r.choice("mode", ("stuffing", "spray", "targeted"), "stuffing")),
        shape=cast(Shape, r.choice("rate.shape", ("constant", "burst", "ramp"), "constant")),
        list_size=r.typed("list.size", int, 1000),
        valid_share=r.share("list.valid_share", 0.01),
        known_share=r.share("list.known_share", 0.4),
        passwords=tuple(str(p) for p in r.typed("passwords", list, [])),
        attempts_per_day=r.span("targets.attempts_per_day", (1, 2)),
        right_guess=cast(RightGuess, r.choice("targets.right_guess", ("last", "every"), "last")),
        pools=r.weights("addresses.pools", _check_pool, (("foreign-hosting", 1.0),)),
        attempts_per_address=r.span("addresses.attempts_per_address", (1, 4)),
        agent_kinds=r.weights("agents.kinds", _check_kind, (("library", 1.0),)),
        rotate=cast(Rotate, r.choice("agents.rotate", get_args(Rotate), "per_request")),
        bulk_after_success=r.typed("bulk_after_success", bool, False),
        pow_solve=PowSolve(pow_enabled, r.typed("pow_solve.max_difficulty", int, 0)),
    )
    if scenario.duration <= 0:
        r.error("duration", "must be positive")
    if scenario.list_size < 1:
        r.error("list.size", "must be at least 1")
    if scenario.valid_share > scenario.known_share:
        r.error("list.valid_share", "cannot exceed list.known_share (a valid pair is a known account)")
    if scenario.mode == "spray" and not scenario.passwords:
        r.error("passwords", "mode spray needs a list of passwords to spray")
    if r.errors:
        raise ScenarioError("\n".join(r.errors))
    return scenario
