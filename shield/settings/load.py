"""`shield.yaml` + `SHIELD_*` environment + CLI flags -> shield.settings.schema.Settings, every problem at once.

The dataclasses are walked generically: a field's type says how to read it, so a new setting with
a default needs no change here. Precedence: defaults < YAML < environment < CLI flags.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from shield.model import Window
from shield.settings import yaml_reader
from shield.settings.linear_regex import RegexRefused, compile_linear
from shield.settings.schema import MAX_DIFFICULTY, ChallengeSettings, FieldRef, RouteSettings, Settings

ENV_PREFIX = "SHIELD_"
TOP = "the settings"  # how messages name the top level of shield.yaml
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
STORE_SCHEMES = frozenset({"memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "unix"})
# Keys that are not Settings fields: where a secret is read from, never the secret itself.
SECRET_FILES = {
    "secret_file": "secret",
    "admin.token_file": "admin.token",
    "admin.metrics_token_file": "admin.metrics_token",
}
_WINDOW = re.compile(r"^(\d+)([smhd])$")
_PARENT = re.compile(r"(\.[^.\[]+|\[\d+\]|^[^.\[]+)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SettingsError(Exception):
    """Every problem of a configuration, one `file:line:col: key.path: reason` per line (the place is
    `env SHIELD_X` or `--flag` for a value that came from there)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Text(str):
    """A value written as text (environment or CLI flag): lists are comma-separated."""

    __slots__ = ()


