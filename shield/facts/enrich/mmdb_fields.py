"""The fields shield reads from one .mmdb record, whichever vendor's layout it uses.

MaxMind (GeoIP2/GeoLite2) and DB-IP nest them: {"country": {"iso_code": "JP"}, "continent":
{"code": "AS"}, "location": {...}, "autonomous_system_number": 2516}. IPinfo keeps them flat:
{"country_code": "JP", "continent_code": "AS", "asn": "AS2516", "as_name": "KDDI"} (IPinfo Lite),
or {"country": "JP", "continent": "AS", "asn": "AS2516"} (its older country_asn file). A value of
the wrong type is absent, never an error: a damaged or foreign database costs facts, not requests.
"""

from __future__ import annotations

from typing import Any


def dig(record: dict[str, Any], *path: str) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def typed(value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _code(record: dict[str, Any], key: str, nested: str) -> str | None:
    node = record.get(key)
    if isinstance(node, dict):
        return typed(node.get(nested), str)  # type: ignore[no-any-return]
    flat = record.get(f"{key}_code")  # IPinfo Lite (its "country" is the name)
    if isinstance(flat, str):
        return flat
    return node if isinstance(node, str) and len(node) == 2 else None  # IPinfo country_asn


def country(record: dict[str, Any]) -> str | None:
    return _code(record, "country", "iso_code")


def continent(record: dict[str, Any]) -> str | None:
    return _code(record, "continent", "code")


def asn(record: dict[str, Any]) -> int | None:
    number = typed(record.get("autonomous_system_number"), int)
    if number is not None:
        return number  # type: ignore[no-any-return]
    text = record.get("asn")  # IPinfo: "AS2516"
    if isinstance(text, str) and text[:2].upper() == "AS" and text[2:].isascii() and text[2:].isdigit():
        return int(text[2:])
    return None


def asn_org(record: dict[str, Any]) -> str | None:
    for key in ("autonomous_system_organization", "as_name"):  # MaxMind and DB-IP, then IPinfo
        value = record.get(key)
        if isinstance(value, str):
            return value
    return None
