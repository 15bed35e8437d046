"""The decoded copy of a protected body: what it undoes, and the bounds a bomb meets."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from shield.facts.identity.body_decoding import MAX_RATIO, decode_body

LOGIN = b'{"username": "alice@example.com", "password": "hunter2"}'


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (LOGIN, ""),
        (LOGIN, "identity"),
        (gzip.compress(LOGIN), "gzip"),
        (gzip.compress(LOGIN), "X-GZIP"),
        (zlib.compress(LOGIN), "deflate"),
        (raw_deflate(LOGIN), "deflate"),
        (zlib.compress(gzip.compress(LOGIN)), "gzip, deflate"),
        (gzip.compress(LOGIN), "identity, gzip"),
    ],
    ids=["none", "identity", "gzip", "x-gzip-any-case", "deflate-zlib", "deflate-raw", "two-layers", "identity-gzip"],
)
def test_known_encodings_are_undone(body: bytes, encoding: str) -> None:
    assert decode_body(body, encoding, limit=4096) == (LOGIN, True, "")


@pytest.mark.parametrize(
    ("body", "encoding", "reason"),
    [
        (b"\x8b\x00brotli-ish", "br", "unsupported_encoding"),
        (LOGIN, "zstd", "unsupported_encoding"),
        (LOGIN, "gzip", "undecodable"),  # says gzip, is not
        (gzip.compress(LOGIN)[:-6], "gzip", "undecodable"),  # truncated
        (gzip.compress(LOGIN) + b"trailing", "gzip", "undecodable"),
        (gzip.compress(LOGIN), "gzip, gzip, gzip", "too_many_encodings"),
        (gzip.compress(b"a" * 5000), "gzip", "decoded_too_large"),  # past the route's limit
    ],
    ids=["br-no-decoder", "zstd", "not-gzip", "truncated", "trailing-bytes", "three-layers", "over-limit"],
)
def test_what_cannot_be_decoded_is_reported_not_raised(body: bytes, encoding: str, reason: str) -> None:
    assert decode_body(body, encoding, limit=4096) == (b"", False, reason)


def test_the_ratio_limit_refuses_a_small_bomb_under_the_size_limit() -> None:
    body = gzip.compress(b"{" + b" " * 200_000 + b"}")  # ~200 bytes inflating 1000x
    assert len(body) * MAX_RATIO < 200_000
    assert decode_body(body, "gzip", limit=1 << 20) == (b"", False, "decoded_too_large")


def test_a_gzip_bomb_is_never_inflated_past_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB in ~64 KiB
    tracemalloc.start()
    try:
        result = decode_body(bomb, "gzip", limit=64 * 1024)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == (b"", False, "decoded_too_large")
    assert peak < 1 << 20, f"peak {peak} bytes while refusing a bomb"
