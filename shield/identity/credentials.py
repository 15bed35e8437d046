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

from shield.identity.keyed import Keyer
from shield.settings import FieldRef, RouteSettings

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


def normalise_account(raw: str) -> str:
    """Trim, NFKC and case-fold, so `Alice@Example.com ` and full-width forms of it are one account."""
    # NFKC again after casefold: casefold can produce sequences NFKC would compose (NFKC_Casefold).
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw.strip()).casefold()).strip()
    return text[:MAX_ACCOUNT_CHARS]


@dataclass(slots=True)
class _Body:
    """The request body, parsed lazily at most once per format."""

    body: bytes
    content_type: str
    _json: Any = _MISSING
    _form: dict[str, str] | None = None

    def json_field(self, path: str) -> str | _Missing:
        if self._json is _MISSING:
            self._json = _parse_json(self.body)
        node: Any = self._json
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return node if isinstance(node, str) else _MISSING

    def form_field(self, name: str) -> str | _Missing:
        if self._form is None:
            self._form = self._parse_form()
        value = self._form.get(name)
        return _MISSING if value is None else value

    def _parse_form(self) -> dict[str, str]:
        if self.content_type.startswith("multipart/"):
            return {}  # not supported: the field reads as missing, the request as malformed
        try:
            text = self.body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=1000)
        except ValueError:  # UnicodeDecodeError is one; so are too many fields
            return {}
        form: dict[str, str] = {}
        for key, value in pairs:
            form.setdefault(key, value)  # the first wins, as aiohttp's request.post().get() does
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


def _read(ref: FieldRef, body: _Body, headers: Mapping[str, str], query: Mapping[str, str]) -> str | _Missing:
    if ref.source == "json":
        return body.json_field(ref.path)
    if ref.source == "form":
        return body.form_field(ref.path)
    if ref.source == "query":
        value = query.get(ref.path)
        return _MISSING if value is None else value
    raw = headers.get(ref.path.lower())
    if raw is None:
        return _MISSING
    try:
        return raw.encode("latin-1").decode("utf-8")  # header values arrive as latin-1; accounts are UTF-8
    except UnicodeError:
        return _MISSING


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
    parsed = _Body(body, content_type.split(";", 1)[0].strip().lower())
    malformed = False
    account: str | None = None
    password: str | None = None
    if route.account is not None:
        raw = _read(route.account, parsed, headers, query)
        if isinstance(raw, _Missing):
            malformed = True
        else:
            account = normalise_account(raw) or None
    if route.password is not None:
        raw = _read(route.password, parsed, headers, query)
        if isinstance(raw, _Missing):
            malformed = True
        else:
            password = raw or None
    password_id = keyer.password_id(password) if password is not None else None
    pair_id = keyer.pair_id(account, password) if account is not None and password is not None else None
    del password  # security: the plaintext goes no further than this frame
    return Credentials(
        account=account,
        account_id=keyer.account_id(account) if account is not None else None,
        password_id=password_id,
        pair_id=pair_id,
        account_present=account is not None,
        password_present=password_id is not None,
        malformed=malformed,
    )
