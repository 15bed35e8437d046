"""`shield explain` input: a request description (JSON or a curl command line) -> facts.

The description says what a request looks like and, optionally, what the store would
remember (counters, account history) and any fact to force. Nothing is counted: explaining a
request never changes shield's memory.

JSON form:
    {"method": "POST", "path": "/api/login", "client_ip": "198.51.100.7",
     "headers": {"User-Agent": "python-requests/2.31"}, "body": {"username": "a", "password": "b"},
     "counters": {"ip.failures_10m": 25}, "history": {"countries": ["JP"], "asns": ["64500"]},
     "facts": {"site.attack_level": 2}}
curl form:
    curl -X POST http://shield/api/login -H 'User-Agent: curl/8.5' -d '{"username": "a"}' --client-ip 198.51.100.7
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import orjson
from multidict import CIMultiDict, MultiDict

from shield.challenge import pow
from shield.challenge.carried import carried
from shield.facts.build import FactBuilder, RequestFacts
from shield.facts.catalog import catalog, counter_names
from shield.model import AccountHistory, Ban, BanScope, FactValue, NamedList, Signals
from shield.settings.schema import RouteSettings, Settings


class DescriptionError(ValueError):
    """The request description cannot be understood; the message says why."""


@dataclass(slots=True, frozen=True)
class RequestDescription:
    method: str = "POST"
    path: str = "/api/login"
    query: Mapping[str, str] = field(default_factory=dict)
    client_ip: str = "127.0.0.1"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    counters: Mapping[str, int] = field(default_factory=dict)
    history: AccountHistory | None = None
    facts: Mapping[str, FactValue] = field(default_factory=dict)


def parse_description(text: str) -> RequestDescription:
    """JSON object, or a command line starting with `curl`."""
    stripped = text.strip()
    if stripped.startswith("curl"):
        return _from_curl(stripped)
    try:
        data = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        raise DescriptionError(f"not JSON and not a curl command line: {exc}") from None
    if not isinstance(data, dict):
        raise DescriptionError("the description must be a JSON object")
    return from_mapping(data)


def from_mapping(data: Mapping[str, Any]) -> RequestDescription:
    unknown = set(data) - {"method", "path", "client_ip", "headers", "body", "counters", "history", "facts", "url"}
    if unknown:
        raise DescriptionError(f"unknown keys: {', '.join(sorted(unknown))}")
    path = str(data.get("path") or urlsplit(str(data.get("url", "/api/login"))).path or "/")
    split = urlsplit(path)
    body = data.get("body", b"")
    raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else orjson.dumps(body)
    headers = data.get("headers", {})
    pairs = list(headers.items()) if isinstance(headers, dict) else [tuple(h) for h in headers]
    if not isinstance(body, str | bytes) and not any(k.lower() == "content-type" for k, _ in pairs):
        pairs.append(("Content-Type", "application/json"))
    return RequestDescription(
        method=str(data.get("method", "POST")).upper(),
        path=split.path,
        query=MultiDict(parse_qsl(split.query, keep_blank_values=True)),
        client_ip=str(data.get("client_ip", "127.0.0.1")),
        headers=tuple((str(k), str(v)) for k, v in pairs),
        body=raw,
        counters={str(k): int(v) for k, v in dict(data.get("counters", {})).items()},
        history=_history(data.get("history")),
        facts=dict(data.get("facts", {})),
    )


def _history(data: Any) -> AccountHistory | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise DescriptionError("history must be an object")
    def strings(key: str) -> tuple[str, ...]:
        return tuple(str(v) for v in data.get(key, ()))

    return AccountHistory(
        countries=strings("countries"),
        asns=strings("asns"),
        devices=strings("devices"),
        fingerprints=strings("fingerprints"),
        last_success_at=data.get("last_success_at"),
        last_lat=data.get("last_lat"),
        last_lon=data.get("last_lon"),
        last_country=data.get("last_country"),
    )


def _from_curl(command: str) -> RequestDescription:
    try:
        argv = shlex.split(command)[1:]
    except ValueError as exc:
        raise DescriptionError(f"cannot split the command line: {exc}") from None
    method, url, headers, body, ip = None, "/api/login", [], b"", "127.0.0.1"
    it = iter(argv)
    for arg in it:
        if arg in ("-X", "--request"):
            method = next(it, "POST")
        elif arg in ("-H", "--header"):
            name, _, value = next(it, "").partition(":")
            headers.append((name.strip(), value.strip()))
        elif arg in ("-d", "--data", "--data-raw", "--data-binary"):
            body = next(it, "").encode()
        elif arg in ("-A", "--user-agent"):
            headers.append(("User-Agent", next(it, "")))
        elif arg == "--client-ip":
            ip = next(it, ip)
        elif not arg.startswith("-"):
            url = arg
    if body and not any(k.lower() == "content-type" for k, _ in headers):
        # curl -d sends a form unless told otherwise; a JSON-looking body is what people mean
        headers.append(("Content-Type", "application/json" if body.lstrip()[:1] in (b"{", b"[") else
                        "application/x-www-form-urlencoded"))
    split = urlsplit(url)
    return RequestDescription(
        method=(method or ("POST" if body else "GET")).upper(), path=split.path or "/",
        query=MultiDict(parse_qsl(split.query, keep_blank_values=True)), client_ip=ip, headers=tuple(headers),
        body=body,
    )


class RouteLookup(Protocol):
    """What explain needs of the proxy's route matcher (shield.proxy.routes.RouteMatcher)."""

    def match(self, method: str, path: str) -> RouteSettings | None: ...


