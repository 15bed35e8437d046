# ruff: noqa: RUF001  (look-alike characters are what these tests are about)
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shield.facts.identity.credentials import MAX_ACCOUNT_CHARS, Credentials, extract_credentials, normalise_account
from shield.facts.identity.keyed import Keyer
from shield.settings.schema import FieldRef, RouteSettings

KEYER = Keyer(b"test-secret-0123456789abcdef")
JSON_ROUTE = RouteSettings(
    name="login", path="/api/login", account=FieldRef("json", "username"), password=FieldRef("json", "password")
)
NESTED_ROUTE = RouteSettings(
    name="login",
    path="/api/login",
    account=FieldRef("json", "user.login.email"),
    password=FieldRef("json", "user.secret"),
)
FORM_ROUTE = RouteSettings(
    name="login", path="/login", account=FieldRef("form", "email"), password=FieldRef("form", "pass")
)
HEADER_QUERY_ROUTE = RouteSettings(
    name="reset", path="/reset", account=FieldRef("header", "X-Account"), password=FieldRef("query", "pw")
)
ACCOUNT_ONLY_ROUTE = RouteSettings(name="reset", path="/reset", account=FieldRef("json", "email"))


def extract(
    route: RouteSettings,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> Credentials:
    return extract_credentials(
        route=route, content_type=content_type, headers=headers or {}, query=query or {}, body=body, keyer=KEYER
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice@Example.com ", "alice@example.com"),
        ("  alice@example.com\t\n", "alice@example.com"),
        ("ＡＬＩＣＥ＠ｅｘａｍｐｌｅ．ｃｏｍ", "alice@example.com"),
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("İstanbul", "i̇stanbul"),
        ("ıSTANBUL", "ıstanbul"),
        ("ﬁle", "file"),
        ("Ⅻ", "xii"),
        ("café", "café"),
        ("cafe\u0301", "café"),
        ("ｱﾘｽ", "アリス"),
    ],
    ids=[
        "trim-and-fold",
        "whitespace",
        "full-width",
        "sharp-s",
        "sharp-s-upper",
        "turkish-dotted-capital",
        "turkish-dotless",
        "ligature",
        "roman-numeral",
        "composed",
        "decomposed-accent",
        "half-width-kana",
    ],
)
def test_account_is_trimmed_nfkc_and_case_folded(raw: str, expected: str) -> None:
    assert normalise_account(raw) == expected


def test_equivalent_accounts_get_one_id() -> None:
    a = extract(JSON_ROUTE, b'{"username": "Alice@Example.com ", "password": "x"}')
    b = extract(JSON_ROUTE, '{"username": "ａｌｉｃｅ@example.com", "password": "x"}'.encode())
    assert a.account_id == b.account_id
    assert a.pair_id == b.pair_id


def test_overlong_account_is_cut() -> None:
    assert len(normalise_account("a" * 10_000)) == MAX_ACCOUNT_CHARS


