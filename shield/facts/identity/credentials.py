"""Credentials: the account and password of a protected request, read as the route says.

The password never leaves this module in clear: it is turned into keyed ids at once.
Any input is answered, never raised: a body that does not parse, a field of the wrong type
or a missing field only sets `malformed` (the request is still forwarded; the app answers).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from multidict import MultiMapping

from shield.facts.identity.json_login import field_sources, plan_for, quoted_keys, read_json_login
from shield.facts.identity.keyed import Keyer
from shield.facts.identity.multipart import multipart_fields
from shield.settings.schema import FieldRef, RouteSettings

# security: an account name is a store key and a log field; longer ones are cut, not stored whole.
MAX_ACCOUNT_CHARS = 256


class Credentials(NamedTuple):
    # A NamedTuple, not a frozen dataclass: built on every request, and 4x cheaper to construct.

    account: str | None  # normalised
    account_id: str | None
    password_id: str | None
    pair_id: str | None
    account_present: bool
    password_present: bool
    malformed: bool


class _Missing:
    """A field that is absent or of the wrong type."""


_MISSING = _Missing()
_JSON_TYPES = ("application/json", "text/json")
_FORM_TYPE = "application/x-www-form-urlencoded"


def normalise_account(raw: str) -> str:
    """Trim, NFKC and case-fold, so `Alice@Example.com ` and full-width forms of it are one account."""
    if raw.isascii():  # NFKC is the identity on ASCII, and casefold is lower(): the same text, 3x cheaper
        return raw.strip().lower()[:MAX_ACCOUNT_CHARS]
    # NFKC again after casefold: casefold can produce sequences NFKC would compose (NFKC_Casefold).
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw.strip()).casefold()).strip()
    return text[:MAX_ACCOUNT_CHARS]


class _Pairs(dict[str, Any]):
    """A JSON object that remembers every value of a key sent more than once (the dict keeps the last)."""

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.repeated: dict[str, list[Any]] = {}
        if len(self) < len(pairs):
            for key, value in pairs:
                self.repeated.setdefault(key, []).append(value)
            self.repeated = {k: v for k, v in self.repeated.items() if len(v) > 1}


@dataclass(slots=True)
class _Body:
    """The request body, parsed lazily at most once per format."""

    body: bytes
    content_type: str  # the media type alone, lower-cased
    header: str  # the whole Content-Type header (a multipart boundary lives there)
    _json: Any = _MISSING
    _pairs: Any = _MISSING
    _form: dict[str, list[str]] | None = None

    def json_values(self, path: str, *, every: bool) -> list[Any]:
        """Every value at the dotted `path` in document order; `every` reads duplicate keys too (slower)."""
        if every and self._may_repeat(path):
            return self._every_value(path)
        if self._json is _MISSING:
            self._json = _parse_json(self.body)
        node: Any = self._json
        for part in path.split("."):
            if not isinstance(node, dict):
                return []
            node = node.get(part, _MISSING)
            if node is _MISSING:
                return []
        return [node]

    def _every_value(self, path: str) -> list[Any]:
        if self._pairs is _MISSING:
            self._pairs = _parse_json_pairs(self.body)
        nodes: list[Any] = [self._pairs]
        for part in path.split("."):
            found: list[Any] = []
            for node in nodes:
                if isinstance(node, _Pairs) and part in node.repeated:
                    found += node.repeated[part]
                elif isinstance(node, dict) and part in node:
                    found.append(node[part])
            nodes = found
        return nodes

    def _may_repeat(self, path: str) -> bool:
        # security: an escaped key (`"user\u006eame"`) is the same key; only then, or when a key's text occurs
        # twice, can the path repeat, and only then is the slower duplicate-aware parse needed.
        body = self.body
        return b"\\" in body or any(body.count(needle) > 1 for needle in quoted_keys(path))

    def form_values(self, name: str) -> list[str]:
        if self._form is None:
            self._form = self._parse_form()
        return self._form.get(name, [])

    def _parse_form(self) -> dict[str, list[str]]:
        if self.content_type == "multipart/form-data":
            return multipart_fields(self.body, self.header)
        if self.content_type.startswith("multipart/") or b"=" not in self.body:
            return {}  # other multiparts are not read: the field reads as missing, the request as malformed
        try:
            text = self.body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=1000)
        except ValueError:  # UnicodeDecodeError is one; so are too many fields
            return {}
        form: dict[str, list[str]] = {}
        for key, value in pairs:
            form.setdefault(key, []).append(value)
        return form


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    # security: what orjson refuses but the app's parser may accept (lone surrogates, 1e999, NaN)
    # must still yield the account, or one odd field would hide an attempt from the account counters.
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _parse_json_pairs(body: bytes) -> Any:
    try:
        return json.loads(body, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return None


def _values(
    ref: FieldRef, body: _Body, headers: Mapping[str, str], query: Mapping[str, str], *, every: bool
) -> list[Any]:
    """Every value of the field at `ref`, in request order (several when the client repeated it)."""
    if ref.source == "json":
        return body.json_values(ref.path, every=every)
    if ref.source == "form":
        return body.form_values(ref.path)
    if ref.source == "query":
        if not query:
            return []
        if isinstance(query, MultiMapping):
            return list(query.getall(ref.path, []))
        value = query.get(ref.path)
        return [] if value is None else [value]
    raw = headers.get(ref.path.lower())
    if raw is None:
        return []
    try:
        return [raw.encode("latin-1").decode("utf-8")]  # header values arrive as latin-1; accounts are UTF-8
    except UnicodeError:
        return [_MISSING]


def _ordered(refs: tuple[FieldRef, ...], content_type: str) -> tuple[FieldRef, ...]:
    """The body source the Content-Type names first, as the app's body parser picks by it; else config order."""
    if content_type in (_FORM_TYPE, "multipart/form-data"):
        preferred = "form"
    elif content_type in _JSON_TYPES or content_type.endswith("+json"):
        preferred = "json"
    else:
        return refs
    if refs[0].source == preferred:
        return refs  # the common case: no sort
    return tuple(sorted(refs, key=lambda r: r.source != preferred))  # stable: config order otherwise


