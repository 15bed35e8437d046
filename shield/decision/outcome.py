"""Login outcome: read success or failure from the upstream's answer, as the route configures.

Order: a configured response header first (the app says it outright), then a configured JSON
field (dotted path) when the body is JSON, then the status codes. Anything else is UNKNOWN and
is not counted as a failure, so an app that answers 200 with an error page never inflates
failure counters by accident. Pure: no I/O, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from shield.model import Outcome
from shield.settings.schema import OutcomeSettings, ValueMatch


def classify(
    settings: OutcomeSettings,
    status: int,
    headers: Mapping[str, str],
    body: bytes | None,
    content_type: str | None,
) -> Outcome:
    """The login's outcome from the upstream's status, headers and (possibly truncated) body."""
    if settings.header is not None:
        found = _header(headers, settings.header.field)
        if found is not None:
            matched = _match(settings.header, found)
            if matched is not None:
                return matched
    if settings.json is not None and body and _is_json(content_type):
        value = _json_field(body, settings.json.field)
        if value is not None:
            matched = _match(settings.json, value)
            if matched is not None:
                return matched
    if status in settings.success_status:
        return Outcome.SUCCESS
    if status in settings.failure_status:
        return Outcome.FAILURE
    return Outcome.UNKNOWN


def _match(spec: ValueMatch, value: str) -> Outcome | None:
    if value in spec.success:
        return Outcome.SUCCESS
    if value in spec.failure:
        return Outcome.FAILURE
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value.strip()
    # A plain dict is case-sensitive; HTTP header names are not.
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val.strip()
    return None


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _json_field(body: bytes, path: str) -> str | None:
    """The value at a dotted path, as a string ("true", "42", "ok"); None when absent or not JSON."""
    try:
        node: object = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # a truncated or broken body falls back to the status code
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, str | int | float):
        return str(node)
    return None