@pytest.mark.parametrize(
    ("route", "body", "content_type", "headers", "query", "account", "has_password", "malformed"),
    [
        (JSON_ROUTE, b'{"username": "bob", "password": "pw"}', "application/json", {}, {}, "bob", True, False),
        (JSON_ROUTE, b'{"username": "bob", "password": "pw"}', "", {}, {}, "bob", True, False),
        (JSON_ROUTE, b'{"username": "bob", "password": "pw"}', "text/plain", {}, {}, "bob", True, False),
        (JSON_ROUTE, b"", "application/json", {}, {}, None, False, True),
        (JSON_ROUTE, b'{"username": "bob", "password"', "application/json", {}, {}, None, False, True),
        (JSON_ROUTE, b'[{"username": "bob"}]', "application/json", {}, {}, None, False, True),
        (JSON_ROUTE, b'"bob"', "application/json", {}, {}, None, False, True),
        (JSON_ROUTE, b"null", "application/json", {}, {}, None, False, True),
        (JSON_ROUTE, b'{"username": 12345, "password": "pw"}', "application/json", {}, {}, None, True, True),
        (JSON_ROUTE, b'{"username": ["bob"], "password": "pw"}', "application/json", {}, {}, None, True, True),
        (JSON_ROUTE, b'{"username": {"a": 1}, "password": "pw"}', "application/json", {}, {}, None, True, True),
        (JSON_ROUTE, b'{"username": null, "password": "pw"}', "application/json", {}, {}, None, True, True),
        (JSON_ROUTE, b'{"username": true, "password": "pw"}', "application/json", {}, {}, None, True, True),
        (JSON_ROUTE, b'{"username": "bob", "password": 1234}', "application/json", {}, {}, "bob", False, True),
        (JSON_ROUTE, b'{"username": "bob"}', "application/json", {}, {}, "bob", False, True),
        (JSON_ROUTE, b'{"password": "pw"}', "application/json", {}, {}, None, True, True),
        (JSON_ROUTE, b'{"username": "", "password": ""}', "application/json", {}, {}, None, False, False),
        (
            JSON_ROUTE,
            b'{"username": "eve", "username": "bob", "password": "p"}',
            "application/json",
            {},
            {},
            "bob",
            True,
            True,
        ),
        (JSON_ROUTE, b'{"username": "b\xffob", "password": "pw"}', "application/json", {}, {}, None, False, True),
        (
            JSON_ROUTE,
            b'{"username": "\\ud800", "password": "\\udfff"}',
            "application/json",
            {},
            {},
            "\ud800",
            True,
            False,
        ),
        (
            JSON_ROUTE,
            b'{"username": "bob", "password": "p", "n": 1e99999}',
            "application/json",
            {},
            {},
            "bob",
            True,
            False,
        ),
        (JSON_ROUTE, b'{"username": "bob", "password": "p", "n": NaN}', "application/json", {}, {}, "bob", True, False),
        (JSON_ROUTE, b"[" * 100_000, "application/json", {}, {}, None, False, True),
        (
            NESTED_ROUTE,
            b'{"user": {"login": {"email": "Bob@X.jp"}, "secret": "pw"}}',
            "application/json",
            {},
            {},
            "bob@x.jp",
            True,
            False,
        ),
        (
            NESTED_ROUTE,
            b'{"user": {"login": "Bob@X.jp", "secret": "pw"}}',
            "application/json",
            {},
            {},
            None,
            True,
            True,
        ),
        (NESTED_ROUTE, b'{"user": [], "secret": "pw"}', "application/json", {}, {}, None, False, True),
        (
            FORM_ROUTE,
            b"email=Bob%40X.jp&pass=p%26w",
            "application/x-www-form-urlencoded",
            {},
            {},
            "bob@x.jp",
            True,
            False,
        ),
        (
            FORM_ROUTE,
            b"email=Bob+Smith&pass=",
            "application/x-www-form-urlencoded; charset=UTF-8",
            {},
            {},
            "bob smith",
            False,
            False,
        ),
        (
            FORM_ROUTE,
            b"email=first&email=second&pass=x",
            "application/x-www-form-urlencoded",
            {},
            {},
            "second",
            True,
            True,
        ),
        (FORM_ROUTE, b"email=%E3%81%82&pass=x", "application/x-www-form-urlencoded", {}, {}, "\u3042", True, False),
        (FORM_ROUTE, b"email=%FF&pass=x", "application/x-www-form-urlencoded", {}, {}, None, False, True),
        (FORM_ROUTE, b"pass=x", "application/x-www-form-urlencoded", {}, {}, None, True, True),
        (
            FORM_ROUTE,
            b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\nbob\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
            {},
            {},
            "bob",
            False,
            True,
        ),
        (FORM_ROUTE, b'{"email": "bob", "pass": "x"}', "application/json", {}, {}, None, False, True),
        (HEADER_QUERY_ROUTE, b"", "", {"x-account": " Carol "}, {"pw": "s3cret"}, "carol", True, False),
        (HEADER_QUERY_ROUTE, b"", "", {}, {"pw": "s3cret"}, None, True, True),
        (
            HEADER_QUERY_ROUTE,
            b"",
            "",
            {"x-account": "J\u00fcrgen".encode().decode("latin-1")},
            {"pw": "x"},
            "j\u00fcrgen",
            True,
            False,
        ),
        (HEADER_QUERY_ROUTE, b"", "", {"x-account": "J\u00fcrgen"}, {"pw": "x"}, None, True, True),
        (HEADER_QUERY_ROUTE, b"", "", {"x-account": "carol"}, {}, "carol", False, True),
        (ACCOUNT_ONLY_ROUTE, b'{"email": "dave@x.jp"}', "application/json", {}, {}, "dave@x.jp", False, False),
    ],
    ids=[
        "json",
        "json-no-content-type",
        "json-as-text-plain",
        "empty-body",
        "truncated-json",
        "json-array",
        "json-string",
        "json-null",
        "account-number",
        "account-list",
        "account-object",
        "account-null",
        "account-bool",
        "password-number",
        "password-missing",
        "account-missing",
        "empty-strings",
        "duplicate-json-key-flagged-last-counted",
        "invalid-utf8",
        "lone-surrogates",
        "huge-number-elsewhere",
        "nan-elsewhere",
        "deeply-nested",
        "nested-path",
        "nested-path-hits-string",
        "nested-path-hits-list",
        "form",
        "form-plus-and-empty-password",
        "duplicate-form-key-flagged-last-counted",
        "form-utf8",
        "form-invalid-utf8",
        "form-missing-account",
        "multipart-field-read-password-missing",
        "form-route-gets-json",
        "header-and-query",
        "header-missing",
        "header-utf8",
        "header-not-utf8",
        "query-missing",
        "account-only-route",
    ],
)
def test_credentials_table(
    route: RouteSettings,
    body: bytes,
    content_type: str,
    headers: dict[str, str],
    query: dict[str, str],
    account: str | None,
    has_password: bool,
    malformed: bool,
) -> None:
    creds = extract(route, body, content_type, headers, query)
    assert (creds.account, creds.password_present, creds.malformed) == (account, has_password, malformed)
    assert creds.account_present == (account is not None)
    assert (creds.account_id is not None) == (account is not None)
    assert (creds.pair_id is not None) == (account is not None and has_password)


