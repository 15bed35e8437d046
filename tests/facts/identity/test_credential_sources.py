"""Accounts found where the app finds them: several sources per route, and a declared meaning for duplicates.

security: issue 12 item 6. A form body or a query string on a JSON route was `malformed` and never reached the
per-account, pair or spray counters; with `email=decoy&email=victim` shield counted the decoy while Django, Rack and
PHP log the victim in.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from shield.facts.identity.credentials import Credentials, extract_credentials
from shield.facts.identity.keyed import Keyer
from shield.facts.identity.multipart import multipart_fields
from shield.settings.load import SettingsError, load_settings
from shield.settings.schema import DEFAULT_ROUTES, FieldRef, RouteSettings

KEYER = Keyer(b"test-secret-0123456789abcdef")
DEFAULT = DEFAULT_ROUTES[0]
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def extract(
    route: RouteSettings, body: bytes, content_type: str = JSON, query: MultiDict[str] | None = None
) -> Credentials:
    return extract_credentials(
        route=route, content_type=content_type, headers={}, query=query or MultiDict(), body=body, keyer=KEYER
    )


def q(*pairs: tuple[str, str]) -> MultiDict[str]:
    return MultiDict(pairs)


CASES = [
    # (id, duplicates, body, content type, query, account, malformed)
    ("default_json", None, b'{"username": "victim", "password": "x"}', JSON, q(), "victim", False),
    ("default_form_body", None, b"username=victim&password=x", FORM, q(), "victim", False),
    ("default_form_under_json_type", None, b"username=victim&password=x", JSON, q(), "victim", False),
    ("default_query", None, b"", FORM, q(("username", "victim"), ("password", "x")), "victim", False),
    ("default_json_body_and_same_query", None, b'{"username": "victim", "password": "x"}', JSON,
     q(("username", "victim")), "victim", False),
    ("default_sources_disagree", None, b'{"username": "victim", "password": "x"}', JSON,
     q(("username", "decoy")), "victim", True),
    ("default_dup_form", None, b"username=decoy&username=victim&password=x", FORM, q(), "victim", True),
    ("default_dup_form_same_value", None, b"username=victim&username=victim&password=x", FORM, q(), "victim", False),
    ("default_dup_query", None, b"", FORM, q(("username", "decoy"), ("username", "victim"), ("password", "x")),
     "victim", True),
    ("default_dup_json", None, b'{"username": "decoy", "username": "victim", "password": "x"}', JSON, q(),
     "victim", True),
    ("default_dup_json_escaped_key", None, b'{"username": "decoy", "user\\u006eame": "victim", "password": "x"}',
     JSON, q(), "victim", True),
    ("default_dup_password_form", None, b"username=victim&password=a&password=b", FORM, q(), "victim", True),
    ("form_type_reads_the_form_first", None, b'{"username": "decoy", "x": "&username=victim&password=x"}', FORM,
     q(), "victim", True),
    ("json_type_reads_json_first", None, b'{"username": "victim", "x": "&username=decoy&password=x"}', JSON,
     q(), "victim", True),
    ("first_dup_form", "first", b"username=decoy&username=victim&password=x", FORM, q(), "decoy", False),
    ("first_dup_query", "first", b"", FORM, q(("username", "decoy"), ("username", "victim"), ("password", "x")),
     "decoy", False),
    ("first_dup_json", "first", b'{"username": "decoy", "username": "victim", "password": "x"}', JSON, q(),
     "decoy", False),
    ("last_dup_form", "last", b"username=decoy&username=victim&password=x", FORM, q(), "victim", False),
    ("last_dup_json", "last", b'{"username": "decoy", "username": "victim", "password": "x"}', JSON, q(),
     "victim", False),
    ("last_dup_query", "last", b"", FORM, q(("username", "decoy"), ("username", "victim"), ("password", "x")),
     "victim", False),
]


@pytest.mark.parametrize(
    ("duplicates", "body", "content_type", "query", "account", "malformed"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_account_source_and_duplicates(
    duplicates: str | None, body: bytes, content_type: str, query: MultiDict[str], account: str, malformed: bool
) -> None:
    route = DEFAULT if duplicates is None else replace(DEFAULT, duplicates=duplicates)  # type: ignore[arg-type]
    creds = extract(route, body, content_type, query)
    assert (creds.account, creds.malformed) == (account, malformed)
    assert creds.account_id is not None  # reaches the account counters
    assert creds.pair_id is not None  # and the pair counters


def test_a_json_only_route_still_reads_only_json() -> None:
    route = RouteSettings(name="login", path="/api/login", account=FieldRef("json", "username"))
    creds = extract(route, b"username=victim", FORM)
    assert (creds.account, creds.malformed) == (None, True)


def test_nested_json_duplicate_is_seen_at_any_depth() -> None:
    route = RouteSettings(name="login", path="/api/login", account=FieldRef("json", "user.email"))
    creds = extract(route, b'{"user": {"email": "decoy"}, "user": {"email": "victim"}}')
    assert (creds.account, creds.malformed) == ("victim", True)


def test_sources_and_duplicates_load_from_yaml(tmp_path: Path) -> None:
    config = tmp_path / "shield.yaml"
    config.write_text(
        "routes:\n"
        "  - name: login\n"
        "    path: /login\n"
        "    account: [{form: email}, {query: email}]\n"
        "    password: {form: pass}\n"
        "    duplicates: last\n"
    )
    (route,) = load_settings(config, env={}).routes
    assert route.account == (FieldRef("form", "email"), FieldRef("query", "email"))
    assert route.password == FieldRef("form", "pass")
    assert route.duplicates == "last"


def test_bad_sources_and_duplicates_are_refused_with_their_place(tmp_path: Path) -> None:
    config = tmp_path / "shield.yaml"
    config.write_text(
        "routes:\n"
        "  - name: login\n"
        "    path: /login\n"
        "    account: [{form: email}, {body: email}]\n"
        "    duplicates: newest\n"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(config, env={})
    text = str(caught.value)
    assert "shield.yaml:4:30: routes[0].account[1]: expected one of {json: a.b}" in text
    assert "shield.yaml:5:5: routes[0].duplicates: must be one of first, last, malformed, got 'newest'" in text


def multipart(*fields: tuple[str, str], boundary: str = "XyZ") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in fields
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


@pytest.mark.parametrize(
    ("body", "content_type", "account", "malformed"),
    [
        (multipart(("username", "victim"), ("password", "x")), "multipart/form-data; boundary=XyZ", "victim", False),
        (multipart(("username", "Vict\u00f6r"), ("password", "x")), 'multipart/form-data; boundary="XyZ"',
         "vict\u00f6r", False),
        (multipart(("username", "decoy"), ("username", "victim"), ("password", "x")),
         "multipart/form-data; boundary=XyZ", "victim", True),
        (multipart(("username", "victim"), ("password", "x")), "multipart/form-data", None, True),
        (b"--XyZ\r\nContent-Disposition: form-data; name=\"username\"; filename=\"a.txt\"\r\n\r\nvictim\r\n--XyZ--\r\n",
         "multipart/form-data; boundary=XyZ", None, True),
        (b"garbage", "multipart/form-data; boundary=XyZ", None, True),
    ],
    ids=["fields", "quoted_boundary_utf8", "repeated_field", "no_boundary", "file_part_is_not_a_field", "garbage"],
)
def test_a_multipart_login_reaches_the_account_counters(
    body: bytes, content_type: str, account: str | None, malformed: bool
) -> None:
    # security: Django, Rails, PHP and Express (multer) read a login sent as multipart/form-data
    creds = extract(DEFAULT, body, content_type)
    assert (creds.account, creds.malformed) == (account, malformed)


@given(st.binary(max_size=512), st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_multipart_body_and_header_is_answered_never_raised(body: bytes, header: str) -> None:
    assert isinstance(multipart_fields(body, "multipart/form-data; " + header), dict)
    assert isinstance(extract(DEFAULT, body, "multipart/form-data; " + header).malformed, bool)
