"""The text fields of a multipart/form-data body, read as the common frameworks read a login form.

security: Django, Rails, PHP and Express (multer) log a user in from a multipart form as readily as
from a urlencoded one; a login sent that way must still reach the account counters. Only what a login
needs: `Content-Disposition: form-data; name="..."` parts without a filename, decoded as UTF-8. Bounded
by the route's max_body and MAX_PARTS; anything odd yields no field (the request reads as malformed).
"""

from __future__ import annotations

MAX_PARTS = 1000  # as parse_qsl's max_num_fields for urlencoded forms
MAX_BOUNDARY = 70  # RFC 2046


def multipart_fields(body: bytes, content_type: str) -> dict[str, list[str]]:
    """Field name -> every value in body order; {} when the body or its boundary is not usable."""
    boundary = header_params(content_type).get("boundary", "")
    if not 0 < len(boundary) <= MAX_BOUNDARY:
        return {}
    fields: dict[str, list[str]] = {}
    parts = body.split(b"--" + boundary.encode("latin-1"))
    for part in parts[1 : MAX_PARTS + 1]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, sep, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        name = _field_name(head)
        if name is None:
            continue
        try:
            fields.setdefault(name, []).append(value.removesuffix(b"\r\n").decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return fields


def _field_name(head: bytes) -> str | None:
    for line in head.decode("latin-1").split("\r\n"):
        key, _, rest = line.partition(":")
        if key.strip().lower() != "content-disposition":
            continue
        kind, _, _ = rest.strip().partition(";")
        params = header_params(rest)
        if kind.strip().lower() != "form-data" or "filename" in params or "name" not in params:
            return None  # a file upload is not a login field
        return params["name"].encode("latin-1").decode("utf-8", "replace")
    return None


def header_params(value: str) -> dict[str, str]:
    """`type; a=1; b="x y"` -> {"a": "1", "b": "x y"} (names lower-cased; the first of a repeated name wins)."""
    params: dict[str, str] = {}
    for item in value.split(";")[1:]:
        key, sep, raw = item.partition("=")
        if sep:
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1].replace('\\"', '"')
            params.setdefault(key.strip().lower(), raw)
    return params