def _read(
    refs: tuple[FieldRef, ...],
    body: _Body,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    duplicates: str,
) -> tuple[str | _Missing, bool]:
    """The field's value from the first source that has it, and whether the request is malformed.

    security: a repeated field means what `duplicates` says; under `malformed`, a field repeated with
    different values, or sources that disagree, flag the request and the last value is counted.
    """
    chosen: str | _Missing = _MISSING
    malformed = False
    strict = duplicates == "malformed"
    for ref in refs:
        values = _values(ref, body, headers, query, every=duplicates != "last")
        if not values:
            continue
        value = values[0] if duplicates == "first" else values[-1]
        # one value differs from itself only when it is not text (NaN), which is malformed below anyway
        if strict and len(values) > 1 and any(v != value for v in values):
            malformed = True
        if not isinstance(value, str):
            malformed = True  # present but not text: the app's own parser may still read it
            continue
        if isinstance(chosen, _Missing):
            chosen = value
            if not strict:
                break
        elif value != chosen:
            malformed = True
            break
    return chosen, malformed or isinstance(chosen, _Missing)


def extract_credentials(
    *,
    route: RouteSettings,
    content_type: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    keyer: Keyer,
) -> Credentials:
    """Read, normalise and key the route's account and password. `headers` is keyed by lower-case name."""
    plan = plan_for(route)
    if plan.fast:
        found = read_json_login(plan, body, content_type, headers, query)
        if found is not None:
            return _keyed(found[0], found[1], False, keyer)
    return _general(route, content_type, headers, query, body, keyer)


def _general(
    route: RouteSettings,
    content_type: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    keyer: Keyer,
) -> Credentials:
    kind = content_type.split(";", 1)[0].strip().lower()
    parsed = _Body(body, kind, content_type)
    malformed = False
    account: str | None = None
    password: str | None = None
    if route.account is not None:
        raw, bad = _read(_ordered(field_sources(route.account), kind), parsed, headers, query, route.duplicates)
        malformed |= bad
        if not isinstance(raw, _Missing):
            account = raw
    if route.password is not None:
        raw, bad = _read(_ordered(field_sources(route.password), kind), parsed, headers, query, route.duplicates)
        malformed |= bad
        if not isinstance(raw, _Missing):
            password = raw
    return _keyed(account, password, malformed, keyer)


def _keyed(raw_account: str | None, password: str | None, malformed: bool, keyer: Keyer) -> Credentials:
    """Normalise the account and key both; an empty account or password counts as absent."""
    account = normalise_account(raw_account) or None if raw_account is not None else None
    password = password or None
    password_id = keyer.password_id(password) if password is not None else None
    pair_id = keyer.pair_id(account, password) if account is not None and password is not None else None
    del password  # security: the plaintext goes no further than this frame
    account_id = keyer.account_id(account) if account is not None else None
    # positional: a NamedTuple built by keyword costs twice as much, and this runs on every protected request
    return Credentials(
        account, account_id, password_id, pair_id, account is not None, password_id is not None, malformed
    )
