"""Attempt and Observation for every protected request, built by setting their slots directly.

Both are frozen slots dataclasses (shield.model): their generated __init__ sets each field through
object.__setattr__, a generic attribute lookup per field, and the two cost ~16k of the ~220k instructions
of the facts step. These functions make the very same objects (equal, hashed and frozen as any other)
with one slot store per field, positional in field order. The field lists are checked against the
dataclasses when this module is imported, so a field added to the model fails at once, not silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from shield.model import Attempt, Observation

_new = object.__new__

Setter = Callable[[object, Any], None]


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Setter, ...]:
    """Each field's slot setter, in `names` order, which must be the dataclass's fields in order."""
    declared = tuple(f.name for f in dataclasses.fields(cls))
    if names != declared or hasattr(cls, "__post_init__"):
        raise TypeError(f"shield.facts.frozen_init builds {cls.__name__}{names}, the model has {declared}")
    return tuple(getattr(cls, name).__set__ for name in names)


(
    _a_request_id, _a_route, _a_client_ip, _a_subnet, _a_account, _a_account_id, _a_password_id, _a_pair_id,
    _a_fingerprint, _a_device_id, _a_malformed,
) = slot_setters(Attempt, (
    "request_id", "route", "client_ip", "subnet", "account", "account_id", "password_id", "pair_id", "fingerprint",
    "device_id", "malformed",
))

(
    _o_route, _o_ip, _o_subnet, _o_asn, _o_country, _o_account, _o_fp, _o_device, _o_password, _o_pair, _o_lat, _o_lon,
) = slot_setters(Observation, (
    "route", "ip", "subnet", "asn", "country", "account", "fp", "device", "password", "pair", "lat", "lon",
))


def new_attempt(
    request_id: str, route: str, client_ip: str, subnet: str, account: str | None, account_id: str | None,
    password_id: str | None, pair_id: str | None, fingerprint: str, device_id: str | None, malformed: bool,
) -> Attempt:
    """Attempt(request_id, route, ...) in field order."""
    a: Attempt = _new(Attempt)
    _a_request_id(a, request_id)
    _a_route(a, route)
    _a_client_ip(a, client_ip)
    _a_subnet(a, subnet)
    _a_account(a, account)
    _a_account_id(a, account_id)
    _a_password_id(a, password_id)
    _a_pair_id(a, pair_id)
    _a_fingerprint(a, fingerprint)
    _a_device_id(a, device_id)
    _a_malformed(a, malformed)
    return a


def new_observation(
    route: str, ip: str, subnet: str, asn: str | None, country: str | None, account: str | None, fp: str | None,
    device: str | None, password: str | None, pair: str | None, lat: float | None, lon: float | None,
) -> Observation:
    """Observation(route, ip, ...) in field order, every field given."""
    o: Observation = _new(Observation)
    _o_route(o, route)
    _o_ip(o, ip)
    _o_subnet(o, subnet)
    _o_asn(o, asn)
    _o_country(o, country)
    _o_account(o, account)
    _o_fp(o, fp)
    _o_device(o, device)
    _o_password(o, password)
    _o_pair(o, pair)
    _o_lat(o, lat)
    _o_lon(o, lon)
    return o
