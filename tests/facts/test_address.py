"""The integer forms of an address (shield.facts.address) agree with ipaddress on every text and value."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from shield.facts.address import bare_ip_int, ip_text, parse_bare_ip, parse_ip, parse_ip_int, subnet_of, subnet_text
from shield.facts.enrich.reserved import PRIVATE_NETWORKS, is_private_int

# hextets drawn mostly from 0, 1 and ffff, so zero runs of every length and place (what :: compresses) occur
_HEXTET = st.one_of(st.sampled_from([0, 0, 1, 0xFFFF]), st.integers(0, 0xFFFF))


@st.composite
def v6_values(draw: st.DrawFn) -> int:
    value = 0
    for hextet in draw(st.lists(_HEXTET, min_size=8, max_size=8)):
        value = value << 16 | hextet
    return value


@given(v6_values())
def test_ipv6_text_is_what_ipaddress_prints(value: int) -> None:
    assert ip_text(6, value) == str(ipaddress.IPv6Address(value))


@given(st.integers(0, 2**32 - 1))
def test_ipv4_text_is_what_ipaddress_prints(value: int) -> None:
    assert ip_text(4, value) == str(ipaddress.IPv4Address(value))


def test_ipv4_compatible_and_mapped_values_print_as_ipaddress_does() -> None:
    # inet_ntop writes these with a dotted quad; ipaddress in hex
    for value in (0, 1, 2, 0x01020304, 0xFFFF00000000, 0xFFFF01020304, 0x10000, 0xFFFFFFFF):
        assert ip_text(6, value) == str(ipaddress.IPv6Address(value))


@given(st.one_of(v6_values(), st.integers(0, 2**32 - 1).map(lambda v: 0xFFFF00000000 | v)))
def test_texts_parse_to_the_same_address(value: int) -> None:
    for text in (str(ipaddress.IPv6Address(value)), ipaddress.IPv6Address(value).exploded):
        parsed = parse_bare_ip(text)
        assert parsed is not None
        assert bare_ip_int(text) == (parsed.version, int(parsed))
        assert subnet_text(parsed.version, int(parsed)) == subnet_of(text)


def _reference(text: str) -> tuple[int, int] | None:
    """What ipaddress alone makes of a bare address (IPv4-mapped unwrapped)."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.version, int(ip)


_ADDRESS_LIKE = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF:.% x", max_size=45),
    st.lists(st.text(alphabet="0123456789abcdef", max_size=5), min_size=1, max_size=10).map(":".join),
)


@given(_ADDRESS_LIKE)
def test_the_same_texts_are_accepted_and_refused_as_by_ipaddress(text: str) -> None:
    parsed = parse_bare_ip(text)
    assert (None if parsed is None else (parsed.version, int(parsed))) == _reference(text)
    assert bare_ip_int(text) == _reference(text)


def test_garbage_is_no_address() -> None:
    for text in ("", "1.2.3", "01.2.3.4", "1.2.3.4\0", "::g", "1:2:3:4:5:6:7:8:9", " 1.2.3.4"):
        assert bare_ip_int(text) is None, text


def _private(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return bool(
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_multicast
        or addr.is_unspecified
    )


def test_private_ranges_are_ipaddress_at_every_boundary() -> None:
    """ip.private was ipaddress's six properties; the merged ranges must say the same around every edge."""
    for net in PRIVATE_NETWORKS:
        top = 2**net.max_prefixlen - 1
        for edge in (int(net.network_address), int(net.broadcast_address)):
            for value in (edge - 1, edge, edge + 1):
                if 0 <= value <= top:
                    addr = ipaddress.ip_address(value) if net.version == 4 else ipaddress.IPv6Address(value)
                    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                        continue  # unwrapped to IPv4 before the check
                    assert is_private_int(net.version, value) == _private(addr), addr


@given(st.integers(0, 2**32 - 1))
def test_private_ipv4_is_ipaddress(value: int) -> None:
    assert is_private_int(4, value) == _private(ipaddress.IPv4Address(value))


@given(st.one_of(v6_values(), st.integers(0, 2**128 - 1)))
def test_private_ipv6_is_ipaddress(value: int) -> None:
    addr = ipaddress.IPv6Address(value)
    if addr.ipv4_mapped is None:
        assert is_private_int(6, value) == _private(addr)


@given(st.one_of(_ADDRESS_LIKE, st.text(alphabet='0123456789abcdef:.[]"% ', max_size=70)))
def test_parse_ip_int_reads_what_parse_ip_does(text: str) -> None:
    parsed = parse_ip(text)
    assert parse_ip_int(text) == (None if parsed is None else (parsed.version, int(parsed)))
    if parsed is not None:
        assert ip_text(parsed.version, int(parsed)) == str(parsed)
