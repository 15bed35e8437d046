"""The common login body read in one parse: a JSON object holding the route's fields as top-level keys.

During a credential-stuffing wave almost every protected request is such a body with a new account and
password, so this path is taken first; anything it cannot prove it reads exactly as the general path in
credentials.py (duplicates, escapes, other sources, odd JSON) it hands back, and that path answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

import orjson

from shield.settings.schema import FieldRef, FieldSources, RouteSettings


def field_sources(ref: FieldSources | None) -> tuple[FieldRef, ...]:
    """A route's account or password sources as a tuple (one source or several, in order)."""
    if ref is None:
        return ()
    return (ref,) if isinstance(ref, FieldRef) else ref


@lru_cache(maxsize=256)
def quoted_keys(path: str) -> tuple[bytes, ...]:
    """`user.email` -> (b'"user"', b'"email"'): the key texts a repeat of the path would show twice."""
    return tuple(b'"' + p.encode() + b'"' for p in path.split("."))


class LoginPlan(NamedTuple):
    """A route's fast path: each field is one top-level JSON key, plus other sources empty on most requests."""

    route: RouteSettings  # held, so the id keying _PLANS is never reused while the entry lives
    fast: bool  # False: a field reads a nested key or two JSON keys; only the general path reads those
    account_key: str | None
    password_key: str | None
    needles: tuple[bytes, ...]  # the quoted keys; empty under `duplicates: last`, which never reads repeats
    form: bool  # some field also reads a form field
    query: tuple[str, ...]  # query parameters some field also reads
    headers: tuple[str, ...]  # headers (lower-case) some field also reads


# Routes live as long as their settings; a reload adds a few. Each entry holds its route, so ids never repeat.
_PLANS: dict[int, LoginPlan] = {}


def _plan(route: RouteSettings) -> LoginPlan:
    """The route's fast-path plan, computed once per route."""
    if len(_PLANS) > 256:
        _PLANS.clear()  # many reloads: start over rather than grow
    keys: list[str | None] = []
    form, query, headers = False, [], []
    for field in (route.account, route.password):
        refs = field_sources(field)
        json_paths = [r.path for r in refs if r.source == "json"]
        if field is not None and (len(json_paths) != 1 or "." in json_paths[0]):
            return LoginPlan(route, False, None, None, (), False, (), ())
        keys.append(json_paths[0] if json_paths else None)
        form |= any(r.source == "form" for r in refs)
        query += [r.path for r in refs if r.source == "query"]
        headers += [r.path.lower() for r in refs if r.source == "header"]
    needles = () if route.duplicates == "last" else tuple(quoted_keys(k)[0] for k in keys if k is not None)
    return LoginPlan(route, True, keys[0], keys[1], needles, form, tuple(query), tuple(headers))


def plan_for(route: RouteSettings) -> LoginPlan:
    """The route's plan, computed once per route."""
    plan = _PLANS.get(id(route))
    if plan is None or plan.route is not route:
        plan = _PLANS[id(route)] = _plan(route)
    return plan


def read_json_login(
    plan: LoginPlan, body: bytes, content_type: str, headers: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str | None, str | None] | None:
    """The raw account and password of the common JSON login body, or None to take the general path.

    Exactly what the general path (credentials._read) gives when the JSON key is the only source
    with a value and no repeat is in sight: the general path answers whenever another source may
    hold a value (a form-looking or multipart body, a configured query parameter or header present),
    a key may repeat, a backslash may escape one, orjson refuses the body, the document is not an
    object, or a field is missing or not text. With one source holding a value, source order and
    `duplicates` cannot change it.
    """
    # security: the repeat guard of credentials._Body._may_repeat: duplicate keys still get the duplicate-aware parse
    if b"\\" in body:
        return None
    for needle in plan.needles:  # a loop, not any(): a generator costs more than the two counts
        if body.count(needle) > 1:
            return None
    if plan.form and (b"=" in body or "multipart" in content_type.lower()):
        return None  # credentials._Body._parse_form could find a field in it
    for name in plan.query:
        if query and name in query:
            return None
    for name in plan.headers:
        if name in headers:
            return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict:
        return None
    account = password = None
    if plan.account_key is not None:
        account = doc.get(plan.account_key)
        if type(account) is not str:
            return None
    if plan.password_key is not None:
        password = doc.get(plan.password_key)
        if type(password) is not str:
            return None
    return account, password