def test_password_is_keyed_not_kept() -> None:
    creds = extract(JSON_ROUTE, b'{"username": "bob", "password": "hunter2-secret"}')
    assert creds.password_id == KEYER.password_id("hunter2-secret")
    assert "hunter2" not in repr(creds)


def test_password_is_not_normalised() -> None:
    a = extract(JSON_ROUTE, b'{"username": "bob", "password": "Secret "}')
    b = extract(JSON_ROUTE, b'{"username": "bob", "password": "secret"}')
    assert a.password_id != b.password_id


def test_route_without_fields_is_never_malformed() -> None:
    route = RouteSettings(name="pay", path="/pay")
    assert extract(route, b"\x00garbage").malformed is False


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; b=x",
        "text/plain",
        "",
        "application/json; charset=latin-1",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=512),
    content_type=CONTENT_TYPES | st.text(max_size=40),
    route=st.sampled_from([JSON_ROUTE, NESTED_ROUTE, FORM_ROUTE, HEADER_QUERY_ROUTE]),
    header=st.text(max_size=40),
    query=st.text(max_size=40),
)
def test_arbitrary_input_never_raises(
    body: bytes, content_type: str, route: RouteSettings, header: str, query: str
) -> None:
    creds = extract(route, body, content_type, {"x-account": header}, {"pw": query})
    assert isinstance(creds.malformed, bool)


@settings(max_examples=200, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_raises(value: object) -> None:
    creds = extract(NESTED_ROUTE, json.dumps({"user": value}).encode())
    assert isinstance(creds.malformed, bool)
