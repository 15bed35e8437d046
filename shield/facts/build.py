"""The facts of one protected request: identity (who) and enrichment (what we know of them).

The pipeline calls `FactBuilder.build` once per protected request; it is pure CPU
(no awaits, no logging) and fills exactly the identity and enrich names of shield.facts.catalog.
Everything costly (regexes, the UA parser, GeoIP readers, lists) is built once in
`from_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from shield.facts.address import bare_ip_int, ip_text, subnet_of, subnet_text
from shield.facts.client_facts import ClientFacts
from shield.facts.client_facts import fp_facts as fp_facts  # re-exported: tests and callers read them here
from shield.facts.client_facts import ua_facts as ua_facts
from shield.facts.enrich.geo import GeoLookup, GeoRecord, merged
from shield.facts.enrich.lists import CidrList
from shield.facts.enrich.reserved import is_private_int, reserved_uniform
from shield.facts.enrich.useragent import UserAgentParser
from shield.facts.frozen_init import new_attempt, new_observation
from shield.facts.identity.body_decoding import decode_body
from shield.facts.identity.credentials import extract_credentials
from shield.facts.identity.device import mint_device_cookie, read_device
from shield.facts.identity.keyed import Keyer
from shield.model import Attempt, FactValue, NamedList, Observation
from shield.settings.schema import ClientSettings, RouteSettings, Settings

# security: per-address results are cached; an attacker rotating addresses only evicts entries.
IP_CACHE_SIZE = 65536


class IpFacts:
    """Everything derived from the client address alone (cached per address)."""

    # a compiled class: built for every new address, cheaper than a NamedTuple
    __slots__ = ("facts", "ip", "subnet")

    def __init__(self, ip: str, subnet: str, facts: dict[str, FactValue]) -> None:
        self.ip = ip
        self.subnet = subnet
        self.facts = facts  # shared by the requests of this address (and of its network): copy it, never change it


class RequestFacts:
    """The Attempt and facts of one protected request, and the device cookie to set on its response.

    The cookie (a browser without a valid one) is minted on first read: only a forwarded answer sets it,
    and a stuffing wave's refused requests would each pay its random token and signature for nothing."""

    __slots__ = ("_cookie", "_keyer", "attempt", "facts")

    def __init__(
        self, attempt: Attempt, facts: dict[str, FactValue], new_device_cookie: str | None = None,
        *, mint_with: Keyer | None = None,
    ) -> None:
        """`mint_with`: mint the cookie with this keyer when it is first read (then `new_device_cookie` is unused)."""
        self.attempt = attempt
        self.facts = facts
        self._cookie = new_device_cookie
        self._keyer = mint_with

    @property
    def new_device_cookie(self) -> str | None:
        """Set it on the response; the same value on every read."""
        keyer = self._keyer
        if keyer is not None:
            self._cookie, self._keyer = mint_device_cookie(keyer), None
        return self._cookie


