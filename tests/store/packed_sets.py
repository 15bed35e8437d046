"""An entity hash's distinct sets as their logical content, whatever the layout that wrote them.

The Lua library packs set k's members (shield/store/lua/common.lua): fields "<k>#" + chr(32 + i),
i = 1, 2, ..., whose values joined in i's order are the member count (uint16), then per member its
length (uint16), its bytes and its last seen (double). The previous layout had one field
"<k>|<member>" per member, its last seen as sent. Decoded here independently of the Lua code, so
that the tests comparing the library with its frozen reference compare sets, not bytes.
"""

from __future__ import annotations

import struct

Members = tuple[tuple[bytes, float], ...]


def unpack_set(value: bytes) -> list[tuple[bytes, float]]:
    """A packed set's joined fields as (member, last seen) in their stored order; ValueError if malformed."""
    if len(value) < 2:
        raise ValueError("a packed set without its count")
    (count,), at, members = struct.unpack_from("<H", value), 2, []
    for _ in range(count):
        (size,) = struct.unpack_from("<H", value, at)
        member = value[at + 2 : at + 2 + size]
        if len(member) != size:
            raise ValueError("a packed set cut inside a member")
        (seen,) = struct.unpack_from("<d", value, at + 2 + size)
        members.append((member, seen))
        at += 10 + size
    if at != len(value):
        raise ValueError(f"{len(value) - at} bytes after a packed set's last member")
    return members


def packed_fields(fields: dict[bytes, bytes]) -> dict[bytes, list[bytes]]:
    """Per set k (b"1", b"2", ...), its packed fields' values in index order; ValueError on a gap."""
    parts: dict[bytes, dict[int, bytes]] = {}
    for name, value in fields.items():
        if len(name) == 3 and name[1:2] == b"#":
            parts.setdefault(name[:1], {})[name[2] - 32] = value
    out = {}
    for k, chunks in parts.items():
        if sorted(chunks) != list(range(1, len(chunks) + 1)):
            raise ValueError(f"set {k!r}: fields {sorted(chunks)}")
        out[k] = [chunks[i] for i in range(1, len(chunks) + 1)]
    return out


def logical(fields: dict[bytes, bytes]) -> dict[bytes, object]:
    """The hash with every set's fields (packed or previous layout) replaced by b"set:<k>" -> its
    members and last seen, sorted; every other field as it is."""
    out: dict[bytes, object] = {}
    sets: dict[bytes, list[tuple[bytes, float]]] = {}
    for name, value in fields.items():
        if name[1:2] == b"|":
            sets.setdefault(name[:1], []).append((name[2:], float(value)))
        elif not (len(name) == 3 and name[1:2] == b"#"):
            out[name] = value
    for k, chunks in packed_fields(fields).items():
        sets.setdefault(k, []).extend(unpack_set(b"".join(chunks)))
    for k, members in sets.items():
        out[b"set:" + k] = tuple(sorted(members))
    return out
