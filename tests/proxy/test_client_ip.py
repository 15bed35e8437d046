"""The trusted-proxy walk: who the client is, whatever the headers claim."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from shield.facts.address import parse_ip, subnet_of
from shield.proxy.client_ip import TrustedProxies, client_ip

TRUSTED = (
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("fd00::/8"),
)

CASES = [
    # (id, peer, headers, expected)
    ("no_headers_peer_is_client", "203.0.113.7", {}, "203.0.113.7"),
    ("xff_from_untrusted_peer_is_ignored", "203.0.113.7", {"X-Forwarded-For": "1.2.3.4"}, "203.0.113.7"),
    ("forwarded_from_untrusted_peer_is_ignored", "203.0.113.7", {"Forwarded": "for=1.2.3.4"}, "203.0.113.7"),
    ("xff_from_trusted_peer_is_used", "127.0.0.1", {"X-Forwarded-For": "198.51.100.9"}, "198.51.100.9"),
    ("trusted_peer_without_headers_is_client", "127.0.0.1", {}, "127.0.0.1"),
    ("walk_skips_trusted_hops", "127.0.0.1", {"X-Forwarded-For": "198.51.100.9, 10.1.2.3"}, "198.51.100.9"),
    ("spoofed_left_entries_are_ignored", "127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 198.51.100.9"}, "198.51.100.9"),
    (
        "spoofed_left_entries_behind_two_proxies",
        "10.0.0.5",
        {"X-Forwarded-For": "6.6.6.6, 198.51.100.9, 10.9.9.9"},
        "198.51.100.9",
    ),
    ("all_hops_trusted_gives_leftmost", "127.0.0.1", {"X-Forwarded-For": "10.1.1.1, 10.2.2.2"}, "10.1.1.1"),
    ("garbage_hop_stops_walk", "127.0.0.1", {"X-Forwarded-For": "198.51.100.9, garbage"}, "127.0.0.1"),
    ("garbage_left_of_client_is_ignored", "127.0.0.1", {"X-Forwarded-For": "garbage, 198.51.100.9"}, "198.51.100.9"),
    ("empty_xff_gives_peer", "127.0.0.1", {"X-Forwarded-For": ""}, "127.0.0.1"),
    ("xff_with_port", "127.0.0.1", {"X-Forwarded-For": "198.51.100.9:4711"}, "198.51.100.9"),
    ("xff_ipv6", "::1", {"X-Forwarded-For": "2001:db8::1"}, "2001:db8::1"),
    ("xff_ipv6_bracketed_with_port", "::1", {"X-Forwarded-For": "[2001:db8::1]:443"}, "2001:db8::1"),
    ("xff_ipv4_mapped_is_normalised", "127.0.0.1", {"X-Forwarded-For": "::ffff:198.51.100.9"}, "198.51.100.9"),
    ("peer_ipv4_mapped_is_normalised", "::ffff:127.0.0.1", {"X-Forwarded-For": "198.51.100.9"}, "198.51.100.9"),
    ("untrusted_ipv4_mapped_peer_is_normalised", "::ffff:203.0.113.7", {}, "203.0.113.7"),
    ("ipv6_peer_trusted_by_range", "fd00::5", {"X-Forwarded-For": "2001:db8:100::7, fd00::9"}, "2001:db8:100::7"),
    ("ipv6_untrusted_peer_ignores_xff", "2001:db8::9", {"X-Forwarded-For": "2001:db8::1"}, "2001:db8::9"),
    ("forwarded_header_used_when_no_xff", "127.0.0.1", {"Forwarded": "for=198.51.100.9;proto=https"}, "198.51.100.9"),
    ("forwarded_quoted_ipv6", "127.0.0.1", {"Forwarded": 'for="[2001:db8::1]:443"'}, "2001:db8::1"),
    (
        "forwarded_walk_right_to_left",
        "127.0.0.1",
        {"Forwarded": "for=6.6.6.6, for=198.51.100.9, for=10.0.0.1"},
        "198.51.100.9",
    ),
    ("forwarded_unknown_stops_walk", "127.0.0.1", {"Forwarded": "for=unknown"}, "127.0.0.1"),
    (
        "xff_wins_over_forwarded",
        "127.0.0.1",
        {"X-Forwarded-For": "198.51.100.9", "Forwarded": "for=6.6.6.6"},
        "198.51.100.9",
    ),
    ("overlong_hop_is_garbage", "127.0.0.1", {"X-Forwarded-For": "1" * 100}, "127.0.0.1"),
]


@pytest.mark.parametrize(("peer", "headers", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_client_ip(peer: str, headers: dict[str, str], expected: str) -> None:
    assert client_ip(peer, CIMultiDict(headers), TRUSTED) == expected


def test_repeated_xff_headers_are_joined_in_order() -> None:
    headers = CIMultiDict([("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "198.51.100.9, 10.0.0.1")])
    assert client_ip("127.0.0.1", headers, TRUSTED) == "198.51.100.9"


def test_no_trusted_proxies_means_peer_only() -> None:
    assert client_ip("127.0.0.1", {"X-Forwarded-For": "198.51.100.9"}, ()) == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("1.2.3.4:80", "1.2.3.4"),
        ("[::1]", "::1"),
        ("[::1]:80", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("999.1.1.1", None),
        ("", None),
        ("[::1", None),
        ("_hidden", None),
    ],
    ids=[
        "v4",
        "spaces",
        "v4_port",
        "v6_brackets",
        "v6_brackets_port",
        "zone",
        "mapped",
        "bad_octet",
        "empty",
        "open_bracket",
        "obfuscated",
    ],
)
def test_parse_ip(text: str, expected: str | None) -> None:
    ip = parse_ip(text)
    assert (str(ip) if ip is not None else None) == expected


@pytest.mark.parametrize(
    ("ip", "subnet"),
    [
        ("100.64.3.77", "100.64.3.0/24"),
        ("2001:db8:100:abcd::1", "2001:db8:100::/48"),
        ("::ffff:10.10.1.2", "10.10.1.0/24"),
    ],
    ids=["v4_24", "v6_48", "mapped"],
)
def test_subnet_of(ip: str, subnet: str) -> None:
    assert subnet_of(ip) == subnet


# -- the integer walk against a reference written with ipaddress objects --------------------------


def _reference(peer: str, headers: dict[str, str], trusted: tuple[ipaddress._BaseNetwork, ...]) -> str:
    """The walk as the ipaddress module would do it: the oracle for the integer fast path."""

    def is_trusted(ip: ipaddress._BaseAddress) -> bool:
        return any(ip.version == n.version and ip in n for n in trusted)

    peer_ip = parse_ip(peer)
    if peer_ip is None:
        return peer
    if not trusted or not is_trusted(peer_ip):
        return str(peer_ip)
    current = peer_ip
    for raw in reversed(headers.get("X-Forwarded-For", "").split(",")) if "X-Forwarded-For" in headers else ():
        hop = parse_ip(raw)
        if hop is None:
            break
        current = hop
        if not is_trusted(hop):
            break
    return str(current)


_octet = st.one_of(st.integers(0, 255).map(str), st.sampled_from(["01", "256", "-1", "00", " 7", ""]))
_v4 = st.lists(_octet, min_size=3, max_size=5).map(".".join)
_hop = st.one_of(
    _v4,
    st.builds(lambda a, p: f"{a}:{p}", _v4, st.integers(0, 70000)),
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]:443"),
    st.sampled_from(["unknown", "", " ", "::ffff:10.1.2.3", "10.1.2.3\x00", "fd00::1%eth0", "1" * 70]),
)


@settings(max_examples=400, deadline=None)
@given(peer=_hop, hops=st.lists(_hop, max_size=4))
def test_the_integer_walk_answers_as_the_ipaddress_walk(peer: str, hops: list[str]) -> None:
    headers = {"X-Forwarded-For": ", ".join(hops)} if hops else {}
    assert client_ip(peer, CIMultiDict(headers), TRUSTED) == _reference(peer, headers, TRUSTED)


@settings(max_examples=300, deadline=None)
@given(ip=st.ip_addresses())
def test_trusted_networks_hold_what_ipaddress_says(ip: ipaddress._BaseAddress) -> None:
    nets = TrustedProxies(TRUSTED)
    assert nets.holds(int(ip), ip.version) is any(ip.version == n.version and ip in n for n in TRUSTED)
