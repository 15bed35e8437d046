"""The JSON fast path of extract_credentials answers exactly as the general path, for any body."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shield.facts.identity import credentials, json_login
from shield.facts.identity.credentials import MAX_ACCOUNT_CHARS, extract_credentials, normalise_account
from shield.facts.identity.keyed import Keyer
from shield.settings.schema import DEFAULT_ROUTES, FieldRef, RouteSettings

KEYER = Keyer(b"test-secret-0123456789abcdef")


def _route(duplicates: str, *, account: bool = True, password: bool = True) -> RouteSettings:
    return RouteSettings(
        name="login",
        path="/api/login",
        account=FieldRef("json", "username") if account else None,
        password=FieldRef("json", "password") if password else None,
        duplicates=duplicates,  # type: ignore[arg-type]
    )


ROUTES = [_route(d) for d in ("first", "last", "malformed")] + [
    _route("malformed", password=False),
    _route("last", account=False),
    DEFAULT_ROUTES[0],  # json, form and query, duplicates: malformed
    RouteSettings(
        name="login",
        path="/api/login",
        account=(FieldRef("header", "X-User"), FieldRef("json", "username"), FieldRef("form", "username")),
        password=(FieldRef("query", "password"), FieldRef("json", "password")),
        duplicates="first",
    ),
]

_KEYS = st.sampled_from(['"username"', '"password"', '"user\\u006eame"', '"pass"', '"USERNAME"', '"password "'])
_SCALARS = st.one_of(
    st.text(max_size=12).map(json.dumps),
    st.sampled_from(
        [
            '"Alice@Example.com "',
            '""',
            '"\uff21\uff2c"',
            '"\uff21LICE"',
            '"\\ud800"',
            "1e999",
            "NaN",
            "null",
            "7",
            "true",
        ]
    ),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=2).map(lambda v: "[" + ",".join(v) + "]"))
_OBJECTS = st.lists(st.tuples(_KEYS, _VALUES), max_size=5).map(
    lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
)
_BODIES = st.one_of(
    _OBJECTS.map(str.encode),
    _OBJECTS.map(lambda o: f'{{"username": {o}}}'.encode()),
    st.sampled_from([b"", b"[]", b"null", b'"x"', b"{", b'{"username": "a", "password": "b"} x']),
    st.binary(max_size=40),
)


_CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain", ""]
)
_PARAMS = st.dictionaries(st.sampled_from(["username", "password", "next"]), st.sampled_from(["", "a", "bob"]))
_HEADERS = st.dictionaries(st.sampled_from(["x-user", "accept"]), st.sampled_from(["", "bob", "\xe9"]))


def general(
    route: RouteSettings,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> credentials.Credentials:
    return credentials._general(route, content_type, headers or {}, query or {}, body, KEYER)


@pytest.mark.parametrize("route", ROUTES)
@given(
    body=_BODIES
    | st.sampled_from([b'{"username": "a=b", "password": "p"}', b"username=bob&password=pw"])
    | st.builds(
        lambda a, p, extra: json.dumps({"username": a, "password": p, "x": extra}).encode(),
        st.sampled_from(["alice", "Bob "]),
        st.sampled_from(["pw", ""]),
        st.sampled_from(["", "&username=eve&password=x", "a=b"]),
    ),
    content_type=_CONTENT_TYPES,
    headers=_HEADERS,
    query=_PARAMS,
)
@settings(max_examples=300, deadline=None)
def test_fast_path_equals_general_path(
    route: RouteSettings, body: bytes, content_type: str, headers: dict[str, str], query: dict[str, str]
) -> None:
    fast = extract_credentials(
        route=route, content_type=content_type, headers=headers, query=query, body=body, keyer=KEYER
    )
    assert fast == general(route, body, content_type, headers, query)


@pytest.mark.parametrize(
    "body",
    [
        b'{"username": "alice", "username": "bob", "password": "pw"}',  # security: a repeated account
        b'{"username": "alice", "user\\u006eame": "bob", "password": "pw"}',  # the same key, escaped
        b'{"username": "alice", "password": "pw", "password": "other"}',
    ],
)
def test_repeated_fields_still_flag_the_request(body: bytes) -> None:
    route = _route("malformed")
    got = extract_credentials(
        route=route, content_type="application/json", headers={}, query={}, body=body, keyer=KEYER
    )
    assert got.malformed
    assert got == general(route, body)


@pytest.mark.parametrize("route", [_route("malformed"), DEFAULT_ROUTES[0]])
def test_the_fast_path_is_taken_for_a_plain_login(route: RouteSettings) -> None:
    body = b'{"username": "Alice@Example.com", "password": "pw"}'
    plan = json_login.plan_for(route)
    assert json_login.read_json_login(plan, body, "application/json", {}, {}) == ("Alice@Example.com", "pw")


def _unicode_normalise(raw: str) -> str:
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw.strip()).casefold()).strip()
    return text[:MAX_ACCOUNT_CHARS]


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=300))
def test_ascii_accounts_normalise_as_the_unicode_path(raw: str) -> None:
    assert normalise_account(raw) == _unicode_normalise(raw)