@dataclass(slots=True, frozen=True)
class DescribedRequest:
    """A described request as the pipeline would see it before deciding: its facts and the store's answer."""

    route: RouteSettings
    rf: RequestFacts
    signals: Signals
    forced: Mapping[str, FactValue]
    solved: bool
    passed: bool
    failed: bool = False  # carries a solution that does not verify (challenge.failed)

    def ban_keys(self) -> dict[BanScope, str]:
        """The scope values a ban on this request would name (the store's observe looks up the same)."""
        a, asn = self.rf.attempt, self.rf.facts.get("ip.asn")
        keys: dict[BanScope, str] = {"ip": a.client_ip, "subnet": a.subnet, "fp": a.fingerprint}
        if isinstance(asn, int):
            keys["asn"] = str(asn)
        if a.account_id is not None:
            keys["account"] = a.account_id
        return keys


def describe(
    desc: RequestDescription, settings: Settings, builder: FactBuilder, *, routes: RouteLookup,
    lists: Mapping[str, NamedList] | None = None, now: float,
) -> DescribedRequest:
    """Build the request's facts (with the rule pack's `lists`) and the store's answer the description gives."""
    route = routes.match(desc.method, desc.path)
    if route is None:
        names = ", ".join(f"{r.name} ({' '.join(sorted(r.methods))} {r.path})" for r in settings.routes)
        raise DescriptionError(f"{desc.method} {desc.path} is not a protected route; protected: {names}")
    known = catalog(settings.windows)
    for name in (*desc.counters, *desc.facts):
        if name not in known:
            raise DescriptionError(f"unknown fact {name!r}")
    raw = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in desc.headers)
    rf = builder.build(
        request_id="explain", route=route, method=desc.method, path=desc.path, query=desc.query,
        raw_headers=raw, body=desc.body, client_ip=desc.client_ip,
        peer_trusted=True,  # a described request is the one the terminator forwarded, headers and all
        lists=lists,
    )
    counters = dict.fromkeys(counter_names(settings.windows), 0)
    counters.update(desc.counters)
    solved, passed, failed = _challenge_marks(desc, settings, rf, route, now)
    return DescribedRequest(route, rf, Signals(counters, desc.history, None), desc.facts, solved, passed, failed)


def with_ban(described: DescribedRequest, ban: Ban | None) -> DescribedRequest:
    """The same request with the ban the store holds on it (admin explain looks it up; the CLI has none)."""
    signals = Signals(described.signals.counters, described.signals.history, ban)
    return replace(described, signals=signals)


def _challenge_marks(
    desc: RequestDescription, settings: Settings, rf: RequestFacts, route: RouteSettings, now: float
) -> tuple[bool, bool, bool]:
    """(solved, passed, failed) from the pass and solution the request carries, checked as the pipeline
    checks them. Explaining never claims a solution, so a replayed one still reads as solved here."""
    if not settings.secret:
        return False, False, False
    headers = CIMultiDict(desc.headers)  # header names are case-insensitive, as the pipeline reads them
    jar = SimpleCookie()
    with contextlib.suppress(CookieError):
        jar.load("; ".join(v for k, v in desc.headers if k.lower() == "cookie"))
    cookies = {k: m.value for k, m in jar.items()}
    binding = pow.Binding.of(
        ip=rf.attempt.client_ip, subnet=rf.attempt.subnet, route=route.name, fingerprint=rf.attempt.fingerprint,
        bind=settings.challenge.bind, account=rf.attempt.account_id or "",
    )
    marks = carried(settings.secret, headers, cookies, binding=binding, now=now)
    verified = marks.result is not None and marks.result.ok
    return verified, marks.passed, marks.result is not None and not marks.result.ok