def header_map(raw_headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers by lower-case name; repeated headers joined as HTTP allows (cookies with '; ')."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:
            headers[name] += ("; " if name == "cookie" else ", ") + value
        else:
            headers[name] = value
    return headers


_ADDRESS_LISTS = (("ip.tor", "tor_exits"), ("ip.bad", "bad_cidrs"), ("ip.allowlisted", "allow_cidrs"))
# security: cached per pair of GeoIP records; there are as many as the databases have leaves (bounded below).
RECORD_CACHE_SIZE = 4096
# security: subnet texts by /24 or /48; an attacker rotating networks only empties the cache.
SUBNET_CACHE_SIZE = 4096
_NETWORK_FREE_BITS = {4: 8, 6: 80}  # the bits of an address below its ip.subnet (/24, /48)


def record_facts(
    geo: GeoRecord,
    *,
    home_countries: frozenset[str],
    lists: Mapping[str, NamedList],
) -> dict[str, FactValue]:
    """ip.country ... ip.carrier: what the GeoIP record says, and its ASN's lists (an unknown fact is absent).

    The same for every address with this record."""
    facts: dict[str, FactValue] = {}
    country, asn = geo.country, geo.asn
    if country is not None:
        facts["ip.country"] = country
    if geo.continent is not None:
        facts["ip.continent"] = geo.continent
    if asn is not None:
        facts["ip.asn"] = asn
    if geo.asn_org is not None:
        facts["ip.asn_org"] = geo.asn_org
    if geo.lat is not None:
        facts["ip.lat"] = geo.lat
    if geo.lon is not None:
        facts["ip.lon"] = geo.lon
    if geo.accuracy_km is not None:
        facts["ip.accuracy_km"] = geo.accuracy_km
    if country is not None:
        facts["ip.overseas"] = country not in home_countries
    if asn is not None and (hosting := lists.get("hosting_asns")) is not None:
        facts["ip.hosting"] = hosting.contains(asn)
    if asn is not None and (carriers := lists.get("carrier_nat_asns")) is not None:
        facts["ip.carrier"] = carriers.contains(asn)
    return facts


def _address_lists(lists: Mapping[str, NamedList]) -> tuple[tuple[str, NamedList], ...]:
    """(fact, list) of the address lists the pack has, in _ADDRESS_LISTS order."""
    return tuple((fact, lists[name]) for fact, name in _ADDRESS_LISTS if name in lists)


class FactBuilder:
    """Turns a protected request into an Attempt and its identity + enrich facts."""

    __slots__ = ("_address_lists", "_client", "_clients", "_geo", "_home", "_ip_facts", "_keyer", "_lists",
                 "_networks", "_records", "_subnets", "_ua")

    def __init__(
        self,
        *,
        keyer: Keyer,
        lists: Mapping[str, NamedList],
        geo: GeoLookup,
        ua_parser: UserAgentParser,
        client: ClientSettings,
        home_countries: frozenset[str],
    ) -> None:
        self._keyer = keyer
        self._lists = lists
        self._address_lists = _address_lists(lists)
        # (place, network, their facts) by the records' ids: the entry holds both, so an id is never reused
        self._records: dict[tuple[int, int], tuple[GeoRecord, GeoRecord, dict[str, FactValue]]] = {}
        # ip.subnet by network (IPv6: the /48 as an integer; IPv4: the /24's, bit-inverted, so never one of those)
        self._subnets: dict[int, str] = {}
        # (ip.subnet, the address facts of its first address) by network as above, for the networks over which
        # all but `ip` are the same (reserved ranges, GeoIP leaves, address lists): a wave's next address there
        # copies them and sets its own `ip`
        self._networks: dict[int, tuple[str, dict[str, FactValue]]] = {}
        self._geo = geo
        self._ua = ua_parser
        self._client = client
        self._home = home_countries
        self._ip_facts = lru_cache(maxsize=IP_CACHE_SIZE)(self._address_facts)
        self._clients = ClientFacts(ua_parser=ua_parser, client=client)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, keyer: Keyer, lists: Mapping[str, NamedList], ua_resolver: Any = None
    ) -> FactBuilder:
        """Build every part once. `ua_resolver` shares an already built ua-parser resolver (tests)."""
        return cls(
            keyer=keyer,
            lists=lists,
            geo=GeoLookup(country=settings.geoip.country, asn=settings.geoip.asn),
            ua_parser=UserAgentParser(app_pattern=settings.client.app_ua_pattern, resolver=ua_resolver),
            client=settings.client,
            home_countries=settings.home_countries,
        )

    def _use_lists(self, lists: Mapping[str, NamedList]) -> None:
        """A rules reload brought new lists: per-address facts (ip.hosting, ip.tor, ...) are recomputed."""
        self._lists = lists
        self._address_lists = _address_lists(lists)
        self._records = {}
        self._networks = {}
        self._ip_facts.cache_clear()

    @property
    def geo_loaded(self) -> bool:
        """A GeoIP database is open (the shield_geoip_loaded gauge)."""
        return self._geo.loaded

    def refresh(self) -> bool:
        """Pick up replaced GeoIP files (call every few seconds); True when a reader was swapped."""
        swapped = self._geo.refresh()
        if swapped:
            self._records = {}
            self._networks = {}
            self._ip_facts.cache_clear()
        return swapped

    def close(self) -> None:
        self._geo.close()

    def _address_facts(self, client_ip: str) -> IpFacts:
        # (version, integer) once, then text, subnet, private, GeoIP and lists all from it: ipaddress objects
        # cost ~30 us per new IPv6 address, and a stuffing wave brings a new address with every request.
        parsed = bare_ip_int(client_ip.strip().strip("[]").split("%", 1)[0])
        if parsed is None:  # not an address (a unix socket peer): its text, and a subnet if it has a port
            subnet = subnet_of(client_ip)
            return IpFacts(client_ip, subnet, {"ip": client_ip, "ip.subnet": subnet})
        version, value = parsed
        ip = ip_text(version, value)
        # a wave's new addresses come from few networks: their subnet text is printed once each
        network = value >> 80 if version == 6 else ~(value >> 8)
        shared = self._networks.get(network)
        if shared is not None:  # every fact but `ip` is the network's (checked when it was stored)
            own = shared[1].copy()
            own["ip"] = ip  # in its place, first
            return IpFacts(ip, shared[0], own)
        known = self._subnets.get(network)
        if known is None:
            known = subnet_text(version, value)
            if len(self._subnets) >= SUBNET_CACHE_SIZE:
                self._subnets = {}
            self._subnets[network] = known
        subnet = known
        place, where, span = self._geo.records_span(version, value, text=ip)
        facts: dict[str, FactValue] = {
            "ip": ip,
            "ip.subnet": subnet,
            "ip.version": version,
            "ip.private": is_private_int(version, value),
            **self._record_facts(place, where),
        }
        free = _NETWORK_FREE_BITS[version]  # the address bits below its subnet's
        low = value >> free << free
        high = low | ((1 << free) - 1)
        uniform = span >= free and reserved_uniform(version, low, high)
        for fact, named in self._address_lists:
            if isinstance(named, CidrList):
                facts[fact] = named.contains_int(version, value)
                uniform = uniform and named.uniform_int(version, low, high)
            else:  # a list of texts: per address
                facts[fact] = named.contains(ip)
                uniform = False
        if uniform:  # private, GeoIP leaves and lists all the same over the subnet: its next addresses share them
            if len(self._networks) >= SUBNET_CACHE_SIZE:
                self._networks = {}
            self._networks[network] = (subnet, facts)
        return IpFacts(ip, subnet, facts)

    def _record_facts(self, place: GeoRecord, network: GeoRecord) -> dict[str, FactValue]:
        """record_facts of the merged records, once per pair of records: a wave's new addresses share a few leaves."""
        key = (id(place), id(network))
        found = self._records.get(key)
        if found is not None and found[0] is place and found[1] is network:
            return found[2]
        facts = record_facts(merged(place, network), home_countries=self._home, lists=self._lists)
        if len(self._records) >= RECORD_CACHE_SIZE:
            self._records = {}
        self._records[key] = (place, network, facts)
        return facts

    def build(
        self,
        *,
        request_id: str,
        route: RouteSettings,
        method: str,
        path: str,
        query: Mapping[str, str],
        raw_headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        client_ip: str,
        peer_trusted: bool,
        lists: Mapping[str, NamedList] | None = None,
    ) -> RequestFacts:
        """The Attempt and facts of one protected request. Never raises on client input.

        `peer_trusted`: the socket peer is in trusted_proxies (the TLS terminator); only then is its
        TLS fingerprint header believed. `lists`: the named lists of the rule pack this request is
        decided with (the pipeline passes its current pack's; None keeps the builder's).
        """
        if lists is not None and lists is not self._lists:
            self._use_lists(lists)
        headers = header_map(raw_headers)
        # The body goes upstream as received; credentials are read from a decoded, bounded copy.
        decoded = decode_body(body, headers.get("content-encoding", ""), limit=route.max_body)
        creds = extract_credentials(
            route=route,
            content_type=headers.get("content-type", ""),
            headers=headers,
            query=query,
            body=decoded.body,
            keyer=self._keyer,
        )
        if not decoded.ok:  # an encoding shield cannot (or will not) undo: scored as malformed
            creds = creds._replace(malformed=True)
        ua, fp, client_facts = self._clients.of(raw_headers, headers, peer_trusted=peer_trusted)
        client = self._client
        device = read_device(
            headers, device_header=client.device_header, cookie_name=client.device_cookie, keyer=self._keyer
        )
        where: IpFacts = self._ip_facts(client_ip)
        ip, subnet = where.ip, where.subnet

        facts: dict[str, FactValue] = where.facts.copy()
        facts["request.route"] = route.name
        facts["request.method"] = method.upper()
        facts["request.path"] = path
        facts["request.malformed"] = creds.malformed
        facts["request.body_bytes"] = len(body)
        facts["account.present"] = creds.account_present
        facts["password.present"] = creds.password_present
        facts["device.present"] = device.present
        if creds.account is not None:
            facts["account"] = creds.account
        if device.id is not None:
            facts["device.id"] = device.id
        if device.signed_ok is not None:
            facts["device.signed_ok"] = device.signed_ok
        facts.update(client_facts)

        attempt = new_attempt(
            request_id, route.name, ip, subnet, creds.account, creds.account_id, creds.password_id, creds.pair_id,
            fp.id, device.id, creds.malformed,
        )
        # Browsers get shield's cookie; the app carries its own id in a header.
        needs_cookie = not ua.app and (not device.present or device.signed_ok is False)
        return RequestFacts(attempt, facts, mint_with=self._keyer if needs_cookie else None)


def observation(rf: RequestFacts) -> Observation:
    """The store keys of one attempt: hashes for account, password and pair; nothing in clear."""
    facts, attempt = rf.facts, rf.attempt
    asn = facts.get("ip.asn")
    country = facts.get("ip.country")
    lat = facts.get("ip.lat")
    lon = facts.get("ip.lon")
    return new_observation(
        attempt.route,
        attempt.client_ip,
        attempt.subnet,
        str(asn) if isinstance(asn, int) else None,
        country if isinstance(country, str) else None,
        attempt.account_id,
        attempt.fingerprint,
        attempt.device_id,
        attempt.password_id,
        attempt.pair_id,
        lat if isinstance(lat, float) else None,
        lon if isinstance(lon, float) else None,
    )