class _Loader:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self.base = config.parent if config else Path.cwd()
        self.origin: dict[str, str] = {}  # key path -> where it was written
        self.problems: list[str] = []

    def problem(self, path: str, reason: str) -> None:
        where = self._origin_of(path)
        self.problems.append(f"{where}: {path}: {reason}" if where else f"{path}: {reason}")

    def problem_here(self, path: str, message: str) -> None:
        """A problem whose message names its key itself: `place: message`."""
        where = self._origin_of(path)
        self.problems.append(f"{where}: {message}" if where else message)

    def _origin_of(self, path: str) -> str | None:
        """Where `path` or its nearest written parent came from."""
        p = path
        while p:
            if p in self.origin:
                return self.origin[p]
            p = _PARENT.sub("", p)
        return None

    # -- sources -------------------------------------------------------------------------------

    def read_yaml(self, path: Path) -> dict[str, Any]:
        file = str(path)
        try:
            doc = yaml_reader.read(path, top=TOP)  # security: aliases refused before anything expands them
        except OSError as exc:
            self.problems.append(f"{file}: cannot read: {exc.strerror or exc}")
            return {}
        except yaml_reader.YamlUnreadable as exc:
            self.problems.append(str(exc.problem))
            return {}
        self.problems += [str(p) for p in doc.duplicates]  # the last one wins, but never in silence
        if doc.data is None:
            return {}
        if not isinstance(doc.data, dict):
            self.problems.append(f"{file}:1:1: the top level must be a mapping of keys")
            return {}
        self.origin.update({key: f"{file}:{line}:{col}" for key, (line, col) in doc.positions.items() if key})
        return doc.data

    def apply_env(self, raw: dict[str, Any], env: Mapping[str, str]) -> None:
        for path in _leaf_paths(Settings, "") + list(SECRET_FILES):
            var = ENV_PREFIX + path.upper().replace(".", "_")
            if var in env:
                _set_path(raw, path, _Text(env[var]))
                self.origin[path] = f"env {var}"

    def apply_overrides(self, raw: dict[str, Any], overrides: Mapping[str, Any]) -> None:
        for path, value in overrides.items():
            if value is None:
                continue
            _set_path(raw, path, _Text(str(value)))
            self.origin[path] = "--" + path.replace(".", "-").replace("_", "-")

    # -- conversion ----------------------------------------------------------------------------

    def build(self, cls: type, data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            self.problem(path, f"expected a mapping, got {_kind(data)}")
            return None
        hints = typing.get_type_hints(cls)
        names = [f.name for f in fields(cls)]
        for key in data:
            if key not in names:
                where = path or TOP
                self.problem_here(_join(path, str(key)), yaml_reader.unknown_key(str(key), names, where))
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.default is MISSING and f.default_factory is MISSING:
                    self.problem(_join(path, f.name), "required")
                continue
            value = self.convert(hints[f.name], data[f.name], _join(path, f.name))
            if value is not _BAD:
                kwargs[f.name] = value
        try:
            return cls(**kwargs)
        except TypeError:
            return None  # the missing pieces are already reported

    def convert(self, tp: Any, value: Any, path: str) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            non_none = [a for a in args if a is not type(None)]
            if value is None or (isinstance(value, _Text) and value == "" and len(non_none) < len(args)):
                return None
            if all(a in (ipaddress.IPv4Network, ipaddress.IPv6Network) for a in non_none):
                return self._network(value, path)
            return self.convert(non_none[0], value, path)
        if origin is Literal:
            if value in args:
                return value
            return self._bad(path, f"must be one of {', '.join(map(str, args))}, got {value!r}")
        if origin in (tuple, frozenset):
            return self._collection(origin, args[0], value, path)
        if tp is FieldRef:
            return self._field_ref(value, path)
        if tp is Window:
            return self._window(value, path)
        if isinstance(tp, type) and is_dataclass(tp):
            built = self.build(tp, value, path)
            return _BAD if built is None else built
        return self._scalar(tp, value, path)

    def _scalar(self, tp: Any, value: Any, path: str) -> Any:
        text = isinstance(value, _Text)
        if tp is bool:
            if isinstance(value, bool):
                return value
            if text and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
                return value.lower() in ("true", "1", "yes", "on")
            return self._bad(path, f"expected true or false, got {value!r}")
        if tp is int or tp is float:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                return self._bad(path, f"expected a number, got {_kind(value)}")
            try:
                number = tp(value) if text or not isinstance(value, str) else None
            except ValueError:
                number = None
            if number is None or (tp is int and isinstance(value, float)):
                return self._bad(path, f"expected {'an integer' if tp is int else 'a number'}, got {value!r}")
            if number < 0:
                return self._bad(path, f"must not be negative, got {number}")
            return number
        if not isinstance(value, str):
            return self._bad(path, f"expected a string, got {_kind(value)}")
        if tp is bytes:
            return value.encode()
        if tp is Path:
            p = Path(value).expanduser()
            base = self.base if not text else Path.cwd()
            return p if p.is_absolute() else (base / p).resolve()
        return str(value)

    def _collection(self, origin: Any, item: Any, value: Any, path: str) -> Any:
        if isinstance(value, _Text):
            value = [_Text(v.strip()) for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            return self._bad(path, f"expected a list, got {_kind(value)}")
        items = [self.convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        good = [v for v in items if v is not _BAD]
        return origin(good) if len(good) == len(items) else _BAD

    def _network(self, value: Any, path: str) -> Any:
        try:
            return ipaddress.ip_network(str(value), strict=True)
        except ValueError as exc:
            return self._bad(path, f"not a valid CIDR: {exc}")

    def _field_ref(self, value: Any, path: str) -> Any:
        if isinstance(value, list):  # several sources, in order: [{json: username}, {form: username}]
            if not value:
                return self._bad(path, "expected at least one source")
            refs = [self._field_ref(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return _BAD if any(r is _BAD for r in refs) else tuple(refs)
        sources = typing.get_args(typing.get_type_hints(FieldRef)["source"])
        if isinstance(value, dict) and len(value) == 1:
            ((source, where),) = value.items()
            if source in sources and isinstance(where, str) and where:
                return FieldRef(source, where)
        return self._bad(path, "expected one of {json: a.b}, {form: f}, {header: H}, {query: q}")

    def _window(self, value: Any, path: str) -> Any:
        m = _WINDOW.match(str(value))
        if not m or int(m[1]) == 0:
            return self._bad(path, f"expected a window like 1m, 10m, 1h, 24h, got {value!r}")
        return Window(str(value), int(m[1]) * _UNIT[m[2]])

    def _bad(self, path: str, reason: str) -> Any:
        self.problem(path, reason)
        return _BAD


_BAD: Any = object()


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(type(value), repr(value))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _leaf_paths(cls: type, path: str) -> list[str]:
    """Every key that has an environment variable (nested dataclasses walked; routes only from YAML)."""
    out: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp, key = hints[f.name], _join(path, f.name)
        if isinstance(tp, type) and is_dataclass(tp):
            out += _leaf_paths(tp, key)
        elif f.name != "routes":
            out.append(key)
    return out


def _set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        child = node.get(p)
        if not isinstance(child, dict):
            child = {}
            node[p] = child
        node = child
    node[last] = value


def env_var(path: str) -> str:
    """The environment variable of a key path: `admin.listen` -> SHIELD_ADMIN_LISTEN."""
    return ENV_PREFIX + path.upper().replace(".", "_")


def load_settings(
    config: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and check; raise SettingsError with every problem found."""
    loader = _Loader(config)
    raw: dict[str, Any] = loader.read_yaml(config) if config else {}
    loader.apply_env(raw, os.environ if env is None else env)
    loader.apply_overrides(raw, overrides or {})
    secret_files = _pop_secret_files(loader, raw)
    settings = loader.build(Settings, raw, "")
    if settings is not None:
        settings = _read_secret_files(loader, settings, secret_files)
        _check(loader, settings)
    if loader.problems or settings is None:
        raise SettingsError(loader.problems)
    return settings  # type: ignore[no-any-return]


def _pop_secret_files(loader: _Loader, raw: dict[str, Any]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for key, target in SECRET_FILES.items():
        *parents, last = key.split(".")
        node: Any = raw
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            value = loader.convert(Path, node.pop(last), key)
            if value is not _BAD:
                out[target] = value
    return out


def _read_secret_files(loader: _Loader, settings: Settings, files: dict[str, Path]) -> Settings:
    for target, path in files.items():
        key = next(k for k, t in SECRET_FILES.items() if t == target)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            loader.problem(key, f"cannot read {path}: {exc.strerror or exc}")
            continue
        if target == "secret":
            settings = dataclasses.replace(settings, secret=value.encode())
        else:
            field_name = target.removeprefix("admin.")
            admin = dataclasses.replace(settings.admin, **{field_name: value})
            settings = dataclasses.replace(settings, admin=admin)
    return settings


def _check(loader: _Loader, s: Settings) -> None:
    """Checks that span more than one field's type."""
    for key, value in (("listen", s.listen), ("admin.listen", s.admin.listen)):
        reason = listen_problem(value)
        if reason:
            loader.problem(key, reason)
    url = urlsplit(s.upstream)
    if url.scheme not in ("http", "https") or not url.hostname:
        loader.problem("upstream", f"expected an http:// or https:// URL with a host, got {s.upstream!r}")
    scheme = s.store.split("://", 1)[0] if "://" in s.store else ""
    if scheme not in STORE_SCHEMES:
        loader.problem("store", f"expected memory:// or redis[s]://..., got {s.store!r}")
    for i, country in enumerate(sorted(s.home_countries)):
        if not re.fullmatch(r"[A-Z]{2}", country):
            loader.problem(f"home_countries[{i}]", f"expected an ISO 3166 two-letter code like JP, got {country!r}")
    _check_limits(loader, s)
    seen: set[str] = set()
    for i, route in enumerate(s.routes):
        _check_route(loader, route, f"routes[{i}]", seen)
    _check_challenge(loader, s.challenge)
    _check_patterns(loader, s)


def _check_challenge(loader: _Loader, c: ChallengeSettings) -> None:
    # security: the token stores the difficulty in a byte and verify() refuses more than the PoW's
    # maximum; a puzzle beyond it could never be solved, so every challenged client would be locked out.
    if c.max_difficulty > MAX_DIFFICULTY:
        loader.problem(
            "challenge.max_difficulty", f"at most {MAX_DIFFICULTY} (the proof of work's limit), got {c.max_difficulty}"
        )
    if c.base_difficulty > c.max_difficulty:
        loader.problem(
            "challenge.base_difficulty",
            f"must not exceed challenge.max_difficulty ({c.max_difficulty}), got {c.base_difficulty}",
        )


def _check_patterns(loader: _Loader, s: Settings) -> None:
    """security: an operator's regex runs on attacker-chosen text: RE2 only, refused at load otherwise."""
    if s.client.app_ua_pattern:
        try:
            compile_linear(s.client.app_ua_pattern)
        except RegexRefused as e:
            loader.problem("client.app_ua_pattern", e.message)


def _check_limits(loader: _Loader, s: Settings) -> None:
    """security: a zero limit is no limit at all (a pool of 0 made every request wait forever,
    a timeout of 0 would close every connection at once)."""
    positive = {
        "upstream_options.pool_size": s.upstream_options.pool_size,
        "upstream_options.pool_acquire_timeout": s.upstream_options.pool_acquire_timeout,
        "limits.header_read_timeout": s.limits.header_read_timeout,
        "limits.body_read_timeout": s.limits.body_read_timeout,
        "limits.keepalive_timeout": s.limits.keepalive_timeout,
        "limits.client_write_timeout": s.limits.client_write_timeout,
        "limits.max_head_bytes": s.limits.max_head_bytes,
        "limits.max_header_bytes": s.limits.max_header_bytes,
        "limits.max_headers": s.limits.max_headers,
        "limits.max_connections": s.limits.max_connections,
    }
    for key, value in positive.items():
        if value <= 0:
            loader.problem(key, "must be at least 1" if isinstance(value, int) else "must be more than 0")


def _check_route(loader: _Loader, route: RouteSettings, path: str, seen: set[str]) -> None:
    if route.name in seen:
        loader.problem(f"{path}.name", f"duplicate route name {route.name!r}")
    seen.add(route.name)
    if not route.path.startswith("/"):
        loader.problem(f"{path}.path", f"must start with '/', got {route.path!r}")
    for method in sorted(route.methods):
        if method.upper() not in HTTP_METHODS:
            hint = yaml_reader.did_you_mean(method.upper(), HTTP_METHODS)
            loader.problem(f"{path}.methods", f"unknown method {method!r}{hint}")
    if route.max_body == 0:
        loader.problem(f"{path}.max_body", "must be at least 1")


def listen_problem(value: str) -> str | None:
    """None when `value` is HOST:PORT (IPv6 in brackets), else why not."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        return f"expected HOST:PORT like 127.0.0.1:8000 or [::1]:8000, got {value!r}"
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return f"not an IPv6 address in {value!r}"
    elif not host or not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        return f"expected HOST:PORT like 127.0.0.1:8000 or [::1]:8000, got {value!r}"
    return None


def split_listen(value: str) -> tuple[str, int]:
    """`[::1]:8000` -> ("::1", 8000); assumes listen_problem(value) is None."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)
